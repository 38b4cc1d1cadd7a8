/**
 * The member's protocol, scenario by scenario, against the scripted coordinator of testing.ts:
 * joining and taking partitions over from their committed offsets, revoking (stop, commit, then
 * let go), auto and manual commits, leaving, fencing and stale epochs on commits, self-fencing
 * when heartbeats go unanswered, retries after timeouts, and input that is refused.
 */
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { wireError, ZhumqError } from "../shared/errors.ts";
import { LEAVE_EPOCH, STATIC_LEAVE_EPOCH } from "../shared/group-messages.ts";
import { CountingRandom } from "../raft/testing.ts";
import { MEMBER_DEFAULTS, memberDefinition } from "../../host/stores/clients.ts";
import { memberInputProblems, type MemberInput } from "./config.ts";
import { createMemberState, memberMachine } from "./machine.ts";
import { FakeCoordinator, MemberBench, TEST_MEMBER_INPUT } from "./testing.ts";

const orders = (...partitions: number[]) => [{ topic: "orders", partitions }];

/** A member that joined and owns orders/0 and orders/1 (orders/0 with committed offset 40). */
function assignedBench(input: Partial<Omit<MemberInput, "clock" | "random">> = {}): MemberBench {
  const coordinator = new FakeCoordinator();
  coordinator.assignment = orders(0, 1);
  coordinator.committed.set("orders/0", 40);
  return new MemberBench(coordinator, input).start();
}

describe("joining and taking partitions", () => {
  it("joins at epoch 0, looks the committed offsets up, then announces the partitions", () => {
    const bench = assignedBench();
    const [join] = bench.sentOf("group.heartbeat");
    expect(join!.message).toMatchObject({ groupId: "billing", memberEpoch: 0, topics: ["orders"], sessionTimeoutMs: 6_000, assignor: "uniform", owned: [] });
    expect(bench.outputsOf("member.joined")).toEqual([{ type: "member.joined", memberId: bench.state.memberId, memberEpoch: 1 }]);
    expect(bench.lastSent("offsets.fetch").partitions).toEqual(orders(0, 1));
    expect(bench.outputsOf("member.assigned")).toEqual([
      {
        type: "member.assigned",
        partitions: [
          { topic: "orders", partition: 0, committed: 40 },
          { topic: "orders", partition: 1, committed: null },
        ],
      },
    ]);
    // The lookup came before the announcement, and the coordinator hears about the new ownership at once.
    const types = bench.sent.map((item) => item.message.type);
    expect(types).toEqual(["group.heartbeat", "offsets.fetch", "group.heartbeat"]);
    expect(bench.lastSent("group.heartbeat")).toMatchObject({ memberEpoch: 1, owned: orders(0, 1) });
    expect(bench.lastSent("group.heartbeat").topics).toBeUndefined();
  });

  it("heartbeats every heartbeatIntervalMs after the last reply", () => {
    const bench = assignedBench();
    const before = bench.sentOf("group.heartbeat").length;
    bench.advance(999);
    expect(bench.sentOf("group.heartbeat")).toHaveLength(before);
    bench.advance(1);
    expect(bench.sentOf("group.heartbeat")).toHaveLength(before + 1);
    bench.advance(3_000);
    expect(bench.sentOf("group.heartbeat")).toHaveLength(before + 4);
  });

  it("does not announce a partition the coordinator took back before the lookup answered", () => {
    const coordinator = new FakeCoordinator();
    coordinator.assignment = orders(0, 1);
    coordinator.onFetch = () => "drop";
    const bench = new MemberBench(coordinator).start();
    coordinator.assignment = orders(0);
    bench.advance(1_000); // a heartbeat: the target shrank; the lookup times out and is retried
    coordinator.onFetch = (request) => coordinator.answerFetch(request);
    bench.advance(1_000);
    expect(bench.outputsOf("member.assigned").flatMap((output) => output.partitions.map((p) => p.partition))).toEqual([0]);
  });
});

describe("revoking", () => {
  it("waits for member.revoked, commits the processed offsets, then heartbeats without the partition", () => {
    const bench = assignedBench();
    bench.send({ type: "member.processed", topic: "orders", partition: 1, offset: 10 });
    bench.coordinator.assignment = orders(0);
    bench.advance(1_000);
    expect(bench.outputsOf("member.revoke")).toEqual([{ type: "member.revoke", partitions: orders(1) }]);
    // Until the host says it stopped, the member still owns the partition.
    bench.advance(1_000);
    expect(bench.lastSent("group.heartbeat").owned).toEqual(orders(0, 1));
    expect(bench.sentOf("offsets.commit")).toHaveLength(0);
    const sentBefore = bench.sent.length;
    bench.send({ type: "member.revoked", partitions: orders(1) });
    const after = bench.sent.slice(sentBefore).map((item) => item.message);
    expect(after.map((message) => message.type)).toEqual(["offsets.commit", "group.heartbeat"]);
    expect(after[0]).toMatchObject({ memberEpoch: 1, offsets: [{ topic: "orders", partition: 1, offset: 10 }] });
    expect(after[1]).toMatchObject({ owned: orders(0) });
    expect(bench.coordinator.committed.get("orders/1")).toBe(10);
  });

  it("lets go at once of a revoked partition with nothing processed", () => {
    const bench = assignedBench();
    bench.coordinator.assignment = orders(0);
    bench.advance(1_000);
    const sentBefore = bench.sent.length;
    bench.send({ type: "member.revoked", partitions: orders(1) });
    expect(bench.sent.slice(sentBefore).map((item) => item.message.type)).toEqual(["group.heartbeat"]);
    expect(bench.lastSent("group.heartbeat").owned).toEqual(orders(0));
  });

  it("keeps the partition until a retried commit succeeds", () => {
    const bench = assignedBench();
    bench.send({ type: "member.processed", topic: "orders", partition: 1, offset: 3 });
    bench.coordinator.assignment = orders(0);
    bench.advance(1_000);
    bench.coordinator.onCommit = () => "drop";
    bench.send({ type: "member.revoked", partitions: orders(1) });
    bench.advance(2_000);
    expect(bench.lastSent("group.heartbeat").owned).toEqual(orders(0, 1));
    expect(bench.sentOf("offsets.commit").length).toBeGreaterThan(1);
    bench.coordinator.onCommit = (request) => bench.coordinator.acceptCommit(request);
    bench.advance(1_000);
    expect(bench.coordinator.committed.get("orders/1")).toBe(3);
    expect(bench.lastSent("group.heartbeat").owned).toEqual(orders(0));
  });
});

describe("commits", () => {
  it("auto-commits only processed offsets that moved", () => {
    const bench = assignedBench({ autoCommitIntervalMs: 5_000 });
    bench.send({ type: "member.fetched", topic: "orders", partition: 0, offset: 60 });
    bench.send({ type: "member.processed", topic: "orders", partition: 0, offset: 45 });
    bench.advance(5_000);
    expect(bench.sentOf("offsets.commit").map((item) => item.message.offsets)).toEqual([[{ topic: "orders", partition: 0, offset: 45 }]]);
    expect(bench.outputsOf("member.committed")).toEqual([{ type: "member.committed", offsets: [{ topic: "orders", partition: 0, offset: 45 }], memberEpoch: 1 }]);
    bench.advance(5_000); // nothing moved: nothing sent
    expect(bench.sentOf("offsets.commit")).toHaveLength(1);
    bench.send({ type: "member.processed", topic: "orders", partition: 1, offset: 7 });
    bench.advance(5_000);
    expect(bench.lastSent("offsets.commit").offsets).toEqual([{ topic: "orders", partition: 1, offset: 7 }]);
  });

  it("never commits below what the group already holds for the partition", () => {
    const bench = assignedBench({ autoCommitIntervalMs: 1_000 });
    bench.send({ type: "member.processed", topic: "orders", partition: 0, offset: 30 }); // below the committed 40
    bench.advance(1_000);
    expect(bench.sentOf("offsets.commit")).toHaveLength(0);
  });

  it("the planted bug commits what was fetched, not what was processed", () => {
    const bench = assignedBench({ autoCommitIntervalMs: 5_000, plant: "commit-before-processing" });
    bench.send({ type: "member.fetched", topic: "orders", partition: 0, offset: 60 });
    bench.send({ type: "member.processed", topic: "orders", partition: 0, offset: 45 });
    bench.advance(5_000);
    expect(bench.lastSent("offsets.commit").offsets).toEqual([{ topic: "orders", partition: 0, offset: 60 }]);
  });

  it("answers a manual commit at once when nothing is new, and after the coordinator's answer otherwise", () => {
    const bench = assignedBench();
    bench.send({ type: "member.commit", commitId: 1 });
    expect(bench.outputsOf("member.commit.done")).toEqual([{ type: "member.commit.done", commitId: 1 }]);
    expect(bench.sentOf("offsets.commit")).toHaveLength(0);
    bench.coordinator.onCommit = () => "drop";
    bench.send({ type: "member.processed", topic: "orders", partition: 0, offset: 50 });
    bench.send({ type: "member.commit", commitId: 2 });
    bench.send({ type: "member.commit", commitId: 3 }); // nothing newer: rides on the one in flight
    expect(bench.outputsOf("member.commit.done")).toHaveLength(1);
    bench.coordinator.onCommit = (request) => bench.coordinator.acceptCommit(request);
    bench.advance(1_000); // the commit times out and is sent again
    expect(bench.outputsOf("member.commit.done").map((output) => output.commitId)).toEqual([1, 2, 3]);
    expect(bench.outputsOf("member.commit.done").every((output) => output.error === undefined)).toBe(true);
    expect(bench.coordinator.committed.get("orders/0")).toBe(50);
  });

  it("after STALE_MEMBER_EPOCH heartbeats, then commits again with the new epoch", () => {
    const bench = assignedBench();
    let refusals = 1;
    bench.coordinator.onCommit = (request) => {
      if (refusals-- > 0) {
        bench.coordinator.memberEpoch = 2;
        return bench.coordinator.refuseCommit(request, wireError("STALE_MEMBER_EPOCH", "epoch 1 is behind 2"));
      }
      return bench.coordinator.acceptCommit(request);
    };
    bench.send({ type: "member.processed", topic: "orders", partition: 0, offset: 44 });
    const sentBefore = bench.sent.length;
    bench.send({ type: "member.commit", commitId: 9 });
    const after = bench.sent.slice(sentBefore).map((item) => item.message);
    expect(after.map((message) => message.type)).toEqual(["offsets.commit", "group.heartbeat", "offsets.commit"]);
    expect(after.map((message) => (message.type === "group.heartbeat" ? "-" : "memberEpoch" in message ? message.memberEpoch : "?"))).toEqual([1, "-", 2]);
    expect(bench.outputsOf("member.epoch")).toEqual([{ type: "member.epoch", memberEpoch: 2 }]);
    expect(bench.outputsOf("member.commit.done")).toEqual([{ type: "member.commit.done", commitId: 9 }]);
    expect(bench.outputsOf("member.committed")).toEqual([{ type: "member.committed", offsets: [{ topic: "orders", partition: 0, offset: 44 }], memberEpoch: 2 }]);
  });

  it("a fenced commit loses every partition and joins again under a new id", () => {
    const bench = assignedBench();
    const firstId = bench.state.memberId;
    bench.coordinator.onCommit = (request) => bench.coordinator.refuseCommit(request, wireError("FENCED_MEMBER_EPOCH", "orders/0 is no longer yours"));
    bench.send({ type: "member.processed", topic: "orders", partition: 0, offset: 41 });
    bench.coordinator.assignment = [];
    bench.send({ type: "member.commit", commitId: 4 });
    expect(bench.outputsOf("member.lost")).toEqual([{ type: "member.lost", partitions: orders(0, 1), reason: expect.stringContaining("FENCED_MEMBER_EPOCH") }]);
    expect(bench.outputsOf("member.commit.done")).toEqual([{ type: "member.commit.done", commitId: 4, error: expect.objectContaining({ code: "FENCED_MEMBER_EPOCH" }) }]);
    const rejoin = bench.lastSent("group.heartbeat");
    expect(rejoin).toMatchObject({ memberEpoch: 0, owned: [], topics: ["orders"] });
    expect(rejoin.memberId).not.toBe(firstId);
    expect(bench.outputsOf("member.joined").map((output) => output.memberId)).toEqual([firstId, rejoin.memberId]);
    // Nothing of the lost partitions is reported or committed any more.
    bench.send({ type: "member.processed", topic: "orders", partition: 0, offset: 90 });
    bench.send({ type: "member.commit", commitId: 5 });
    expect(bench.outputsOf("member.commit.done").at(-1)).toEqual({ type: "member.commit.done", commitId: 5 });
  });

  it("a commit the coordinator refuses for good is reported and not sent again", () => {
    const bench = assignedBench({ autoCommitIntervalMs: 1_000 });
    bench.coordinator.onCommit = (request) => bench.coordinator.refuseCommit(request, wireError("OFFSET_BEHIND_COMMITTED", "below 99"));
    bench.send({ type: "member.processed", topic: "orders", partition: 0, offset: 50 });
    bench.advance(3_000);
    expect(bench.sentOf("offsets.commit")).toHaveLength(1);
    expect(bench.outputsOf("member.error")[0]!.error.code).toBe("OFFSET_BEHIND_COMMITTED");
  });
});

describe("leaving", () => {
  it("commits what was processed, leaves with epoch -1, says member.left and goes quiet", () => {
    const bench = assignedBench({ autoCommitIntervalMs: 5_000 });
    bench.send({ type: "member.processed", topic: "orders", partition: 1, offset: 12 });
    const sentBefore = bench.sent.length;
    bench.send({ type: "member.leave" });
    const after = bench.sent.slice(sentBefore).map((item) => item.message);
    expect(after.map((message) => message.type)).toEqual(["offsets.commit", "group.heartbeat"]);
    expect(after[1]).toMatchObject({ memberEpoch: LEAVE_EPOCH, owned: [] });
    expect(bench.outputsOf("member.left")).toHaveLength(1);
    expect(bench.timers.size).toBe(0);
    bench.advance(60_000);
    expect(bench.sent.length).toBe(sentBefore + 2);
    bench.send({ type: "member.commit", commitId: 1 });
    expect(bench.outputsOf("member.commit.done").at(-1)?.error?.code).toBe("INVALID_REQUEST");
  });

  it("a static member leaves with epoch -2", () => {
    const bench = assignedBench({ instanceId: "billing-1" });
    bench.send({ type: "member.leave" });
    expect(bench.lastSent("group.heartbeat")).toMatchObject({ memberEpoch: STATIC_LEAVE_EPOCH, instanceId: "billing-1" });
    expect(bench.outputsOf("member.left")).toHaveLength(1);
  });

  it("leaves within requestTimeoutMs when the coordinator does not answer", () => {
    const bench = assignedBench();
    bench.coordinator.onHeartbeat = () => "drop";
    bench.send({ type: "member.leave" });
    expect(bench.outputsOf("member.left")).toHaveLength(0);
    bench.advance(TEST_MEMBER_INPUT.requestTimeoutMs);
    expect(bench.outputsOf("member.left")).toHaveLength(1);
    expect(bench.timers.size).toBe(0);
  });

  it("gives the final commit requestTimeoutMs, then leaves anyway", () => {
    const bench = assignedBench();
    bench.coordinator.onCommit = () => "drop";
    bench.send({ type: "member.processed", topic: "orders", partition: 0, offset: 41 });
    bench.send({ type: "member.leave" });
    bench.advance(TEST_MEMBER_INPUT.requestTimeoutMs);
    expect(bench.lastSent("group.heartbeat").memberEpoch).toBe(LEAVE_EPOCH);
    expect(bench.outputsOf("member.left")).toHaveLength(1);
  });
});

describe("sessions and self-fencing", () => {
  it("gives up its partitions sessionTimeoutMs after the last answered heartbeat was sent", () => {
    const bench = assignedBench();
    const lastAnsweredAtMs = bench.sentOf("group.heartbeat").at(-1)!.atMs;
    bench.coordinator.onHeartbeat = () => "drop";
    bench.advance(10_000);
    const [lost] = bench.outputs.filter((item) => item.output.type === "member.lost");
    expect(lost!.atMs).toBe(lastAnsweredAtMs + TEST_MEMBER_INPUT.sessionTimeoutMs);
    expect(lost!.output).toMatchObject({ partitions: orders(0, 1), reason: expect.stringContaining("session") });
    expect(bench.state.memberEpoch).toBe(0);
  });

  it("a paused process gives its partitions up before acting on the first event after it resumes", () => {
    const bench = assignedBench();
    bench.coordinator.assignment = [];
    bench.pause(TEST_MEMBER_INPUT.sessionTimeoutMs);
    const outputsBefore = bench.outputs.length;
    // The first event is a message (a late reply) and the second the application's progress.
    bench.send({ type: "message.received", from: "coordinator-0", message: { type: "offsets.commit.reply", requestId: 1, results: [] } });
    bench.send({ type: "member.processed", topic: "orders", partition: 0, offset: 70 });
    expect(bench.outputs[outputsBefore]!.output).toMatchObject({ type: "member.lost", partitions: orders(0, 1) });
    bench.send({ type: "member.commit", commitId: 1 });
    expect(bench.sentOf("offsets.commit")).toHaveLength(0);
  });

  it("a heartbeat answered UNKNOWN_MEMBER_ID loses everything and rejoins", () => {
    const bench = assignedBench();
    let refusals = 1;
    bench.coordinator.onHeartbeat = (request) => (refusals-- > 0 ? bench.coordinator.refuseHeartbeat(request, wireError("UNKNOWN_MEMBER_ID", "removed")) : bench.coordinator.acceptHeartbeat(request));
    bench.advance(1_000);
    expect(bench.outputsOf("member.lost")).toEqual([{ type: "member.lost", partitions: orders(0, 1), reason: expect.stringContaining("UNKNOWN_MEMBER_ID") }]);
    expect(bench.outputsOf("member.joined")).toHaveLength(2);
    expect(bench.outputsOf("member.assigned")).toHaveLength(2); // the same partitions, taken again from the committed offsets
  });

  it("a member fenced again and again after each join backs off before joining again", () => {
    const bench = assignedBench();
    bench.coordinator.onHeartbeat = (request) => (request.memberEpoch === 0 ? bench.coordinator.acceptHeartbeat(request) : bench.coordinator.refuseHeartbeat(request, wireError("FENCED_MEMBER_EPOCH", "fenced")));
    bench.advance(2_000);
    const joins = bench.sentOf("group.heartbeat").filter((item) => item.message.memberEpoch === 0).length;
    expect(joins).toBeGreaterThan(2);
    expect(joins).toBeLessThan(100);
  });

  it("a heartbeat refused for good stops the member with member.error", () => {
    const bench = assignedBench();
    bench.coordinator.onHeartbeat = (request) => bench.coordinator.refuseHeartbeat(request, wireError("GROUP_ID_NOT_FOUND", "billing was deleted"));
    bench.advance(1_000);
    expect(bench.outputsOf("member.lost")).toHaveLength(1);
    expect(bench.outputsOf("member.error")[0]!.error.code).toBe("GROUP_ID_NOT_FOUND");
    expect(bench.timers.size).toBe(0);
  });
});

describe("retries", () => {
  it("a heartbeat that times out is retried with backoff on the next coordinator replica", () => {
    const coordinator = new FakeCoordinator();
    coordinator.onHeartbeat = (request, to) => (to === "coordinator-0" ? "drop" : coordinator.acceptHeartbeat(request));
    const bench = new MemberBench(coordinator, { coordinator: ["coordinator-0", "coordinator-1"] }).start();
    expect(bench.outputsOf("member.joined")).toHaveLength(0);
    bench.advance(TEST_MEMBER_INPUT.requestTimeoutMs + TEST_MEMBER_INPUT.retryBackoffMs.baseMs);
    expect(bench.sentOf("group.heartbeat").map((item) => item.to)).toEqual(["coordinator-0", "coordinator-1"]);
    expect(bench.outputsOf("member.joined")).toHaveLength(1);
  });

  it("COORDINATOR_NOT_AVAILABLE on a lookup moves to the next replica and asks again", () => {
    const coordinator = new FakeCoordinator();
    coordinator.assignment = orders(0);
    coordinator.onFetch = (request, to) => (to === "coordinator-0" ? { type: "offsets.fetch.reply", requestId: request.requestId, offsets: [], error: wireError("COORDINATOR_NOT_AVAILABLE", "not the leader") } : coordinator.answerFetch(request));
    const bench = new MemberBench(coordinator, { coordinator: ["coordinator-0", "coordinator-1"] }).start();
    bench.advance(TEST_MEMBER_INPUT.retryBackoffMs.baseMs);
    expect(bench.sentOf("offsets.fetch").map((item) => item.to)).toEqual(["coordinator-0", "coordinator-1"]);
    expect(bench.outputsOf("member.assigned")).toHaveLength(1);
  });
});

describe("input", () => {
  const ports = { clock: { now: () => 0 }, random: new CountingRandom("input") };
  const refused = (input: Partial<MemberInput>): ZhumqError => {
    try {
      createMemberState({ ...TEST_MEMBER_INPUT, ...ports, ...input } as MemberInput);
    } catch (error) {
      if (error instanceof ZhumqError) return error;
      throw error;
    }
    throw new Error("the input was accepted");
  };

  it("refuses a bad group id with INVALID_GROUP_ID", () => {
    expect(refused({ groupId: "" }).code).toBe("INVALID_GROUP_ID");
    expect(refused({ groupId: "x".repeat(201) }).message).toContain("at most 200");
    expect(refused({ groupId: "a\u0001b" }).code).toBe("INVALID_GROUP_ID");
  });

  it("refuses anything else out of bounds with INVALID_REQUEST naming the value", () => {
    expect(refused({ topics: [] }).code).toBe("INVALID_REQUEST");
    expect(refused({ topics: ["orders", "orders"] }).message).toContain("distinct");
    expect(refused({ topics: ["bad name"] }).code).toBe("INVALID_REQUEST");
    expect(refused({ sessionTimeoutMs: 5 }).message).toContain("got 5");
    expect(refused({ autoCommitIntervalMs: 0 }).message).toContain("autoCommitIntervalMs");
    expect(refused({ requestTimeoutMs: -1 }).code).toBe("INVALID_REQUEST");
    expect(refused({ coordinator: [] }).code).toBe("INVALID_REQUEST");
    expect(refused({ instanceId: "" }).message).toContain("instanceId");
    expect(refused({ assignor: "sticky" as never }).message).toContain("sticky");
    expect(refused({ plant: "other" as never }).code).toBe("INVALID_REQUEST");
  });

  it("accepts the defaults", () => {
    expect(memberInputProblems({ ...TEST_MEMBER_INPUT, ...ports })).toEqual([]);
    const state = createMemberState({ ...TEST_MEMBER_INPUT, ...ports, sessionTimeoutMs: undefined as never, autoCommitIntervalMs: undefined as never });
    expect(state.config).toMatchObject({ sessionTimeoutMs: 10_000, autoCommitIntervalMs: 5_000, assignor: "uniform" });
  });
});

describe("the xstate machine", () => {
  it("emits the join at start and goes quiet after leaving", () => {
    const effects: unknown[] = [];
    const actor = createActor(memberMachine, { input: { ...TEST_MEMBER_INPUT, clock: { now: () => 0 }, random: new CountingRandom("machine") } });
    actor.on("*", (effect) => effects.push(effect));
    actor.start();
    expect(effects).toContainEqual(expect.objectContaining({ type: "effect.send", message: expect.objectContaining({ type: "group.heartbeat", memberEpoch: 0 }) }));
    actor.send({ type: "member.leave" });
    actor.send({ type: "timer.fired", key: "member.leave" });
    expect(effects).toContainEqual({ type: "effect.notify", output: { type: "member.left" } });
    expect(actor.getSnapshot().value).toBe("quiet");
    actor.stop();
  });
});

describe("memberDefinition", () => {
  it("fills the defaults and the node's ports into a valid input", () => {
    const ports = { transport: { self: "client-7" }, clock: { now: () => 0 }, random: new CountingRandom("definition") };
    const input = memberDefinition({ coordinator: "coordinator-0", groupId: "billing", topics: ["orders"] }).input(undefined, ports as never) as MemberInput;
    expect(input).toMatchObject({ ...MEMBER_DEFAULTS, self: "client-7", groupId: "billing" });
    expect(memberInputProblems(input)).toEqual([]);
  });
});
