/**
 * A consumer-group member as its own process, for tests and benchmarks that SIGKILL members or
 * need their client CPU on separate processes. Run as
 *   node --import tsx test/support/group-consumer.fixture.ts '<FixtureOptions as JSON>'
 * (group-consumer-process.ts starts it and parses what it prints).
 *
 * It joins `groupId` through the public client only (`zhumq.consumer({ groupId, ... })`,
 * `subscribe`, `run({ eachMessage })`) and prints one JSON line (a FixtureLine) on stdout per
 * group event and, in "trace" mode, per processed record — printed inside the handler, so before
 * the record can be committed. Stdout to a pipe is synchronous on Linux: a line the process
 * printed before a SIGKILL is never lost, so "committed but never printed" cannot happen through
 * the harness. "count" mode prints a running count every `reportEveryMs` instead (for throughput).
 *
 * Times are `Date.now()`: the system clock, read afresh on every call, so comparable across the
 * processes of one machine (a test merges several processes' lines into one history by them).
 * Not `performance.timeOrigin + performance.now()`: each process fixes its time origin once at
 * start-up, and on a loaded machine two processes' origins were seen to disagree by ~100 ms.
 *
 * With `holdUntilGo`, it joins and takes partitions as usual but pauses each one as it is assigned
 * (`consumer.pause`), until a line "go" arrives on stdin: a benchmark lets the group settle, then
 * starts every member's clock at once. SIGTERM disconnects (commit, leave) and exits 0.
 */
import { createInterface } from "node:readline";
import { ZhuMQ } from "../../src/index.ts";
import type { TopicPartitions } from "../../src/index.ts";

export interface FixtureOptions {
  readonly bootstrap: string;
  readonly groupId: string;
  readonly topic: string;
  /** This process's name in the history (stays the same when a test starts it again). */
  readonly process: string;
  readonly sessionTimeoutMs: number;
  readonly autoCommitIntervalMs: number;
  readonly mode: "trace" | "count";
  readonly reportEveryMs?: number;
  readonly holdUntilGo?: boolean;
  /** Read by push (StartGet, brokers push within credits) instead of pulling. */
  readonly push?: boolean;
}

export type FixtureLine =
  | { readonly kind: "ready"; readonly atMs: number; readonly process: string }
  | { readonly kind: "joined"; readonly atMs: number; readonly process: string; readonly groupId: string; readonly memberId: string; readonly memberEpoch: number }
  | { readonly kind: "assigned" | "revoked"; readonly atMs: number; readonly process: string; readonly groupId: string; readonly memberId: string; readonly partitions: readonly TopicPartitions[] }
  | { readonly kind: "lost"; readonly atMs: number; readonly process: string; readonly groupId: string; readonly memberId: string; readonly partitions: readonly TopicPartitions[]; readonly reason: string }
  | { readonly kind: "committed"; readonly atMs: number; readonly process: string; readonly groupId: string; readonly memberId: string; readonly offsets: readonly { readonly topic: string; readonly partition: number; readonly offset: number }[] }
  | { readonly kind: "processed"; readonly atMs: number; readonly process: string; readonly groupId: string; readonly memberId: string; readonly memberEpoch: number; readonly topic: string; readonly partition: number; readonly offset: number; readonly value: string }
  | { readonly kind: "count"; readonly atMs: number; readonly process: string; readonly processed: number; /** This process's CPU time so far (user + system). */ readonly cpuMs: number }
  | { readonly kind: "failed"; readonly atMs: number; readonly process: string; readonly message: string };

const options = JSON.parse(process.argv[2] ?? "{}") as FixtureOptions;
const wallMs = (): number => Date.now();
const print = (line: FixtureLine): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

const zhumq = new ZhuMQ({ bootstrap: options.bootstrap, clientId: options.process });
const consumer = zhumq.consumer({ groupId: options.groupId, from: "earliest", sessionTimeoutMs: options.sessionTimeoutMs, autoCommitIntervalMs: options.autoCommitIntervalMs, maxWaitMs: 100, ...(options.push === true ? { mode: "push" as const } : {}) });
const { groupId } = options;
const self = options.process;
let memberId = "";
let memberEpoch = -1;
let processed = 0;

consumer.on("group.join", (event) => {
  memberId = event.memberId;
  memberEpoch = event.memberEpoch;
  print({ kind: "joined", atMs: wallMs(), process: self, groupId, memberId, memberEpoch });
});
let holding = options.holdUntilGo === true;
consumer.on("partitions.assigned", ({ partitions }) => {
  // Called as the partitions are added, before any fetch can have returned: nothing slips through.
  if (holding) consumer.pause(partitions);
  print({ kind: "assigned", atMs: wallMs(), process: self, groupId, memberId, partitions });
});
consumer.on("partitions.revoked", ({ partitions }) => print({ kind: "revoked", atMs: wallMs(), process: self, groupId, memberId, partitions }));
consumer.on("partitions.lost", ({ partitions, reason }) => print({ kind: "lost", atMs: wallMs(), process: self, groupId, memberId, partitions, reason }));
consumer.on("offsets.committed", ({ offsets }) => print({ kind: "committed", atMs: wallMs(), process: self, groupId, memberId, offsets: offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })) }));

let stopping = false;
process.on("SIGTERM", () => {
  if (stopping) return;
  stopping = true;
  void consumer.disconnect().finally(() => process.exit(0));
});

if (holding) {
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    if (line.trim() !== "go") return;
    lines.close();
    holding = false;
    consumer.resume([{ topic: options.topic }]);
  });
}
await consumer.connect();
await consumer.subscribe({ topic: options.topic });
if (options.mode === "count") {
  const reportEveryMs = options.reportEveryMs ?? 100;
  const cpuMs = (): number => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1_000;
  };
  setInterval(() => print({ kind: "count", atMs: wallMs(), process: self, processed, cpuMs: cpuMs() }), reportEveryMs);
}
await consumer.run({
  eachMessage: async ({ topic, partition, message }) => {
    processed++;
    if (options.mode !== "trace") return;
    print({ kind: "processed", atMs: wallMs(), process: self, groupId, memberId, memberEpoch, topic, partition, offset: message.offset, value: message.value?.toString() ?? "" });
  },
});
print({ kind: "ready", atMs: wallMs(), process: self });
consumer.done().catch((error: unknown) => {
  print({ kind: "failed", atMs: wallMs(), process: self, message: String(error) });
  process.exit(1);
});
