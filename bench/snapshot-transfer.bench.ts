/**
 * InstallSnapshot in chunks, the actor's own cost: a 3-node in-memory Raft group (src/actors/raft/
 * testing.ts: messages delivered at once, a disk that is durable at once) whose leader compacted
 * to a 50 MiB state while one follower was cut off; the time from healing to the follower having
 * installed it and caught up, for chunks of 64 KiB, 1 MiB (the default) and 8 MiB (the most).
 * No network: what is left is splitting, answering and joining the chunks — on real links each
 * chunk adds a round trip. Each figure is the median of three runs; compare the three in one run,
 * not with another machine.
 *
 *   npm run bench:snapshot-transfer          (STATE_MIB=200 for a larger state)
 */
import { performance } from "node:perf_hooks";
import { TestNetwork, type TestNode } from "../src/actors/raft/testing.ts";

const MiB = 1024 * 1024;
const STATE_MIB = Number(process.env.STATE_MIB ?? 50);

function transfer(chunkBytes: number, stateBytes: number): { ms: number; chunks: number } {
  const net = new TestNetwork(["a", "b", "c"], { settings: { snapshotChunkBytes: chunkBytes } });
  const leader = net.elect();
  const lagging = [...net.nodes.values()].find((node) => node !== leader) as TestNode;
  net.isolate(lagging.id);
  for (let i = 0; i < 4; i++) net.propose(leader, `v${i}`);
  net.tick(3);
  const state = Uint8Array.from({ length: stateBytes }, (_, at) => at & 0xff);
  leader.compact(leader.core.appliedIndex, state);
  const before = net.delivered.length;
  const started = performance.now();
  net.heal();
  if (!net.tickUntil(() => lagging.core.appliedIndex === leader.core.log.lastIndex, 10_000)) throw new Error("the follower never caught up");
  const ms = performance.now() - started;
  if (lagging.disk.snapshot?.data.length !== stateBytes) throw new Error(`installed ${lagging.disk.snapshot?.data.length} bytes, expected ${stateBytes}`);
  const chunks = net.delivered.slice(before).filter((envelope) => envelope.message.type === "raft.snapshot").length;
  return { ms, chunks };
}

transfer(1 * MiB, 4 * MiB); // warm-up
/** The median of three runs (a shared machine's noise, garbage collection). */
function median(chunkBytes: number): { chunkBytes: number; ms: number; chunks: number } {
  const runs = [0, 1, 2].map(() => transfer(chunkBytes, STATE_MIB * MiB)).sort((x, y) => x.ms - y.ms);
  return { chunkBytes, ...runs[1]! };
}

const results = [64 * 1024, 1 * MiB, 8 * MiB].map(median);
const base = results[1]!.ms;
for (const { chunkBytes, ms, chunks } of results) {
  console.log(`${STATE_MIB} MiB snapshot, chunks of ${chunkBytes / 1024} KiB: ${chunks} chunks, ${ms.toFixed(0)} ms (${(ms / base).toFixed(2)}x the 1 MiB run)`);
}
