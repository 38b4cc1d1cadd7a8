import { describe, expect, it } from "vitest";
import { CommitPipeline, type Commit, type PipelineStore } from "./commit-pipeline.ts";

interface TestBatch {
  operations: string[];
  sync: boolean;
  sends: string[];
}

const batch = (operations: string[], sync = true, sends: string[] = []): TestBatch => ({ operations, sync, sends });

function merge(batches: TestBatch[]): TestBatch {
  return { operations: batches.flatMap((b) => b.operations), sync: batches.some((b) => b.sync), sends: batches.flatMap((b) => b.sends) };
}

/** A store whose syncs finish when the test says; it logs every call in order. */
class ManualStore implements PipelineStore<string> {
  readonly log: string[] = [];
  private readonly pendingSyncs: (() => void)[] = [];
  persisted: string[] = [];
  /** What the sync in flight will cover (persisted before it was called). */
  private readonly covers: string[][] = [];
  readonly syncedSets: string[][] = [];
  persistDuringSync?: (operations: readonly string[]) => boolean;
  failPersist = false;

  constructor(overlap: boolean | ((operations: readonly string[]) => boolean)) {
    if (overlap === true) this.persistDuringSync = () => true;
    else if (typeof overlap === "function") this.persistDuringSync = overlap;
  }

  async persist(operations: readonly string[]): Promise<void> {
    if (this.failPersist) throw new Error("disk on fire");
    this.log.push(`persist ${operations.join(",")}${this.pendingSyncs.length > 0 ? " (during sync)" : ""}`);
    this.persisted.push(...operations);
  }

  sync(): Promise<void> {
    this.log.push("sync");
    this.covers.push([...this.persisted]);
    return new Promise((resolve) => this.pendingSyncs.push(resolve));
  }

  get syncsRunning(): number {
    return this.pendingSyncs.length;
  }

  finishSync(): void {
    const resolve = this.pendingSyncs.shift();
    expect(resolve).toBeDefined();
    this.syncedSets.push(this.covers.shift()!);
    resolve!();
  }
}

function pipelineOver(store: ManualStore) {
  const delivered: Commit<TestBatch>[] = [];
  const failures: unknown[] = [];
  const pipeline = new CommitPipeline<string, TestBatch>(store, {
    merge,
    deliver: (commit) => {
      delivered.push(commit);
      store.log.push(`deliver ${commit.batch.operations.join(",")}`);
    },
    fail: (error) => failures.push(error),
    stopped: () => failures.length > 0,
  });
  return { pipeline, delivered, failures };
}

/** Let promise continuations run (a few macrotask turns). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("CommitPipeline", () => {
  it("persists batches that arrive during a sync at once, and one later sync covers them all", async () => {
    const store = new ManualStore(true);
    const { pipeline, delivered } = pipelineOver(store);
    pipeline.push(batch(["a"]));
    await settle();
    expect(store.syncsRunning).toBe(1);
    pipeline.push(batch(["b"]));
    await settle();
    pipeline.push(batch(["c"], true, ["reply-c"]));
    await settle();
    // b and c were appended while a's fsync ran; nobody is answered before a sync covers them.
    expect(store.log).toEqual(["persist a", "sync", "persist b (during sync)", "persist c (during sync)"]);
    expect(delivered).toEqual([]);
    store.finishSync();
    await settle();
    expect(delivered.map((d) => d.batch.operations)).toEqual([["a"]]);
    expect(store.syncsRunning).toBe(1); // ONE new sync for b and c
    store.finishSync();
    await settle();
    expect(delivered.map((d) => d.batch.operations)).toEqual([["a"], ["b", "c"]]);
    expect(delivered[1]!.batch.sends).toEqual(["reply-c"]);
    // Each delivered group was persisted before the sync that released it was called.
    expect(store.syncedSets[1]).toEqual(expect.arrayContaining(["b", "c"]));
    expect(store.log.filter((line) => line === "sync")).toHaveLength(2);
    expect(pipeline.overlapped).toBe(2);
    expect(pipeline.busy).toBe(false);
  });

  it("never delivers a batch before the sync that started after its persist", async () => {
    const store = new ManualStore(true);
    const { pipeline, delivered } = pipelineOver(store);
    pipeline.push(batch(["a"]));
    await settle();
    pipeline.push(batch(["b"]));
    await settle();
    store.finishSync(); // a's sync, which started before b was persisted
    await settle();
    expect(delivered.map((d) => d.batch.operations)).toEqual([["a"]]);
    expect(store.syncedSets[0]).toEqual(["a"]);
  });

  it("without persistDuringSync, waits for the running commit before persisting (merged into one)", async () => {
    const store = new ManualStore(false);
    const { pipeline, delivered } = pipelineOver(store);
    pipeline.push(batch(["a"]));
    await settle();
    pipeline.push(batch(["b"]));
    pipeline.push(batch(["c"]));
    await settle();
    expect(store.log).toEqual(["persist a", "sync"]);
    store.finishSync();
    await settle();
    expect(store.log).toEqual(["persist a", "sync", "deliver a", "persist b,c", "sync"]);
    store.finishSync();
    await settle();
    expect(delivered.map((d) => d.batch.operations)).toEqual([["a"], ["b", "c"]]);
  });

  it("holds back only what the store refuses to take during a sync, and keeps order", async () => {
    const store = new ManualStore((operations) => !operations.includes("delete"));
    const { pipeline, delivered } = pipelineOver(store);
    pipeline.push(batch(["a"]));
    await settle();
    pipeline.push(batch(["delete"]));
    await settle();
    expect(store.log).toEqual(["persist a", "sync"]);
    store.finishSync();
    await settle();
    expect(store.log.slice(2)).toEqual(["deliver a", "persist delete", "sync"]);
    store.finishSync();
    await settle();
    expect(delivered.map((d) => d.batch.operations)).toEqual([["a"], ["delete"]]);
  });

  it("a batch with sends only waits for the commit in flight; without sync it is not synced", async () => {
    const store = new ManualStore(true);
    const { pipeline, delivered } = pipelineOver(store);
    pipeline.push(batch(["a"]));
    await settle();
    pipeline.push(batch([], false, ["heartbeat"]));
    await settle();
    expect(delivered).toEqual([]);
    store.finishSync();
    await settle();
    expect(delivered.map((d) => d.batch.sends)).toEqual([[], ["heartbeat"]]);
    expect(store.syncsRunning).toBe(0);
    expect(pipeline.busy).toBe(false);
  });

  it("a failed persist stops the pipeline and reports the error", async () => {
    const store = new ManualStore(true);
    const { pipeline, delivered, failures } = pipelineOver(store);
    store.failPersist = true;
    pipeline.push(batch(["a"]));
    await settle();
    expect(failures).toHaveLength(1);
    expect(delivered).toEqual([]);
    expect(pipeline.busy).toBe(false);
  });
});
