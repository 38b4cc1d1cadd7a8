/**
 * Consumer groups against real processes (issue 10, "Real processes"): a coordinator and three
 * brokers (`node bin/zhumq.js` children, a topic with replication factor 3 and several
 * partitions), two member processes in group A and one in group B (group-consumer.fixture.ts:
 * the public client, one JSON line per processed record and per rebalance event), and an
 * idempotent acks -1 producer of keyed messages in this process.
 *
 * The story: both groups settle and consume; one member of A is SIGKILLed, and the survivor must
 * own its partitions within A's session timeout (plus slack for a loaded machine) and go on from
 * the committed offsets; the victim is started again and the group shares the partitions anew;
 * then the coordinator is SIGKILLed and restarted on its data folder while everything runs. At
 * the end every acknowledged message has been processed by each group (duplicates are counted
 * and printed, never a failure), and group B was never disturbed: one join, all partitions from
 * its first assignment, no revoke, no loss, no duplicate. Its 30 s session rides out the
 * coordinator's restart; group A's 3 s one usually does not (the restart takes 3–6 s here), so
 * A's members fence themselves, drop their partitions and join again — "keep or regain" both
 * pass, as long as nothing is lost.
 *
 * How it is judged: the group checker (src/sim/groups/checker.ts, every rule) runs on a history
 * built from the member processes' own lines (support/observed-group-history.ts says how the
 * coordinator's invisible decisions are stood in for, and what that leaves unchecked: member
 * epochs after a join), the acknowledged sends, and the final logs read from the brokers' data
 * folders after a last SIGKILL. The takeover time, the takeover offsets and group B's calm are
 * checked directly.
 *
 * Fault model: SIGKILL of one member process and of the coordinator, one at a time; brokers stay
 * up. The victim is chosen from a seed printed with the figures (ZHUMQ_KILL9G_SEED replays it; a
 * real machine's timings still vary). Every child is SIGKILLed after the test, pass or fail.
 */
import { afterEach, describe, expect, it } from "vitest";
import { ZhuMQ } from "../src/index.ts";
import { checkGroups, type AckedSend } from "../src/sim/groups/checker.ts";
import type { FinalLog } from "../src/sim/queue/history.ts";
import type { GroupHistory } from "../src/sim/groups/history.ts";
import { KeyedSender } from "./support/keyed-sender.ts";
import { GroupConsumerProcesses, membersCover, processedAllAcked, processedLines, processedMore, type GroupConsumerProcess } from "./support/group-consumer-process.ts";
import type { FixtureOptions } from "./support/group-consumer.fixture.ts";
import { observedGroupHistory, type TestEvent } from "./support/observed-group-history.ts";
import { ReplicatedCluster, sleep, waitUntil } from "./support/replicated-cluster.ts";
import { useProcessSandbox } from "./support/zhumq-process.ts";
import { seededRandom } from "./support/seeded-random.ts";

const SEED = Number(process.env["ZHUMQ_KILL9G_SEED"] ?? Date.now() % 1_000_000);
const BROKERS = 3;
const REPLICATION_FACTOR = 3;
const PARTITIONS = 6;
const TOPIC = "orders";
const GROUP_A = "workers";
const GROUP_B = "audit";
/** Group A's session: the takeover after a SIGKILL waits for it to run out. */
const SESSION_TIMEOUT_A_MS = 3_000;
/** Group B's: long enough that a coordinator restart on a loaded machine cannot expire it. */
const SESSION_TIMEOUT_B_MS = 30_000;
const AUTO_COMMIT_INTERVAL_MS = 200;
/** A busy 2-core machine: a removal, a rebalance and a fetch can each take a few seconds. */
const TAKEOVER_SLACK_MS = 15_000;
const SEND_RATE = 150;
const IN_FLIGHT_MAX = 500;
const KEYS = 17;
/** Records each group must process between two faults (both keep consuming all along). */
const PROGRESS_RECORDS = 100;
const CONDITION_TIMEOUT_MS = 45_000;
// Only against a run that never ends (process starts are slow on a loaded machine): no speed target here.
const TEST_TIMEOUT_MS = 600_000;

/** The clock of the fixture's lines (see group-consumer.fixture.ts). */
const wallMs = (): number => Date.now();

const owned = (member: GroupConsumerProcess): Set<number> => member.owned();
/** Until the live members of a group own every partition between them, each partition once. */
const groupCovers = (what: string, members: readonly GroupConsumerProcess[]): Promise<number> => membersCover(what, members, PARTITIONS, CONDITION_TIMEOUT_MS);
/** Until the group's members have processed PROGRESS_RECORDS more records than `before`. */
const progress = (what: string, members: readonly GroupConsumerProcess[], before: number): Promise<void> => processedMore(what, members, before, PROGRESS_RECORDS, CONDITION_TIMEOUT_MS);
const processedAll = (members: readonly GroupConsumerProcess[], acked: readonly AckedSend[]): Promise<void> => processedAllAcked(members, acked, CONDITION_TIMEOUT_MS);




/** For each partition the victim owned: the survivor's first offset there after the kill, and the victim's last commit and last processed offset. */
function takeovers(victim: GroupConsumerProcess, survivor: GroupConsumerProcess, partitions: readonly number[], killedAtMs: number): { partition: number; firstOffset: number | undefined; committedSeen: number; processedNext: number }[] {
  return partitions.map((partition) => {
    const first = survivor.lines.find((line) => line.kind === "processed" && line.partition === partition && line.atMs > killedAtMs);
    let committedSeen = 0;
    let processedNext = 0;
    for (const line of [...victim.lines, ...survivor.lines.filter((candidate) => candidate.atMs < killedAtMs)]) {
      if (line.kind === "committed") for (const offset of line.offsets) if (offset.partition === partition) committedSeen = Math.max(committedSeen, offset.offset);
      if (line.kind === "processed" && line.partition === partition) processedNext = Math.max(processedNext, line.offset + 1);
    }
    return { partition, firstOffset: first?.kind === "processed" ? first.offset : undefined, committedSeen, processedNext };
  });
}

/** SIGKILL `victim`; resolve once `survivor` owns every partition and has processed on each it took. */
async function killAndTakeOver(victim: GroupConsumerProcess, survivor: GroupConsumerProcess, events: TestEvent[]): Promise<{ killedAtMs: number; takeoverMs: number; victimPartitions: number[]; moved: ReturnType<typeof takeovers> }> {
  const victimPartitions = [...owned(victim)].sort((x, y) => x - y);
  const killedAtMs = await victim.kill9();
  events.push({ kind: "killed", atMs: killedAtMs, process: victim.name, groupId: GROUP_A });
  const takenAtMs = await groupCovers(`the survivor ${survivor.name} owns the victim's partitions ${victimPartitions.join(",")}`, [survivor]);
  await waitUntil("the survivor processes on every partition it took", CONDITION_TIMEOUT_MS, () => (takeovers(victim, survivor, victimPartitions, killedAtMs).every((t) => t.firstOffset !== undefined) ? true : undefined));
  return { killedAtMs, takeoverMs: takenAtMs - killedAtMs, victimPartitions, moved: takeovers(victim, survivor, victimPartitions, killedAtMs) };
}

interface Run {
  readonly victim: GroupConsumerProcess;
  readonly liveA: readonly GroupConsumerProcess[];
  readonly b: GroupConsumerProcess;
  readonly takeover: Awaited<ReturnType<typeof killAndTakeOver>>;
  readonly phases: Readonly<Record<string, number>>;
  readonly coordinatorKilledAtMs: number;
  readonly coordinatorDownMs: number;
}

/** Print the figures, then the verdict: the checker on the whole history, the takeover, and group B's calm. */
function judge(run: Run, history: GroupHistory, logs: readonly FinalLog[], sender: KeyedSender): void {
  const { victim, liveA, b, takeover } = run;
  const { killedAtMs, takeoverMs, victimPartitions, moved } = takeover;
  const result = checkGroups(history, logs, sender.acked);
  const lines = [victim, ...liveA, b].flatMap((child) => child.lines);
  const bDuplicates = processedLines([b]).length - new Set(processedLines([b]).map((line) => line.value)).size;
  const figures = {
    seed: SEED,
    acked: sender.acked.length,
    sendFailures: sender.failures.length,
    victim: victim.name,
    victimPartitions,
    takeoverMs: Math.round(takeoverMs),
    takeoverBoundMs: SESSION_TIMEOUT_A_MS + TAKEOVER_SLACK_MS,
    moved,
    phases: run.phases,
    coordinatorKilledAt: `+${Math.round(run.coordinatorKilledAtMs - killedAtMs)} ms`,
    coordinatorDownMs: run.coordinatorDownMs,
    groupALost: lines.flatMap((line) => (line.kind === "lost" ? [`${line.process} at +${Math.round(line.atMs - killedAtMs)} ms: ${line.reason}`] : [])),
    figures: result.figures,
    violations: result.violations.map((violation) => `${violation.rule}: ${violation.message}`),
  };
  console.log(`kill9-groups ${JSON.stringify(figures)}`);

  expect(result.violations, `replay the victim choice with ZHUMQ_KILL9G_SEED=${SEED}`).toEqual([]);
  expect(result.ok).toBe(true);
  expect(sender.failures, "acks -1 sends that failed").toEqual([]);
  expect(sender.acked.length).toBeGreaterThan(PROGRESS_RECORDS * 3);
  // The takeover: within the session timeout (plus slack), from the committed offsets — never past what the victim processed.
  expect(takeoverMs).toBeLessThan(SESSION_TIMEOUT_A_MS + TAKEOVER_SLACK_MS);
  for (const t of moved) {
    expect(t.firstOffset, `partition ${t.partition}: ${JSON.stringify(t)}`).toBeGreaterThanOrEqual(t.committedSeen);
    expect(t.firstOffset, `partition ${t.partition}: ${JSON.stringify(t)}`).toBeLessThanOrEqual(t.processedNext);
  }
  // Group B was never disturbed.
  expect(b.lines.filter((line) => line.kind === "revoked" || line.kind === "lost"), "group B's member lost or gave up partitions").toEqual([]);
  expect(b.lines.filter((line) => line.kind === "joined")).toHaveLength(1);
  expect(owned(b).size).toBe(PARTITIONS);
  expect(bDuplicates).toBe(0);
  expect(result.figures.duplicatesPerGroup[GROUP_B]).toBe(0);
  expect([victim, ...liveA, b].filter((child) => child.lines.some((line) => line.kind === "failed")).map((child) => child.describe())).toEqual([]);
}

describe("consumer groups against real processes", () => {
  const sandbox = useProcessSandbox("zhumq-kill9g-");
  const members = new GroupConsumerProcesses();
  afterEach(() => members.killAll()); // also after a timeout, when the test's own finally may never run

  it(`a SIGKILLed member's partitions move to the survivor from the committed offsets; a coordinator restart; each group processes every acknowledged message; the other group is never disturbed (seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    const cluster = await ReplicatedCluster.start(sandbox.processes, sandbox.dir, BROKERS);
    const zhumq = new ZhuMQ({ bootstrap: cluster.bootstrap, clientId: "kill9g" });
    const events: TestEvent[] = [];
    const phases: Record<string, number> = {};
    let phaseFrom = wallMs();
    const phase = (name: string): void => {
      phases[name] = Math.round(wallMs() - phaseFrom);
      phaseFrom = wallMs();
    };
    const member = (process: string, groupId: string, sessionTimeoutMs: number): GroupConsumerProcess => {
      const options: FixtureOptions = { bootstrap: cluster.bootstrap, groupId, topic: TOPIC, process, sessionTimeoutMs, autoCommitIntervalMs: AUTO_COMMIT_INTERVAL_MS, mode: "trace" };
      return members.start(options);
    };
    try {
      const admin = zhumq.admin();
      await admin.connect();
      await admin.createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: REPLICATION_FACTOR });
      await admin.disconnect();
      await cluster.waitForFullIsr(TOPIC, REPLICATION_FACTOR, CONDITION_TIMEOUT_MS);
      phase("topicReady");

      for (const groupId of [GROUP_A, GROUP_B]) events.push({ kind: "subscribed", atMs: wallMs(), groupId, topic: TOPIC });
      const a = [member("a-1", GROUP_A, SESSION_TIMEOUT_A_MS), member("a-2", GROUP_A, SESSION_TIMEOUT_A_MS)];
      const b = member("b-1", GROUP_B, SESSION_TIMEOUT_B_MS);
      await groupCovers("group A's two members share every partition", a);
      await groupCovers("group B's member owns every partition", [b]);

      const producer = zhumq.producer({ acks: -1, idempotent: true, lingerMs: 5, deliveryTimeoutMs: 60_000 });
      await producer.connect();
      const sender = new KeyedSender(producer, { topic: TOPIC, rate: SEND_RATE, inFlightMax: IN_FLIGHT_MAX, keys: KEYS });
      await progress("group A consumes", a, 0);
      await progress("group B consumes", [b], 0);
      phase("membersSettled");

      // 1. SIGKILL one member of A: the survivor takes its partitions over.
      const victimIndex = Math.floor(random() * 2);
      const [victim, survivor] = [a[victimIndex]!, a[1 - victimIndex]!];
      const takeover = await killAndTakeOver(victim, survivor, events);
      phase("takeover");

      // 2. The victim comes back as a new process: the group shares the partitions again.
      events.push({ kind: "restarted", atMs: wallMs(), process: victim.name });
      const restarted = member(victim.name, GROUP_A, SESSION_TIMEOUT_A_MS);
      const liveA = [survivor, restarted];
      await groupCovers("group A shares every partition again after the restart", liveA);
      await progress("group A consumes after the restart", liveA, processedLines(liveA).length);
      phase("victimRestarted");

      // 3. SIGKILL the coordinator and restart it on its data folder while both groups run.
      const beforeCoordinator = { a: processedLines(liveA).length, b: processedLines([b]).length };
      const coordinatorKilledAtMs = wallMs();
      await cluster.coordinator.kill9();
      await sleep(Math.round(100 + random() * 400));
      await cluster.restartCoordinator();
      phase("coordinatorRestart");
      const coordinatorDownMs = Math.round(wallMs() - coordinatorKilledAtMs);
      await groupCovers("group A owns every partition after the coordinator restart", liveA);
      await progress("group A consumes after the coordinator restart", liveA, beforeCoordinator.a);
      await progress("group B consumes after the coordinator restart", [b], beforeCoordinator.b);
      phase("afterCoordinator");

      await sender.stop();
      await producer.disconnect();
      await processedAll([victim, ...liveA], sender.acked);
      await processedAll([b], sender.acked);
      // Let the last auto-commits land, then stop the members with no goodbye (a commit on leave would be a second, cleaner story).
      await sleep(AUTO_COMMIT_INTERVAL_MS * 3);
      for (const child of [...liveA, b]) await child.kill9();
      const logs = await cluster.finalLogs(TOPIC, REPLICATION_FACTOR);
      phase("drained");

      const run = { victim, liveA, b, takeover, phases, coordinatorKilledAtMs, coordinatorDownMs };
      judge(run, observedGroupHistory([victim, ...liveA, b].flatMap((child) => child.lines), events), logs, sender);
      expect(cluster.all.filter((child) => /crash|Error/.test(child.stderr)).map((child) => child.describe())).toEqual([]);
    } finally {
      await members.killAll();
      await cluster.close();
    }
  }, TEST_TIMEOUT_MS);
});
