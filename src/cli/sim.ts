/**
 * `zhumq sim`: run seeds of the simulator and print, per run, the verdict, the figures that show
 * how much the simulator compresses time, the trace hash, and the one command that replays it.
 */
import { CLOCK_DRIFT_BOUND_PPM, CLOCK_DRIFT_PPM_MAX } from "../actors/broker/lease.ts";
import { readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { parseScenario, type Scenario } from "../sim/scenario.ts";
import { COMPRESSION_TYPES, type CompressionType } from "../disk/compression.ts";
import { joinNegativeValues } from "./args.ts";
import { SNAPSHOT_CHUNK_BYTES_CEILING } from "../actors/raft/types.ts";
import { PLANTS, runWorkload, traceRunOf, WORKLOADS, type RunSummary, type WorkloadName, type WorkloadOptions } from "../sim/workloads.ts";
import { GROUPS_MAX, MEMBERS_PER_GROUP_MAX, type GroupsOptions } from "../sim/groups/workload.ts";
import { AUDIT_FRACTION_DEFAULT, describeNondeterminism, isAudited, runAudited } from "../sim/audit.ts";
import { NothingToShrinkError, SHRINK_EXTRA_REPLAYS, shrinkFailure } from "../sim/shrink-run.ts";
import { describeSize, SHRINK_REPLAYS_MAX } from "../sim/shrink.ts";
import { runFarm, type FarmOutcome } from "./sim-farm.ts";
import { TRACE_EVENTS_MAX_DEFAULT, TraceRecorder, type TraceDocument } from "../sim/trace-recorder.ts";
import { startTraceViewerServer } from "../ui/trace-server.ts";

const HELP = `zhumq sim — run the deterministic simulator

A run is a pure function of (seed, code): the same seed prints the same trace hash. It builds a
cluster of simulated nodes running the real actors, injects network, disk and process faults for
a safety phase, heals everything for a liveness phase, then judges the recorded history.

Usage:
  zhumq sim --seed N                 run one seed
  zhumq sim --seed N --seeds K       sweep K seeds from N, stop at the first failure
  zhumq sim --seeds K --jobs J       sweep K seeds over J worker threads (all K; every failure listed)
  zhumq sim --seed N --shrink        replay a failing seed and shrink it to a scenario file
  zhumq sim --scenario NAME|FILE     run a scripted fault story from scenarios/
  zhumq sim --seed N --trace FILE    run one seed and write its trace (JSON) for the viewer
  zhumq sim --seed N --open          run one seed and show its timeline in the browser

Options:
  --seed N            first seed (default 1)
  --seeds K           number of seeds to run (default 1)
  --workload W        queue (default), raft or ledger
  --acks A            queue: the producers' ack level, -1 (default), 1 or 0
  --replication-factor N  queue: replicas per partition, 1 (default) to 7; with more than one
                      the nemesis also kills and isolates partition leaders and wipes disks
                      that are not the only in-sync copy, and the checker judges replica
                      divergence, uncommitted reads and two leaders per epoch
  --mode fetch|raft   queue: the replication mode (default fetch); raft runs every partition as
                      a Raft group over its replicas, judged by the Raft checker too (no disk
                      wipes: a Raft voter must keep what it acknowledged)
  --coordinators N    queue: coordinator replicas, 1 (default) to 7; with more the coordinator
                      is a Raft quorum (docs/coordinator-quorum.md): the nemesis crashes and
                      isolates replicas, its leader too, and the quorum checker judges them;
                      with --groups, groups commit through its leader and the rule
                      committed-offsets-durable holds every acknowledged commit to each new leader
  --coordinator-changes  queue, with --coordinators 3 or more: 2 to 4 random membership episodes
                      per run under the usual faults, sent as "zhumq coordinator add|remove"
                      would send them: a replica's disk wiped (it is replaced by a new member,
                      never back under its old id), a spare added then a voter removed, or a
                      voter removed then a spare added; every change must finish and a leader
                      must serve the final configuration (docs/coordinator-quorum.md)
  --compact-every N   raft: every node compacts its log (a snapshot) every N applied entries;
                      followers behind a leader's log start catch up by InstallSnapshot
  --snapshot-chunk-bytes N  queue and raft: data bytes per InstallSnapshot chunk in every Raft
                      group (1 to 8388608; default 1 MiB, which the simulator's snapshots fit
                      in one chunk): a small N makes every snapshot a transfer of many chunks
                      (the coordinator quorum's, raft-mode partitions', the raft workload's)
  --mode-switches N   queue: switch the topic between raft and fetch mode N times (0 to 64),
                      evenly over the safety phase, under the same faults; the checker judges
                      every acknowledged write across the switches and each raft era's Raft
                      group (plant switch-before-commit: 4 switches, replication factor 3)
  --retention         queue: retention on (2 KiB segments, 6 KiB kept, every 300 ms); raft-mode
                      partitions compact their Raft logs, a replica behind gets a snapshot; a
                      loss is excused only below every final log's start (plant
                      raft-compact-past-commit turns it on)
  --authorizer on|off queue: the authorizer on (default off; the plant skip-authorize turns it
                      on): every coordinator replica and broker enforces ACLs on the principal
                      the simulated network attaches to each message (clients are users such as
                      User:producer, brokers their node ids); the admin adds the workload's
                      rules through the coordinator, and an intruder's produce and admin
                      requests must be refused: the rule denied-write fails the run if one of
                      its values reaches a log (docs/simulator.md "Authorization")
  --faults MODE       swarm (faults drawn from the seed, default) or none
  --messages N        values each producer (queue) or client (ledger) sends
  --scenario NAME     a file in scenarios/ (without .txt) or a path
  --clock-drift PPM   queue: every node's clock runs at its own rate, drawn within ±PPM parts
                      per million (half the nodes at an edge), and brokers are paused past
                      their lease so the lease rule (lease-overlap) is put to the test; 0: true
                      clocks. Default: swarm seeds draw it at the brokers' assumed bound
                      (${CLOCK_DRIFT_BOUND_PPM} ppm) in about half the seeds. Beyond that bound fencing is not
                      promised, and the lease rule says so (docs/simulator.md "Clock drift")
  --damage-at-rest    queue, swarm: rot the brokers' log segments at rest in this run (by
                      default about 30 % of the seeds draw it); --no-damage-at-rest: never
  --groups N          queue: N consumer groups (1 to 8) read the topic instead of the plain
                      consumers, 1-4 group consumer processes each (drawn), crashed, paused past
                      their session and cut off from the coordinator; the group checker judges
                      them and the summary prints the group figures (duplicates, rebalances,
                      zombie-processed). The group plants turn on 2 groups by themselves.
  --members-per-group M  with --groups: M members in every group instead of drawn sizes
  --push              with --groups: every member consumes by push (StartGet: brokers push
                      within the credits it grants) instead of the seed's draw (swarm: each
                      group pulls, pushes or mixes); the checker adds push-overrun and the
                      summary the pushed batches and the overrun (always 0)
  --pull              with --groups: every member pulls (fetch), as before push existed
  --compression TYPE  queue: the producers compress every batch with none (default), gzip,
                      snappy, lz4 or zstd (the real codecs, loaded by this process); brokers
                      store, replicate and serve the batches as they came
  --plant BUG         plant a known bug and watch the checker catch it
                      queue: ${PLANTS.queue.join(", ")}
                      raft: ${PLANTS.raft.join(", ")}
                      ledger: ${PLANTS.ledger.join(", ")}
  --shrink            on a failure, search (at most ${SHRINK_REPLAYS_MAX} replays of the same seed) for fewer
                      faults and messages that still fail with the same anomaly kind, and
                      write the result as a scenario file that replays it
  --out FILE          where --shrink writes (default shrunk-<workload>-<seed>.txt here)
  --jobs J            run a sweep in J worker threads; 'auto': one per core (${availableParallelism()} here)
  --audit-fraction F  share of a sweep's seeds run twice to check they give the same trace
                      hash (default ${AUDIT_FRACTION_DEFAULT}; the first seed always; 0: no audit). A mismatch is a
                      determinism failure and makes the exit status 1
  --trace FILE        one run (a seed or a scenario): record every delivered and dropped
                      message, timer, persist/sync, fault and client operation with its virtual
                      time and node, and the checker's anomalies, and write them to FILE as
                      JSON (format zhumq-trace version 1, docs/simulator.md "Trace files";
                      payloads summarised, never copied). Recording does not change the run:
                      the trace hash is the same with and without it
  --trace-events-max N  keep at most N trace events (default ${TRACE_EVENTS_MAX_DEFAULT}); the rest are
                      counted and the file says 'truncated'
  --open              one run: record its trace and serve the trace viewer with it on
                      127.0.0.1 (a free port; the URL is printed) until Ctrl-C. The page draws a
                      lane per node, faults as spans, messages as arrows, client operations as
                      marks, and lists the anomalies (click one to jump to its operations); it
                      can also open a saved trace file
  --verbose           print the fault schedule and the faults applied
  -h, --help          this text

Workloads:
  queue   a coordinator, 3 brokers, 2 producers and 2 consumers on a 4-partition topic. The
          checker reports Jepsen's queue anomalies (lost-write, unseen, duplicate,
          inconsistent-offsets, aborted-read, nonmonotonic-poll, poll-skip, nonmonotonic-send)
          and judges them per ack level: -1 and 1 lose nothing acknowledged; 0 may lose, but
          never duplicates or reorders.
  raft    a 3- or 5-node Raft group (pre-vote, check-quorum, transfers, membership changes)
          under faults, checked continuously for election safety, log matching, leader
          completeness, state-machine safety and durable commits; then liveness after healing.
  ledger  the foundation's demonstration: clients append to servers that persist and ack.

Workflow: sweep, take a failure's seed, --shrink it, replay the scenario it writes with
--scenario --open to see the story as a timeline, fix, keep the scenario in scenarios/
(docs/simulator.md, "From a failing seed to a kept scenario").

Exit status: 0 when every run passed (or a scenario ended as it expects), 1 otherwise, 2 on bad
arguments.`;

interface SimArgs {
  readonly seed: number;
  readonly seeds: number;
  readonly base: Omit<WorkloadOptions, "seed">;
  readonly scenario: Scenario | undefined;
  readonly verbose: boolean;
  readonly shrink: boolean;
  readonly out: string | undefined;
  /** Worker threads for a sweep; undefined: run in this thread, stopping at the first failure. */
  readonly jobs: number | undefined;
  readonly auditFraction: number;
  /** Where to write the run's trace, if anywhere. */
  readonly trace: string | undefined;
  readonly traceEventsMax: number;
  /** Serve the trace viewer with the run's trace until Ctrl-C (or until this resolves). */
  readonly open: boolean;
  readonly untilStopped?: () => Promise<void>;
}

/** How `--open` waits before it stops serving: Ctrl-C by default; tests pass their own. */
export interface SimCommandHooks {
  readonly untilStopped?: () => Promise<void>;
}

const untilInterrupted = (): Promise<void> => new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));

export async function simCommand(argv: readonly string[], hooks: SimCommandHooks = {}): Promise<number> {
  let args: SimArgs | "help";
  try {
    args = await parseSimArgs(argv);
  } catch (error) {
    process.stderr.write(`zhumq sim: ${(error as Error).message}\n\nRun 'zhumq sim --help' for usage.\n`);
    return 2;
  }
  if (args === "help") {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  args = { ...args, untilStopped: hooks.untilStopped ?? untilInterrupted };
  if (args.base.compression !== undefined && args.base.compression !== "none") {
    const problem = await loadCodecs(args.base.compression);
    if (problem !== undefined) {
      process.stderr.write(`zhumq sim: --compression ${args.base.compression}: ${problem}\n`);
      return 2;
    }
  }
  if (args.scenario !== undefined) return runScenario(args, args.scenario);
  if (args.jobs !== undefined) return farm(args, args.jobs);
  return args.seeds === 1 ? runOne(args) : sweep(args);
}

async function parseSimArgs(argv: readonly string[]): Promise<SimArgs | "help"> {
  const { values } = parseArgs({
    args: joinNegativeValues(argv, ["--acks"]),
    strict: true,
    options: {
      seed: { type: "string" },
      seeds: { type: "string" },
      workload: { type: "string" },
      acks: { type: "string" },
      "replication-factor": { type: "string" },
      coordinators: { type: "string" },
      "compact-every": { type: "string" },
      "snapshot-chunk-bytes": { type: "string" },
      mode: { type: "string" },
      "mode-switches": { type: "string" },
      retention: { type: "boolean" },
      authorizer: { type: "string" },
      "coordinator-changes": { type: "boolean" },
      faults: { type: "string" },
      messages: { type: "string" },
      values: { type: "string" },
      scenario: { type: "string" },
      plant: { type: "string" },
      "damage-at-rest": { type: "boolean" },
      groups: { type: "string" },
      "members-per-group": { type: "string" },
      push: { type: "boolean" },
      pull: { type: "boolean" },
      "no-damage-at-rest": { type: "boolean" },
      "clock-drift": { type: "string" },
      compression: { type: "string" },
      verbose: { type: "boolean" },
      shrink: { type: "boolean" },
      out: { type: "string" },
      jobs: { type: "string" },
      "audit-fraction": { type: "string" },
      trace: { type: "string" },
      "trace-events-max": { type: "string" },
      open: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help === true) return "help";
  const faults = values.faults ?? "swarm";
  if (faults !== "swarm" && faults !== "none") throw new Error(`--faults must be swarm or none, not '${faults}'`);
  const workload = (values.workload ?? "queue") as WorkloadName;
  if (!WORKLOADS.includes(workload)) throw new Error(`--workload must be one of ${WORKLOADS.join(", ")}, not '${values.workload}'`);
  if (values.plant !== undefined && !PLANTS[workload].includes(values.plant)) throw new Error(`unknown --plant '${values.plant}' for the ${workload} workload (known: ${PLANTS[workload].join(", ")})`);
  const acks = values.acks === undefined ? undefined : Number(values.acks);
  if (acks !== undefined && acks !== -1 && acks !== 0 && acks !== 1) throw new Error(`--acks must be -1, 1 or 0, not '${values.acks}'`);
  const messages = values.messages ?? values.values;
  if (values.mode !== undefined && values.mode !== "fetch" && values.mode !== "raft") throw new Error(`--mode must be fetch or raft, not '${values.mode}'`);
  const replicationMode = values.mode as "fetch" | "raft" | undefined;
  const replicationFactor = values["replication-factor"] === undefined ? undefined : integer("--replication-factor", values["replication-factor"], 1);
  if (replicationFactor !== undefined && replicationFactor > 7) throw new Error(`--replication-factor must be from 1 to 7, not '${replicationFactor}'`);
  const coordinators = values.coordinators === undefined ? undefined : integer("--coordinators", values.coordinators, 1);
  if (coordinators !== undefined && coordinators > 7) throw new Error(`--coordinators must be from 1 to 7, not '${coordinators}'`);
  if (coordinators !== undefined && workload !== "queue") throw new Error(`--coordinators runs with the queue workload, not '${workload}'`);
  if (values["coordinator-changes"] === true && (coordinators === undefined || coordinators < 3)) throw new Error("--coordinator-changes needs --coordinators 3 or more (a wiped replica must be replaceable)");
  const modeSwitches = values["mode-switches"] === undefined ? undefined : integer("--mode-switches", values["mode-switches"], 0);
  if (modeSwitches !== undefined && modeSwitches > 64) throw new Error(`--mode-switches must be from 0 to 64, not '${modeSwitches}'`);
  if (modeSwitches !== undefined && workload !== "queue") throw new Error(`--mode-switches runs with the queue workload, not '${workload}'`);
  if (values["damage-at-rest"] === true && values["no-damage-at-rest"] === true) throw new Error("--damage-at-rest and --no-damage-at-rest contradict each other");
  const damageAtRest = values["damage-at-rest"] === true ? true : values["no-damage-at-rest"] === true ? false : undefined;
  const scenario = values.scenario === undefined ? undefined : await loadScenario(values.scenario);
  const compactEvery = values["compact-every"] === undefined ? undefined : integer("--compact-every", values["compact-every"], 1);
  if (compactEvery !== undefined && workload !== "raft") throw new Error(`--compact-every runs with the raft workload, not '${workload}'`);
  const snapshotChunkBytes = values["snapshot-chunk-bytes"] === undefined ? undefined : integer("--snapshot-chunk-bytes", values["snapshot-chunk-bytes"], 1);
  if (snapshotChunkBytes !== undefined && snapshotChunkBytes > SNAPSHOT_CHUNK_BYTES_CEILING) throw new Error(`--snapshot-chunk-bytes must be from 1 to ${SNAPSHOT_CHUNK_BYTES_CEILING}, not '${snapshotChunkBytes}'`);
  if (snapshotChunkBytes !== undefined && workload === "ledger") throw new Error("--snapshot-chunk-bytes runs with the queue or raft workload, not 'ledger'");
  const clockDriftPpm = values["clock-drift"] === undefined ? undefined : integer("--clock-drift", values["clock-drift"], 0);
  if (clockDriftPpm !== undefined && clockDriftPpm > CLOCK_DRIFT_PPM_MAX) throw new Error(`--clock-drift must be from 0 to ${CLOCK_DRIFT_PPM_MAX} ppm, not '${clockDriftPpm}'`);
  if (clockDriftPpm !== undefined && workload !== "queue") throw new Error(`--clock-drift runs with the queue workload, not '${workload}'`);
  const groups = parseGroupsFlags(values.groups, values["members-per-group"], workload, values.push === true, values.pull === true);
  if (groups !== undefined && acks !== undefined && acks !== -1) throw new Error(`--groups runs at acks -1 (every acknowledged message must reach every group), not --acks ${acks}`);
  const compression = compressionFlag(values.compression, workload, scenario !== undefined);
  const authorizer = values.authorizer === undefined ? undefined : values.authorizer === "on" ? true : values.authorizer === "off" ? false : undefined;
  if (values.authorizer !== undefined && authorizer === undefined) throw new Error(`--authorizer must be on or off, not '${values.authorizer}'`);
  if (authorizer !== undefined && workload !== "queue") throw new Error(`--authorizer runs with the queue workload, not '${workload}'`);
  const jobs = values.jobs === undefined ? undefined : values.jobs === "auto" ? availableParallelism() : integer("--jobs", values.jobs, 1);
  const auditFraction = Number(values["audit-fraction"] ?? AUDIT_FRACTION_DEFAULT);
  if (!(auditFraction >= 0 && auditFraction <= 1)) throw new Error(`--audit-fraction must be in [0, 1], not '${values["audit-fraction"]}'`);
  if (values.shrink === true && scenario !== undefined) throw new Error("--shrink shrinks a seed's run, not a scenario");
  const traced = values.trace !== undefined || values.open === true;
  if (traced && (jobs !== undefined || (values.seeds !== undefined && values.seeds !== "1"))) throw new Error("--trace and --open record one run: give --seed N (or --scenario), not a sweep");
  return {
    seed: integer("--seed", values.seed ?? "1", 0),
    seeds: integer("--seeds", values.seeds ?? "1", 1),
    base: {
      workload: scenario ? (scenario.workload as WorkloadName) : workload,
      faults: scenario ? scenario.faults : faults,
      plant: scenario?.plant ?? values.plant,
      acks: scenario ? scenario.acks : acks,
      messages: scenario?.messages ?? (messages === undefined ? undefined : integer("--messages", messages, 1)),
      schedule: scenario?.steps,
      bitFlipPerRead: scenario?.bitFlipPerRead,
      replicationFactor: scenario?.replicationFactor ?? replicationFactor,
      replicationMode: scenario?.replicationMode ?? replicationMode,
      coordinators: scenario?.coordinators ?? coordinators,
      modeSwitches: scenario?.modeSwitches ?? modeSwitches,
      retention: scenario?.retention ?? (values.retention === true ? true : undefined),
      authorizer: scenario?.authorizer ?? authorizer,
      ...(values["coordinator-changes"] === true && scenario === undefined ? { coordinatorChanges: true } : {}),
      groups: scenario?.groups ?? groups,
      safetyMs: scenario?.safetyMs,
      clockDriftPpm: scenario?.clockDriftPpm ?? clockDriftPpm,
      clockSkewPpm: scenario?.clockSkewPpm,
      damageAtRest,
      ...(compression === undefined ? {} : { compression }),
      ...(compactEvery === undefined ? {} : { compactEvery }),
      ...((scenario?.snapshotChunkBytes ?? snapshotChunkBytes) === undefined ? {} : { snapshotChunkBytes: scenario?.snapshotChunkBytes ?? snapshotChunkBytes }),
    },
    scenario,
    verbose: values.verbose === true,
    shrink: values.shrink === true,
    out: values.out,
    jobs,
    auditFraction,
    trace: values.trace,
    traceEventsMax: integer("--trace-events-max", values["trace-events-max"] ?? String(TRACE_EVENTS_MAX_DEFAULT), 0),
    open: values.open === true,
  };
}

function parseGroupsFlags(groups: string | undefined, members: string | undefined, workload: WorkloadName, push: boolean, pull: boolean): GroupsOptions | undefined {
  if (push && pull) throw new Error("--push and --pull contradict each other");
  if (groups === undefined) {
    if (members !== undefined) throw new Error("--members-per-group needs --groups N");
    if (push || pull) throw new Error(`--${push ? "push" : "pull"} needs --groups N`);
    return undefined;
  }
  if (workload !== "queue") throw new Error(`--groups runs with the queue workload, not '${workload}'`);
  const count = integer("--groups", groups, 1);
  if (count > GROUPS_MAX) throw new Error(`--groups must be from 1 to ${GROUPS_MAX}, not '${groups}'`);
  const mode = push ? { mode: "push" as const } : pull ? { mode: "pull" as const } : {};
  if (members === undefined) return { count, ...mode };
  const membersPerGroup = integer("--members-per-group", members, 1);
  if (membersPerGroup > MEMBERS_PER_GROUP_MAX) throw new Error(`--members-per-group must be from 1 to ${MEMBERS_PER_GROUP_MAX}, not '${members}'`);
  return { count, membersPerGroup, ...mode };
}

/** --compression: a codec name, for the queue workload's own runs (scenarios do not record one). */
function compressionFlag(text: string | undefined, workload: WorkloadName, scenario: boolean): CompressionType | undefined {
  if (text === undefined) return undefined;
  const type = COMPRESSION_TYPES.find((candidate) => candidate === text);
  if (type === undefined) throw new Error(`--compression must be one of ${COMPRESSION_TYPES.join(", ")}, not '${text}'`);
  if (workload !== "queue") throw new Error(`--compression runs with the queue workload, not '${workload}'`);
  if (scenario) throw new Error("--compression is not recorded in scenario files: give --seed N");
  return type;
}

function integer(flag: string, text: string, minimum: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < minimum) throw new Error(`${flag} needs an integer >= ${minimum}, not '${text}'`);
  return value;
}

export async function loadScenario(nameOrPath: string): Promise<Scenario> {
  const candidates = [nameOrPath, path.join("scenarios", `${nameOrPath}.txt`), path.join("scenarios", nameOrPath)];
  const file = candidates.find((candidate) => existsSync(candidate) && candidate.endsWith(".txt"));
  if (file === undefined) throw new Error(`no scenario '${nameOrPath}' (looked for ${candidates.join(", ")})`);
  const scenario = parseScenario(path.basename(file, ".txt"), await readFile(file, "utf8"));
  if (!(WORKLOADS as readonly string[]).includes(scenario.workload)) throw new Error(`scenario ${scenario.name}: unknown workload '${scenario.workload}'`);
  return scenario;
}

function replayCommand(args: SimArgs, seed: number): string {
  if (args.scenario) return `npx zhumq sim --scenario ${args.scenario.name}`;
  const { base } = args;
  const parts = ["npx zhumq sim", `--seed ${seed}`];
  if (base.workload !== "queue") parts.push(`--workload ${base.workload}`);
  if (base.acks !== undefined) parts.push(`--acks ${base.acks}`);
  if (base.faults !== "swarm") parts.push(`--faults ${base.faults}`);
  if (base.messages !== undefined) parts.push(`--messages ${base.messages}`);
  if (base.replicationFactor !== undefined) parts.push(`--replication-factor ${base.replicationFactor}`);
  if (base.replicationMode !== undefined) parts.push(`--mode ${base.replicationMode}`);
  if (base.coordinators !== undefined) parts.push(`--coordinators ${base.coordinators}`);
  if (base.modeSwitches !== undefined) parts.push(`--mode-switches ${base.modeSwitches}`);
  if (base.retention === true) parts.push("--retention");
  if (base.authorizer !== undefined) parts.push(`--authorizer ${base.authorizer ? "on" : "off"}`);
  if (base.coordinatorChanges === true) parts.push("--coordinator-changes");
  if (base.groups !== undefined) parts.push(`--groups ${base.groups.count}`, ...(base.groups.membersPerGroup === undefined ? [] : [`--members-per-group ${base.groups.membersPerGroup}`]), ...(base.groups.mode === "push" || base.groups.mode === "pull" ? [`--${base.groups.mode}`] : []));
  if (base.plant !== undefined) parts.push(`--plant ${base.plant}`);
  if (base.damageAtRest !== undefined) parts.push(base.damageAtRest ? "--damage-at-rest" : "--no-damage-at-rest");
  if (base.clockDriftPpm !== undefined) parts.push(`--clock-drift ${base.clockDriftPpm}`);
  if (base.compression !== undefined) parts.push(`--compression ${base.compression}`);
  if (base.compactEvery !== undefined) parts.push(`--compact-every ${base.compactEvery}`);
  if (base.snapshotChunkBytes !== undefined) parts.push(`--snapshot-chunk-bytes ${base.snapshotChunkBytes}`);
  return parts.join(" ");
}

async function runOne(args: SimArgs): Promise<number> {
  const recorder = traceRecorder(args);
  const result = await runWorkload({ ...args.base, seed: args.seed, ...(recorder === undefined ? {} : { recorder }) });
  printResult(args, result);
  await showTrace(args, result, recorder);
  if (!result.ok && args.shrink) await shrinkAndWrite(args, result.seed, result);
  return result.ok ? 0 : 1;
}

/** The real codecs, for producers that compress (the simulator loads no native code by itself); why `type` cannot be used, if it cannot. */
export async function loadCodecs(type: CompressionType): Promise<string | undefined> {
  const { codecProblem, loadCompressionCodecs } = await import("../native/compression.ts");
  await loadCompressionCodecs();
  return codecProblem(type);
}

function traceRecorder(args: SimArgs): TraceRecorder | undefined {
  return args.trace === undefined && !args.open ? undefined : new TraceRecorder({ eventsMax: args.traceEventsMax });
}

/** Write the run's trace (--trace) and serve it in the viewer until Ctrl-C (--open). */
async function showTrace(args: SimArgs, result: RunSummary, recorder: TraceRecorder | undefined): Promise<void> {
  if (recorder === undefined) return;
  const document: TraceDocument = recorder.document(traceRunOf(result, replayCommand(args, result.seed)));
  const text = JSON.stringify(document);
  const cut = document.truncated === undefined ? "" : `, truncated: ${document.truncated.events} events and ${document.truncated.operations} operations past the cap`;
  const size = `${document.events.length} events, ${document.operations.length} client operations, ${document.anomalies.length} anomalies, ${(Buffer.byteLength(text) / 1_048_576).toFixed(2)} MB${cut}`;
  if (args.trace !== undefined) {
    await writeFile(args.trace, text);
    process.stdout.write(`trace written to ${args.trace} (${size})\n`);
  }
  if (!args.open) return;
  const server = await startTraceViewerServer({ host: "127.0.0.1", port: 0, trace: text });
  process.stdout.write(`trace viewer: ${server.url}  (${size}; Ctrl-C to stop)\n`);
  await (args.untilStopped ?? untilInterrupted)();
  await server.close();
}

/** Shrink a failing seed and write its scenario; a failure to shrink is reported, not thrown. */
async function shrinkAndWrite(args: SimArgs, seed: number, failure: RunSummary | undefined): Promise<void> {
  const out = args.out ?? `shrunk-${args.base.workload}-${seed}.txt`;
  process.stdout.write(`shrinking seed ${seed} (at most ${SHRINK_REPLAYS_MAX} replays)...\n`);
  try {
    const shrunk = await shrinkFailure({
      base: { ...args.base, seed },
      failure,
      replayCommand: replayCommand(args, seed),
      onProgress: (progress) =>
        process.stderr.write(`  replay ${progress.replays}: ${progress.pass}: ${progress.accepted ? "still fails, kept" : "passes or fails otherwise, dropped"} (best: ${describeSize(progress.best, undefined)})\n`),
    });
    await writeFile(out, shrunk.scenarioText);
    const { original, shrunk: best } = shrunk.search;
    const steps = (count: number): string => `${count} fault step${count === 1 ? "" : "s"}`;
    process.stdout.write(
      [
        `shrunk seed ${seed} (${shrunk.kind}) in ${shrunk.search.replays + SHRINK_EXTRA_REPLAYS} replays${shrunk.search.exhausted ? ", budget spent" : ""}:`,
        `  before  ${describeSize(original, shrunk.defaultMessages)}`,
        `  after   ${describeSize(best, shrunk.defaultMessages)}`,
        `  faults ${percentSmaller(original.steps.length, best.steps.length)} smaller (${steps(original.steps.length)} -> ${steps(best.steps.length)})`,
        `wrote ${out}; replay: npx zhumq sim --scenario ${out}`,
      ].join("\n") + "\n",
    );
  } catch (error) {
    if (!(error instanceof NothingToShrinkError)) throw error;
    process.stdout.write(`cannot shrink: ${error.message}\n`);
  }
}

function percentSmaller(before: number, after: number): string {
  return before === 0 ? "0 %" : `${(((before - after) / before) * 100).toFixed(0)} %`;
}

async function runScenario(args: SimArgs, scenario: Scenario): Promise<number> {
  const recorder = traceRecorder(args);
  const result = await runWorkload({ ...args.base, seed: scenario.seed, ...(recorder === undefined ? {} : { recorder }) });
  process.stdout.write(`scenario ${scenario.name}: ${scenario.title}\nexpected: ${scenario.expect}\n`);
  printResult(args, result);
  const met = (result.ok ? "pass" : "fail") === scenario.expect;
  process.stdout.write(met ? "outcome matches the scenario's expectation\n" : "OUTCOME DIFFERS from the scenario's expectation\n");
  await showTrace(args, result, recorder);
  return met ? 0 : 1;
}

async function sweep(args: SimArgs): Promise<number> {
  const started = performance.now();
  let virtualMs = 0;
  let audits = 0;
  for (let index = 0; index < args.seeds; index++) {
    const seed = args.seed + index;
    const audited = isAudited(seed, args.seed, args.auditFraction);
    const outcome = await runAudited((run) => runWorkload({ ...args.base, seed: run }), seed, audited);
    const result = outcome.summary;
    if (audited) audits++;
    virtualMs += result.virtualMs;
    progress(index + 1, args.seeds, seed);
    if (outcome.nondeterministic) {
      process.stderr.write("\n");
      process.stdout.write(`${describeNondeterminism(outcome, replayCommand(args, seed))}\n`);
      return 1;
    }
    if (!result.ok) {
      process.stderr.write("\n");
      printResult(args, result);
      if (args.shrink) await shrinkAndWrite(args, seed, result);
      return 1;
    }
  }
  const wallS = (performance.now() - started) / 1000;
  if (process.stderr.isTTY) process.stderr.write("\n");
  process.stdout.write(
    `${args.seeds} seeds passed (${args.seed}..${args.seed + args.seeds - 1}, workload ${args.base.workload}) in ${wallS.toFixed(1)} s: ` +
      `${((args.seeds / wallS) * 60).toFixed(0)} seeds/min, ${(virtualMs / 1000 / wallS).toFixed(1)}x time compression; ` +
      `${audits} seeds run twice for the determinism audit, same trace hashes\n`,
  );
  return 0;
}

/** The seed farm: every seed of the sweep over worker threads; failures are listed as found. */
async function farm(args: SimArgs, jobs: number): Promise<number> {
  const started = performance.now();
  const seeds = Array.from({ length: args.seeds }, (_, index) => args.seed + index);
  const failures: FarmOutcome[] = [];
  let done = 0;
  let audits = 0;
  let virtualMs = 0;
  let lastLineMs = 0;
  const line = (final: boolean): void => {
    const wallS = (performance.now() - started) / 1000;
    const rate = wallS > 0 ? ((done / wallS) * 60).toFixed(1) : "-";
    const text = `${done}/${args.seeds} seeds, ${rate} seeds/min, ${jobs} jobs, ${failures.length} failure${failures.length === 1 ? "" : "s"}, ${audits} audited`;
    if (process.stderr.isTTY) process.stderr.write(`\r${text}${final ? "\n" : ""}`);
    else if (final || performance.now() - lastLineMs >= FARM_PLAIN_PROGRESS_MS) {
      lastLineMs = performance.now();
      process.stderr.write(`${text}\n`);
    }
  };
  await runFarm({
    seeds,
    jobs,
    base: args.base,
    audited: (seed) => isAudited(seed, args.seed, args.auditFraction),
    onOutcome: (outcome) => {
      done++;
      virtualMs += outcome.virtualMs;
      if (outcome.auditHash !== undefined) audits++;
      if (!outcome.ok || outcome.nondeterministic) {
        failures.push(outcome);
        if (process.stderr.isTTY) process.stderr.write("\n");
        process.stdout.write(`${describeFarmFailure(args, outcome)}\n`);
      }
      line(false);
    },
  });
  line(true);
  const wallS = (performance.now() - started) / 1000;
  process.stdout.write(
    `${args.seeds - failures.length} of ${args.seeds} seeds passed (${args.seed}..${args.seed + args.seeds - 1}, workload ${args.base.workload}, ${jobs} jobs) in ${wallS.toFixed(1)} s: ` +
      `${((args.seeds / wallS) * 60).toFixed(1)} seeds/min (${((args.seeds / wallS) * 3600).toFixed(0)} seeds/hour), ${(virtualMs / 1000 / wallS).toFixed(1)}x time compression; ${audits} seeds audited for determinism\n`,
  );
  if (args.shrink) {
    // One shrink per anomaly kind (the lowest seed): shrinking costs up to a few hundred runs.
    const byKind = new Map<string, FarmOutcome>();
    for (const failure of [...failures].sort((a, b) => a.seed - b.seed)) {
      const kind = failure.anomalies[0]?.kind;
      if (!failure.nondeterministic && failure.error === undefined && kind !== undefined && !byKind.has(kind)) byKind.set(kind, failure);
    }
    for (const failure of byKind.values()) await shrinkAndWrite({ ...args, out: byKind.size > 1 ? undefined : args.out }, failure.seed, undefined);
  }
  return failures.length === 0 ? 0 : 1;
}

/** Plain-text progress lines (not a TTY) come at most this often. */
const FARM_PLAIN_PROGRESS_MS = 10_000;

function describeFarmFailure(args: SimArgs, outcome: FarmOutcome): string {
  const replay = `replay: ${replayCommand(args, outcome.seed)}`;
  if (outcome.error !== undefined) return `seed ${outcome.seed}: the run threw: ${outcome.error}\n${replay}`;
  if (outcome.nondeterministic) return `DETERMINISM FAILURE: seed ${outcome.seed} ran twice with different trace hashes, ${outcome.traceHash} then ${outcome.auditHash ?? "?"}\n${replay}`;
  const shown = outcome.anomalies.slice(0, 3).map((anomaly) => `  ${anomaly.kind}: ${anomaly.detail}`);
  return [`seed ${outcome.seed}: FAIL (${outcome.anomalyCount} anomalies), trace hash ${outcome.traceHash}`, ...shown, replay].join("\n");
}

function progress(done: number, total: number, seed: number): void {
  if (!process.stderr.isTTY) {
    if (done === total || done % Math.max(1, Math.floor(total / 10)) === 0) process.stderr.write(`${done}/${total} seeds\n`);
    return;
  }
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stderr.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} seed ${seed}`);
}

function printResult(args: SimArgs, result: RunSummary): void {
  const wallS = result.wallMs / 1000;
  const { base } = args;
  const lines = [
    `zhumq sim  seed ${result.seed}  workload ${result.workload}  faults ${args.scenario ? "scenario" : base.faults}${base.plant ? `  planted bug ${base.plant}` : ""}`,
    `  verdict       ${result.ok ? "PASS" : `FAIL (${result.anomalies.length} anomalies)`}`,
    ...result.details.map((line) => `  ${line}`),
    `  virtual time  ${(result.virtualMs / 1000).toFixed(3)} s`,
    `  events        ${result.events}  (${result.messages} messages delivered)`,
    `  wall time     ${wallS.toFixed(3)} s`,
    `  compression   ${(result.virtualMs / 1000 / Math.max(wallS, 1e-6)).toFixed(1)}x (virtual seconds per wall second)`,
    `  trace hash    ${result.traceHash}`,
    `  stray calls   Date.now ${result.stray.dateNow}, Math.random ${result.stray.mathRandom} (served by the virtual clock and a seeded stream)`,
  ];
  if (args.verbose) lines.push("  schedule:", ...indent(result.schedule.split("\n")), "  faults applied:", ...indent(result.faultLog));
  for (const anomaly of result.anomalies.slice(0, 20)) lines.push(`  ${anomaly.kind}: ${anomaly.detail}`);
  if (result.anomalies.length > 20) lines.push(`  ... and ${result.anomalies.length - 20} more`);
  if (!result.ok) lines.push(`replay: ${replayCommand(args, result.seed)}`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

function indent(lines: readonly string[]): string[] {
  return lines.filter((line) => line !== "").map((line) => `    ${line}`);
}
