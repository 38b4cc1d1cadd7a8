/**
 * Faults aimed at group consumer processes, drawn from the seed next to the swarm's schedule
 * (nemesis.ts draws nothing group-aware: its pauses are mostly shorter than a session, and its
 * partitions rarely cut one member from the coordinator alone).
 *
 * Three kinds of episode, each with its repair inside the safety phase:
 * - crash, then restart: the process loses its memory and joins again under a new member id;
 * - pause past the session timeout, then resume: the coordinator removes the member and hands its
 *   partitions on; the resumed process fences itself, and any commit it still sends is refused;
 * - partition the member from the coordinator for longer than a session, then heal;
 * - clog the member's link to the coordinator for longer than a session: its heartbeats and
 *   commits arrive late, all at once, after the coordinator removed it — the late commits are
 *   a zombie's and must be refused.
 * The steps use the existing fault kinds (crash, restart, pause, resume, partition, heal), so a
 * drawn schedule prints, shrinks and replays as any other.
 */
import type { Random } from "../../ports/random.ts";
import type { NodeId } from "../../ports/transport.ts";
import type { FaultStep } from "../nemesis.ts";
import { pick, uniform } from "../random.ts";

export interface GroupFaultBounds {
  readonly members: readonly NodeId[];
  readonly coordinator: NodeId;
  readonly durationMs: number;
  readonly sessionTimeoutMs: number;
  /** Mean episodes per virtual second. */
  readonly perSecond: number;
}

/** How far past the session timeout a pause or a partition lasts, as factors of it. */
const PAST_SESSION_MIN = 1.2;
const PAST_SESSION_MAX = 2.5;
/** A crashed process stays down between this and twice the session timeout. */
const DOWN_MS_MIN = 50;

export function drawGroupFaults(random: Random, bounds: GroupFaultBounds): FaultStep[] {
  if (bounds.members.length === 0) return [];
  const steps: FaultStep[] = [];
  const count = Math.round((bounds.durationMs / 1000) * bounds.perSecond * (0.5 + random.next()));
  for (let episode = 0; episode < count; episode++) {
    const node = pick(random, bounds.members);
    const kind = pick(random, ["crash", "pause", "partition", "clog"] as const);
    const start = uniform(random, 0, bounds.durationMs * 0.8);
    const lengthMs = kind === "crash" ? uniform(random, DOWN_MS_MIN, 2 * bounds.sessionTimeoutMs) : uniform(random, PAST_SESSION_MIN * bounds.sessionTimeoutMs, PAST_SESSION_MAX * bounds.sessionTimeoutMs);
    const end = Math.min(bounds.durationMs, start + lengthMs);
    switch (kind) {
      case "crash":
        steps.push({ atMs: round(start), action: { kind: "crash", node } }, { atMs: round(end), action: { kind: "restart", node, wipe: false } });
        break;
      case "pause":
        steps.push({ atMs: round(start), action: { kind: "pause", node } }, { atMs: round(end), action: { kind: "resume", node } });
        break;
      case "partition":
        steps.push({ atMs: round(start), action: { kind: "partition", left: [node], right: [bounds.coordinator], symmetric: true } }, { atMs: round(end), action: { kind: "heal" } });
        break;
      case "clog":
        steps.push({ atMs: round(start), action: { kind: "clog", from: node, to: bounds.coordinator, durationMs: round(lengthMs) } });
        break;
    }
  }
  return steps;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
