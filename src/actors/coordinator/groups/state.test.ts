/**
 * Group state as commands on the coordinator's log: a restarted coordinator recovers every group,
 * member, assignment and offset; every command survives the log's JSON round trip and its decoding
 * check; apply refuses commands that would break an invariant (a bug or a corrupt log).
 */
import { describe, expect, it } from "vitest";
import { AssertionFailure } from "../../shared/assert.ts";
import type { GroupDescribeReply, GroupListReply, OffsetsFetchReply } from "../../shared/group-messages.ts";
import { apply, commandProblem, emptyState, replay, type CoordinatorCommand, type CoordinatorState } from "../state.ts";
import { TestMember, groupCoordinator, withTopics } from "./test-harness.ts";

function describeAll(c: ReturnType<typeof groupCoordinator>): unknown {
  const groups = c.ask<GroupListReply>("admin", { type: "group.list" }).groups;
  return groups.map((summary) => {
    const group = c.ask<GroupDescribeReply>("admin", { type: "group.describe", groupId: summary.groupId }).group!;
    return { ...group, members: group.members.map(({ lastHeartbeatMs: _ignored, ...member }) => member) };
  });
}

/** A busy history: two groups, a rebalance half done, commits, a static member away, a deleted topic. */
function busyHistory() {
  const c = withTopics({ orders: 6, audit: 2, gone: 2 });
  const a = new TestMember(c, "g", "a", ["orders", "gone"], { sessionTimeoutMs: 5000 });
  const s = new TestMember(c, "g", "s", ["orders"], { instanceId: "host-1", sessionTimeoutMs: 5000 });
  const x = new TestMember(c, "other", "x", ["orders", "audit"], { assignor: "range" });
  a.join();
  x.join();
  s.join();
  a.beat();
  a.beat();
  s.beat();
  c.commit("g", "a", a.epoch, [...a.owned].map((key, index) => ({ topic: key.split("/")[0]!, partition: Number(key.split("/")[1]), offset: 10 + index })));
  c.commit("other", "x", x.epoch, [{ topic: "audit", partition: 1, offset: 77, metadata: "note" }]);
  c.deleteTopic("gone");
  s.beat({ memberEpoch: -2 });
  new TestMember(c, "g", "late", ["orders"]).join(); // a rebalance in flight
  return c;
}

describe("groups on the command log", () => {
  it("a restarted coordinator recovers every group, member, assignment and offset, and members get fresh sessions", () => {
    const c = busyHistory();
    const commands = c.persisted();
    const restarted = groupCoordinator({ commands, startMs: 50_000 });
    expect(describeAll(restarted)).toEqual(describeAll(c));
    expect(restarted.ask<OffsetsFetchReply>("admin", { type: "offsets.fetch", groupId: "other", partitions: null }).offsets).toEqual([{ topic: "audit", partition: 1, offset: 77, metadata: "note" }]);
    // Nobody has heartbeated the new coordinator: sessions run from its start, so nobody is removed at once.
    restarted.advance(1000);
    expect(restarted.ask<GroupListReply>("admin", { type: "group.list" }).groups.map((group) => group.members)).toEqual([3, 1]);
    restarted.advance(10_000);
    expect(restarted.ask<GroupListReply>("admin", { type: "group.list" }).groups.map((group) => group.members)).toEqual([0, 0]);
  });

  it("every group command survives the log's JSON round trip and passes the decoding check", () => {
    const commands = busyHistory().persisted();
    const kinds = new Set(commands.map((command) => command.type));
    for (const kind of ["group.member.joined", "group.target.computed", "group.member.reconciled", "group.offsets.committed"]) expect(kinds).toContain(kind);
    for (const command of commands) {
      const decoded: unknown = JSON.parse(JSON.stringify(command));
      expect(commandProblem(decoded), JSON.stringify(command)).toBeUndefined();
      expect(decoded).toEqual(command);
    }
    expect(commandProblem({ type: "group.member.joined", groupId: "g" })).toBe("group.member.joined needs a memberId");
    expect(commandProblem({ type: "group.offsets.committed", groupId: "g", offsets: [{ topic: "t", partition: 0, offset: -1 }] })).toBe("group.offsets.committed needs offsets");
    expect(commandProblem({ type: "group.nonsense", groupId: "g" })).toBe('unknown command type "group.nonsense"');
  });

  it("replaying the log gives the state that applying it command by command gives", () => {
    const commands = busyHistory().persisted();
    const folded = commands.reduce<CoordinatorState>((state, command) => apply(state, command), emptyState(16));
    const replayed = replay(commands, emptyState(16));
    expect(replayed.groups).toEqual(folded.groups);
  });

  it("apply refuses a command that breaks an invariant", () => {
    const topic: CoordinatorCommand = { type: "topic.created", topic: "t", replicationFactor: 1, replicationMode: "fetch", partitions: [{ replicas: ["b1"], leaderEpoch: 1 }, { replicas: ["b1"], leaderEpoch: 1 }] };
    const join = (memberId: string): CoordinatorCommand => ({ type: "group.member.joined", groupId: "g", memberId, topics: ["t"], sessionTimeoutMs: 1000, assignor: "uniform" });
    const base = replay([topic, join("a"), join("b"), { type: "group.target.computed", groupId: "g", groupEpoch: 1, members: [{ memberId: "a", partitions: [{ topic: "t", partitions: [0, 1] }] }] }], emptyState(16));
    const holdA: CoordinatorCommand = { type: "group.member.reconciled", groupId: "g", memberId: "a", memberEpoch: 1, assigned: [{ topic: "t", partitions: [0, 1] }], revoking: [] };
    const held = apply(base, holdA);
    const refused: [string, CoordinatorState, CoordinatorCommand][] = [
      ["a partition held by another member", held, { type: "group.member.reconciled", groupId: "g", memberId: "b", memberEpoch: 1, assigned: [{ topic: "t", partitions: [1] }], revoking: [] }],
      ["a member epoch above the group's", base, { ...holdA, memberEpoch: 2 } as CoordinatorCommand],
      ["a target epoch that does not go up", base, { type: "group.target.computed", groupId: "g", groupEpoch: 1, members: [] }],
      ["a target naming a partition twice", base, { type: "group.target.computed", groupId: "g", groupEpoch: 2, members: [{ memberId: "a", partitions: [{ topic: "t", partitions: [0] }] }, { memberId: "b", partitions: [{ topic: "t", partitions: [0] }] }] }],
      ["a target naming a partition that does not exist", base, { type: "group.target.computed", groupId: "g", groupEpoch: 2, members: [{ memberId: "a", partitions: [{ topic: "t", partitions: [5] }] }] }],
      ["a member joining twice", base, join("a")],
      ["a commit that moves back", apply(base, { type: "group.offsets.committed", groupId: "g", offsets: [{ topic: "t", partition: 0, offset: 9 }] }), { type: "group.offsets.committed", groupId: "g", offsets: [{ topic: "t", partition: 0, offset: 8 }] }],
      ["a reset of a group with members", base, { type: "group.offsets.reset", groupId: "g", offsets: [{ topic: "t", partition: 0, offset: 0 }] }],
      ["the deletion of a group with members", base, { type: "group.deleted", groupId: "g" }],
      ["a command for a group that does not exist", base, { type: "group.member.left", groupId: "nope", memberId: "a", reason: "left" }],
    ];
    for (const [name, state, command] of refused) expect(() => apply(state, command), name).toThrow(AssertionFailure);
    // Under the planted bug the overlap is let through (so that the simulator's checker can catch it).
    const planted = { ...held, groups: { ...held.groups, plant: "assign-before-revoke" as const } };
    expect(() => apply(planted, refused[0]![2])).not.toThrow();
  });
});
