/**
 * The replication decisions of replica.ts, tested directly: the leader-epoch cache, divergence
 * and truncation (as stories, and as a property over two random histories), the high watermark
 * over the maximal ISR, and the ISR the leader asks for. Each safety rule has a case that breaks
 * if the rule does.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkBatch } from "../../disk/batch-check.ts";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { stampBatch } from "../../disk/batch.ts";
import type { NodeId } from "../shared/ids.ts";
import {
  batchEpochs,
  desiredIsr,
  divergence,
  endOffsetForEpoch,
  lastEpochOf,
  leaderHighWatermark,
  leaderRole,
  mayCutForRepair,
  maximalIsr,
  noteFollowerFetch,
  noteRepairRequest,
  truncatedEpochs,
  truncationPoint,
  withCommittedIsr,
  withEpoch,
  withoutLaggards,
  type EpochEntry,
  type LeaderRole,
} from "./replica.ts";
import { concatBytes } from "../../disk/bytes.ts";

/** Builds a cache the way a log does: one withEpoch per (epoch, start). */
function cache(...entries: [epoch: number, startOffset: number][]): readonly EpochEntry[] {
  return entries.reduce<readonly EpochEntry[]>((epochs, [epoch, startOffset]) => withEpoch(epochs, epoch, startOffset), []);
}

describe("leader-epoch cache", () => {
  it("withEpoch appends a newer epoch and ignores an older or equal one", () => {
    const epochs = cache([1, 0], [3, 10]);
    expect(epochs).toEqual([{ epoch: 1, startOffset: 0 }, { epoch: 3, startOffset: 10 }]);
    expect(withEpoch(epochs, 3, 20)).toBe(epochs);
    expect(withEpoch(epochs, 2, 20)).toBe(epochs);
    expect(withEpoch(epochs, 4, 25)).toEqual([...epochs, { epoch: 4, startOffset: 25 }]);
  });

  it("withEpoch replaces an epoch in which nothing was written (same start offset)", () => {
    // Epoch 3 started at 10 and wrote nothing before epoch 5 took over at 10.
    expect(cache([1, 0], [3, 10], [5, 10])).toEqual([{ epoch: 1, startOffset: 0 }, { epoch: 5, startOffset: 10 }]);
    expect(cache([2, 0], [4, 0])).toEqual([{ epoch: 4, startOffset: 0 }]);
  });

  it("withEpoch refuses an epoch that would start before the last one", () => {
    expect(() => withEpoch(cache([1, 0], [3, 10]), 4, 9)).toThrow(/before epoch 3/);
  });

  it("truncatedEpochs drops the entries at or past the new end, and returns the same cache when nothing goes", () => {
    const epochs = cache([1, 0], [3, 10], [4, 15]);
    expect(truncatedEpochs(epochs, 15)).toEqual([{ epoch: 1, startOffset: 0 }, { epoch: 3, startOffset: 10 }]);
    expect(truncatedEpochs(epochs, 11)).toEqual([{ epoch: 1, startOffset: 0 }, { epoch: 3, startOffset: 10 }]);
    expect(truncatedEpochs(epochs, 10)).toEqual([{ epoch: 1, startOffset: 0 }]);
    expect(truncatedEpochs(epochs, 0)).toEqual([]);
    expect(truncatedEpochs(epochs, 16)).toBe(epochs);
  });

  it("lastEpochOf is the epoch of the last offset below the end, -1 for an empty log", () => {
    const epochs = cache([1, 0], [3, 10], [4, 15]);
    expect(lastEpochOf(epochs, 20)).toBe(4);
    expect(lastEpochOf(epochs, 16)).toBe(4);
    // A leader that took epoch 4 at 15 and wrote nothing yet: its last batch is still epoch 3.
    expect(lastEpochOf(epochs, 15)).toBe(3);
    expect(lastEpochOf(epochs, 1)).toBe(1);
    expect(lastEpochOf(epochs, 0)).toBe(-1);
    expect(lastEpochOf([], 0)).toBe(-1);
  });

  it("endOffsetForEpoch answers for known, unknown-between, unknown-older and newest epochs", () => {
    const epochs = cache([2, 5], [4, 10], [6, 20]);
    const logEnd = 30;
    const logStart = 3;
    // Known: ends where the next epoch starts.
    expect(endOffsetForEpoch(epochs, logEnd, logStart, 2)).toEqual({ epoch: 2, endOffset: 10 });
    expect(endOffsetForEpoch(epochs, logEnd, logStart, 4)).toEqual({ epoch: 4, endOffset: 20 });
    // Unknown, between two known: the largest known below it, which ends where the next starts.
    expect(endOffsetForEpoch(epochs, logEnd, logStart, 3)).toEqual({ epoch: 2, endOffset: 10 });
    expect(endOffsetForEpoch(epochs, logEnd, logStart, 5)).toEqual({ epoch: 4, endOffset: 20 });
    // Older than everything known: no epoch, ending where the first known epoch starts.
    expect(endOffsetForEpoch(epochs, logEnd, logStart, 1)).toEqual({ epoch: -1, endOffset: 5 });
    expect(endOffsetForEpoch([], logEnd, logStart, 1)).toEqual({ epoch: -1, endOffset: logStart });
    // Newest (and newer than the newest): the log end.
    expect(endOffsetForEpoch(epochs, logEnd, logStart, 6)).toEqual({ epoch: 6, endOffset: 30 });
    expect(endOffsetForEpoch(epochs, logEnd, logStart, 9)).toEqual({ epoch: 6, endOffset: 30 });
  });
});

describe("divergence and truncation: stories", () => {
  it("a deposed leader's unreplicated tail is cut to exactly the new leader's epoch-4 start", () => {
    // Old leader X, epoch 3: wrote 10..15; only 10..12 reached Y before X was deposed.
    const x = { epochs: cache([1, 0], [3, 10]), end: 15 };
    // Y leads epoch 4 from its end 12 and has written up to 20.
    const y = { epochs: withEpoch(truncatedEpochs(x.epochs, 12), 4, 12), end: 20 };
    const diverging = divergence(y.epochs, y.end, 0, x.end, lastEpochOf(x.epochs, x.end));
    expect(diverging).toEqual({ epoch: 3, endOffset: 12 });
    const point = truncationPoint(x.epochs, x.end, 0, diverging!);
    expect(point).toBe(12);
    // After the cut X asks again and is told nothing diverges: it fetches from 12.
    const cut = truncatedEpochs(x.epochs, point);
    expect(divergence(y.epochs, y.end, 0, point, lastEpochOf(cut, point))).toBeUndefined();
  });

  it("a follower whose last epoch the leader never had is cut to where both agree", () => {
    // F led epoch 5 alone for a moment and wrote 8..11; L never had epoch 5, and leads epoch 6 from 9.
    const follower = { epochs: cache([1, 0], [2, 5], [5, 8]), end: 11 };
    const leader = { epochs: cache([1, 0], [2, 5], [6, 9]), end: 14 };
    const first = divergence(leader.epochs, leader.end, 0, follower.end, 5);
    expect(first).toEqual({ epoch: 2, endOffset: 9 });
    // The leader's epoch 2 ends at 9, but the follower's own epoch 2 ends at 8: the lower wins.
    const point = truncationPoint(follower.epochs, follower.end, 0, first!);
    expect(point).toBe(8);
    const cut = truncatedEpochs(follower.epochs, point);
    expect(lastEpochOf(cut, point)).toBe(2);
    expect(divergence(leader.epochs, leader.end, 0, point, 2)).toBeUndefined();
  });

  it("a follower with an epoch older than all the leader knows is cut to its own first epoch", () => {
    const follower = { epochs: cache([1, 0]), end: 6 };
    const leader = { epochs: cache([2, 4]), end: 9 };
    const diverging = divergence(leader.epochs, leader.end, 4, follower.end, 1);
    expect(diverging).toEqual({ epoch: -1, endOffset: 4 });
    expect(truncationPoint(follower.epochs, follower.end, 0, diverging!)).toBe(0);
  });

  it("an empty follower never diverges", () => {
    const leader = cache([1, 0], [4, 10]);
    expect(divergence(leader, 20, 0, 0, -1)).toBeUndefined();
    expect(divergence([], 0, 0, 0, -1)).toBeUndefined();
  });

  it("a follower exactly at the leader's end does not diverge, one past it does", () => {
    const leader = cache([1, 0], [4, 10]);
    expect(divergence(leader, 20, 0, 20, 4)).toBeUndefined();
    expect(divergence(leader, 20, 0, 15, 4)).toBeUndefined();
    // At the end of epoch 1 on the leader (epoch 4 started there): still a prefix.
    expect(divergence(leader, 20, 0, 10, 1)).toBeUndefined();
    expect(divergence(leader, 20, 0, 11, 1)).toEqual({ epoch: 1, endOffset: 10 });
    expect(divergence(leader, 20, 0, 21, 4)).toEqual({ epoch: 4, endOffset: 20 });
  });

  it("truncationPoint makes progress even with an inconsistent cache", () => {
    // The leader names an epoch newer than the follower's, ending past the follower's end.
    expect(truncationPoint(cache([1, 0]), 10, 0, { epoch: 7, endOffset: 50 })).toBe(0);
    // The follower's newest epoch began at its end and holds nothing: drop one offset at least.
    expect(truncationPoint(cache([1, 0], [5, 10]), 10, 0, { epoch: 5, endOffset: 30 })).toBe(9);
    // No cache at all: back to the log start.
    expect(truncationPoint([], 10, 2, { epoch: 3, endOffset: 20 })).toBe(2);
  });

  it("truncationPoint is in [logStart, logEnd) for any cache and any answer (property)", () => {
    const entries = fc.uniqueArray(fc.record({ epoch: fc.nat(20), startOffset: fc.nat(40) }), { maxLength: 6, selector: (entry) => entry.epoch });
    fc.assert(
      fc.property(entries, fc.nat(30), fc.integer({ min: 1, max: 30 }), fc.integer({ min: -1, max: 25 }), fc.nat(60), (raw, logStart, length, epoch, endOffset) => {
        // Ascending in both, as a cache always is, but unrelated to the log's bounds.
        const starts = raw.map((entry) => entry.startOffset).sort((a, b) => a - b);
        const epochs = raw.map((entry) => entry.epoch).sort((a, b) => a - b).map((epoch, index) => ({ epoch, startOffset: starts[index]! }));
        const logEnd = logStart + length;
        const point = truncationPoint(epochs, logEnd, logStart, { epoch, endOffset });
        expect(point).toBeGreaterThanOrEqual(logStart);
        expect(point).toBeLessThan(logEnd);
      }),
    );
  });
});

// ---------------------------------------------------------------- divergence: a property over two histories

interface Batch {
  readonly baseOffset: number;
  readonly size: number;
  readonly epoch: number;
}

interface ModelLog {
  batches: Batch[];
  epochs: readonly EpochEntry[];
}

function endOf(log: ModelLog): number {
  const last = log.batches[log.batches.length - 1];
  return last === undefined ? 0 : last.baseOffset + last.size;
}

/** Appends batches as a follower does: the cache learns each newer epoch at its first batch. */
function appended(log: ModelLog, sizes: readonly number[], epochOf: (index: number) => number): ModelLog {
  let { batches, epochs } = log;
  batches = [...batches];
  sizes.forEach((size, index) => {
    const batch = { baseOffset: endOf({ batches, epochs }), size, epoch: epochOf(index) };
    batches.push(batch);
    epochs = withEpoch(epochs, batch.epoch, batch.baseOffset);
  });
  return { batches, epochs };
}

/** As the store truncates: every batch from the one holding `offset` on goes. */
function truncatedLog(log: ModelLog, offset: number): ModelLog {
  const batches = log.batches.filter((batch) => batch.baseOffset + batch.size <= offset);
  return { batches, epochs: truncatedEpochs(log.epochs, endOf({ batches, epochs: [] })) };
}

interface Tail {
  /** Per batch: its size, and how far its epoch moves on from the previous batch's (0: same epoch). */
  readonly batches: readonly { size: number; gap: number }[];
}

const tail: fc.Arbitrary<Tail> = fc.record({ batches: fc.array(fc.record({ size: fc.integer({ min: 1, max: 3 }), gap: fc.nat(2) }), { maxLength: 5 }) });

/**
 * Two logs with a common prefix and divergent tails, as real histories allow: an epoch has one
 * leader, so a tail epoch is never in both tails (leader tails use e0 + even steps, follower tails
 * e0 + odd steps), and at most one tail goes on in the prefix's last epoch e0. The leader then
 * takes a newer epoch than any (an entry at its end) and may write in it; the follower may have
 * led an epoch of its own in which it wrote nothing.
 */
const histories = fc.record({
  prefix: fc.array(fc.record({ size: fc.integer({ min: 1, max: 3 }), gap: fc.nat(1) }), { maxLength: 5 }),
  leaderTail: tail,
  followerTail: tail,
  continuesPrefixEpoch: fc.constantFrom("leader", "follower", "neither"),
  leaderWrites: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
  followerLedEmptyEpoch: fc.boolean(),
});

type History = typeof histories extends fc.Arbitrary<infer H> ? H : never;

function build(history: History): { leader: ModelLog; follower: ModelLog; prefixEnd: number } {
  let epoch = 1;
  const prefix = appended({ batches: [], epochs: [] }, history.prefix.map((batch) => batch.size), (index) => (epoch += index === 0 ? 0 : history.prefix[index]!.gap));
  const e0 = epoch;
  const tailOf = (side: "leader" | "follower", shape: Tail): ModelLog => {
    let steps = 0;
    const parity = side === "leader" ? 0 : 1;
    return appended(prefix, shape.batches.map((batch) => batch.size), (index) => {
      const gap = shape.batches[index]!.gap;
      // Only the side that continues e0 may start with a zero step.
      steps += index === 0 && (gap === 0 && history.continuesPrefixEpoch !== side) ? 1 : gap;
      return steps === 0 ? e0 : e0 + 2 * steps - parity;
    });
  };
  let leader = tailOf("leader", history.leaderTail);
  let follower = tailOf("follower", history.followerTail);
  const followerLast = lastEpochOf(follower.epochs, endOf(follower));
  if (history.followerLedEmptyEpoch) {
    // An odd step past its last: no leader-tail epoch.
    const own = followerLast <= e0 ? e0 + 1 : followerLast + 2;
    follower = { ...follower, epochs: withEpoch(follower.epochs, own, endOf(follower)) };
  }
  const newest = Math.max(...leader.epochs.map((entry) => entry.epoch), ...follower.epochs.map((entry) => entry.epoch), e0);
  const current = newest + 1;
  leader = { ...leader, epochs: withEpoch(leader.epochs, current, endOf(leader)) };
  leader = appended(leader, history.leaderWrites, () => current);
  return { leader, follower, prefixEnd: endOf(prefix) };
}

/** Where the two logs stop agreeing batch by batch. */
function agreedEnd(a: ModelLog, b: ModelLog): number {
  let end = 0;
  for (let index = 0; index < Math.min(a.batches.length, b.batches.length); index++) {
    const x = a.batches[index]!;
    const y = b.batches[index]!;
    if (x.baseOffset !== y.baseOffset || x.size !== y.size || x.epoch !== y.epoch) break;
    end = x.baseOffset + x.size;
  }
  return end;
}

describe("divergence and truncation: any two histories", () => {
  it("repeated divergence → truncate rounds end, with the follower a prefix of the leader, never cut below what they share", () => {
    fc.assert(
      fc.property(histories, (history) => {
        const { leader, follower: start, prefixEnd } = build(history);
        const shared = agreedEnd(leader, start);
        expect(shared).toBeGreaterThanOrEqual(prefixEnd);
        let follower = start;
        let rounds = 0;
        for (;;) {
          const fetchOffset = endOf(follower);
          const diverging = divergence(leader.epochs, endOf(leader), 0, fetchOffset, lastEpochOf(follower.epochs, fetchOffset));
          if (diverging === undefined) break;
          const point = truncationPoint(follower.epochs, fetchOffset, 0, diverging);
          expect(point).toBeLessThan(fetchOffset);
          follower = truncatedLog(follower, point);
          rounds++;
          // Each round drops at least one of the follower's epochs.
          expect(rounds).toBeLessThanOrEqual(start.epochs.length + 1);
        }
        expect(endOf(follower)).toBeGreaterThanOrEqual(shared);
        expect(follower.batches).toEqual(leader.batches.slice(0, follower.batches.length));
        // What the follower fetches next continues its log exactly at a batch of the leader's.
        expect(endOf(follower) === endOf(leader) || leader.batches.some((batch) => batch.baseOffset === endOf(follower))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------- the leader: high watermark

const LAG_MAX_MS = 1_000;

function role(options: { replicas?: NodeId[]; isr?: NodeId[]; isrVersion?: number; nowMs?: number } = {}): LeaderRole {
  const replicas = options.replicas ?? ["a", "b", "c"];
  return leaderRole({ topic: "orders", partition: 0, leaderEpoch: 4, replicas, isr: options.isr ?? replicas, isrVersion: options.isrVersion ?? 0, minInSync: 2 }, "a", 0, options.nowMs ?? 0);
}

/** A follower's fetch at the leader, whose own durable end is `leaderSyncedEnd`. */
function fetched(leader: LeaderRole, replica: NodeId, fetchOffset: number, leaderSyncedEnd: number, nowMs: number, syncedEnd = fetchOffset): LeaderRole {
  return noteFollowerFetch(leader, replica, fetchOffset, syncedEnd, leaderSyncedEnd, nowMs);
}

describe("leader: high watermark", () => {
  it("never goes back", () => {
    const leader = fetched(fetched(role(), "b", 3, 10, 0), "c", 3, 10, 0);
    expect(leaderHighWatermark(leader, "a", 10, 7)).toBe(7);
    expect(leaderHighWatermark(leader, "a", 2, 0)).toBe(2);
  });

  it("is the smallest durable end over the maximal ISR, the leader's own included", () => {
    let leader = fetched(role(), "b", 8, 10, 0);
    // c has not fetched in this epoch: nothing counts as held by it.
    expect(leaderHighWatermark(leader, "a", 10, 0)).toBe(0);
    leader = fetched(leader, "c", 6, 10, 0);
    expect(leaderHighWatermark(leader, "a", 10, 0)).toBe(6);
    // The leader's own durable end bounds it too.
    expect(leaderHighWatermark(leader, "a", 4, 0)).toBe(4);
    // Written but not yet durable on c: only its synced end counts.
    leader = fetched(leader, "c", 10, 10, 0, 7);
    expect(leaderHighWatermark(leader, "a", 10, 0)).toBe(7);
  });

  it("still counts a member proposed for removal until the coordinator commits the removal", () => {
    let leader = fetched(fetched(role(), "b", 10, 10, 0), "c", 3, 10, 0);
    leader = { ...leader, proposed: ["a", "b"] };
    expect(maximalIsr(leader).sort()).toEqual(["a", "b", "c"]);
    expect(leaderHighWatermark(leader, "a", 10, 0)).toBe(3);
    // A stale or repeated assignment (version not newer) settles nothing.
    expect(withCommittedIsr(leader, { topic: "orders", partition: 0, leaderEpoch: 4, isr: ["a", "b"], isrVersion: 0 }, 0)).toBe(leader);
    const committed = withCommittedIsr(leader, { topic: "orders", partition: 0, leaderEpoch: 4, isr: ["a", "b"], isrVersion: 1 }, 0);
    expect(committed.proposed).toBeUndefined();
    expect(committed.isr).toEqual(["a", "b"]);
    expect(leaderHighWatermark(committed, "a", 10, 3)).toBe(10);
  });

  it("is fenced for a hand-over by any assignment that says so, and stays fenced for the rest of its epoch", () => {
    const leader = role();
    expect(leader.handingOver).toBe(false);
    // A damaged leader is fenced without an ISR change: the same version must still fence it.
    const fenced = withCommittedIsr(leader, { topic: "orders", partition: 0, leaderEpoch: 4, isr: ["a", "b", "c"], isrVersion: 0, handingOver: true }, 0);
    expect(fenced.handingOver).toBe(true);
    expect(fenced.isr).toEqual(leader.isr);
    // A later reply without the flag (same or newer ISR) does not lift it: only a new epoch does,
    // else the coordinator could elect a successor on a final end this leader then writes past.
    expect(withCommittedIsr(fenced, { topic: "orders", partition: 0, leaderEpoch: 4, isr: ["a", "b", "c"], isrVersion: 0 }, 0)).toBe(fenced);
    expect(withCommittedIsr(fenced, { topic: "orders", partition: 0, leaderEpoch: 4, isr: ["a", "b"], isrVersion: 1 }, 0).handingOver).toBe(true);
  });

  it("takes in a moved replica set with the committed ISR: added replicas follow, removed ones are forgotten", () => {
    const leader = fetched(fetched(role(), "b", 10, 10, 0), "c", 10, 10, 0);
    // A move to a,b,d: replicas widen to a,b,c,d (ISR version 1), d starts not heard from.
    const widened = withCommittedIsr(leader, { topic: "orders", partition: 0, leaderEpoch: 4, replicas: ["a", "b", "c", "d"], isr: ["a", "b", "c"], isrVersion: 1 }, 50);
    expect(widened.replicas).toEqual(["a", "b", "c", "d"]);
    expect(widened.followers.get("d")).toEqual({ syncedEnd: -1, caughtUpAtMs: 50, counted: false });
    expect(widened.followers.get("b")).toEqual(leader.followers.get("b"));
    // d outside the ISR does not hold the HW back.
    expect(leaderHighWatermark(widened, "a", 10, 0)).toBe(10);
    const caughtUp = fetched(widened, "d", 10, 10, 60);
    expect(desiredIsr(caughtUp, "a", 10, 60, 10_000)).toEqual(["a", "b", "c", "d"]);
    // Completion: a,b,d; c is forgotten.
    const narrowed = withCommittedIsr(caughtUp, { topic: "orders", partition: 0, leaderEpoch: 4, replicas: ["a", "b", "d"], isr: ["a", "b", "d"], isrVersion: 2 }, 70);
    expect([...narrowed.followers.keys()].sort()).toEqual(["b", "d"]);
    expect(narrowed.replicas).toEqual(["a", "b", "d"]);
  });

  it("counts a proposed addition before the coordinator commits it", () => {
    const leader = { ...fetched(role({ isr: ["a", "b"] }), "b", 10, 10, 0), proposed: ["a", "b", "c"] };
    expect(leaderHighWatermark(leader, "a", 10, 0)).toBe(0);
  });

  it("waits for a counted follower outside the ISR: caught up, not yet proposed", () => {
    let leader = fetched(role({ isr: ["a", "b"] }), "b", 10, 10, 0);
    // c is behind the leader's durable end: not counted, the HW ignores it.
    leader = fetched(leader, "c", 4, 10, 0);
    expect(leader.followers.get("c")!.counted).toBe(false);
    expect(leaderHighWatermark(leader, "a", 10, 0)).toBe(10);
    // c reaches the leader's durable end (10) while the leader moved on to 14: counted from now on.
    leader = fetched(leader, "b", 14, 14, 1);
    leader = fetched(leader, "c", 10, 10, 1);
    expect(leader.followers.get("c")!.counted).toBe(true);
    expect(maximalIsr(leader)).toContain("c");
    expect(leaderHighWatermark(leader, "a", 14, 10)).toBe(10);
  });

  it("stops waiting for a counted follower outside the ISR once it lags longer than replicaLagMaxMs", () => {
    let leader = fetched(role({ isr: ["a", "b"] }), "b", 10, 10, 0);
    leader = fetched(leader, "c", 10, 10, 0);
    leader = fetched(leader, "b", 20, 20, 500);
    // At exactly replicaLagMaxMs c still counts.
    expect(withoutLaggards(leader, LAG_MAX_MS, LAG_MAX_MS)).toBe(leader);
    expect(leaderHighWatermark(withoutLaggards(leader, LAG_MAX_MS, LAG_MAX_MS), "a", 20, 10)).toBe(10);
    const pruned = withoutLaggards(leader, LAG_MAX_MS + 1, LAG_MAX_MS);
    expect(pruned.followers.get("c")!.counted).toBe(false);
    expect(leaderHighWatermark(pruned, "a", 20, 10)).toBe(20);
  });

  it("keeps waiting for a lagging ISR member: only a committed removal lets the HW pass it", () => {
    let leader = fetched(fetched(role(), "b", 10, 10, 0), "c", 10, 10, 0);
    leader = fetched(leader, "b", 20, 20, 500);
    const pruned = withoutLaggards(leader, 10 * LAG_MAX_MS, LAG_MAX_MS);
    expect(pruned).toBe(leader);
    expect(leaderHighWatermark(pruned, "a", 20, 10)).toBe(10);
  });

  it("does not count a follower for what it lost with its disk", () => {
    let leader = fetched(fetched(role(), "b", 10, 10, 0), "c", 10, 10, 0);
    expect(leaderHighWatermark(leader, "a", 10, 0)).toBe(10);
    // b comes back empty: its report goes down, and the HW stays where it was (never back) ...
    leader = fetched(leader, "b", 0, 20, 100);
    leader = fetched(leader, "c", 20, 20, 100);
    expect(leader.followers.get("b")!.syncedEnd).toBe(0);
    expect(leaderHighWatermark(leader, "a", 20, 10)).toBe(10);
    // ... and does not pass 10 on b's old word, only on what b holds again.
    leader = fetched(leader, "b", 15, 20, 200);
    expect(leaderHighWatermark(leader, "a", 20, 10)).toBe(15);
    leader = fetched(leader, "b", 20, 20, 300);
    expect(leaderHighWatermark(leader, "a", 20, 15)).toBe(20);
  });
});

describe("leader: the ISR it asks for", () => {
  it("removes an ISR member that lagged longer than replicaLagMaxMs", () => {
    let leader = fetched(fetched(role(), "b", 10, 10, 0), "c", 10, 10, 0);
    leader = fetched(leader, "c", 20, 20, 2_000);
    // b last had everything at 0.
    expect(desiredIsr(leader, "a", 10, LAG_MAX_MS, LAG_MAX_MS)).toBeUndefined();
    expect(desiredIsr(leader, "a", 10, LAG_MAX_MS + 1, LAG_MAX_MS)).toEqual(["a", "c"]);
  });

  it("a follower that never fetched in this epoch gets replicaLagMaxMs from the takeover", () => {
    const leader = role({ nowMs: 5_000 });
    expect(desiredIsr(leader, "a", 0, 5_000 + LAG_MAX_MS, LAG_MAX_MS)).toBeUndefined();
    expect(desiredIsr(leader, "a", 0, 5_001 + LAG_MAX_MS, LAG_MAX_MS)).toEqual(["a"]);
  });

  it("adds a counted follower only once its durable end reaches the HW", () => {
    let leader = fetched(role({ isr: ["a", "b"] }), "b", 10, 10, 0);
    leader = fetched(leader, "c", 10, 10, 0, 6);
    expect(leader.followers.get("c")!.counted).toBe(true);
    expect(desiredIsr(leader, "a", 8, 0, LAG_MAX_MS)).toBeUndefined();
    leader = fetched(leader, "c", 10, 10, 10, 8);
    // Replica order, whatever order they came in.
    expect(desiredIsr(leader, "a", 8, 10, LAG_MAX_MS)).toEqual(["a", "b", "c"]);
  });

  it("does not add a follower that reached the HW without ever catching up with the leader", () => {
    let leader = fetched(role({ isr: ["a", "b"] }), "b", 10, 10, 0);
    leader = fetched(leader, "c", 9, 10, 0);
    expect(leader.followers.get("c")!.counted).toBe(false);
    expect(desiredIsr(leader, "a", 8, 0, LAG_MAX_MS)).toBeUndefined();
  });

  it("asks for nothing when the ISR is as wanted, or when the same proposal is pending", () => {
    const steady = fetched(fetched(role(), "b", 10, 10, 0), "c", 10, 10, 0);
    expect(desiredIsr(steady, "a", 10, 10, LAG_MAX_MS)).toBeUndefined();
    let leader = fetched(role({ isr: ["a", "b"] }), "b", 10, 10, 0);
    leader = fetched(leader, "c", 10, 10, 0);
    // Same members in another order is the same proposal.
    expect(desiredIsr({ ...leader, proposed: ["c", "a", "b"] }, "a", 10, 0, LAG_MAX_MS)).toBeUndefined();
    // A different pending proposal is replaced.
    expect(desiredIsr({ ...leader, proposed: ["a"] }, "a", 10, 0, LAG_MAX_MS)).toEqual(["a", "b", "c"]);
  });

  it("never withdraws a pending addition before the coordinator answers (it may have committed it already)", () => {
    // The leader of ISR {a, b} proposes adding c, which has caught up; the proposal is on its way.
    let leader = fetched(role({ isr: ["a", "b"] }), "b", 10, 10, 0);
    leader = fetched(leader, "c", 10, 10, 0);
    const wanted = desiredIsr(leader, "a", 10, 0, LAG_MAX_MS);
    expect(wanted).toEqual(["a", "b", "c"]);
    leader = { ...leader, proposed: wanted };
    // c stops fetching; b keeps up; no answer from the coordinator yet.
    leader = fetched(leader, "b", 30, 30, 2 * LAG_MAX_MS);
    const nowMs = 2 * LAG_MAX_MS;
    const pruned = withoutLaggards(leader, nowMs, LAG_MAX_MS);
    const highWatermark = leaderHighWatermark(pruned, "a", 30, 10);
    expect(highWatermark).toBe(10);
    // What the broker does with the answer (replication.ts refreshLeader): a proposal equal to the
    // committed ISR clears the pending one, any other replaces it.
    const next = desiredIsr(pruned, "a", highWatermark, nowMs, LAG_MAX_MS);
    const proposed = next === undefined ? pruned.proposed : next.length === pruned.isr.length && next.every((broker) => pruned.isr.includes(broker)) ? undefined : next;
    expect(proposed).toContain("c");
    // So the HW keeps waiting for c: the coordinator may have made it an ISR member, electable.
    expect(leaderHighWatermark({ ...pruned, proposed }, "a", 30, highWatermark)).toBe(10);
  });
});

describe("batchEpochs", () => {
  const limits = { batchBytesMax: 1 << 20, batchRecordsMax: 1_000 };

  function stamped(baseOffset: number, leaderEpoch: number, count: number): Uint8Array {
    const bytes = encodeBatch(Array.from({ length: count }, (_, index) => ({ value: new TextEncoder().encode(`v${baseOffset + index}`), timestampMs: index })));
    stampBatch(bytes, 0, checkBatch(bytes, 0, bytes.length, limits).bodyCrc, baseOffset, leaderEpoch);
    return bytes;
  }


  it("reads each stamped batch's epoch, base offset and next offset", () => {
    const records = concatBytes([stamped(10, 3, 2), stamped(12, 3, 1), stamped(13, 5, 4)]);
    expect(batchEpochs(records)).toEqual([
      { epoch: 3, baseOffset: 10, nextOffset: 12 },
      { epoch: 3, baseOffset: 12, nextOffset: 13 },
      { epoch: 5, baseOffset: 13, nextOffset: 17 },
    ]);
  });

  it("reads nothing from no bytes, and ignores a trailing fragment shorter than a header", () => {
    expect(batchEpochs(new Uint8Array(0))).toEqual([]);
    const whole = stamped(0, 1, 2);
    expect(batchEpochs(concatBytes([whole, whole.subarray(0, 20)]))).toEqual([{ epoch: 1, baseOffset: 0, nextOffset: 2 }]);
  });

  it("agrees with the cache a follower builds from the same batches", () => {
    const records = concatBytes([stamped(0, 1, 3), stamped(3, 2, 1), stamped(4, 2, 2), stamped(6, 7, 1)]);
    const epochs = batchEpochs(records).reduce<readonly EpochEntry[]>((built, batch) => withEpoch(built, batch.epoch, batch.baseOffset), []);
    expect(epochs).toEqual([{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 3 }, { epoch: 7, startOffset: 6 }]);
    expect(lastEpochOf(epochs, 7)).toBe(7);
  });
});

describe("leader: a follower's repair request", () => {
  it("takes it out of the ISR at the next proposal, and lets it cut only once nothing counts on it", () => {
    let leader = fetched(fetched(role(), "b", 10, 10, 0), "c", 10, 10, 0);
    expect(leaderHighWatermark(leader, "a", 10, 0)).toBe(10);
    leader = noteRepairRequest(leader, "b", 10);
    // Still a committed member: its reported durable end still holds the HW, and it may not cut.
    expect(leaderHighWatermark(leader, "a", 10, 0)).toBe(10);
    expect(mayCutForRepair(leader, "b")).toBe(false);
    // Removed at once, not after replicaLagMaxMs.
    expect(desiredIsr(leader, "a", 10, 1, LAG_MAX_MS)).toEqual(["a", "c"]);
    const proposed = { ...leader, proposed: ["a", "c"] };
    expect(mayCutForRepair(proposed, "b")).toBe(false);
    // Committed without it: now it may cut, and its (lower) reports no longer hold the HW.
    const committed = withCommittedIsr(proposed, { topic: "orders", partition: 0, leaderEpoch: 4, isr: ["a", "c"], isrVersion: 1 }, 5);
    expect(mayCutForRepair(committed, "b")).toBe(true);
    const cut = fetched(noteRepairRequest(committed, "b", 4), "c", 12, 12, 6);
    expect(leaderHighWatermark(cut, "a", 12, 10)).toBe(12);
    // A repair request never counts as catching up: it is not proposed back while it asks.
    expect(desiredIsr(cut, "a", 12, 6, LAG_MAX_MS)).toBeUndefined();
  });

  it("a follower that asked to repair rejoins by the ordinary catch-up rule", () => {
    const committed = withCommittedIsr(noteRepairRequest(role(), "b", 0), { topic: "orders", partition: 0, leaderEpoch: 4, isr: ["a", "c"], isrVersion: 1 }, 0);
    const refilled = fetched(fetched(committed, "c", 10, 10, 1), "b", 10, 10, 2);
    expect(desiredIsr(refilled, "a", 10, 3, LAG_MAX_MS)).toEqual(["a", "b", "c"]);
  });
});
