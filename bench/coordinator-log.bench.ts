/**
 * The coordinator's metadata log stays bounded: one quorum replica (a single voter: every entry
 * commits as soon as it is durable) on the simulated disk, driven through a week of virtual time
 * — a broker heartbeat every 10 s (leases: no entry) and a metadata change every 20 s (a
 * producer-id allocation; every hour a topic created and the one before deleted) — once with
 * snapshots every `COORDINATOR_SNAPSHOT_EVERY` entries and once without. Prints the log's bytes on
 * disk (segments) and the snapshot's size at the end of each day, and the ratio.
 *
 *   npm run bench:coordinator-log            (DAYS=2 for a shorter run)
 */
import { Kernel } from "../src/sim/kernel.ts";
import { SimFileSystem } from "../src/sim/fs.ts";
import { RaftStore } from "../src/host/stores/raft-store.ts";
import { COORDINATOR_RAFT_SETTINGS, COORDINATOR_SEGMENT_BYTES, COORDINATOR_SNAPSHOT_EVERY } from "../src/host/stores/coordinator-quorum-store.ts";
import { createReplica, onPersisted, onReadDone, onRequest, onTick, type QuorumEffect, type QuorumReplica } from "../src/actors/coordinator/replicated/replica.ts";
import { DEFAULT_COORDINATOR_SETTINGS } from "../src/actors/coordinator/limits.ts";
import { startState } from "../src/actors/coordinator/machine.ts";
import { CountingRandom } from "../src/actors/raft/testing.ts";
import type { RaftOperation, RaftRead } from "../src/actors/raft/types.ts";

const DAY_MS = 24 * 3600 * 1000;
const DAYS = Number(process.env.DAYS ?? 7);
const HEARTBEAT_MS = 10_000;
const CHANGE_MS = 20_000;

async function run(snapshotEvery: number): Promise<{ days: { day: number; logBytes: number; snapshotBytes: number; applied: number }[] }> {
  const kernel = new Kernel(1);
  const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), {});
  const { store, recovered } = await kernel.settle(RaftStore.open(fs, { dir: "coordinator-raft", entryBytesMax: COORDINATOR_RAFT_SETTINGS.entryBytesMax, entryRecordsMax: COORDINATOR_RAFT_SETTINGS.entryRecordsMax, log: { segmentBytes: COORDINATOR_SEGMENT_BYTES } }));
  let nowMs = 0;
  const clock = { now: () => nowMs };
  const random = new CountingRandom("bench");
  const settings = { ...DEFAULT_COORDINATOR_SETTINGS, leaseMs: 30_000 };
  const replica: QuorumReplica = createReplica({
    basis: { self: "c0", settings, clock, random },
    raft: { self: "c0", group: "coordinator", voters: ["c0"], settings: COORDINATOR_RAFT_SETTINGS, recovered, clock, random },
    start: startState(settings, undefined),
    reportDigests: false,
    snapshotEvery,
  });
  let snapshotBytes = 0;
  const handle = async (effects: readonly QuorumEffect[]): Promise<void> => {
    const operations: RaftOperation[] = [];
    const reads: { id: number; read: RaftRead }[] = [];
    for (const effect of effects) {
      if (effect.type === "effect.persist") operations.push(effect.operation);
      else if (effect.type === "effect.read") reads.push({ id: effect.id, read: effect.read });
    }
    if (operations.length > 0) {
      for (const operation of operations) if (operation.kind === "snapshot") snapshotBytes = operation.snapshot.data.length;
      await kernel.settle(store.persist(operations));
      await kernel.settle(store.sync());
      await handle(onPersisted(replica, operations, true));
    }
    for (const { id, read } of reads) await handle(onReadDone(replica, id, await kernel.settle(store.read(read))));
  };
  // Elect the single voter.
  for (let tick = 0; tick < 100 && replica.serving === undefined; tick++) {
    nowMs += COORDINATOR_RAFT_SETTINGS.tickMs;
    await handle(onTick(replica));
  }
  let requestId = 0;
  await handle(onRequest(replica, "b0", { type: "broker.heartbeat", requestId: ++requestId, broker: "b0" }));
  const days: { day: number; logBytes: number; snapshotBytes: number; applied: number }[] = [];
  let topic = 0;
  for (let atMs = 0; atMs < DAYS * DAY_MS; atMs += HEARTBEAT_MS) {
    nowMs += HEARTBEAT_MS;
    await handle(onTick(replica));
    await handle(onRequest(replica, "b0", { type: "broker.heartbeat", requestId: ++requestId, broker: "b0" }));
    if (atMs % CHANGE_MS === 0) await handle(onRequest(replica, "p0", { type: "producer.id.request", requestId: ++requestId }));
    if (atMs % 3_600_000 === 0) {
      await handle(onRequest(replica, "admin", { type: "topic.create", requestId: ++requestId, topic: `t${++topic}`, partitions: 3, replicationFactor: 1, replicationMode: "fetch" }));
      if (topic > 1) await handle(onRequest(replica, "admin", { type: "topic.delete", requestId: ++requestId, topic: `t${topic - 1}` }));
    }
    if ((atMs + HEARTBEAT_MS) % DAY_MS === 0) days.push({ day: (atMs + HEARTBEAT_MS) / DAY_MS, logBytes: store.logBytes, snapshotBytes, applied: replica.appliedIndex });
  }
  await kernel.settle(store.close());
  return { days };
}

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(0)} KiB`;
const compacted = await run(COORDINATOR_SNAPSHOT_EVERY);
const plain = await run(0);
console.log(`coordinator metadata log over ${DAYS} virtual days (heartbeat every ${HEARTBEAT_MS / 1000} s, a change every ${CHANGE_MS / 1000} s, a topic created+deleted hourly)`);
console.log(`day  last index   log, snapshots every ${COORDINATOR_SNAPSHOT_EVERY} (+ snapshot)   log, no snapshots`);
for (let index = 0; index < compacted.days.length; index++) {
  const a = compacted.days[index]!;
  const b = plain.days[index]!;
  console.log(`${String(a.day).padStart(3)}  ${String(a.applied).padStart(10)}   ${kib(a.logBytes).padStart(10)} (+ ${kib(a.snapshotBytes)})   ${kib(b.logBytes).padStart(10)}`);
}
const last = compacted.days.at(-1)!;
const lastPlain = plain.days.at(-1)!;
console.log(`after ${DAYS} days: ${kib(last.logBytes + last.snapshotBytes)} with snapshots vs ${kib(lastPlain.logBytes)} without (${((last.logBytes + last.snapshotBytes) / lastPlain.logBytes).toFixed(3)}x)`);
