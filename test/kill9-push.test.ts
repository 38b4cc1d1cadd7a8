/**
 * Push consumption against real processes (issue 11, "Real processes"): a coordinator and three
 * brokers (`node bin/zhumq.js` children, a topic with replication factor 3 and six partitions),
 * two member processes of one group reading by push (group-consumer.fixture.ts with `push`: the
 * public client's `mode: "push"` — StartGet at the coordinator, one stream per leader, credits as
 * the handler finishes), and an idempotent acks -1 producer of keyed messages in this process.
 *
 * The story: the group settles and consumes by push; the broker leading the most partitions is
 * SIGKILLed. Its push sessions end with it; the members must ask the coordinator again, open
 * sessions on the new leaders and go on from where they were — nothing skipped — on every
 * partition the victim led. The victim is started again (it rejoins as a follower), and at the
 * end every acknowledged message has been processed by the group.
 *
 * How it is judged: the group checker (src/sim/groups/checker.ts, every rule) on a history built
 * from the member processes' own lines (support/observed-group-history.ts), the acknowledged
 * sends and the final logs read from the brokers' data folders; and directly: every partition the
 * victim led is processed again after the kill, within a bound that allows for the lease expiry
 * (the new leader is elected after the dead one's lease) and a loaded machine.
 *
 * Every child is SIGKILLed after the test, pass or fail. ZHUMQ_KILL9P_SEED replays the choice of
 * pauses (a real machine's timings still vary).
 */
import { afterEach, describe, expect, it } from "vitest";
import { ZhuMQ } from "../src/index.ts";
import { checkGroups, type AckedSend } from "../src/sim/groups/checker.ts";
import { KeyedSender } from "./support/keyed-sender.ts";
import { GroupConsumerProcesses, membersCover, processedAllAcked, processedLines, processedMore, type GroupConsumerProcess } from "./support/group-consumer-process.ts";
import type { FixtureOptions } from "./support/group-consumer.fixture.ts";
import { observedGroupHistory, type TestEvent } from "./support/observed-group-history.ts";
import { LEASE_MS, ReplicatedCluster, sleep, waitUntil } from "./support/replicated-cluster.ts";
import { useProcessSandbox } from "./support/zhumq-process.ts";
import { seededRandom } from "./support/seeded-random.ts";

const SEED = Number(process.env["ZHUMQ_KILL9P_SEED"] ?? Date.now() % 1_000_000);
const BROKERS = 3;
const REPLICATION_FACTOR = 3;
const PARTITIONS = 6;
const TOPIC = "orders";
const GROUP = "pushers";
/** Long enough that nothing but the leader kill happens to the group. */
const SESSION_TIMEOUT_MS = 20_000;
const AUTO_COMMIT_INTERVAL_MS = 200;
/** A busy 2-core machine: an election, a StartGet and a first push can each take a few seconds. */
const RESUME_SLACK_MS = 20_000;
const SEND_RATE = 150;
const IN_FLIGHT_MAX = 500;
const KEYS = 17;
const PROGRESS_RECORDS = 100;
const CONDITION_TIMEOUT_MS = 45_000;
// Only against a run that never ends (process starts are slow on a loaded machine): no speed target here.
const TEST_TIMEOUT_MS = 600_000;

const wallMs = (): number => Date.now();

const progress = (what: string, members: readonly GroupConsumerProcess[], before: number): Promise<void> => processedMore(what, members, before, PROGRESS_RECORDS, CONDITION_TIMEOUT_MS);
const processedAll = (members: readonly GroupConsumerProcess[], acked: readonly AckedSend[]): Promise<void> => processedAllAcked(members, acked, CONDITION_TIMEOUT_MS);





describe("push consumption against real processes", () => {
  const sandbox = useProcessSandbox("zhumq-kill9p-");
  const members = new GroupConsumerProcesses();
  afterEach(() => members.killAll()); // also after a timeout, when the test's own finally may never run

  it(`push members read everything through a SIGKILL of the leader of most partitions, resuming on the new leaders from where they were (seed ${SEED})`, async () => {
    const random = seededRandom(SEED);
    const cluster = await ReplicatedCluster.start(sandbox.processes, sandbox.dir, BROKERS);
    const zhumq = new ZhuMQ({ bootstrap: cluster.bootstrap, clientId: "kill9p" });
    const events: TestEvent[] = [{ kind: "subscribed", atMs: wallMs(), groupId: GROUP, topic: TOPIC }];
    const member = (process: string): GroupConsumerProcess => {
      const options: FixtureOptions = { bootstrap: cluster.bootstrap, groupId: GROUP, topic: TOPIC, process, sessionTimeoutMs: SESSION_TIMEOUT_MS, autoCommitIntervalMs: AUTO_COMMIT_INTERVAL_MS, mode: "trace", push: true };
      return members.start(options);
    };
    try {
      const admin = zhumq.admin();
      await admin.connect();
      await admin.createTopic({ topic: TOPIC, partitions: PARTITIONS, replicationFactor: REPLICATION_FACTOR });
      await admin.disconnect();
      await cluster.waitForFullIsr(TOPIC, REPLICATION_FACTOR, CONDITION_TIMEOUT_MS);
      events[0] = { kind: "subscribed", atMs: wallMs(), groupId: GROUP, topic: TOPIC };

      const group = [member("p-1"), member("p-2")];
      await membersCover("the members share every partition", group, PARTITIONS, CONDITION_TIMEOUT_MS);
      const producer = zhumq.producer({ acks: -1, idempotent: true, lingerMs: 5, deliveryTimeoutMs: 60_000 });
      await producer.connect();
      const sender = new KeyedSender(producer, { topic: TOPIC, rate: SEND_RATE, inFlightMax: IN_FLIGHT_MAX, keys: KEYS });
      await progress("the group consumes by push", group, 0);

      // SIGKILL the broker leading the most partitions.
      const before = await cluster.partitions(TOPIC);
      const counts = new Map<string, number>();
      for (const partition of before) if (partition.leader !== null) counts.set(partition.leader, (counts.get(partition.leader) ?? 0) + 1);
      const [victimId] = [...counts].sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))[0]!;
      const victimPartitions = before.filter((partition) => partition.leader === victimId).map((partition) => partition.partition);
      const victimIndex = cluster.brokerIndex(victimId);
      const lastBefore = new Map(victimPartitions.map((partition) => [partition, Math.max(-1, ...processedLines(group).filter((line) => line.partition === partition).map((line) => line.offset))]));
      await sleep(Math.round(random() * 300));
      const killedAtMs = wallMs();
      await cluster.brokers[victimIndex]!.kill9();

      // Every partition it led is read again, past where it was, from a new leader.
      const resumedAtMs = await waitUntil(`the victim's partitions ${victimPartitions.join(",")} are pushed again`, LEASE_MS + RESUME_SLACK_MS, () => {
        const lines = processedLines(group);
        const resumed = victimPartitions.every((partition) => lines.some((line) => line.partition === partition && line.atMs > killedAtMs && line.offset > lastBefore.get(partition)!));
        return resumed ? wallMs() : undefined;
      });
      await cluster.restartBroker(victimIndex);
      await progress("the group consumes after the victim came back", group, processedLines(group).length);

      await sender.stop();
      await producer.disconnect();
      await processedAll(group, sender.acked);
      await sleep(AUTO_COMMIT_INTERVAL_MS * 3);
      for (const child of group) await child.kill9();
      const logs = await cluster.finalLogs(TOPIC, REPLICATION_FACTOR);

      const result = checkGroups(observedGroupHistory(group.flatMap((child) => child.lines), events), logs, sender.acked);
      const processed = processedLines(group);
      const figures = {
        seed: SEED,
        acked: sender.acked.length,
        sendFailures: sender.failures.length,
        victim: victimId,
        victimPartitions,
        resumedAfterMs: resumedAtMs - killedAtMs,
        resumeBoundMs: LEASE_MS + RESUME_SLACK_MS,
        processed: processed.length,
        duplicates: processed.length - new Set(processed.map((line) => line.value)).size,
        figures: result.figures,
        violations: result.violations.map((violation) => `${violation.rule}: ${violation.message}`),
      };
      console.log(`kill9-push ${JSON.stringify(figures)}`);
      expect(result.violations, `replay with ZHUMQ_KILL9P_SEED=${SEED}`).toEqual([]);
      expect(result.ok).toBe(true);
      expect(sender.failures, "acks -1 sends that failed").toEqual([]);
      expect(sender.acked.length).toBeGreaterThan(PROGRESS_RECORDS * 2);
      expect(group.filter((child) => child.lines.some((line) => line.kind === "failed" || line.kind === "lost")).map((child) => child.describe())).toEqual([]);
      expect(cluster.all.filter((child) => /crash|Error/.test(child.stderr)).map((child) => child.describe())).toEqual([]);
    } finally {
      await members.killAll();
      await cluster.close();
    }
  }, TEST_TIMEOUT_MS);
});
