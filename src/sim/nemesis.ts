/**
 * The nemesis: a fault schedule, either drawn from the seed or read from a scenario file.
 *
 * A schedule is a list of steps "at <ms> <action>", readable and writable as text so a failing
 * run's faults can be printed, edited, shrunk and replayed:
 *
 *   # a broker is isolated, then the network heals
 *   at 1500 crash server-0
 *   at 2500 restart server-0          (add "wipe" to restart on an empty disk)
 *   at 3000 pause client-1
 *   at 3400 resume client-1
 *   at 4000 isolate server-0
 *   at 4100 partition server-0,client-0 | client-1     (add "oneway" for asymmetric: left → right)
 *   at 4200 clog client-0 -> server-0 300
 *   at 5000 heal
 *
 * Damage at rest (the disk fault model, item 8, in fs.ts) lands on a node's durable bytes, whether
 * the node is up or down, and stays until the bytes are rewritten:
 *
 *   at 4500 rot server-0             flip one bit in a file of server-0 with synced content
 *   at 4600 rot server-0 logs        ... only among files named *.log (log segments)
 *   at 4700 zero-sector server-0 logs                  (zero one 512-byte sector instead)
 *   at 4800 rot server-0 file=data/x/00000000000000000000.log byte=4100   (one file; byte optional)
 *
 * File and byte are drawn from the disk's own seeded stream when the step does not name them.
 * Drawn schedules contain damage at rest only when `ScheduleBounds.damageAtRest` asks for it.
 *
 * A full disk (the disk fault model, item 7): another tenant fills the volume, then frees it.
 *
 *   at 2000 disk-full server-0 room=300    from now on only 300 more bytes fit (default 0)
 *   at 2600 disk-free server-0             space returns
 *
 * Drawn schedules contain full disks only when `ScheduleBounds.diskFull` asks for it; a drawn
 * full disk is freed before its node restarts (recovery may need room to rebuild an index).
 *
 * Placement changes are operator steps, not faults, and are never drawn: a node named by `join`
 * is not started with the others but first boots at that step (a broker joining the ring), and
 * `decommission` asks the coordinator to take a broker out of the ring (the workload sends it).
 *
 *   at 1500 join broker-3
 *   at 3000 decommission broker-1
 *
 * A coordinator quorum's membership is changed the same way, by its operator (the workload sends
 * `zhumq coordinator add|remove` requests to the serving leader; src/sim/queue/coordinator-boot.ts):
 *
 *   at 1200 coordinator-add                          a spare replica joins and becomes a voter
 *   at 2500 coordinator-remove coordinator-voter:1 stop-after=800
 *                      a voter leaves the configuration; its process is stopped 800 ms after
 *                      the removal committed (default 0), and never comes back
 */
import type { Random } from "../ports/random.ts";
import type { NodeId } from "../ports/transport.ts";
import type { SimDamageKind, SimDamageTarget } from "./fs.ts";
import { pick, uniform } from "./random.ts";

/** The files a damage at rest may hit: any with synced content, log segments only, or one file. */
export type DamageTarget =
  | { readonly files: "any" }
  | { readonly files: "logs" }
  | { readonly files: "path"; readonly path: string; readonly position?: number };

/** Names of log segment files end so (src/disk/segment.ts: `<base offset>.log`). */
export const LOG_SEGMENT_SUFFIX = ".log";

export type FaultAction =
  | { readonly kind: "crash"; readonly node: NodeId }
  /** `keepId` (with `wipe`): a coordinator replica returns under its old id on its empty disk, guarded (raft/wiped.ts), not replaced by a new member. */
  | { readonly kind: "restart"; readonly node: NodeId; readonly wipe: boolean; readonly keepId?: boolean }
  | { readonly kind: "pause"; readonly node: NodeId }
  | { readonly kind: "resume"; readonly node: NodeId }
  | { readonly kind: "isolate"; readonly node: NodeId }
  | { readonly kind: "partition"; readonly left: readonly NodeId[]; readonly right: readonly NodeId[]; readonly symmetric: boolean }
  | { readonly kind: "clog"; readonly from: NodeId; readonly to: NodeId; readonly durationMs: number }
  | { readonly kind: "heal" }
  | { readonly kind: "rot" | "zero-sector"; readonly node: NodeId; readonly target: DamageTarget }
  | { readonly kind: "disk-full"; readonly node: NodeId; readonly roomBytes: number }
  | { readonly kind: "disk-free"; readonly node: NodeId }
  | { readonly kind: "join" | "decommission"; readonly node: NodeId }
  | { readonly kind: "coordinator-add" }
  | { readonly kind: "coordinator-remove"; readonly node: NodeId; readonly stopAfterMs: number };

export interface FaultStep {
  readonly atMs: number;
  readonly action: FaultAction;
}

export class ScheduleParseError extends Error {
  override readonly name = "ScheduleParseError";
  constructor(
    readonly line: number,
    readonly text: string,
    reason: string,
  ) {
    super(`line ${line}: ${reason}: "${text}"`);
  }
}

export function formatAction(action: FaultAction): string {
  switch (action.kind) {
    case "crash":
    case "pause":
    case "resume":
    case "isolate":
      return `${action.kind} ${action.node}`;
    case "restart":
      return `restart ${action.node}${action.wipe ? " wipe" : ""}${action.wipe && action.keepId === true ? " keep-id" : ""}`;
    case "partition":
      return `partition ${action.left.join(",")} | ${action.right.join(",")}${action.symmetric ? "" : " oneway"}`;
    case "clog":
      return `clog ${action.from} -> ${action.to} ${action.durationMs}`;
    case "heal":
      return "heal";
    case "rot":
    case "zero-sector":
      return `${action.kind} ${action.node}${formatTarget(action.target)}`;
    case "disk-full":
      return `disk-full ${action.node}${action.roomBytes === 0 ? "" : ` room=${action.roomBytes}`}`;
    case "disk-free":
      return `disk-free ${action.node}`;
    case "join":
    case "decommission":
      return `${action.kind} ${action.node}`;
    case "coordinator-add":
      return "coordinator-add";
    case "coordinator-remove":
      return `coordinator-remove ${action.node}${action.stopAfterMs === 0 ? "" : ` stop-after=${action.stopAfterMs}`}`;
  }
}

function formatTarget(target: DamageTarget): string {
  switch (target.files) {
    case "any":
      return "";
    case "logs":
      return " logs";
    case "path":
      return ` file=${target.path}${target.position === undefined ? "" : ` byte=${target.position}`}`;
  }
}

/** What a damage step asks of the simulated disk of its node. */
export function diskDamage(action: { readonly kind: "rot" | "zero-sector"; readonly target: DamageTarget }): { kind: SimDamageKind; target: SimDamageTarget } {
  const kind = action.kind === "rot" ? "flip-bit" : "zero-sector";
  const target = action.target;
  switch (target.files) {
    case "any":
      return { kind, target: {} };
    case "logs":
      return { kind, target: { matching: (path) => path.endsWith(LOG_SEGMENT_SUFFIX) } };
    case "path":
      return { kind, target: target.position === undefined ? { path: target.path } : { path: target.path, position: target.position } };
  }
}

/** The nodes `join` steps start late (in step order, each once): a workload must not boot them with the others. */
export function joiningNodes(steps: readonly FaultStep[]): NodeId[] {
  return [...new Set(steps.flatMap((step) => (step.action.kind === "join" ? [step.action.node] : [])))];
}

export function formatSchedule(steps: readonly FaultStep[]): string {
  return steps.map((step) => `at ${round(step.atMs)} ${formatAction(step.action)}`).join("\n");
}

export function parseSchedule(text: string): FaultStep[] {
  const steps: FaultStep[] = [];
  text.split("\n").forEach((raw, index) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") return;
    const match = /^at\s+(\d+(?:\.\d+)?)\s+(.*)$/.exec(line);
    if (match === null) throw new ScheduleParseError(index + 1, raw, "expected 'at <ms> <action>'");
    steps.push({ atMs: Number(match[1]), action: parseAction(match[2]!, index + 1, raw) });
  });
  return steps.sort((a, b) => a.atMs - b.atMs);
}

function parseAction(text: string, line: number, raw: string): FaultAction {
  const words = text.split(/\s+/);
  const fail = (reason: string): never => {
    throw new ScheduleParseError(line, raw, reason);
  };
  const node = (): NodeId => words[1] ?? fail("missing node name");
  switch (words[0]) {
    case "crash":
    case "pause":
    case "resume":
    case "isolate":
      return { kind: words[0], node: node() };
    case "restart":
      return words[2] === "wipe" && words[3] === "keep-id" ? { kind: "restart", node: node(), wipe: true, keepId: true } : { kind: "restart", node: node(), wipe: words[2] === "wipe" };
    case "heal":
      return { kind: "heal" };
    case "clog": {
      const clog = /^clog\s+(\S+)\s*->\s*(\S+)\s+(\d+(?:\.\d+)?)$/.exec(text) ?? fail("expected 'clog A -> B <ms>'");
      return { kind: "clog", from: clog[1]!, to: clog[2]!, durationMs: Number(clog[3]) };
    }
    case "partition": {
      const part = /^partition\s+(\S+)\s*\|\s*(\S+)(\s+oneway)?$/.exec(text) ?? fail("expected 'partition A,B | C[,D] [oneway]'");
      return { kind: "partition", left: part[1]!.split(","), right: part[2]!.split(","), symmetric: part[3] === undefined };
    }
    case "rot":
    case "zero-sector":
      return { kind: words[0], node: node(), target: parseTarget(words.slice(2), fail) };
    case "disk-full": {
      const room = words[2] === undefined ? ["", "0"] : (/^room=(\d+)$/.exec(words[2]) ?? fail("expected 'disk-full <node> [room=<bytes>]'"));
      return { kind: "disk-full", node: node(), roomBytes: Number(room[1]) };
    }
    case "disk-free":
      return { kind: "disk-free", node: node() };
    case "join":
    case "decommission":
      return { kind: words[0], node: node() };
    case "coordinator-add":
      return words.length === 1 ? { kind: "coordinator-add" } : fail("expected 'coordinator-add' (the spare is chosen by the workload)");
    case "coordinator-remove": {
      const stop = words[2] === undefined ? ["", "0"] : (/^stop-after=(\d+)$/.exec(words[2]) ?? fail("expected 'coordinator-remove <node> [stop-after=<ms>]'"));
      return { kind: "coordinator-remove", node: node(), stopAfterMs: Number(stop[1]) };
    }
    default:
      return fail(`unknown action '${words[0] ?? ""}'`);
  }
}

function parseTarget(words: readonly string[], fail: (reason: string) => never): DamageTarget {
  const usage = "expected '<rot|zero-sector> <node> [logs | file=<path> [byte=<n>]]'";
  if (words.length === 0) return { files: "any" };
  if (words.length === 1 && words[0] === "logs") return { files: "logs" };
  const file = /^file=(\S+)$/.exec(words[0]!) ?? fail(usage);
  if (file[1]!.startsWith("/")) fail("file= takes a path relative to the node's disk");
  if (words.length === 1) return { files: "path", path: file[1]! };
  const byte = (words.length === 2 ? /^byte=(\d+)$/.exec(words[1]!) : null) ?? fail(usage);
  const position = Number(byte[1]);
  if (!Number.isSafeInteger(position)) fail("byte must be a safe integer");
  return { files: "path", path: file[1]!, position };
}

/** Opt-in damage at rest for drawn schedules (a workload asks for it once its storage copes). */
export interface DamageAtRestBounds {
  /** Nodes whose disks may be damaged. */
  readonly nodes: readonly NodeId[];
  /** Which files: any with synced content, or log segments only. */
  readonly files: "any" | "logs";
  /** Mean damages per virtual second; keep it low (0.2 is about one per 5 s). */
  readonly perSecond: number;
}

export interface ScheduleBounds {
  /** Nodes that may crash and restart. */
  readonly crashable: readonly NodeId[];
  /** Every node (for partitions, clogs and pauses). */
  readonly nodes: readonly NodeId[];
  readonly durationMs: number;
  /** Mean number of fault episodes per virtual second. */
  readonly episodesPerSecond: number;
  /** Allow restarts on a wiped disk (only where the protocol can recover from peers). */
  readonly allowWipe: boolean;
  /** With allowWipe: only these nodes' disks are wiped (absent: any crashable node's). */
  readonly wipeable?: readonly NodeId[];
  /**
   * Symbolic nodes resolved when the step runs (SimWorld.nodeResolver), e.g. "leader:0" for the
   * broker leading partition 0 at that moment: crashes and isolations pick from them as well, and
   * an isolated leader is cut off from the coordinator alone (clients still reach it). Absent:
   * the schedule draws exactly as before.
   */
  readonly leaders?: readonly string[];
  /** The node a leader is isolated from (the coordinator). */
  readonly leaderIsolatedFrom?: NodeId;
  /** Draw damage at rest too; absent, the schedule has none and draws exactly as before. */
  readonly damageAtRest?: DamageAtRestBounds | undefined;
  /** Draw full disks too; absent, the schedule has none and draws exactly as before. */
  readonly diskFull?: DiskFullBounds | undefined;
}

/** Opt-in full disks for drawn schedules. */
export interface DiskFullBounds {
  readonly nodes: readonly NodeId[];
  /** Mean episodes per virtual second. */
  readonly perSecond: number;
  /** Room left when the disk fills is drawn from [0, roomBytesMax]. */
  readonly roomBytesMax: number;
}

/**
 * Draw a schedule: episodes (a fault and its repair) at random times within the duration. Every
 * crash is followed by a restart and every pause by a resume inside the window, so the liveness
 * phase that follows starts from a cluster whose nodes are all running.
 */
export function generateSchedule(random: Random, bounds: ScheduleBounds): FaultStep[] {
  const steps: FaultStep[] = [];
  const count = Math.max(1, Math.round((bounds.durationMs / 1000) * bounds.episodesPerSecond * (0.5 + random.next())));
  for (let episode = 0; episode < count; episode++) {
    const start = uniform(random, 0, bounds.durationMs * 0.9);
    const end = Math.min(bounds.durationMs, start + uniform(random, 50, bounds.durationMs / 4));
    steps.push(...drawEpisode(random, bounds, start, end));
  }
  // From a stream of its own: opting in adds steps without moving any other episode.
  if (bounds.damageAtRest !== undefined) steps.push(...drawDamageAtRest(random.derive("damage-at-rest"), bounds, bounds.damageAtRest));
  if (bounds.diskFull !== undefined) steps.push(...drawDiskFull(random.derive("disk-full"), bounds, bounds.diskFull, steps));
  return steps.sort((a, b) => a.atMs - b.atMs);
}

/** Full-disk episodes; each is freed by its end, or just before its node next restarts. */
function drawDiskFull(random: Random, bounds: ScheduleBounds, full: DiskFullBounds, drawn: readonly FaultStep[]): FaultStep[] {
  const steps: FaultStep[] = [];
  if (full.nodes.length === 0) return steps;
  const count = Math.round((bounds.durationMs / 1000) * full.perSecond * (0.5 + random.next()));
  for (let index = 0; index < count; index++) {
    const start = uniform(random, 0, bounds.durationMs * 0.9);
    const node = pick(random, full.nodes);
    const roomBytes = Math.floor(uniform(random, 0, full.roomBytesMax));
    const restarts = drawn.filter((step) => step.action.kind === "restart" && step.action.node === node && step.atMs > start).map((step) => step.atMs);
    const end = Math.min(bounds.durationMs, start + uniform(random, 100, bounds.durationMs / 4), ...restarts.map((atMs) => atMs - 0.001));
    steps.push({ atMs: start, action: { kind: "disk-full", node, roomBytes } }, { atMs: end, action: { kind: "disk-free", node } });
  }
  return steps;
}

/**
 * Damage at rest at a low rate. Half of the time the damaged node is then crashed and restarted
 * (when it may crash), so its recovery reads the damaged files back; the restart stays inside
 * the window like every other.
 */
function drawDamageAtRest(random: Random, bounds: ScheduleBounds, damage: DamageAtRestBounds): FaultStep[] {
  const steps: FaultStep[] = [];
  if (damage.nodes.length === 0) return steps;
  const count = Math.round((bounds.durationMs / 1000) * damage.perSecond * (0.5 + random.next()));
  const target: DamageTarget = { files: damage.files };
  for (let index = 0; index < count; index++) {
    const atMs = uniform(random, 0, bounds.durationMs * 0.9);
    const node = pick(random, damage.nodes);
    const kind = random.next() < 0.75 ? "rot" : "zero-sector";
    steps.push({ atMs, action: { kind, node, target } });
    if (bounds.crashable.includes(node) && random.next() < 0.5) {
      const crashAtMs = uniform(random, atMs, Math.min(bounds.durationMs, atMs + 500));
      const restartAtMs = uniform(random, crashAtMs, Math.min(bounds.durationMs, crashAtMs + 300));
      steps.push({ atMs: crashAtMs, action: { kind: "crash", node } }, { atMs: restartAtMs, action: { kind: "restart", node, wipe: false } });
    }
  }
  return steps;
}

function drawEpisode(random: Random, bounds: ScheduleBounds, start: number, end: number): FaultStep[] {
  const kinds = ["crash", "pause", "isolate", "partition", "clog"] as const;
  const kind = bounds.crashable.length === 0 ? pick(random, kinds.slice(1)) : pick(random, kinds);
  const leaders = bounds.leaders ?? [];
  const node = pick(random, kind === "crash" ? [...bounds.crashable, ...leaders] : kind === "isolate" ? [...bounds.nodes, ...leaders] : bounds.nodes);
  switch (kind) {
    case "crash":
      return [
        { atMs: start, action: { kind: "crash", node } },
        { atMs: end, action: { kind: "restart", node, wipe: bounds.allowWipe && random.next() < 0.1 && (bounds.wipeable === undefined || bounds.wipeable.includes(node)) } },
      ];
    case "pause":
      return [
        { atMs: start, action: { kind: "pause", node } },
        { atMs: end, action: { kind: "resume", node } },
      ];
    case "isolate":
      if (leaders.includes(node) && bounds.leaderIsolatedFrom !== undefined) {
        // The leader keeps its clients but loses the coordinator: its lease runs out while
        // producers still write to it, and a new leader is elected elsewhere.
        return [
          { atMs: start, action: { kind: "partition", left: [node], right: [bounds.leaderIsolatedFrom], symmetric: true } },
          { atMs: end, action: { kind: "heal" } },
        ];
      }
      return [
        { atMs: start, action: { kind: "isolate", node } },
        { atMs: end, action: { kind: "heal" } },
      ];
    case "partition": {
      const shuffled = shuffle(random, bounds.nodes);
      const cut = 1 + random.int(Math.max(1, shuffled.length - 1));
      const symmetric = random.next() < 0.7;
      return [
        { atMs: start, action: { kind: "partition", left: shuffled.slice(0, cut), right: shuffled.slice(cut), symmetric } },
        { atMs: end, action: { kind: "heal" } },
      ];
    }
    case "clog": {
      const other = pick(random, bounds.nodes.filter((candidate) => candidate !== node));
      return [{ atMs: start, action: { kind: "clog", from: node, to: other, durationMs: round(end - start) } }];
    }
  }
}

function shuffle<T>(random: Random, items: readonly T[]): T[] {
  const result = [...items];
  for (let index = result.length - 1; index > 0; index--) {
    const other = random.int(index + 1);
    [result[index], result[other]] = [result[other]!, result[index]!];
  }
  return result;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * Clock drift: a rate for each node's clock (local ms per real ms) within ±`boundPpm` parts per
 * million. Half the nodes sit at an edge of the bound (the worst cases for leases: a slow broker,
 * a fast coordinator), the rest anywhere inside it. Each node's rate comes from a stream named by
 * the node, so adding a node never moves another's rate.
 */
export function drawClockRates(random: Random, nodes: readonly NodeId[], boundPpm: number): Map<NodeId, number> {
  const rates = new Map<NodeId, number>();
  for (const node of nodes) {
    const stream = random.derive(`clock:${node}`);
    const edge = stream.next() < 0.5;
    const ppm = edge ? (stream.next() < 0.5 ? -boundPpm : boundPpm) : uniform(stream, -boundPpm, boundPpm);
    rates.set(node, 1 + ppm / 1e6);
  }
  return rates;
}

/** A clock rate as the fault log shows it: "+500.0 ppm". */
export function formatClockRate(rate: number): string {
  const ppm = (rate - 1) * 1e6;
  return `${ppm >= 0 ? "+" : ""}${ppm.toFixed(1)} ppm`;
}

/**
 * With drifting clocks, episodes aimed at the lease: a broker paused for longer than the lease
 * (1.5 to 2.5 leases; a long GC pause, a stopped VM), so the coordinator marks a running broker
 * down — the moment the lease rule judges — and the broker, resumed, must find its lease over
 * before it serves again. A pause, not a cut: any drawn `heal` would end a cut early. From a
 * stream of its own: they add steps without moving the others.
 */
export function drawLeaseEpisodes(random: Random, brokers: readonly NodeId[], durationMs: number, leaseMs: number): FaultStep[] {
  const steps: FaultStep[] = [];
  if (brokers.length === 0) return steps;
  const count = 1 + random.int(2);
  for (let index = 0; index < count; index++) {
    const start = uniform(random, 0, Math.max(0, durationMs - 1.5 * leaseMs));
    const end = Math.min(durationMs, start + uniform(random, 1.5 * leaseMs, 2.5 * leaseMs));
    const node = pick(random, brokers);
    steps.push({ atMs: start, action: { kind: "pause", node } }, { atMs: end, action: { kind: "resume", node } });
  }
  return steps;
}
