/**
 * What one broker heartbeat costs the coordinator actor at scale (issue 14: 10,000 partitions of
 * replication factor 3 on 3 brokers): the coordinator alone, driven by hand with the reports real
 * brokers would send, timed per heartbeat — full reports whose ends moved, and `sameReport` ones.
 *
 *   npm run bench:coordinator-heartbeats
 *
 * ZHUMQ_BENCH_PARTITIONS (default 10,000) sizes the topic; ZHUMQ_BENCH_ROUNDS (default 10) is how
 * many heartbeats per broker each line times. The brokers' side (building and hashing reports) is
 * outside the timings.
 */
import type { BrokerHeartbeatReply, ReplicaReport, ServingPartition } from "../src/actors/shared/messages.ts";
import { reportDigest } from "../src/actors/shared/report-digest.ts";
import { drivenCoordinator } from "../test/support/coordinator-driver.ts";

const partitions = Number(process.env["ZHUMQ_BENCH_PARTITIONS"] ?? 10_000);
const brokers = ["broker-0", "broker-1", "broker-2"];
const coordinator = drivenCoordinator({ randomSeed: "bench", limits: { partitionsPerTopicMax: Math.max(10_000, partitions), partitionsTotalMax: Math.max(200_000, partitions) } });
const ask = coordinator.ask;

const last = new Map<string, BrokerHeartbeatReply>();
const held = new Map<string, string | undefined>();
function report(broker: string, end: number): { serving: ServingPartition[]; replicas: ReplicaReport[] } {
  const reply = last.get(broker);
  const serving = (reply?.assignments ?? []).map(({ topic, partition, leaderEpoch }) => ({ topic, partition, leaderEpoch }));
  const follows = (reply?.follows ?? []).map(({ topic, partition, leaderEpoch }) => ({ topic, partition, leaderEpoch, endOffset: end }));
  return { serving, replicas: [...serving.map(({ topic, partition, leaderEpoch }) => ({ topic, partition, leaderEpoch, endOffset: end })), ...follows] };
}

function beat(broker: string, end: number, allowSame: boolean): number {
  const lists = report(broker, end);
  const digest = reportDigest(lists);
  const same = allowSame && held.get(broker) === digest;
  const assigned = last.get(broker)?.assignmentsDigest;
  const message = { type: "broker.heartbeat", broker, incarnation: 1, ...(assigned === undefined ? {} : { assignmentsDigest: assigned }), reportDigest: digest, ...(same ? { sameReport: true } : lists) };
  const started = performance.now();
  const reply = ask<BrokerHeartbeatReply>(broker, message);
  const took = performance.now() - started;
  if (reply.sameAssignments !== true && reply.reportWanted !== true) last.set(broker, reply);
  held.set(broker, reply.reportDigest);
  coordinator.advance(200 / brokers.length);
  return took;
}

for (const broker of brokers) beat(broker, 0, true);
const created = performance.now();
ask("admin", { type: "topic.create", topic: "big", partitions, replicationFactor: 3, replicationMode: "fetch" });
console.log(`topic.create of ${partitions} partitions: ${(performance.now() - created).toFixed(0)} ms`);
for (let round = 0; round < 3; round++) for (const broker of brokers) beat(broker, 0, true);

function rounds(label: string, count: number, end: (round: number) => number, allowSame: boolean): void {
  const times: number[] = [];
  for (let round = 0; round < count; round++) for (const broker of brokers) times.push(beat(broker, end(round), allowSame));
  times.sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(`${label.padEnd(40)} mean ${mean.toFixed(1)} ms  p50 ${times[Math.floor(times.length / 2)]!.toFixed(1)}  max ${times[times.length - 1]!.toFixed(1)}  (${times.length} heartbeats)`);
}
const ROUNDS = Number(process.env["ZHUMQ_BENCH_ROUNDS"] ?? 10);
rounds("full reports, ends moving", ROUNDS, (round) => 10 + round, false);
rounds("sameReport, nothing changed", ROUNDS, () => 100, true);
rounds("full reports, unchanged (digest unknown)", ROUNDS, () => 100, false);
