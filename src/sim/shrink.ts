/**
 * Shrinking a failing run: search for a smaller fault schedule and workload that still fail the
 * same way, so the story a failure tells is short enough to read.
 *
 * A candidate is replayed from the same seed with an explicit schedule, so everything the
 * schedule does not say (the network's losses and delays, the disks' latencies, the actors'
 * random draws) stays a function of the seed. The search is greedy and bounded by a replay budget;
 * each pass keeps a change only if the replay still fails with the same anomaly kind:
 *
 * 1. the seed's network/disk/config profile off (faults "none"), in one try;
 * 2. fewer faults, by delta debugging over fault units (halves, quarters, ... single units), where
 *    a unit is a fault with the step that undoes it: `crash X` with its `restart X`, `pause X`
 *    with its `resume X`, an `isolate` or `partition` with the `heal` after it (a heal shared by
 *    several cuts goes only when the last of them does);
 * 3. fewer messages: the smallest of 1, 2, 4, 8, ... below the current count that still fails;
 * 4. single steps dropped: first repairs — a restart, resume or heal removed alone (the liveness
 *    phase heals everything anyway, so the fault then simply lasts until the safety phase ends) —
 *    then faults alone, their repairs kept (a `restart` of a running node is a crash and an
 *    immediate reboot, a `heal` with nothing cut does nothing): where every unit is needed, one
 *    step of it may not be (vote-without-log-check, raft seed 3: 5 steps → 4);
 * 5. crashes merged with their restarts: `crash X` at t and `restart X` at u become one `restart X`
 *    at t (a crash and an immediate reboot), for each pair alone — one step where there were two;
 *    then any two-step fault on one node (crash, pause or isolate, and what undoes it) replaced by
 *    one step on that node: a `restart` at either end, or a `crash` or `pause` at the start that
 *    lasts until the liveness phase heals it; and, in a schedule of at most PAIR_DROP_STEPS_MAX
 *    steps, any two steps dropped together (each alone may be needed only while the other stays:
 *    vote-without-log-check, raft seed 3: 5 steps → 4);
 * 6. whole milliseconds: every time rounded, for a story that reads well;
 * 7. shorter spans: each repair moved halfway towards its fault, each clog halved, a few times.
 *
 * Faults come before messages because the fault count is what a reader pays for, and because a
 * failure that needs a lucky draw (a duplicated request on a lossy network, say) finds one more
 * easily in a long run: cut to a few messages first, a run often still needed the faults that
 * happened to line the draw up (no-idempotence, seed 1: 25 → 4 steps with messages first, 25 → 0
 * with faults first). A change can unlock another (a shorter run may no longer need a fault the
 * longer one did), so the passes repeat while a round still shrinks something, up to
 * SHRINK_ROUNDS_MAX rounds.
 *
 * The module is pure apart from the `stillFails` callback it is given; src/cli/sim.ts binds that
 * to runWorkload.
 */
import type { FaultAction, FaultStep } from "./nemesis.ts";

export interface ShrinkCandidate {
  readonly steps: readonly FaultStep[];
  /** Values per producer (queue) or client (ledger); undefined: the workload's default. */
  readonly messages: number | undefined;
  readonly faults: "swarm" | "none";
}

export interface ShrinkProgress {
  readonly replays: number;
  readonly pass: string;
  readonly accepted: boolean;
  readonly best: ShrinkCandidate;
}

export interface ShrinkOptions {
  /** Replay a candidate: true when it still fails with the same anomaly kind. */
  readonly stillFails: (candidate: ShrinkCandidate) => Promise<boolean>;
  /** At most this many replays (the search stops with the best so far). */
  readonly replaysMax: number;
  /** The message count the original ran with when `messages` is undefined (none: not shrinkable). */
  readonly defaultMessages?: number | undefined;
  readonly onProgress?: (progress: ShrinkProgress) => void;
}

export interface ShrinkResult {
  readonly original: ShrinkCandidate;
  readonly shrunk: ShrinkCandidate;
  readonly replays: number;
  /** The budget ran out before every pass finished. */
  readonly exhausted: boolean;
}

/** Replay budget for `zhumq sim --shrink`. */
export const SHRINK_REPLAYS_MAX = 200;
/** How many times a span is halved. */
const SPAN_HALVINGS = 3;
/** Rounds of all the passes. */
const SHRINK_ROUNDS_MAX = 3;
/** Two steps are dropped together only in schedules this short (the pairs grow as the square). */
const PAIR_DROP_STEPS_MAX = 8;

/** A fault and the step that undoes it (indices into a schedule). */
export interface FaultUnit {
  readonly fault: number;
  readonly repair: number | undefined;
}

const REPAIRED_BY: Partial<Record<FaultAction["kind"], FaultAction["kind"]>> = { crash: "restart", pause: "resume", isolate: "heal", partition: "heal" };

/** Group a schedule's steps into units; every step belongs to at least one unit. */
export function faultUnits(steps: readonly FaultStep[]): FaultUnit[] {
  const units: FaultUnit[] = [];
  const claimed = new Set<number>();
  steps.forEach((step, index) => {
    const repairKind = REPAIRED_BY[step.action.kind];
    if (repairKind === undefined) return;
    const repair = findRepair(steps, index, repairKind, claimed);
    // A heal may end several cuts; a restart or resume undoes exactly one fault.
    if (repair !== undefined && repairKind !== "heal") claimed.add(repair);
    units.push({ fault: index, repair });
  });
  const covered = new Set(units.flatMap((unit) => (unit.repair === undefined ? [unit.fault] : [unit.fault, unit.repair])));
  steps.forEach((_, index) => {
    if (!covered.has(index)) units.push({ fault: index, repair: undefined });
  });
  return units.sort((a, b) => a.fault - b.fault);
}

function findRepair(steps: readonly FaultStep[], from: number, kind: FaultAction["kind"], claimed: ReadonlySet<number>): number | undefined {
  const fault = steps[from]!.action;
  const node = "node" in fault ? fault.node : undefined;
  for (let index = from + 1; index < steps.length; index++) {
    const action = steps[index]!.action;
    if (claimed.has(index)) continue;
    if (action.kind === kind && (kind === "heal" || ("node" in action && action.node === node))) return index;
    // A second crash (or pause) of the node before any repair: this one is never undone alone.
    if (action.kind === fault.kind && "node" in action && action.node === node) return undefined;
  }
  return undefined;
}

/** The steps the kept units cover, in schedule order. */
export function stepsOf(steps: readonly FaultStep[], units: readonly FaultUnit[]): FaultStep[] {
  const keep = new Set(units.flatMap((unit) => (unit.repair === undefined ? [unit.fault] : [unit.fault, unit.repair])));
  return steps.filter((_, index) => keep.has(index));
}

class Search {
  replays = 0;
  constructor(
    public best: ShrinkCandidate,
    private readonly options: ShrinkOptions,
  ) {}

  get exhausted(): boolean {
    return this.replays >= this.options.replaysMax;
  }

  /** Replay a candidate; adopt it when it still fails. */
  async attempt(pass: string, candidate: ShrinkCandidate): Promise<boolean> {
    if (this.exhausted) return false;
    this.replays++;
    const accepted = await this.options.stillFails(candidate);
    if (accepted) this.best = candidate;
    this.options.onProgress?.({ replays: this.replays, pass, accepted, best: this.best });
    return accepted;
  }
}

export async function shrink(original: ShrinkCandidate, options: ShrinkOptions): Promise<ShrinkResult> {
  const search = new Search(original, options);
  for (let round = 0; round < SHRINK_ROUNDS_MAX && !search.exhausted; round++) {
    const before = search.best;
    if (search.best.faults === "swarm") await search.attempt("quiet network and disks", { ...search.best, faults: "none" });
    await shrinkUnits(search);
    await shrinkMessages(search, options.defaultMessages);
    await dropSteps(search);
    await mergeCrashes(search);
    await substituteUnits(search);
    await dropPairs(search);
    await roundTimes(search);
    await shortenSpans(search);
    if (search.best === before) break;
  }
  return { original, shrunk: search.best, replays: search.replays, exhausted: search.exhausted };
}

async function shrinkMessages(search: Search, defaultMessages: number | undefined): Promise<void> {
  const current = search.best.messages ?? defaultMessages;
  if (current === undefined || current <= 1) return;
  for (let messages = 1; messages < current && !search.exhausted; messages *= 2) {
    if (await search.attempt(`messages ${messages}`, { ...search.best, messages })) return;
  }
}

/** Delta debugging over units: remove chunks of n, refining n until single units. */
async function shrinkUnits(search: Search): Promise<void> {
  const steps = search.best.steps;
  let units = faultUnits(steps);
  if (units.length === 0) return;
  if (await search.attempt("no faults", { ...search.best, steps: [] })) return;
  let chunks = 2;
  while (units.length > 1 && !search.exhausted) {
    chunks = Math.min(chunks, units.length);
    const size = Math.ceil(units.length / chunks);
    let removed = false;
    for (let start = 0; start < units.length && !search.exhausted; start += size) {
      const rest = [...units.slice(0, start), ...units.slice(start + size)];
      if (await search.attempt(`faults: ${rest.length} of ${units.length} units`, { ...search.best, steps: stepsOf(steps, rest) })) {
        units = rest;
        chunks = Math.max(chunks - 1, 2);
        removed = true;
        break;
      }
    }
    if (!removed) {
      if (chunks >= units.length) return;
      chunks = Math.min(units.length, chunks * 2);
    }
  }
}

const REPAIRS: ReadonlySet<FaultAction["kind"]> = new Set(["restart", "resume", "heal"]);

/** Drop single steps: repairs first, then any other step (see the header, pass 4). */
async function dropSteps(search: Search): Promise<void> {
  for (const repairs of [true, false]) {
    for (let index = search.best.steps.length - 1; index >= 0 && !search.exhausted; index--) {
      const step = search.best.steps[index]!;
      if (REPAIRS.has(step.action.kind) !== repairs) continue;
      const steps = search.best.steps.filter((_, other) => other !== index);
      await search.attempt(`without ${step.action.kind} at ${step.atMs}`, { ...search.best, steps });
    }
  }
}

/** A crash and its restart become one restart at the crash's time (pass 5). */
async function mergeCrashes(search: Search): Promise<void> {
  for (let position = search.best.steps.length - 1; position >= 0 && !search.exhausted; position--) {
    const steps = search.best.steps;
    if (steps[position]?.action.kind !== "crash") continue;
    const unit = faultUnits(steps).find((candidate) => candidate.fault === position && candidate.repair !== undefined);
    const repair = unit?.repair === undefined ? undefined : steps[unit.repair];
    if (unit?.repair === undefined || repair === undefined || repair.action.kind !== "restart") continue;
    const merged = steps.flatMap((step, index) => (index === position ? [{ atMs: step.atMs, action: repair.action }] : index === unit.repair ? [] : [step]));
    await search.attempt(`crash at ${steps[position]!.atMs} merged with its restart`, { ...search.best, steps: merged });
  }
}

const ONE_NODE_FAULTS: ReadonlySet<FaultAction["kind"]> = new Set(["crash", "pause", "isolate"]);

/** A two-step fault on one node replaced by one step on that node (pass 5). */
async function substituteUnits(search: Search): Promise<void> {
  for (let position = search.best.steps.length - 1; position >= 0 && !search.exhausted; position--) {
    const steps = search.best.steps;
    const fault = steps[position];
    if (fault === undefined || !ONE_NODE_FAULTS.has(fault.action.kind) || !("node" in fault.action)) continue;
    const units = faultUnits(steps);
    const unit = units.find((candidate) => candidate.fault === position && candidate.repair !== undefined);
    // A heal shared with another cut must stay for it.
    if (unit?.repair === undefined || units.some((other) => other.fault !== position && other.repair === unit.repair)) continue;
    const repair = steps[unit.repair]!;
    const node = fault.action.node;
    const singles: FaultStep[] = [
      { atMs: fault.atMs, action: { kind: "restart", node, wipe: false } },
      { atMs: repair.atMs, action: { kind: "restart", node, wipe: false } },
      { atMs: fault.atMs, action: { kind: "crash", node } },
      { atMs: fault.atMs, action: { kind: "pause", node } },
    ];
    for (const single of singles) {
      // Skip what earlier passes tried: the fault alone (repair dropped) and a crash merged with its restart.
      if (single.action.kind === fault.action.kind && single.atMs === fault.atMs) continue;
      if (fault.action.kind === "crash" && single.action.kind === "restart" && single.atMs === fault.atMs) continue;
      const replaced = steps.flatMap((step, index) => (index === position ? [single] : index === unit.repair ? [] : [step]));
      if (await search.attempt(`${fault.action.kind} ${node} at ${fault.atMs} and its ${repair.action.kind} as one ${single.action.kind} at ${single.atMs}`, { ...search.best, steps: replaced })) break;
    }
  }
}

/** Two steps dropped together, in a short schedule (pass 5). */
async function dropPairs(search: Search): Promise<void> {
  if (search.best.steps.length > PAIR_DROP_STEPS_MAX) return;
  for (let first = search.best.steps.length - 1; first > 0 && !search.exhausted; first--) {
    for (let second = first - 1; second >= 0 && !search.exhausted; second--) {
      const steps = search.best.steps;
      if (first >= steps.length) break;
      const kept = steps.filter((_, index) => index !== first && index !== second);
      if (await search.attempt(`without ${steps[second]!.action.kind} at ${steps[second]!.atMs} and ${steps[first]!.action.kind} at ${steps[first]!.atMs}`, { ...search.best, steps: kept })) break;
    }
  }
}

async function roundTimes(search: Search): Promise<void> {
  const rounded = search.best.steps.map((step) => ({ atMs: Math.round(step.atMs), action: roundAction(step.action) }));
  if (rounded.some((step, index) => step.atMs !== search.best.steps[index]!.atMs || step.action !== search.best.steps[index]!.action)) {
    await search.attempt("whole milliseconds", { ...search.best, steps: rounded });
  }
}

function roundAction(action: FaultAction): FaultAction {
  return action.kind === "clog" && !Number.isInteger(action.durationMs) ? { ...action, durationMs: Math.max(1, Math.round(action.durationMs)) } : action;
}

/** Move each repair halfway to its fault and halve each clog, while the failure stays. */
async function shortenSpans(search: Search): Promise<void> {
  for (let position = 0; position < search.best.steps.length && !search.exhausted; position++) {
    for (let halving = 0; halving < SPAN_HALVINGS && !search.exhausted; halving++) {
      const steps = search.best.steps;
      const shorter = shortenAt(steps, position);
      if (shorter === undefined || !(await search.attempt(`shorter span at step ${position + 1}`, { ...search.best, steps: shorter }))) break;
    }
  }
}

function shortenAt(steps: readonly FaultStep[], position: number): FaultStep[] | undefined {
  const step = steps[position]!;
  if (step.action.kind === "clog") {
    const durationMs = Math.round(step.action.durationMs / 2);
    if (durationMs < 1 || durationMs === step.action.durationMs) return undefined;
    return steps.map((other, index) => (index === position ? { atMs: step.atMs, action: { ...step.action, durationMs } as FaultAction } : other));
  }
  const unit = faultUnits(steps).find((candidate) => candidate.fault === position && candidate.repair !== undefined);
  if (unit === undefined || unit.repair === undefined) return undefined;
  const repair = steps[unit.repair]!;
  const atMs = Math.round(step.atMs + (repair.atMs - step.atMs) / 2);
  if (atMs <= step.atMs || atMs >= repair.atMs) return undefined;
  const moved = steps.map((other, index) => (index === unit.repair ? { atMs, action: repair.action } : other));
  // Stable: steps at the same instant keep their order.
  return moved.map((other, index) => ({ other, index })).sort((a, b) => a.other.atMs - b.other.atMs || a.index - b.index).map(({ other }) => other);
}

/** Sizes for the before/after line. */
export function describeSize(candidate: ShrinkCandidate, defaultMessages: number | undefined): string {
  const messages = candidate.messages ?? defaultMessages;
  return `${candidate.steps.length} fault steps, ${messages === undefined ? "default" : messages} messages per client, faults ${candidate.faults}`;
}
