/**
 * Faults for a Raft group: the shared nemesis (src/sim/nemesis.ts) plus names that mean a role
 * rather than a node, so a schedule can say what it means — "crash the leader" — whoever that
 * turns out to be in a given run:
 *
 *   at 1000 isolate leader          # whoever leads at 1000 ms
 *   at 1150 crash follower2         # some other running node
 *   at 1300 crash candidate         # a node campaigning at that moment
 *   at 2500 restart leader          # the same node "leader" meant at 1000 ms
 *
 * A role name (`leader`, `follower`, `candidate`, each optionally numbered) is bound to a node at
 * its first use and keeps that binding for the rest of the run. If no node has the role then,
 * the name stays unbound and every step naming it is skipped (and reported). Role names are plain
 * node names to the schedule parser, so the same text works in scenario files.
 *
 * Drawn schedules (`drawRaftSchedule`) mix the shared swarm of faults with episodes aimed at the
 * protocol's weak moments: the leader crashed or isolated, a follower crashed while the others
 * elect, a one-way cut between the leader and a follower.
 */
import type { NodeId } from "../../ports/transport.ts";
import type { Random } from "../../ports/random.ts";
import type { FaultAction, FaultStep } from "../nemesis.ts";
import { generateSchedule } from "../nemesis.ts";
import { pick, uniform } from "../random.ts";

const ROLE_NAME = /^(leader|follower|candidate)(\d*)$/;

export interface RoleView {
  /** The running node that leads the highest term, if any. */
  leader(): NodeId | undefined;
  /** Running nodes campaigning now (pre-candidates and candidates). */
  candidates(): NodeId[];
  /** Running nodes. */
  up(): NodeId[];
}

export class RoleResolver {
  readonly bindings = new Map<string, NodeId>();
  readonly unresolved = new Set<string>();

  constructor(
    private readonly view: RoleView,
    private readonly random: Random,
  ) {}

  /** The node a name means now (a plain node name means itself). */
  resolve(name: string): NodeId | undefined {
    const match = ROLE_NAME.exec(name);
    if (match === null) return name;
    const bound = this.bindings.get(name);
    if (bound !== undefined || this.unresolved.has(name)) return bound;
    const node = this.pickFor(match[1] as "leader" | "follower" | "candidate");
    if (node === undefined) this.unresolved.add(name);
    else this.bindings.set(name, node);
    return node;
  }

  private pickFor(role: "leader" | "follower" | "candidate"): NodeId | undefined {
    if (role === "leader") return this.view.leader();
    const taken = new Set(this.bindings.values());
    const leader = this.view.leader();
    const pool = role === "candidate" ? this.view.candidates() : this.view.up().filter((node) => node !== leader);
    const fresh = pool.filter((node) => !taken.has(node));
    const choices = fresh.length > 0 ? fresh : pool;
    return choices.length === 0 ? undefined : pick(this.random, [...choices].sort());
  }

  /** The action with every name resolved, or undefined if one of them cannot be. */
  action(action: FaultAction): FaultAction | undefined {
    switch (action.kind) {
      case "crash":
      case "pause":
      case "resume":
      case "isolate": {
        const node = this.resolve(action.node);
        return node === undefined ? undefined : { ...action, node };
      }
      case "restart":
      case "rot":
      case "zero-sector":
      case "disk-full":
      case "disk-free": {
        const node = this.resolve(action.node);
        return node === undefined ? undefined : { ...action, node };
      }
      case "partition": {
        const left = action.left.map((name) => this.resolve(name));
        const right = action.right.map((name) => this.resolve(name));
        if ([...left, ...right].some((node) => node === undefined)) return undefined;
        return { ...action, left: left as NodeId[], right: right as NodeId[] };
      }
      case "clog": {
        const from = this.resolve(action.from);
        const to = this.resolve(action.to);
        return from === undefined || to === undefined ? undefined : { ...action, from, to };
      }
      case "heal":
      case "join":
      case "decommission":
      case "coordinator-add":
      case "coordinator-remove":
        return action;
    }
  }
}

export interface RaftScheduleBounds {
  readonly nodes: readonly NodeId[];
  readonly durationMs: number;
  /** Episodes per virtual second, shared and targeted together. */
  readonly episodesPerSecond: number;
}

/** A drawn schedule: half the shared swarm, half episodes aimed at the leader and at elections. */
export function drawRaftSchedule(random: Random, bounds: RaftScheduleBounds): FaultStep[] {
  const shared = generateSchedule(random.derive("shared"), {
    crashable: bounds.nodes,
    nodes: bounds.nodes,
    durationMs: bounds.durationMs,
    episodesPerSecond: bounds.episodesPerSecond / 2,
    allowWipe: false,
  });
  const targeted: FaultStep[] = [];
  const draw = random.derive("targeted");
  const count = Math.max(1, Math.round((bounds.durationMs / 1000) * (bounds.episodesPerSecond / 2) * (0.5 + draw.next())));
  for (let episode = 1; episode <= count; episode++) {
    const start = uniform(draw, 0, bounds.durationMs * 0.85);
    const end = Math.min(bounds.durationMs, start + uniform(draw, 30, bounds.durationMs / 5));
    targeted.push(...drawEpisode(draw, episode, start, end));
  }
  return [...shared, ...targeted].sort((a, b) => a.atMs - b.atMs);
}

function drawEpisode(random: Random, episode: number, start: number, end: number): FaultStep[] {
  const leader = `leader${episode}`;
  const follower = `follower${episode}`;
  const at = (atMs: number, action: FaultAction): FaultStep => ({ atMs: round(atMs), action });
  switch (pick(random, ["crash-leader", "isolate-leader", "crash-in-election", "one-way"] as const)) {
    case "crash-leader":
      return [at(start, { kind: "crash", node: leader }), at(end, { kind: "restart", node: leader, wipe: false })];
    case "isolate-leader":
      return [at(start, { kind: "isolate", node: leader }), at(end, { kind: "heal" })];
    case "crash-in-election": {
      // The follower goes down while the survivors are electing (election timeouts are 150-300 ms by default).
      const during = start + uniform(random, 100, 400);
      return [
        at(start, { kind: "crash", node: leader }),
        at(during, { kind: "crash", node: follower }),
        at(during + uniform(random, 20, 300), { kind: "restart", node: follower, wipe: false }),
        at(Math.max(end, during + 1), { kind: "restart", node: leader, wipe: false }),
      ];
    }
    case "one-way":
      return [at(start, { kind: "partition", left: [leader], right: [follower], symmetric: random.next() < 0.5 }), at(end, { kind: "heal" })];
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
