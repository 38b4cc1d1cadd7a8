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
 * - a revoke's `released` is placed just before another member of the group is granted that
 *   partition (the coordinator hands it on only after the revoking member committed and said it
 *   let go, so every commit the revoking member printed before then was accepted while it still
 *   owned the partition — an auto-commit answered after the "revoked" line, then the revoke's own
 *   commit, is the protocol working), or earlier, at a record the revoking member printed for the
 *   partition after its "revoked" line (then the checker flags that record: the client must hand
 *   out nothing of a partition it gave up). So an overlap the checker finds is a real one: a second
 *   member given the partition before the first said it stopped;
 * - `commit.accepted` at each "committed" line (the coordinator answered the member's commit);
 * - `member.removed` + `member.lost` at a "lost" line (the member learnt it was dropped and
 *   dropped its partitions; it joins again under a new member id);
 * - `crashed` + `member.removed` at a SIGKILL (a dead process processes nothing; the coordinator
 *   removes it later, at its session timeout), `restarted` when the test starts it again.
 * Merging: each process's lines stay in the order it printed them; the processes' sequences (and
 * the test's own events) are merged by their `Date.now()` times — one machine, one clock, and the
 * causal steps between two processes (a heartbeat, a log append, a reply) take longer than a
 * millisecond. Within one millisecond, a member's "assigned" goes after other processes' lines
 * and the test's events, so a revoke and the next owner's grant in the same millisecond are not
 * taken for an overlap, and a victim's last lines go before its SIGKILL.
 */
import { GroupHistory } from "../../src/sim/groups/history.ts";
import type { FixtureLine } from "./group-consumer.fixture.ts";

export type TestEvent =
  | { readonly kind: "subscribed"; readonly atMs: number; readonly groupId: string; readonly topic: string }
  | { readonly kind: "killed"; readonly atMs: number; readonly process: string; readonly groupId: string }
  | { readonly kind: "restarted"; readonly atMs: number; readonly process: string };

type Entry = { readonly line: FixtureLine } | { readonly test: TestEvent };

const atMsOf = (entry: Entry): number => ("line" in entry ? entry.line.atMs : entry.test.atMs);
/** Order within one millisecond: lines, then the test's events, then grants. */
const tieRank = (entry: Entry): number => ("test" in entry ? 1 : entry.line.kind === "assigned" ? 2 : 0);

/** Each source's entries in their own order, merged by (time, tie rank); the earlier source wins a full tie. */
function merge(sources: readonly Entry[][]): Entry[] {
  const heads = sources.map(() => 0);
  const merged: Entry[] = [];
  for (;;) {
    let best = -1;
    for (let source = 0; source < sources.length; source++) {
      const entry = sources[source]![heads[source]!];
      if (entry === undefined) continue;
      if (best === -1) {
        best = source;
        continue;
      }
      const current = sources[best]![heads[best]!]!;
      if (atMsOf(entry) < atMsOf(current) || (atMsOf(entry) === atMsOf(current) && tieRank(entry) < tieRank(current))) best = source;
    }
    if (best === -1) return merged;
    merged.push(sources[best]![heads[best]!]!);
    heads[best]!++;
  }
}

/** Per group and partition, the member whose revoke is not yet placed as a release. */
type PendingRevokes = Map<string, { readonly memberId: string; readonly topic: string; readonly partition: number }>;

/** `lines`: every process's lines, each process's in the order it printed them (a restarted process's after its predecessor's). */
export function observedGroupHistory(lines: readonly FixtureLine[], events: readonly TestEvent[]): GroupHistory {
  const byProcess = new Map<string, Entry[]>();
  for (const line of lines) {
    const list = byProcess.get(line.process);
    if (list === undefined) byProcess.set(line.process, [{ line }]);
    else list.push({ line });
  }
  const entries = merge([...byProcess.values(), events.map((test) => ({ test }))]);
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
      return;
    case "lost":
      dropPending(pending, line.memberId);
      history.memberRemoved(line.atMs, { groupId: line.groupId, memberId: line.memberId, reason: line.reason });
      history.memberLost(line.atMs, { process: line.process, groupId: line.groupId, memberId: line.memberId, partitions: line.partitions });
      return;
    case "processed":
      if (pending.get(revokeKey(line.groupId, line.topic, line.partition))?.memberId === line.memberId) placeRevoke(history, pending, line.atMs, line.groupId, line.topic, line.partition);
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
