/**
 * Shrinking a workload run: binds the search of shrink.ts to runWorkload, and turns the result
 * into a scenario file that replays it (`zhumq sim --scenario FILE`).
 *
 * "Fails the same way" means: the run is not ok and its first anomaly has the original's kind
 * (for the queue, the checker's first anomaly; for raft, its first safety violation — the run
 * stops there; a node error comes first in either).
 */
import { parseSchedule } from "./nemesis.ts";
import { formatScenario, parseScenario, type Scenario } from "./scenario.ts";
import { runWorkload, type RunSummary, type WorkloadOptions } from "./workloads.ts";
import { shrink, SHRINK_REPLAYS_MAX, type ShrinkCandidate, type ShrinkProgress, type ShrinkResult } from "./shrink.ts";

/** Message counts the workloads use when not told (queue: per producer; ledger: per client). */
export const DEFAULT_MESSAGES: Readonly<Record<WorkloadOptions["workload"], number | undefined>> = { queue: 250, ledger: 300, raft: undefined };

export interface ShrinkRunOptions {
  /** The failing run's options (faults swarm or none; the schedule is taken from its result). */
  readonly base: WorkloadOptions;
  /** The failing run's summary, if already at hand (else it is run once more). */
  readonly failure?: RunSummary | undefined;
  readonly replaysMax?: number | undefined;
  readonly onProgress?: ((progress: ShrinkProgress) => void) | undefined;
  /** The runner (tests may wrap it); runWorkload by default. */
  readonly run?: ((options: WorkloadOptions) => Promise<RunSummary>) | undefined;
  /** The command that replays the original failure, for the scenario's notes. */
  readonly replayCommand?: string | undefined;
}

export interface ShrunkFailure {
  readonly kind: string;
  readonly detail: string;
  readonly search: ShrinkResult;
  readonly defaultMessages: number | undefined;
  /** The scenario file's text; it replays the shrunk failure. */
  readonly scenarioText: string;
  /** The shrunk scenario, replayed from its own text once more: it fails with `kind`. */
  readonly replayed: RunSummary;
}

/** Replays around the search: the original's printed schedule first, this scenario last. */
export const SHRINK_EXTRA_REPLAYS = 2;

export class NothingToShrinkError extends Error {
  override readonly name = "NothingToShrinkError";
}

export async function shrinkFailure(options: ShrinkRunOptions): Promise<ShrunkFailure> {
  const run = options.run ?? runWorkload;
  const base = options.base;
  const failure = options.failure ?? (await run(base));
  const first = failure.anomalies[0];
  if (failure.ok || first === undefined) throw new NothingToShrinkError(`seed ${base.seed} passes: there is no failure to shrink`);
  const kind = first.kind;
  const replay = (candidate: ShrinkCandidate): Promise<RunSummary> => run(candidateOptions(base, candidate));
  const fails = (summary: RunSummary): boolean => !summary.ok && summary.anomalies[0]?.kind === kind;
  const original: ShrinkCandidate = { steps: parseSchedule(failure.schedule), messages: base.messages, faults: base.faults };
  // The printed schedule (times rounded to the microsecond) must replay the failure, or nothing
  // the search finds would mean anything.
  if (!fails(await replay(original))) throw new NothingToShrinkError(`seed ${base.seed}: replaying its printed schedule does not fail with ${kind}`);
  const defaultMessages = DEFAULT_MESSAGES[base.workload];
  const search = await shrink(original, {
    stillFails: async (candidate) => fails(await replay(candidate)),
    replaysMax: (options.replaysMax ?? SHRINK_REPLAYS_MAX) - SHRINK_EXTRA_REPLAYS,
    defaultMessages,
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
  // The file is replayed from its own text, as `zhumq sim --scenario` will; its notes quote the
  // anomaly that replay finds (after shrinking it may differ in detail from the original's).
  const draft = parseScenario("shrunk", shrunkScenarioText(base, search, kind, first.detail, defaultMessages, options.replayCommand));
  const replayed = await run(scenarioRunOptions(draft, base));
  if (!fails(replayed)) throw new Error(`the shrunk scenario of seed ${base.seed} does not replay its failure (${kind}): a determinism bug`);
  const detail = replayed.anomalies[0]?.detail ?? first.detail;
  const scenarioText = shrunkScenarioText(base, search, kind, detail, defaultMessages, options.replayCommand);
  return { kind, detail, search, defaultMessages, scenarioText, replayed };
}

/**
 * What `zhumq sim --scenario` runs for a scenario: every setting the file carries. The seed run's
 * options not written in a scenario (compression, a raft workload's compaction) are kept from
 * `base`. Leaving any out made a shrunk run replay as another run: seed 254 of `--mode-switches 2`
 * shrank to three faults, but its file lacked the mode switches, and its replay passed ("a
 * determinism bug").
 */
export function scenarioRunOptions(scenario: Omit<Scenario, "name" | "title" | "expect">, base: Pick<WorkloadOptions, "compression" | "compactEvery"> = {}): WorkloadOptions {
  return {
    workload: scenario.workload as WorkloadOptions["workload"],
    seed: scenario.seed,
    faults: scenario.faults,
    schedule: scenario.steps,
    plant: scenario.plant,
    acks: scenario.acks,
    messages: scenario.messages,
    bitFlipPerRead: scenario.bitFlipPerRead,
    replicationFactor: scenario.replicationFactor,
    replicationMode: scenario.replicationMode,
    coordinators: scenario.coordinators,
    modeSwitches: scenario.modeSwitches,
    retention: scenario.retention,
    groups: scenario.groups,
    safetyMs: scenario.safetyMs,
    authorizer: scenario.authorizer,
    clockDriftPpm: scenario.clockDriftPpm,
    clockSkewPpm: scenario.clockSkewPpm,
    ...(scenario.snapshotChunkBytes === undefined ? {} : { snapshotChunkBytes: scenario.snapshotChunkBytes }),
    ...(base.compression === undefined ? {} : { compression: base.compression }),
    ...(base.compactEvery === undefined ? {} : { compactEvery: base.compactEvery }),
  };
}

function candidateOptions(base: WorkloadOptions, candidate: ShrinkCandidate): WorkloadOptions {
  return { ...base, faults: candidate.faults, schedule: candidate.steps, messages: candidate.messages };
}

function shrunkScenarioText(base: WorkloadOptions, search: ShrinkResult, kind: string, detail: string, defaultMessages: number | undefined, replayCommand: string | undefined): string {
  const { original, shrunk } = search;
  const messages = (candidate: ShrinkCandidate): string => String(candidate.messages ?? defaultMessages);
  const sizes = [
    `fault steps ${original.steps.length} -> ${shrunk.steps.length}`,
    ...(defaultMessages === undefined ? [] : [`messages per client ${messages(original)} -> ${messages(shrunk)}`]),
    `faults ${original.faults} -> ${shrunk.faults}`,
  ];
  const notes = [
    `anomaly kind ${kind} (the first one reported): ${oneLine(detail)}`,
    `shrunk by zhumq sim --shrink in ${search.replays + SHRINK_EXTRA_REPLAYS} replays${search.exhausted ? " (budget spent)" : ""}: ${sizes.join(", ")}`,
    ...(replayCommand === undefined ? [] : [`the original failure: ${replayCommand}`]),
  ];
  return formatScenario(
    {
      title: `seed ${base.seed} of the ${base.workload} workload${base.plant === undefined ? "" : ` with the planted bug ${base.plant}`}, shrunk: it still fails with ${kind}`,
      workload: base.workload,
      seed: base.seed,
      expect: "fail",
      plant: base.plant,
      acks: base.acks ?? -1,
      bitFlipPerRead: base.bitFlipPerRead,
      replicationFactor: base.replicationFactor,
      replicationMode: base.replicationMode,
      coordinators: base.coordinators,
      modeSwitches: base.modeSwitches,
      retention: base.retention,
      safetyMs: base.safetyMs,
      groups: base.groups,
      authorizer: base.authorizer,
      clockDriftPpm: base.clockDriftPpm,
      clockSkewPpm: base.clockSkewPpm,
      snapshotChunkBytes: base.snapshotChunkBytes,
      faults: shrunk.faults,
      messages: shrunk.messages,
      steps: shrunk.steps,
    },
    notes,
  );
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > 160 ? `${flat.slice(0, 157)}...` : flat;
}
