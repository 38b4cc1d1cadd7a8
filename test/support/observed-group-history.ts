/**
 * Test support: a consumer-group history (src/sim/groups/history.ts) built from what real member
 * processes printed (group-consumer.fixture.ts lines) plus what the test itself did to them
 * (SIGKILL, restart), for the group checker (src/sim/groups/checker.ts).
 *
 * The coordinator's own decisions (grant, release, commit accepted, member removed) are not
 * visible from outside its process, so they are stood in for by what the members observed:
 * - `granted` at the member's "assigned" line, at the member epoch it joined with (the client
 *   API shows no later epoch, so the checker's "processed at an epoch below the grant" test is
 *   vacuous here; exclusivity between members is not);
 * - a revoke's `released` is placed at the revoking member's next "committed" line naming the
 *   partition (the member commits, then tells the coordinator it let go), or, if none came, just
 *   before another member of the group is granted that partition — never later; the revoking
 *   member printed its last record before its "revoked" line, so an overlap the checker finds is
 *   a real one: a second member given the partition before the first said it stopped;
 * - `commit.accepted` at each "committed" line (the coordinator answered the member's commit);
 * - `member.removed` + `member.lost` at a "lost" line (the member learnt it was dropped and
 *   dropped its partitions; it joins again under a new member id);
 * - `crashed` + `member.removed` at a SIGKILL (a dead process processes nothing; the coordinator
 *   removes it later, at its session timeout), `restarted` when the test starts it again.
 * Lines are merged over processes in the order of their wall-clock times (one machine, one clock;
 * the causal steps between two processes — a heartbeat, a log append, a reply — take far longer
 * than the clocks' disagreement), ties kept in arrival order.
 */
import { GroupHistory } from "../../src/sim/groups/history.ts";
import type { FixtureLine } from "./group-consumer.fixture.ts";

export type TestEvent =
  | { readonly kind: "subscribed"; readonly atMs: number; readonly groupId: string; readonly topic: string }
  | { readonly kind: "killed"; readonly atMs: number; readonly process: string; readonly groupId: string }
  | { readonly kind: "restarted"; readonly atMs: number; readonly process: string };

type Entry = { readonly line: FixtureLine } | { readonly test: TestEvent };

const atMsOf = (entry: Entry): number => ("line" in entry ? entry.line.atMs : entry.test.atMs);

/** Per group and partition, the member whose revoke is not yet placed as a release. */
type PendingRevokes = Map<string, { readonly memberId: string; readonly topic: string; readonly partition: number }>;

export function observedGroupHistory(lines: readonly FixtureLine[], events: readonly TestEvent[]): GroupHistory {
  const entries: Entry[] = [...lines.map((line) => ({ line })), ...events.map((test) => ({ test }))];
  entries.sort((a, b) => atMsOf(a) - atMsOf(b)); // stable: ties keep arrival order
  const history = new GroupHistory();
  const pending: PendingRevokes = new Map();
  const current = new Map<string, { memberId: string; memberEpoch: number }>(); // by process
  for (const entry of entries) {
    if ("test" in entry) onTestEvent(history, pending, current, entry.test);
    else onLine(history, pending, current, entry.line);
  }
  return history;
}

const revokeKey = (groupId: string, topic: string, partition: number): string => `${groupId}\u0000${topic}\u0000${partition}`;

function onTestEvent(history: GroupHistory, pending: PendingRevokes, current: Map<string, { memberId: string; memberEpoch: number }>, event: TestEvent): void {
  switch (event.kind) {
    case "subscribed":
      history.subscribed(event.atMs, { groupId: event.groupId, topic: event.topic, from: "earliest" });
      return;
    case "killed": {
      history.crashed(event.atMs, event.process);
      const member = current.get(event.process);
      if (member === undefined) return;
      dropPending(pending, member.memberId);
      history.memberRemoved(event.atMs, { groupId: event.groupId, memberId: member.memberId, reason: "its process was SIGKILLed (the coordinator removes it at its session timeout)" });
      current.delete(event.process);
      return;
    }
    case "restarted":
      history.restarted(event.atMs, event.process);
      return;
  }
}

function onLine(history: GroupHistory, pending: PendingRevokes, current: Map<string, { memberId: string; memberEpoch: number }>, line: FixtureLine): void {
  switch (line.kind) {
    case "joined":
      current.set(line.process, { memberId: line.memberId, memberEpoch: line.memberEpoch });
      return;
    case "assigned":
      for (const { topic, partitions } of line.partitions) {
        for (const partition of partitions) {
          placeRevoke(history, pending, line.atMs, line.groupId, topic, partition);
          history.granted(line.atMs, { groupId: line.groupId, topic, partition, memberId: line.memberId, memberEpoch: current.get(line.process)?.memberEpoch ?? 0 });
        }
      }
      return;
    case "revoked":
      for (const { topic, partitions } of line.partitions) for (const partition of partitions) pending.set(revokeKey(line.groupId, topic, partition), { memberId: line.memberId, topic, partition });
      return;
    case "committed":
      for (const { topic, partition, offset } of line.offsets) history.commitAccepted(line.atMs, { groupId: line.groupId, topic, partition, memberId: line.memberId, offset });
      for (const { topic, partition } of line.offsets) {
        if (pending.get(revokeKey(line.groupId, topic, partition))?.memberId === line.memberId) placeRevoke(history, pending, line.atMs, line.groupId, topic, partition);
      }
      return;
    case "lost":
      dropPending(pending, line.memberId);
      history.memberRemoved(line.atMs, { groupId: line.groupId, memberId: line.memberId, reason: line.reason });
      history.memberLost(line.atMs, { process: line.process, groupId: line.groupId, memberId: line.memberId, partitions: line.partitions });
      return;
    case "processed":
      history.processed(line.atMs, { groupId: line.groupId, topic: line.topic, partition: line.partition, process: line.process, memberId: line.memberId, memberEpoch: line.memberEpoch, offset: line.offset, value: line.value });
      return;
    default:
      return;
  }
}

function placeRevoke(history: GroupHistory, pending: PendingRevokes, atMs: number, groupId: string, topic: string, partition: number): void {
  const key = revokeKey(groupId, topic, partition);
  const revoke = pending.get(key);
  if (revoke === undefined) return;
  pending.delete(key);
  history.released(atMs, { groupId, topic, partition, memberId: revoke.memberId, reason: "revoked" });
}

/** A removed member's revokes close with its removal. */
function dropPending(pending: PendingRevokes, memberId: string): void {
  for (const [key, revoke] of pending) if (revoke.memberId === memberId) pending.delete(key);
}
