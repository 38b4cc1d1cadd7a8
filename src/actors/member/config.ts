/**
 * The group member's input, with every limit named, bounded and checked at start-up. An input
 * that fails `memberInputProblems` never becomes an actor: the context factory throws
 * INVALID_GROUP_ID when the group id is the trouble, INVALID_REQUEST for anything else.
 */
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import { ZhumqError } from "../shared/errors.ts";
import { groupIdProblem, INSTANCE_ID_CHARS_MAX, SESSION_TIMEOUT_MS_DEFAULT, SESSION_TIMEOUT_MS_MAX, SESSION_TIMEOUT_MS_MIN, type GroupAssignor } from "../shared/group-messages.ts";
import { topicNameProblem, type NodeId, type TopicName } from "../shared/ids.ts";
import { CoordinatorList, retryBackoffProblems, type RetryBackoff } from "../shared/retry.ts";

/** Planted bugs the simulator's checker must catch (issue 10): never set outside a test run. */
export type MemberPlant = "commit-before-processing";

export interface MemberInput {
  readonly self: NodeId;
  /** One coordinator, or the replicas of a coordinator quorum (asked in turn on failure). */
  readonly coordinator: NodeId | readonly NodeId[];
  readonly groupId: string;
  /** A static member: a restart within the session timeout gets its partitions back. */
  readonly instanceId?: string;
  readonly topics: readonly TopicName[];
  /** Default SESSION_TIMEOUT_MS_DEFAULT. */
  readonly sessionTimeoutMs?: number;
  /** Default "uniform"; the group uses its first member's choice. */
  readonly assignor?: GroupAssignor;
  /** null: no auto-commit (the application commits). Default AUTO_COMMIT_INTERVAL_MS_DEFAULT. */
  readonly autoCommitIntervalMs?: number | null;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: RetryBackoff;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
  readonly plant?: MemberPlant;
}

export interface MemberConfig {
  readonly self: NodeId;
  readonly groupId: string;
  readonly instanceId: string | undefined;
  readonly topics: readonly TopicName[];
  readonly sessionTimeoutMs: number;
  readonly assignor: GroupAssignor;
  readonly autoCommitIntervalMs: number | null;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: RetryBackoff;
  readonly plant: MemberPlant | undefined;
}

export const AUTO_COMMIT_INTERVAL_MS_DEFAULT = 5_000;
export const AUTO_COMMIT_INTERVAL_MS_MIN = 1;
export const AUTO_COMMIT_INTERVAL_MS_MAX = 24 * 60 * 60_000;
export const MEMBER_REQUEST_TIMEOUT_MS_MAX = 10 * 60_000;
/** A bound on one heartbeat's subscription (and so on the topics list it carries). */
export const MEMBER_TOPICS_MAX = 1_000;
/**
 * A coordinator that asks for heartbeats faster than this is misbehaving: the member waits at
 * least this long so a bad reply cannot make it spin.
 */
export const HEARTBEAT_INTERVAL_MS_MIN = 10;
/** STALE_MEMBER_EPOCH answers in a row (each after a fresh heartbeat) before a commit gives up. */
export const COMMIT_STALE_RETRIES_MAX = 5;

function inRange(problems: string[], name: string, value: number, low: number, high: number): void {
  if (!(Number.isSafeInteger(value) && value >= low && value <= high)) problems.push(`${name} must be an integer in [${low}, ${high}], got ${value}`);
}

function instanceIdProblem(instanceId: unknown): string | undefined {
  if (typeof instanceId !== "string" || instanceId.length === 0 || instanceId.length > INSTANCE_ID_CHARS_MAX) {
    return `instanceId must be a string of 1 to ${INSTANCE_ID_CHARS_MAX} characters, got ${JSON.stringify(instanceId)?.slice(0, 60)}`;
  }
  if (/[\u0000-\u001f\u007f]/.test(instanceId)) return "instanceId cannot contain control characters";
  return undefined;
}

function topicsProblems(topics: readonly TopicName[]): string[] {
  if (!Array.isArray(topics) || topics.length === 0) return ["topics must name at least one topic"];
  if (topics.length > MEMBER_TOPICS_MAX) return [`topics may name at most ${MEMBER_TOPICS_MAX} topics, got ${topics.length}`];
  const problems = topics.map((topic) => (typeof topic === "string" ? topicNameProblem(topic) : "a topic name must be a string")).filter((problem) => problem !== undefined);
  if (new Set(topics).size !== topics.length) problems.push(`topics must be distinct, got ${topics.join(",")}`);
  return problems;
}

/** Everything wrong with an input, each problem naming the value; empty when it is fine. */
export function memberInputProblems(input: MemberInput): string[] {
  const problems: string[] = [...CoordinatorList.problems(input.coordinator)];
  if (typeof input.self !== "string" || input.self.length === 0) problems.push("self must name this node");
  const groupProblem = groupIdProblem(input.groupId);
  if (groupProblem !== undefined) problems.push(groupProblem);
  if (input.instanceId !== undefined) {
    const problem = instanceIdProblem(input.instanceId);
    if (problem !== undefined) problems.push(problem);
  }
  problems.push(...topicsProblems(input.topics));
  if (input.sessionTimeoutMs !== undefined) inRange(problems, "sessionTimeoutMs", input.sessionTimeoutMs, SESSION_TIMEOUT_MS_MIN, SESSION_TIMEOUT_MS_MAX);
  if (input.assignor !== undefined && input.assignor !== "uniform" && input.assignor !== "range") problems.push(`assignor must be "uniform" or "range", got ${String(input.assignor)}`);
  if (input.autoCommitIntervalMs !== undefined && input.autoCommitIntervalMs !== null) {
    inRange(problems, "autoCommitIntervalMs", input.autoCommitIntervalMs, AUTO_COMMIT_INTERVAL_MS_MIN, AUTO_COMMIT_INTERVAL_MS_MAX);
  }
  inRange(problems, "requestTimeoutMs", input.requestTimeoutMs, 1, MEMBER_REQUEST_TIMEOUT_MS_MAX);
  problems.push(...retryBackoffProblems("retryBackoffMs", input.retryBackoffMs));
  if (input.plant !== undefined && input.plant !== "commit-before-processing") problems.push(`plant must be "commit-before-processing" when set, got ${String(input.plant)}`);
  return problems;
}

export function resolveMemberConfig(input: MemberInput): MemberConfig {
  const problems = memberInputProblems(input);
  if (problems.length > 0) {
    const code = groupIdProblem(input.groupId) !== undefined ? "INVALID_GROUP_ID" : "INVALID_REQUEST";
    throw new ZhumqError(code, `member input: ${problems.join("; ")}`);
  }
  return {
    self: input.self,
    groupId: input.groupId,
    instanceId: input.instanceId,
    topics: [...input.topics],
    sessionTimeoutMs: input.sessionTimeoutMs ?? SESSION_TIMEOUT_MS_DEFAULT,
    assignor: input.assignor ?? "uniform",
    autoCommitIntervalMs: input.autoCommitIntervalMs === undefined ? AUTO_COMMIT_INTERVAL_MS_DEFAULT : input.autoCommitIntervalMs,
    requestTimeoutMs: input.requestTimeoutMs,
    retryBackoffMs: input.retryBackoffMs,
    plant: input.plant,
  };
}
