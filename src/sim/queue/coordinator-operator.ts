/**
 * The operator of a simulated coordinator quorum's membership (`coordinator-admin`): it sends the
 * same `coordinator.membership.request` a user's `zhumq coordinator add|remove` sends, to the
 * serving leader, one change at a time, retrying every ADMIN_RETRY_MS until it is answered.
 *
 * Changes come from two places (coordinator-boot.ts): a wiped voter is replaced (remove its id,
 * then add a spare), and the schedule's `coordinator-add` / `coordinator-remove` steps — scripted,
 * or drawn by `drawCoordinatorChanges` under `zhumq sim --coordinator-changes`. A removed voter's
 * process is stopped `stopAfterMs` after its removal committed and never comes back.
 */
import type { NodeId } from "../../ports/transport.ts";
import type { Random } from "../../ports/random.ts";
import type { CoordinatorMembershipReply } from "../../actors/coordinator/replicated/membership.ts";
import type { FaultStep } from "../nemesis.ts";
import type { SimNodePorts } from "../node.ts";
import type { SimWorld } from "../world.ts";
import { pick, uniform } from "../random.ts";

/** The name the nemesis uses for "whichever replica serves as coordinator leader now". */
export const COORDINATOR_LEADER = "coordinator-leader";
/** The suffix of `coordinator-voter:` naming the serving leader. */
export const VOTER_LEADER_TAG = "leader-";
/** The sim's operator of coordinator membership changes. */
export const COORDINATOR_ADMIN = "coordinator-admin";
/** How often the operator (re)sends the membership change in progress. */
const ADMIN_RETRY_MS = 250;
/**
 * `coordinator-voter:<i>`: the i-th voter (modulo their number) of the configuration in force, the
 * serving leader left out; `coordinator-voter:leader-<tag>`: the serving leader. Drawn episodes
 * use names of their own, so a crash and its restart never pair with another episode's.
 */
export const COORDINATOR_VOTER_PREFIX = "coordinator-voter:";

export interface MembershipChange {
  readonly change: "add" | "remove";
  readonly node: NodeId;
  readonly requestId: number;
  /** A remove: stop the removed replica's process this long after the removal committed (undefined: it is down for good already — wiped). */
  readonly stopAfterMs: number | undefined;
  done: boolean;
}

export class CoordinatorOperator {
  readonly changes: MembershipChange[] = [];
  private nextRequest = 1;

  constructor(
    private readonly world: SimWorld,
    /** The serving leader now (the operator's requests go there). */
    private readonly leader: () => NodeId | undefined,
    /** A removal committed: stop the replica's process after `stopAfterMs`. */
    private readonly onRemoved: (node: NodeId, stopAfterMs: number) => void,
  ) {}

  enqueue(change: "add" | "remove", node: NodeId, stopAfterMs?: number): void {
    this.changes.push({ change, node, requestId: this.nextRequest++, stopAfterMs, done: false });
  }

  /** No change waiting or in progress. */
  get idle(): boolean {
    return this.changes.every((change) => change.done);
  }

  get finished(): number {
    return this.changes.filter((change) => change.done).length;
  }

  private current(): MembershipChange | undefined {
    return this.changes.find((change) => !change.done);
  }

  boot(): void {
    this.world.addNode(COORDINATOR_ADMIN, async (ports: SimNodePorts) => {
      let stopped = false;
      ports.transport.onMessage((_from, message) => {
        const reply = message as Partial<CoordinatorMembershipReply>;
        const current = this.current();
        if (reply.type !== "coordinator.membership.reply" || current === undefined || reply.requestId !== current.requestId) return;
        // Done, or found done (a retry of a remove whose answer was lost).
        if (reply.error === undefined || (current.change === "remove" && reply.error.code === "UNKNOWN_COORDINATOR")) {
          current.done = true;
          if (current.change === "remove" && current.stopAfterMs !== undefined) this.onRemoved(current.node, current.stopAfterMs);
        }
      });
      const tick = (): void => {
        if (stopped) return;
        const current = this.current();
        const leader = this.leader();
        if (current !== undefined && leader !== undefined) {
          ports.transport.send(leader, { type: "coordinator.membership.request", requestId: current.requestId, change: current.change, node: current.node, ...(current.change === "add" ? { address: `${current.node}:9090` } : {}) });
        }
        ports.clock.setTimeout(tick, ADMIN_RETRY_MS);
      };
      ports.clock.setTimeout(tick, ADMIN_RETRY_MS);
      return { stop: () => void (stopped = true) };
    });
  }

  /** Changes not finished (the run's liveness: every change asked for is done by the end). */
  unfinished(): string[] {
    return this.changes.filter((change) => !change.done).map((change) => `${change.change} of ${change.node} (request ${change.requestId}) not done`);
  }
}

/** Episodes of membership changes per run under `--coordinator-changes`: 2 to 4. */
/** The share of drawn wipes whose replica returns under its old id (guarded) rather than being replaced. */
const KEEP_ID_SHARE = 0.5;
const EPISODES_MIN = 2;
const EPISODES_MAX = 4;

/**
 * Random membership changes for `zhumq sim --coordinator-changes`, spread over the safety phase.
 * Each episode is one of:
 * - **wipe**: the serving leader or another voter crashes and restarts on a wiped disk 0.2–0.9 s
 *   later: half the time under its old id (`restart … wipe keep-id`: it guards itself until its
 *   peers answered, raft/wiped.ts), otherwise the run replaces it (remove its id, add a spare —
 *   coordinator-boot.ts);
 * - **grow then shrink**: a spare is added, then 0.3–1.5 s later a voter (possibly the leader) is
 *   removed and its process stopped 0–1.5 s after the removal committed;
 * - **shrink then grow**: the same, removal first.
 * The usual nemesis goes on meanwhile. Spares needed: one per wipe and per add (`sparesFor`).
 */
export function drawCoordinatorChanges(random: Random, durationMs: number): FaultStep[] {
  const episodes = EPISODES_MIN + Math.floor(random.next() * (EPISODES_MAX - EPISODES_MIN + 1));
  const steps: FaultStep[] = [];
  const from = 0.08 * durationMs;
  const slot = (0.8 * durationMs - from) / episodes;
  for (let episode = 0; episode < episodes; episode++) {
    const at = Math.round(from + slot * episode + uniform(random, 0, slot / 2));
    // Any index works modulo the voters: 6 per episode keeps each episode's name its own.
    const target = random.next() < 0.3 ? `${COORDINATOR_VOTER_PREFIX}${VOTER_LEADER_TAG}${episode}` : `${COORDINATOR_VOTER_PREFIX}${6 * episode + Math.floor(random.next() * 6)}`;
    const later = at + Math.round(uniform(random, 300, 1_500));
    const stopAfterMs = Math.round(uniform(random, 0, 1_500));
    // The first episode is a wipe more often than not (nothing else is in progress yet to refuse it).
    switch (episode === 0 && random.next() < 0.6 ? "wipe" : pick(random, ["wipe", "grow", "shrink"] as const)) {
      case "wipe": {
        const restartAtMs = at + Math.round(uniform(random, 200, 900));
        // Half the wipes return under the old id, guarded (raft/wiped.ts); the others are replaced by a new member.
        const keepId = random.next() < KEEP_ID_SHARE;
        steps.push({ atMs: at, action: { kind: "crash", node: target } }, { atMs: restartAtMs, action: keepId ? { kind: "restart", node: target, wipe: true, keepId: true } : { kind: "restart", node: target, wipe: true } });
        break;
      }
      case "grow":
        steps.push({ atMs: at, action: { kind: "coordinator-add" } }, { atMs: later, action: { kind: "coordinator-remove", node: target, stopAfterMs } });
        break;
      case "shrink":
        steps.push({ atMs: at, action: { kind: "coordinator-remove", node: target, stopAfterMs } }, { atMs: later, action: { kind: "coordinator-add" } });
        break;
    }
  }
  return steps;
}

/** Spare replicas a schedule needs: one per `coordinator-add` step and per replica whose disk a restart step wipes. */
export function sparesFor(steps: readonly { readonly action: { readonly kind: string; readonly node?: string; readonly wipe?: boolean } }[]): number {
  return steps.filter(({ action }) => action.kind === "coordinator-add" || (action.kind === "restart" && action.wipe === true && action.node?.startsWith("coordinator-") === true)).length;
}
