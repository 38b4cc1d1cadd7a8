/**
 * Consumer groups in the queue workload (src/sim/queue/cluster.ts, `runQueue({ groups })`): two
 * or more groups read the topic, each through 1–4 group consumer processes (consumer-process.ts)
 * instead of the plain consumers, and the group checker (checker.ts) judges the run next to the
 * queue checker.
 *
 * What the seed draws (`profile:groups`), with swarm faults:
 * - members per group (1–4, unless given), whether a group's members are static (instance ids),
 *   the session timeout (1–2 s, so rebalances happen inside the safety phase), the auto-commit
 *   interval and the processing delays;
 * - churn: a group's first member joins at once and stays; each other one may join late and may
 *   leave cleanly before the safety phase ends (it then stays gone, restarts included);
 * - faults on the member nodes (faults.ts): crashes and restarts, pauses past the session,
 *   partitions from the coordinator.
 * - how each group consumes (`mode`, unless given): every member pulls, every member pushes
 *   (StartGet, issue 11: one pusher per process, credits granted as batches finish), or a mix
 *   (each member drawn); push windows are drawn small, so the credit window really binds.
 * Without swarm faults (a scenario) every member joins at once and stays: the story's steps are
 * the only faults, and the nodes are named `g<group>-member-<index>` for it. `lateJoinAtMs` makes
 * the last member of each group join at that virtual time instead (a member joining a stable
 * group: the rebalance-time figure of bench/groups.bench.ts, part "sim"); it draws nothing, so a
 * run without it is the run it always was.
 *
 * Without swarm faults, groups pull unless `mode` says otherwise.
 *
 * With push members the network's sends are watched (SimNetwork.onSent) for the push traffic —
 * members' credits, brokers' batches — that the push-overrun rule judges (src/sim/push/overrun.ts).
 *
 * Recorded into the group history: `subscribed` at the start (every group reads from "earliest"),
 * the coordinator's decisions (granted, released, commit.accepted, member.removed, as it outputs
 * them once durable), and the processes' processed / member.lost / crashed / restarted.
 *
 * The run lasts until every group has processed every acknowledged value (`finished`), then
 * `GROUP_CATCH_UP_MS` more so the groups also reach records that landed without an
 * acknowledgement (pub-sub-completeness judges those too).
 */
import type { NodeId } from "../../ports/transport.ts";
import type { Random } from "../../ports/random.ts";
import type { GroupOutput } from "../../actors/coordinator/groups/batch.ts";
import type { MemberPlant } from "../../actors/member/index.ts";
import type { FaultStep } from "../nemesis.ts";
import type { SimWorld } from "../world.ts";
import type { RunAnomaly } from "../run.ts";
import { uniform } from "../random.ts";
import type { QueueHistory } from "../queue/history.ts";
import { ackedSends, checkGroups, type GroupCheckResult, type GroupFigures } from "./checker.ts";
import { groupConsumerBoot, type GroupConsumerProcess, type GroupConsumerSettings } from "./consumer-process.ts";
import { drawGroupFaults } from "./faults.ts";
import { GroupHistory } from "./history.ts";
import { checkOffsetsDurable, committedOffsetsOf, OffsetDurabilityHistory } from "./offsets-durable.ts";
import type { CommittedOffset } from "../../actors/shared/group-messages.ts";
import type { CoordinatorState } from "../../actors/coordinator/state.ts";
import { GroupLiveness } from "./liveness.ts";
import { PushTraffic } from "../push/traffic.ts";
import { PUSH_IDLE_TIMEOUT_MS_DEFAULT } from "../../actors/shared/push-messages.ts";

/**
 * Planted bugs of the group protocol, each caught by the group checker (properties/groups.test.ts):
 * - `assign-before-revoke` (coordinator): a partition goes to its new owner before the old one let
 *   go → group-exclusivity;
 * - `accept-fenced-commit` (coordinator): commits from members that no longer own the partition
 *   are accepted → group-exclusivity (and commit-monotonic when the zombie's offset is older);
 * - `commit-before-processing` (member): what was fetched is committed, processed or not → after
 *   a crash or a handover, commit-beyond-processed and at-least-once-per-group;
 * - `ignore-credits` (broker, issue 11): push sessions are served as if the member's credit were
 *   unlimited → push-overrun. It makes every group push (PUSH_PLANTS).
 */
export const GROUP_PLANTS = ["assign-before-revoke", "accept-fenced-commit", "commit-before-processing", "ignore-credits"] as const;
/** Group plants that only act on push sessions: their runs push everywhere. */
export const PUSH_PLANTS: readonly GroupPlantName[] = ["ignore-credits"];
export type GroupPlantName = (typeof GROUP_PLANTS)[number];

/** How a group's members read: all pull (fetch), all push (StartGet), or each member its own way. */
export type GroupConsumptionMode = "pull" | "push" | "mixed";
export const GROUP_CONSUMPTION_MODES: readonly GroupConsumptionMode[] = ["pull", "push", "mixed"];

export interface GroupsOptions {
  /** Groups reading the topic (at least 1; the swarm's default elsewhere is 2). */
  readonly count: number;
  /** Members per group; drawn from 1–4 per group when absent. */
  readonly membersPerGroup?: number;
  /** Drawn from 1–2 s when absent (1.5 s without swarm faults). */
  readonly sessionTimeoutMs?: number;
  /**
   * Without swarm faults only (the swarm draws its own late joins): the last member of each group
   * starts at this virtual time, in ms, instead of at once. It must fall inside the safety phase.
   */
  readonly lateJoinAtMs?: number;
  /** Every group consumes this way (`zhumq sim --push`: "push"); drawn per group with swarm faults when absent, else "pull". */
  readonly mode?: GroupConsumptionMode;
}

export const GROUPS_MAX = 8;
export const MEMBERS_PER_GROUP_MAX = 8;
/** The latest `lateJoinAtMs` accepted (the safety phase bounds it further). */
export const LATE_JOIN_AT_MS_MAX = 600_000;
/** After every group processed every acknowledged value: time to reach unacknowledged tails too. */
export const GROUP_CATCH_UP_MS = 2_000;
/** Group-aimed fault episodes per virtual second (faults.ts). */
const GROUP_FAULTS_PER_SECOND = 0.6;
const LATE_JOIN_SHARE = 0.4;
const LEAVE_SHARE = 0.3;
const STATIC_GROUP_SHARE = 0.3;
/** The smallest push window (bytes) a simulated member grants; the simulated producers' batches are far smaller. */
const PUSH_SIM_WINDOW_BYTES_MIN = 8 * 1024;
/** A batch window that never binds before the byte window does. */
const PUSH_SIM_WINDOW_BATCHES_AMPLE = 1_000;

interface MemberPlan {
  readonly node: NodeId;
  readonly groupId: string;
  readonly instanceId: string | undefined;
  readonly joinAtMs: number;
  readonly leaveAtMs: number | undefined;
  readonly mode: "pull" | "push";
}

export interface GroupWorkloadSettings {
  readonly topic: string;
  /** The coordinator, or a quorum's replicas (the members follow the leader a refusal names). */
  readonly coordinator: NodeId | readonly NodeId[];
  /** The node the member faults cut members from: the coordinator, or "coordinator-leader" with a quorum. */
  readonly faultTarget: NodeId;
  readonly safetyMs: number;
  readonly swarm: boolean;
  readonly plant?: GroupPlantName | undefined;
}

/** What a run with groups adds to its result. */
export interface GroupRunFigures extends GroupFigures {
  readonly members: number;
  readonly staticMembers: number;
  readonly lateJoins: number;
  /** Members that left cleanly during the run. */
  readonly leaves: number;
  readonly sessionTimeoutMs: number;
  /** `member.error` outputs (a refused commit, say) and reader restarts after a consumer error. */
  readonly memberErrors: number;
  readonly readerErrors: number;
  /** Per group: how its members consume ("pull", "push" or "mixed"); and how many members push. */
  readonly modes: Readonly<Record<string, GroupConsumptionMode>>;
  readonly pushMembers: number;
  /** The push window each push member grants per session (drawn per run). */
  readonly pushWindow: { readonly bytes: number; readonly batches: number } | undefined;
  /** Offset commits acknowledged to members, and coordinator states checked against them (committed-offsets-durable). */
  readonly offsetDurability: { readonly acked: number; readonly statesSeen: number };
}

export function groupOptionProblems(options: GroupsOptions): string[] {
  const problems: string[] = [];
  if (!(Number.isSafeInteger(options.count) && options.count >= 1 && options.count <= GROUPS_MAX)) problems.push(`groups.count must be an integer from 1 to ${GROUPS_MAX}, got ${options.count}`);
  const members = options.membersPerGroup;
  if (members !== undefined && !(Number.isSafeInteger(members) && members >= 1 && members <= MEMBERS_PER_GROUP_MAX)) problems.push(`groups.membersPerGroup must be an integer from 1 to ${MEMBERS_PER_GROUP_MAX}, got ${members}`);
  const session = options.sessionTimeoutMs;
  if (session !== undefined && !(Number.isSafeInteger(session) && session >= 100 && session <= 60_000)) problems.push(`groups.sessionTimeoutMs must be an integer from 100 to 60000, got ${session}`);
  const late = options.lateJoinAtMs;
  if (late !== undefined && !(Number.isSafeInteger(late) && late >= 0 && late <= LATE_JOIN_AT_MS_MAX)) problems.push(`groups.lateJoinAtMs must be an integer from 0 to ${LATE_JOIN_AT_MS_MAX}, got ${late}`);
  if (options.mode !== undefined && !GROUP_CONSUMPTION_MODES.includes(options.mode)) problems.push(`groups.mode must be one of ${GROUP_CONSUMPTION_MODES.join(", ")}, got ${String(options.mode)}`);
  return problems;
}

export class GroupWorkload {
  readonly history = new GroupHistory();
  /** Acknowledged offset commits and the coordinator states that must hold them (offsets-durable.ts). */
  readonly offsets = new OffsetDurabilityHistory();
  readonly plans: readonly MemberPlan[];
  readonly sessionTimeoutMs: number;
  private readonly liveness: GroupLiveness;
  private readonly processes = new Map<NodeId, GroupConsumerProcess>();
  private readonly retired = new Set<NodeId>();
  private readonly groupIds: readonly string[];
  private readonly autoCommitIntervalMs: number;
  private readonly counts = { memberErrors: 0, readerErrors: 0, leaves: 0 };
  private readonly modes: Readonly<Record<string, GroupConsumptionMode>>;
  /** Members' credits and brokers' pushes as sent; undefined when nobody pushes. */
  readonly pushTraffic: PushTraffic | undefined;
  private readonly pushWindow: { readonly bytes: number; readonly batches: number } | undefined;

  constructor(
    private readonly world: SimWorld,
    private readonly settings: GroupWorkloadSettings,
    options: GroupsOptions,
    random: Random,
  ) {
    const problems = groupOptionProblems(options);
    const late = options.lateJoinAtMs;
    if (late !== undefined && settings.swarm) problems.push(`groups.lateJoinAtMs (${late} ms) is for runs without swarm faults: the swarm draws its own late joins`);
    if (late !== undefined && late >= settings.safetyMs) problems.push(`groups.lateJoinAtMs (${late} ms) must fall inside the safety phase (${settings.safetyMs} ms): the run may end soon after it`);
    if (problems.length > 0) throw new RangeError(`groups: ${problems.join("; ")}`);
    const swarm = settings.swarm;
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? (swarm ? Math.round(uniform(random, 1_000, 2_000)) : 1_500);
    this.autoCommitIntervalMs = swarm ? Math.round(uniform(random, 200, 800)) : 500;
    this.groupIds = Array.from({ length: options.count }, (_, index) => `group-${index}`);
    // Own streams for the push choices: a seed's pull runs are the runs they were before push existed.
    const modes: Record<string, GroupConsumptionMode> = {};
    for (const groupId of this.groupIds) modes[groupId] = options.mode ?? (swarm ? drawMode(random.derive(`mode:${groupId}`)) : "pull");
    this.modes = modes;
    this.plans = this.groupIds.flatMap((groupId, group) => planGroup(random.derive(groupId), settings, group, groupId, options, modes[groupId]!, random.derive(`members:${groupId}`)));
    const pushing = this.plans.some((plan) => plan.mode === "push");
    this.pushWindow = pushing ? drawPushWindow(random.derive("push-window"), swarm) : undefined;
    this.pushTraffic = pushing ? new PushTraffic() : undefined;
    if (this.pushTraffic !== undefined) {
      const traffic = this.pushTraffic;
      world.network.onSent = (atMs, from, to, message) => traffic.observe(atMs, from, to, message, (node) => world.nodes.get(node)?.incarnation ?? 0);
    }
    this.liveness = new GroupLiveness(this.groupIds);
  }

  get memberNodes(): NodeId[] {
    return this.plans.map((plan) => plan.node);
  }

  /** Add the member nodes (not started) and record the subscriptions; call before the run starts. */
  addNodes(): void {
    for (const groupId of this.groupIds) this.history.subscribed(this.world.kernel.now(), { groupId, topic: this.settings.topic, from: "earliest" });
    for (const plan of this.plans) {
      const settings: GroupConsumerSettings = {
        coordinator: this.settings.coordinator,
        groupId: plan.groupId,
        topic: this.settings.topic,
        from: "earliest",
        sessionTimeoutMs: this.sessionTimeoutMs,
        autoCommitIntervalMs: this.autoCommitIntervalMs,
        processingMs: { min: 1, max: 20, perRecordMs: 0.5 },
        ...(plan.instanceId === undefined ? {} : { instanceId: plan.instanceId }),
        ...(this.settings.plant === "commit-before-processing" ? { plant: this.settings.plant satisfies MemberPlant } : {}),
        ...(plan.mode === "push" && this.pushWindow !== undefined ? { push: { windowBytes: this.pushWindow.bytes, windowBatches: this.pushWindow.batches, idleTimeoutMs: pushIdleTimeoutMs(this.sessionTimeoutMs) } } : {}),
      };
      const observer = {
        memberError: () => void this.counts.memberErrors++,
        readerError: () => void this.counts.readerErrors++,
        left: () => void this.counts.leaves++,
        committed: (node: NodeId, memberId: string, offsets: readonly CommittedOffset[]) => {
          for (const { topic, partition, offset } of offsets) this.offsets.acked(this.world.kernel.now(), { groupId: plan.groupId, topic, partition, offset, by: `${node} (${memberId})` });
        },
      };
      this.world.addNode(plan.node, groupConsumerBoot(settings, this.history, { retired: () => this.retired.has(plan.node), onStarted: (process) => this.processes.set(plan.node, process), observer }));
    }
  }

  /** Start the members at their join times and ask the leaving ones to leave at theirs. */
  start(): void {
    for (const plan of this.plans) {
      const node = this.world.node(plan.node);
      this.world.kernel.schedule(plan.joinAtMs, () => void node.start());
      if (plan.leaveAtMs === undefined) continue;
      this.world.kernel.schedule(plan.leaveAtMs, () => {
        this.retired.add(plan.node);
        this.world.faultLog.push(`${this.world.kernel.now().toFixed(3)} ${plan.node} leaves ${plan.groupId}`);
        if (node.status !== "down") this.processes.get(plan.node)?.leave();
      });
    }
  }

  /** Fault episodes aimed at the member nodes, for a swarm run's schedule. */
  faults(random: Random): FaultStep[] {
    return drawGroupFaults(random, { members: this.memberNodes, coordinator: this.settings.faultTarget, durationMs: this.settings.safetyMs, sessionTimeoutMs: this.sessionTimeoutMs, perSecond: GROUP_FAULTS_PER_SECOND });
  }

  /** The coordinator's group outputs, as it emits them (once durable); `node`: the coordinator (replica) that decided them. */
  recordCoordinator(output: unknown, node: NodeId = this.settings.faultTarget): void {
    const event = output as GroupOutput;
    const now = this.world.kernel.now();
    // Its decisions carry the coordinator's clock: the history is in real (virtual) time.
    const at = (atMs: number): number => this.world.node(node).realTimeOf(atMs);
    switch (event.type) {
      case "coordinator.group.granted":
        return this.history.granted(at(event.atMs), { groupId: event.groupId, memberId: event.memberId, memberEpoch: event.memberEpoch, topic: event.topic, partition: event.partition });
      case "coordinator.group.released":
        return this.history.released(at(event.atMs), { groupId: event.groupId, memberId: event.memberId, topic: event.topic, partition: event.partition, reason: event.reason });
      case "coordinator.group.committed":
        return this.history.commitAccepted(at(event.atMs), { groupId: event.groupId, memberId: event.memberId, topic: event.topic, partition: event.partition, offset: event.offset });
      case "coordinator.group.member.removed":
        return this.history.memberRemoved(now, { groupId: event.groupId, memberId: event.memberId, reason: event.reason });
      default:
        return;
    }
  }

  /** Every group has processed every acknowledged value so far. */
  finished(queue: QueueHistory): boolean {
    return this.liveness.finished(queue.ops, this.history.ops);
  }

  /**
   * A coordinator state that must hold every offset commit acknowledged so far (a recovered single
   * coordinator, a quorum replica starting to serve, the serving leader at the end): judged by the
   * rule committed-offsets-durable (offsets-durable.ts).
   */
  offsetsSeen(source: string, groups: CoordinatorState["groups"]["groups"]): void {
    this.offsets.seen(this.world.kernel.now(), source, committedOffsetsOf(groups));
  }

  check(queue: QueueHistory): GroupCheckResult {
    return checkGroups(this.history, queue.finalLogs, ackedSends(queue), { liveness: true, ...(this.pushTraffic === undefined ? {} : { push: this.pushTraffic }) });
  }

  /** The group checker's violations and those of committed-offsets-durable. */
  anomalies(check: GroupCheckResult): RunAnomaly[] {
    const durable = checkOffsetsDurable(this.offsets.ops).map((violation) => ({ kind: violation.rule, detail: violation.message }));
    return [...check.violations.map((violation) => ({ kind: violation.rule, detail: violation.message })), ...durable];
  }



  figures(check: GroupCheckResult): GroupRunFigures {
    return {
      ...check.figures,
      members: this.plans.length,
      staticMembers: this.plans.filter((plan) => plan.instanceId !== undefined).length,
      lateJoins: this.plans.filter((plan) => plan.joinAtMs > 0).length,
      leaves: this.counts.leaves,
      sessionTimeoutMs: this.sessionTimeoutMs,
      memberErrors: this.counts.memberErrors,
      readerErrors: this.counts.readerErrors,
      modes: this.modes,
      pushMembers: this.plans.filter((plan) => plan.mode === "push").length,
      pushWindow: this.pushWindow,
      offsetDurability: { acked: this.offsets.ops.filter((op) => op.type === "commit.acked").length, statesSeen: this.offsets.ops.filter((op) => op.type === "offsets.seen").length },
    };
  }
}

/** A broker keeps a silent push session at least as long as the coordinator keeps its member (a paused member comes back to its sessions). */
function pushIdleTimeoutMs(sessionTimeoutMs: number): number {
  return Math.max(PUSH_IDLE_TIMEOUT_MS_DEFAULT, 2 * sessionTimeoutMs);
}

/** Swarm: a third of the groups pull, a third push, a third mix. */
function drawMode(random: Random): GroupConsumptionMode {
  return GROUP_CONSUMPTION_MODES[random.int(GROUP_CONSUMPTION_MODES.length)]!;
}

/**
 * The window each push member grants: small, so that the brokers really stop at it. Half the runs
 * bind on batches (1–8 push.batch messages ahead, bytes ample), half on bytes (8–16 KiB ahead,
 * batches ample: a few dozen of the simulated producers' small batches). Either way the byte
 * window stays above PUSH_SIM_WINDOW_BYTES_MIN, far above any batch the simulated producers
 * build, as the protocol requires (a batch larger than the window could never be pushed).
 */
function drawPushWindow(random: Random, swarm: boolean): { bytes: number; batches: number } {
  if (!swarm) return { bytes: PUSH_SIM_WINDOW_BYTES_MIN * 4, batches: 4 };
  if (random.next() < 0.5) return { bytes: PUSH_SIM_WINDOW_BYTES_MIN * 8, batches: 1 + random.int(8) };
  return { bytes: Math.round(uniform(random, PUSH_SIM_WINDOW_BYTES_MIN, PUSH_SIM_WINDOW_BYTES_MIN * 2)), batches: PUSH_SIM_WINDOW_BATCHES_AMPLE };
}

function planGroup(random: Random, settings: GroupWorkloadSettings, group: number, groupId: string, options: GroupsOptions, mode: GroupConsumptionMode, modeRandom: Random): MemberPlan[] {
  const members = options.membersPerGroup ?? 1 + random.int(4);
  const churn = settings.swarm;
  const isStatic = churn && random.next() < STATIC_GROUP_SHARE;
  return Array.from({ length: members }, (_, index) => {
    const node = `g${group}-member-${index}`;
    const late = churn && index > 0 && random.next() < LATE_JOIN_SHARE;
    const lateByOption = index === members - 1 ? options.lateJoinAtMs : undefined; // never with churn (the constructor refuses it)
    const joinAtMs = lateByOption ?? (late ? Math.round(uniform(random, 0.1, 0.6) * settings.safetyMs) : 0);
    const leaves = churn && index > 0 && random.next() < LEAVE_SHARE;
    const leaveAtMs = leaves ? Math.round(uniform(random, joinAtMs + 0.2 * settings.safetyMs, 0.95 * settings.safetyMs)) : undefined;
    const memberMode = mode === "mixed" ? (modeRandom.next() < 0.5 ? "pull" : "push") : mode;
    return { node, groupId, instanceId: isStatic ? `${groupId}-instance-${index}` : undefined, joinAtMs, leaveAtMs, mode: memberMode };
  });
}
