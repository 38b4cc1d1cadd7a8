/**
 * The workloads `zhumq sim`, the scenarios and the seed properties can run, behind one shape:
 * options in, a summary out (verdict, anomalies, the figures, the trace hash).
 */
import type { AckLevel } from "../actors/shared/messages.ts";
import type { CompressionType } from "../disk/compression.ts";
import type { FaultStep } from "./nemesis.ts";
import { runLedger } from "./demo/ledger.ts";
import type { RunFigures } from "./run.ts";
import type { TraceRecorder, TraceRun } from "./trace-recorder.ts";
import { QUEUE_PLANTS, runQueue, type QueuePlant } from "./queue/cluster.ts";
import type { GroupRunFigures, GroupsOptions } from "./groups/workload.ts";
import { LEADER_HUNT, runRaft } from "./raft/cluster.ts";
import { RAFT_PLANTS, type RaftPlant } from "../actors/raft/types.ts";

export const WORKLOADS = ["queue", "ledger", "raft"] as const;
export type WorkloadName = (typeof WORKLOADS)[number];
/** Planted bugs per workload: each proves its checker can fail. */
export const PLANTS: Readonly<Record<WorkloadName, readonly string[]>> = { queue: QUEUE_PLANTS, ledger: ["ack-before-sync"], raft: RAFT_PLANTS.filter((plant) => plant !== "count-non-members") };

export interface WorkloadOptions {
  readonly workload: WorkloadName;
  readonly seed: number;
  /**
   * swarm: the seed draws the network, disk and configuration profile and, unless `schedule`
   * is given, the fault schedule; none: a quiet network, honest disks, and only `schedule`.
   */
  readonly faults: "swarm" | "none";
  readonly schedule?: readonly FaultStep[] | undefined;
  readonly plant?: string | undefined;
  /** queue: the producers' ack level. */
  readonly acks?: AckLevel | undefined;
  /** queue: values per producer; ledger: values per client. */
  readonly messages?: number | undefined;
  /** queue: bit flips on disk reads (a scenario's bit-rot). */
  readonly bitFlipPerRead?: number | undefined;
  /** queue, swarm: force damage at rest on the brokers' log segments on (true) or off (false). */
  readonly damageAtRest?: boolean | undefined;
  /** queue: replicas per partition (fetch mode; default 1, or 3 with a replication plant). */
  readonly replicationFactor?: number | undefined;
  /** queue: coordinator replicas (more than one: a Raft quorum). */
  readonly coordinators?: number | undefined;
  /** queue: how partitions replicate (`zhumq sim --mode raft`, `# mode: raft`; default fetch, raft with a raft plant). */
  readonly replicationMode?: "fetch" | "raft" | undefined;
  /** queue: switch the topic between raft and fetch mode this many times (`zhumq sim --mode-switches N`, `# mode-switches:`). */
  readonly modeSwitches?: number | undefined;
  /** queue: retention on, small segments (`zhumq sim --retention`, `# retention: on`). */
  readonly retention?: boolean | undefined;
  /** queue: the authorizer on, principals on every message, ACLs, an intruder (`zhumq sim --authorizer on`, `# authorizer: on`). */
  readonly authorizer?: boolean | undefined;
  /** queue with a coordinator quorum: random membership changes and wipes (`zhumq sim --coordinator-changes`). */
  readonly coordinatorChanges?: boolean | undefined;
  /** queue: consumer groups instead of the plain consumers (`zhumq sim --groups N`, `# groups:`). */
  readonly groups?: GroupsOptions | undefined;
  /** queue: the safety phase in virtual ms (a scenario's `# safety-ms:`). */
  readonly safetyMs?: number | undefined;
  /** queue: clocks drift within ±this many ppm (0: off; default: drawn in half the swarm seeds; `--clock-drift`, `# clock-drift:`). */
  readonly clockDriftPpm?: number | undefined;
  /** queue: fixed clock skews per node in ppm (a scenario's `# clock-skew:`); unnamed nodes keep true clocks. */
  readonly clockSkewPpm?: Readonly<Record<string, number>> | undefined;
  /**
   * Test-only back door that breaks determinism on purpose, to prove the determinism audit
   * (audit.test.ts): a harmless `heal` is scheduled at 100 ms plus whatever this returns, as if
   * the nemesis read a real clock. Never set outside tests.
   */
  readonly testOnlyClock?: (() => number) | undefined;
  /**
   * queue: the producers compress every batch with this codec (`zhumq sim --compression`); the
   * process must have loaded the codecs (src/native/compression.ts) first.
   */
  readonly compression?: CompressionType | undefined;
  /** Records the run's trace (`zhumq sim --trace`, `--open`); it never changes the run. */
  readonly recorder?: TraceRecorder | undefined;
  /** raft: each node compacts its log every this many applied entries (`zhumq sim --compact-every`; default off, 8 with the compact-past-commit plant). */
  readonly compactEvery?: number | undefined;
  /** queue and raft: data bytes per InstallSnapshot chunk of every Raft group (`zhumq sim --snapshot-chunk-bytes`; default the Raft setting). */
  readonly snapshotChunkBytes?: number | undefined;
}

export interface RunSummary extends RunFigures {
  readonly workload: WorkloadName;
  /** Workload-specific lines for the report ("sends 300 ok 290 ..."). */
  readonly details: readonly string[];
  /** queue with consumer groups: the group figures (push included). */
  readonly groups?: GroupRunFigures;
  /** queue in raft mode: groups judged, elections, Raft checker violations, snapshots (retention). */
  readonly raft?: { readonly groups: number; readonly elections: number; readonly violations: number; readonly compacted: number; readonly installed: number };
}

/** What a trace says of the run it recorded: `recorder.document(traceRunOf(result, replay))`. */
export function traceRunOf(result: RunSummary, replay: string): TraceRun {
  return { workload: result.workload, seed: result.seed, ok: result.ok, traceHash: result.traceHash, virtualMs: result.virtualMs, kernelEvents: result.events, replay };
}

export async function runWorkload(given: WorkloadOptions): Promise<RunSummary> {
  const options = given.testOnlyClock === undefined ? given : { ...given, schedule: [...(given.schedule ?? []), { atMs: 100 + given.testOnlyClock(), action: { kind: "heal" as const } }] };
  const schedule = options.schedule === undefined ? {} : { schedule: options.schedule };
  const recorder = options.recorder === undefined ? {} : { recorder: options.recorder };
  if (options.workload === "ledger") {
    const result = await runLedger({
      seed: options.seed,
      faults: options.faults,
      ackBeforeSync: options.plant === "ack-before-sync",
      ...(options.messages === undefined ? {} : { valuesPerClient: options.messages }),
      ...schedule,
      ...recorder,
    });
    options.recorder?.recordAnomalies(result.anomalies);
    return { ...result, workload: "ledger", details: [] };
  }
  if (options.workload === "raft") return runRaftWorkload(options);
  if (options.plant !== undefined && !PLANTS.queue.includes(options.plant)) throw new Error(`the queue workload has no planted bug '${options.plant}' (known: ${PLANTS.queue.join(", ")})`);
  const result = await runQueue({
    seed: options.seed,
    faults: options.faults,
    ...(options.acks === undefined ? {} : { acks: options.acks }),
    ...(options.messages === undefined ? {} : { messagesPerProducer: options.messages }),
    ...(options.bitFlipPerRead === undefined ? {} : { bitFlipPerRead: options.bitFlipPerRead }),
    ...(options.damageAtRest === undefined ? {} : { damageAtRest: options.damageAtRest }),
    ...(options.replicationFactor === undefined ? {} : { replicationFactor: options.replicationFactor }),
    ...(options.replicationMode === undefined ? {} : { replicationMode: options.replicationMode }),
    ...(options.coordinators === undefined ? {} : { coordinators: options.coordinators }),
    ...(options.modeSwitches === undefined ? {} : { modeSwitches: options.modeSwitches }),
    ...(options.retention === undefined ? {} : { retention: options.retention }),
    ...(options.coordinatorChanges === undefined ? {} : { coordinatorChanges: options.coordinatorChanges }),
    ...(options.groups === undefined ? {} : { groups: options.groups }),
    ...(options.authorizer === undefined ? {} : { authorizer: options.authorizer }),
    ...(options.safetyMs === undefined ? {} : { safetyMs: options.safetyMs }),
    ...(options.clockDriftPpm === undefined ? {} : { clockDriftPpm: options.clockDriftPpm }),
    ...(options.clockSkewPpm === undefined ? {} : { clockSkewPpm: options.clockSkewPpm }),
    ...(options.compression === undefined ? {} : { compression: options.compression }),
    ...(options.snapshotChunkBytes === undefined ? {} : { snapshotChunkBytes: options.snapshotChunkBytes }),
    ...(options.plant === undefined ? {} : { plant: options.plant as QueuePlant }),
    ...schedule,
    ...recorder,
  });
  const { sends } = result;
  return {
    ...result,
    workload: "queue",
    details: [
      `acks ${result.acks}: sends ${sends.invoked} invoked, ${sends.ok} acknowledged, ${sends.failed} failed, ${sends.unknown} unknown; ${result.groups === undefined ? `${result.polls} records polled` : "consumed by groups"}`,
      ...(result.groups === undefined ? [] : groupLines(result.groups)),
      ...(result.clocks.driftPpm === 0 ? [] : [`clocks drift within ±${result.clocks.driftPpm} ppm; lease rule applied ${result.clocks.leaseChecks} times, ${result.clocks.leaseOverlaps} overlaps`]),
      ...(result.coordinatorQuorum === undefined ? [] : [`coordinator quorum of ${result.coordinatorQuorum.replicas}: ${result.coordinatorQuorum.entriesApplied} entries applied over all replicas, ${result.coordinatorQuorum.servingStarts} leaders served, ${result.coordinatorQuorum.repliesServed} heartbeat replies with epochs; ${result.coordinatorQuorum.snapshotsTaken} snapshots taken, ${result.coordinatorQuorum.snapshotsInstalled} installed; ${result.coordinatorQuorum.violations} quorum checker violations${result.coordinatorQuorum.membershipChanges === 0 ? "" : `; ${result.coordinatorQuorum.membershipChanges} membership changes, final voters ${result.coordinatorQuorum.finalVoters.join(",")}`}${result.coordinatorQuorum.wipedReturns === 0 ? "" : `; ${result.coordinatorQuorum.wipedReturns} wiped replica(s) back under the old id (guarded)`}`]),
      ...(result.raft === undefined || result.raft.compacted + result.raft.installed === 0 ? [] : [`raft retention: ${result.raft.compacted} snapshots compacted, ${result.raft.installed} installed on a replica behind the log start`]),
      ...(result.modeSwitches === undefined ? [] : [`mode switches: ${result.modeSwitches.taken} of ${result.modeSwitches.asked} taken by the coordinator, ${result.modeSwitches.copiesSwitched} copies changed mode; ${result.raft?.groups ?? 0} raft eras judged, ${result.raft?.violations ?? 0} Raft checker violations`]),
      ...(result.authorization === undefined ? [] : [authorizationLine(result.authorization)]),
      ...(result.producerIdsReused === 0 ? [] : [`planted: ${result.producerIdsReused} restarted producers given their old producer id`]),
      ...result.check.allowed.slice(0, 5).map((finding) => `allowed at this ack level: ${finding.kind}: ${finding.detail}`),
    ],
  };
}

/** What the authorizer refused, and what the intruder tried and got. */
function authorizationLine(authorization: NonNullable<Awaited<ReturnType<typeof runQueue>>["authorization"]>): string {
  const { intruder } = authorization;
  return `authorizer on: ${authorization.refused} requests refused (${authorization.refusedOthers} not the intruder's); intruder: ${intruder.producesRefused} of ${intruder.produces} produce requests and ${intruder.requestsRefused} of ${intruder.requests} admin requests answered AUTHORIZATION_FAILED (the rest lost or not led)`;
}

/** The group figures of a run, for its report. */
export function groupLines(groups: GroupRunFigures): string[] {
  const perGroup = (figures: Readonly<Record<string, number>>): string => Object.entries(figures).map(([group, count]) => `${group} ${count}`).join(", ");
  return [
    `groups ${groups.groups}: ${groups.members} members (${groups.staticMembers} static, ${groups.lateJoins} joined late, ${groups.leaves} left), session ${groups.sessionTimeoutMs} ms; ${groups.processed} records processed`,
    `groups: duplicates ${perGroup(groups.duplicatesPerGroup)}; rebalances ${perGroup(groups.rebalancesPerGroup)}; zombie-processed ${groups.zombieProcessed}; members removed ${groups.membersRemoved}, crashes ${groups.crashes}; commits accepted ${groups.commitsAccepted}`,
    `groups: ${groups.offsetDurability.acked} offset commits acknowledged to members, held up against ${groups.offsetDurability.statesSeen} coordinator states (recoveries, new leaders, the end)`,
    ...pushLines(groups),
  ];
}

/** How the groups consumed and, with push members, what brokers pushed and the overrun (always 0 when correct). */
function pushLines(groups: GroupRunFigures): string[] {
  const modes = Object.entries(groups.modes).map(([group, mode]) => `${group} ${mode}`).join(", ");
  const push = groups.push;
  if (push === undefined || groups.pushWindow === undefined) return [`groups consume by: ${modes}`];
  return [
    `groups consume by: ${modes}; ${groups.pushMembers} push members, window ${groups.pushWindow.bytes} bytes / ${groups.pushWindow.batches} batches`,
    `push: ${push.pushedBatches} batches (${push.pushedBytes} bytes) pushed in ${push.sessions} sessions, ${push.reopens} re-opens, ${push.credits} credits; overrun ${push.overrunBytes} bytes / ${push.overrunBatches} batches`,
  ];
}

async function runRaftWorkload(options: WorkloadOptions): Promise<RunSummary> {
  if (options.plant !== undefined && !PLANTS.raft.includes(options.plant)) throw new Error(`the raft workload has no planted bug '${options.plant}' (known: ${PLANTS.raft.join(", ")})`);
  // A planted bug runs under the leader-hunting nemesis, the profile its seed budget is stated for
  // (a swarm run with a scripted schedule keeps it: that is a shrunk swarm run).
  const hunt = options.plant !== undefined && options.faults === "swarm";
  const compactEvery = options.compactEvery ?? (options.plant === "compact-past-commit" ? 8 : undefined);
  const result = await runRaft({
    ...(compactEvery === undefined ? {} : { compactEvery }),
    ...(hunt ? LEADER_HUNT : {}),
    ...(options.snapshotChunkBytes === undefined ? {} : { settings: { ...(hunt ? LEADER_HUNT.settings : {}), snapshotChunkBytes: options.snapshotChunkBytes } }),
    seed: options.seed,
    faults: options.faults,
    ...(options.schedule === undefined ? {} : { schedule: options.schedule, profileFromSeed: options.faults === "swarm" }),
    ...(options.plant === undefined ? {} : { plant: options.plant as RaftPlant }),
    ...(options.recorder === undefined ? {} : { recorder: options.recorder }),
  });
  options.recorder?.recordAnomalies(result.anomalies);
  const { proposals, reads } = result;
  return {
    ...result,
    workload: "raft",
    details: [
      `${result.nodes} nodes, ${result.maxTerm} terms; proposals ${proposals.invoked} invoked, ${proposals.acked} applied (after healing: ${proposals.livenessAcked}/${proposals.liveness}); reads ${reads.ready}/${reads.invoked}; commit index ${result.commitIndex}`,
      result.stoppedAtViolation
        ? `stopped at the first safety violation, ${(result.virtualMs / 1000).toFixed(3)} s in`
        : `leader serving ${result.leaderAfterHealMs === undefined ? "never" : `${result.leaderAfterHealMs.toFixed(0)} ms`} after healing; ${result.configChanges} membership changes, ${result.transfers} leadership transfers`,
      ...(compactEvery === undefined ? [] : [`compaction every ${compactEvery} entries: ${result.snapshots.compacted} compactions, ${result.snapshots.installed} snapshots installed`]),
      ...Object.entries(result.bindings).map(([name, node]) => `role name ${name} = ${node}`),
    ],
  };
}
