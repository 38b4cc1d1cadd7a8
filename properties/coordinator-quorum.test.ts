import { describe, expect, it } from "vitest";
import { runQueue, type QueueRunResult } from "../src/sim/queue/cluster.ts";
import { COORDINATOR_LEADER, COORDINATOR_PEER_PREFIX } from "../src/sim/queue/coordinator-boot.ts";
import { SIMULATION } from "./simulation-timeout.ts";
import { parseSchedule } from "../src/sim/nemesis.ts";

/**
 * The queue workload on a coordinator quorum (docs/coordinator-quorum.md): 3 brokers, RF 3,
 * acks -1, with the coordinator as 3 (or 5) Raft-replicated replicas. Brokers and clients get the
 * list and follow NOT_COORDINATOR; the nemesis crashes, pauses and isolates replicas (the serving
 * leader by name too) besides brokers. Judged by the queue checker, the Raft checker on the
 * coordinator group, and the quorum checker (one state per log prefix on every replica, epochs
 * served to brokers never going back, one leader per epoch).
 *
 * CI runs SEEDS swarm seeds; ZHUMQ_LONG=1 runs LONG_SEEDS. A failing seed replays with
 * `npx zhumq sim --seed S --coordinators 3 --replication-factor 3`.
 */
const SEEDS = 2;
const LONG_SEEDS = 50;
const seeds = process.env["ZHUMQ_LONG"] === "1" ? LONG_SEEDS : SEEDS;
/** Swarm seeds with consumer groups on the quorum: 1 in CI, more with ZHUMQ_LONG=1. */
const GROUP_SEEDS = process.env["ZHUMQ_LONG"] === "1" ? 20 : 1;
/** Swarm seeds with random membership changes and wipes (`--coordinator-changes`): 2 in CI, more with ZHUMQ_LONG=1. */
const CHANGE_SEEDS = process.env["ZHUMQ_LONG"] === "1" ? 30 : 2;
/**
 * Swarm seeds with consumer groups and membership changes (`--coordinator-changes --groups 2`): in
 * CI two that once failed at-least-once-per-group (every bootstrap replica replaced while the
 * group processes listed only those), 40 from 9000 with ZHUMQ_LONG=1.
 */
const GROUP_CHANGE_SEEDS = process.env["ZHUMQ_LONG"] === "1" ? Array.from({ length: 40 }, (_, index) => 9_000 + index) : [9_002, 9_013];

function failure(result: QueueRunResult, replay: string): string {
  return `replay: ${replay}\n  ${result.anomalies.slice(0, 4).map((anomaly) => `${anomaly.kind}: ${anomaly.detail}`).join("\n  ")}`;
}

describe("coordinator quorum in the simulator", () => {
  it(`${seeds} swarm seeds with 3 coordinator replicas pass every checker`, SIMULATION, async () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const result = await runQueue({ seed, coordinators: 3, replicationFactor: 3, messagesPerProducer: 120 });
      expect(result.coordinatorQuorum?.replicas).toBe(3);
      expect(result.coordinatorQuorum?.entriesApplied).toBeGreaterThan(0);
      if (!result.ok) failures.push(failure(result, `npx zhumq sim --seed ${seed} --coordinators 3 --replication-factor 3`));
    }
    expect(failures, failures.join("\n")).toEqual([]);
  });

  it("the coordinator leader killed, then cut off: a new leader serves each time, nothing acknowledged is lost", SIMULATION, async () => {
    const result = await runQueue({
      seed: 7,
      coordinators: 5,
      replicationFactor: 3,
      messagesPerProducer: 120,
      faults: "none",
      schedule: [
        { atMs: 1_500, action: { kind: "crash", node: COORDINATOR_LEADER } },
        { atMs: 2_500, action: { kind: "restart", node: COORDINATOR_LEADER, wipe: false } },
        { atMs: 3_500, action: { kind: "isolate", node: COORDINATOR_LEADER } },
        { atMs: 4_500, action: { kind: "heal" } },
      ],
    });
    expect(result.anomalies, result.anomalies.map((anomaly) => `${anomaly.kind}: ${anomaly.detail}`).join("\n")).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.coordinatorQuorum!.servingStarts).toBeGreaterThanOrEqual(3);
    expect(result.sends.ok).toBe(result.sends.invoked);
  });

  it(`consumer groups on 3 coordinator replicas: ${GROUP_SEEDS} swarm seed(s) pass every checker, committed-offsets-durable included`, SIMULATION, async () => {
    const failures: string[] = [];
    for (let seed = 1; seed <= GROUP_SEEDS; seed++) {
      const result = await runQueue({ seed, coordinators: 3, groups: { count: 2 }, messagesPerProducer: 100 });
      expect(result.groups?.offsetDurability.statesSeen).toBeGreaterThanOrEqual(2);
      if (!result.ok) failures.push(failure(result, `npx zhumq sim --seed ${seed} --coordinators 3 --groups 2 --messages 100`));
    }
    expect(failures, failures.join("\n")).toEqual([]);
  });

  // The serving leader at 2 s is cut from its two peers while members keep committing to it: with
  // the plant it acknowledges those commits, and the leader elected by the other two never has them.
  // (Named by role, not id: which replica leads depends on the start's timing.)
  it("planted ack-commit-before-raft is caught by committed-offsets-durable, and only by it", SIMULATION, async () => {
    const result = await runQueue({
      seed: 21,
      plant: "ack-commit-before-raft",
      groups: { count: 2, membersPerGroup: 2 },
      messagesPerProducer: 100,
      faults: "none",
      schedule: [
        { atMs: 2_000, action: { kind: "partition", left: [COORDINATOR_LEADER], right: [`${COORDINATOR_PEER_PREFIX}0`, `${COORDINATOR_PEER_PREFIX}1`], symmetric: true } },
        { atMs: 3_500, action: { kind: "heal" } },
      ],
    });
    expect(result.coordinatorQuorum?.replicas).toBe(3);
    expect(result.ok).toBe(false);
    expect(new Set(result.anomalies.map((anomaly) => anomaly.kind))).toEqual(new Set(["committed-offsets-durable"]));
    expect(result.anomalies[0]!.detail).toContain("moved backwards");
  });

  // The swarm's own leader-from-peers cuts reach the plant too (seeds 2 and 3 of 1–6 when measured); a long run checks the budget.
  it.runIf(process.env["ZHUMQ_LONG"] === "1")("planted ack-commit-before-raft: the swarm catches it within 4 seeds", SIMULATION, async () => {
    let caught: number | undefined;
    for (let seed = 1; seed <= 4 && caught === undefined; seed++) {
      const result = await runQueue({ seed, plant: "ack-commit-before-raft" });
      if (result.anomalies.some((anomaly) => anomaly.kind === "committed-offsets-durable")) caught = seed;
    }
    expect(caught).toBeDefined();
  });

  // `zhumq sim --coordinators 3 --coordinator-changes`: wipes, adds and removes through the operator, under the usual faults.
  it(`${CHANGE_SEEDS} swarm seeds with random coordinator membership changes and wipes pass every checker, every change finished`, SIMULATION, async () => {
    const failures: string[] = [];
    let changes = 0;
    for (let seed = 1; seed <= CHANGE_SEEDS; seed++) {
      const result = await runQueue({ seed, coordinators: 3, coordinatorChanges: true, messagesPerProducer: 120 });
      changes += result.coordinatorQuorum?.membershipChanges ?? 0;
      if (!result.ok) failures.push(failure(result, `npx zhumq sim --seed ${seed} --coordinators 3 --coordinator-changes --messages 120`));
    }
    expect(failures, failures.join("\n")).toEqual([]);
    expect(changes).toBeGreaterThanOrEqual(2 * CHANGE_SEEDS);
  });

  // The group processes must reach the voters in force after every change: members, pushers and partition readers.
  it(`consumer groups under random coordinator membership changes: ${GROUP_CHANGE_SEEDS.length} swarm seed(s) pass every checker, every change finished`, SIMULATION, async () => {
    const failures: string[] = [];
    let changes = 0;
    for (const seed of GROUP_CHANGE_SEEDS) {
      const result = await runQueue({ seed, coordinators: 3, coordinatorChanges: true, groups: { count: 2 } });
      changes += result.coordinatorQuorum?.membershipChanges ?? 0;
      expect(result.groups?.processed ?? 0).toBeGreaterThan(0);
      if (!result.ok) failures.push(failure(result, `npx zhumq sim --seed ${seed} --coordinators 3 --coordinator-changes --groups 2`));
    }
    expect(failures, failures.join("\n")).toEqual([]);
    expect(changes).toBeGreaterThanOrEqual(2 * GROUP_CHANGE_SEEDS.length);
  });

  // Seed 9177: coordinator-2 crashed while still guarded (before the first election) and was never
  // seen running since; the run took it as unguarded and let coordinator-0 return wiped under its
  // old id, so two replicas stayed guarded, each waiting for the other: no leader ever again.
  it("a replica down since it crashed guarded counts as guarded: no second replica is wiped (seed 9177)", SIMULATION, async () => {
    const result = await runQueue({ seed: 9_177, coordinators: 3, coordinatorChanges: true });
    if (!result.ok) expect.fail(failure(result, "npx zhumq sim --seed 9177 --coordinators 3 --coordinator-changes"));
    expect(result.coordinatorQuorum?.wipedReturns ?? 0).toBeGreaterThan(0);
  });

  // scenarios/queue-coordinator-planted-removed-member-counts.txt: a removed replica left running while the other voter is down.
  it("planted removed-coordinator-counts is caught by commit-not-durable (the voters in force); the same story without it passes", SIMULATION, async () => {
    const story = { seed: 11, coordinators: 3, replicationFactor: 3, messagesPerProducer: 120, faults: "none" as const, schedule: parseSchedule(REMOVED_MEMBER_STORY) };
    const planted = await runQueue({ ...story, plant: "removed-coordinator-counts" });
    expect(new Set(planted.anomalies.map((anomaly) => anomaly.kind))).toEqual(new Set(["coordinator-raft-commit-not-durable"]));
    const correct = await runQueue(story);
    expect(correct.ok, failure(correct, "npx zhumq sim --scenario queue-coordinator-planted-removed-member-counts (without its plant line)")).toBe(true);
    expect(correct.coordinatorQuorum?.membershipChanges).toBe(1);
  });

  // scenarios/queue-coordinator-wiped-returns-under-old-id.txt and its planted twin: a stale replica and a wiped one back under its old id, the leader down.
  it("a wiped replica back under its old id guards itself: the story passes, and with the guard off (planted wiped-coordinator-keeps-id) a leader lacks a committed entry", SIMULATION, async () => {
    const story = { seed: 11, coordinators: 3, replicationFactor: 3, messagesPerProducer: 120, faults: "none" as const, schedule: parseSchedule(WIPED_KEEPS_ID_STORY) };
    const correct = await runQueue(story);
    expect(correct.ok, failure(correct, "npx zhumq sim --scenario queue-coordinator-wiped-returns-under-old-id")).toBe(true);
    expect(correct.coordinatorQuorum?.wipedReturns).toBe(1);
    const planted = await runQueue({ ...story, plant: "wiped-coordinator-keeps-id" });
    const kinds = new Set(planted.anomalies.map((anomaly) => anomaly.kind));
    // Not only the wipe itself (durability): the loss it lets happen.
    expect(kinds.has("coordinator-raft-durability")).toBe(true);
    expect(kinds.has("coordinator-raft-leader-completeness")).toBe(true);
  });

  it("planted coordinator-never-promotes: the added replica never votes, and the run fails on liveness (coordinator-change-unfinished) only", SIMULATION, async () => {
    const result = await runQueue({ seed: 5, coordinators: 3, replicationFactor: 3, messagesPerProducer: 60, livenessMs: 8_000, faults: "none", plant: "coordinator-never-promotes", schedule: parseSchedule("at 700 coordinator-add") });
    expect(new Set(result.anomalies.map((anomaly) => anomaly.kind))).toEqual(new Set(["coordinator-change-unfinished"]));
  });
});

const REMOVED_MEMBER_STORY = `
at 800 coordinator-remove coordinator-voter:0 stop-after=4000
at 1800 crash coordinator-voter:0
at 2000 crash leader:0
at 3500 restart leader:0
at 4200 restart coordinator-voter:0
`;

const WIPED_KEEPS_ID_STORY = `
at 500 crash coordinator-voter:0
at 600 crash leader:0
at 2600 crash coordinator-voter:1
at 2700 crash coordinator-leader
at 2800 restart leader:0
at 3000 restart coordinator-voter:0
at 3100 restart coordinator-voter:1 wipe keep-id
at 4200 restart coordinator-leader
`;
