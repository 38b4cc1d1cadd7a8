/**
 * Terms and votes of many raft-mode partitions in the broker store (issue 12 item 3): a group's
 * first hard state marks its folder raft-mode in its own `raft-state` file; every later one is a
 * record in the broker's one `raft-hard-states` file, durable at the store's next sync — ONE fsync
 * for every group's votes of a batch, not an atomic file (two fsyncs) per group. Recovery takes
 * the newest of both; a deleted partition's record does not come back to a new folder of that name.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_BROKER_LIMITS, type BrokerOperation } from "../../actors/broker/index.ts";
import type { RaftOperation } from "../../actors/raft/types.ts";
import type { FileHandle, FileSystem } from "../../ports/filesystem.ts";
import { Kernel } from "../../sim/kernel.ts";
import { SimFileSystem } from "../../sim/fs.ts";
import { BrokerStore, type BrokerStoreOptions } from "./broker-store.ts";

const OPTIONS: BrokerStoreOptions = { dataDir: "data", limits: DEFAULT_BROKER_LIMITS, log: { segmentBytes: 1 << 20, indexIntervalBytes: 256 }, producerStateScanRecords: 1_000, openFilesMax: 4_096 };
const GROUPS = 30;

function raft(partition: number, operation: RaftOperation): BrokerOperation {
  return { kind: "raft", topic: "t", partition, operation };
}
const hardState = (partition: number, term: number, votedFor: string | null): BrokerOperation => raft(partition, { kind: "hard-state", term, votedFor, endIndex: -1, version: 0 });

/** The simulated disk, counting fsyncs of files (not directories) as they are asked for. */
function disk(seed: number) {
  const kernel = new Kernel(seed);
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: true, bitFlipPerRead: 0 });
  const counted = { fileSyncs: 0 };
  const counting: FileSystem = Object.assign(Object.create(fs) as FileSystem, {
    open: async (path: string, mode: Parameters<FileSystem["open"]>[1]): Promise<FileHandle> => {
      const handle = await fs.open(path, mode);
      return Object.assign(Object.create(handle) as FileHandle, { sync: () => (counted.fileSyncs++, handle.sync()) });
    },
  });
  const run = <T>(promise: Promise<T>): Promise<T> => kernel.settle(promise);
  const open = () => run(BrokerStore.open(counting, OPTIONS));
  return { fs, counted, run, open };
}

describe("the broker store's hard states of many raft partitions", () => {
  it("syncs a round of votes of every group with one fsync, and recovers them after a crash", async () => {
    const d = disk(3);
    const { store } = await d.open();
    const created = Array.from({ length: GROUPS }, (_, partition) => [{ kind: "create", topic: "t", partition } as BrokerOperation, hardState(partition, 0, null)]).flat();
    await d.run(store.persist(created));
    await d.run(store.sync());
    // Rounds of elections: every group's new term and vote in one batch (the first makes the file).
    await d.run(store.persist(Array.from({ length: GROUPS }, (_, partition) => hardState(partition, 1, null))));
    await d.run(store.sync());
    const before = d.counted.fileSyncs;
    await d.run(store.persist(Array.from({ length: GROUPS }, (_, partition) => hardState(partition, 2, `broker-${partition % 3}`))));
    await d.run(store.sync());
    expect(d.counted.fileSyncs - before).toBe(1);
    d.fs.crash();
    const { recovered } = await d.open();
    expect(recovered.partitions).toHaveLength(GROUPS);
    for (const partition of recovered.partitions) expect(partition.raft?.hardState).toEqual({ term: 2, votedFor: `broker-${partition.partition % 3}` });
  });

  it("a vote persisted but not synced may be lost in a crash (the sync is what makes it durable); a synced one never is", async () => {
    let lost = 0;
    for (let seed = 1; seed <= 10; seed++) {
      const d = disk(seed);
      const { store } = await d.open();
      await d.run(store.persist([{ kind: "create", topic: "t", partition: 0 }, hardState(0, 0, null)]));
      await d.run(store.persist([hardState(0, 4, "broker-1")]));
      await d.run(store.sync());
      await d.run(store.persist([hardState(0, 5, "broker-2")]));
      d.fs.crash();
      const { recovered } = await d.open();
      const term = recovered.partitions[0]!.raft!.hardState.term;
      expect([4, 5]).toContain(term);
      if (term === 4) lost++;
    }
    expect(lost).toBeGreaterThan(0);
  });

  it("forgets a deleted partition's term and vote: a new folder of that name starts from its own", async () => {
    const d = disk(4);
    const { store } = await d.open();
    await d.run(store.persist([{ kind: "create", topic: "t", partition: 0 }, hardState(0, 0, null), hardState(0, 9, "broker-0")]));
    await d.run(store.sync());
    await d.run(store.persist([{ kind: "delete", topic: "t", partition: 0 }, { kind: "create", topic: "t", partition: 0 }, hardState(0, 0, null)]));
    await d.run(store.sync());
    await d.run(store.close());
    const { recovered } = await d.open();
    expect(recovered.partitions[0]!.raft!.hardState).toEqual({ term: 0, votedFor: null });
  });
});
