/**
 * `zhumq sim`: run seeds of the simulator and print, per run, the verdict, the figures that show
 * how much the simulator compresses time, the trace hash, and the one command that replays it.
 */
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { runLedger, type LedgerRunResult } from "../sim/demo/ledger.ts";
import { parseScenario, type Scenario } from "../sim/scenario.ts";

const HELP = `zhumq sim — run the deterministic simulator

A run is a pure function of (seed, code): the same seed prints the same trace hash. It runs a
workload on simulated nodes, injects network, disk and process faults for a safety phase, heals
everything for a liveness phase, then judges the history with the workload's checker.

Usage:
  zhumq sim --seed N                 run one seed
  zhumq sim --seed N --seeds K       sweep K seeds from N, stop at the first failure
  zhumq sim --scenario NAME|FILE     run a scripted fault story from scenarios/

Options:
  --seed N            first seed (default 1)
  --seeds K           number of seeds to run (default 1)
  --faults MODE       swarm (faults drawn from the seed, default) or none
  --values N          values each client appends (default 300)
  --scenario NAME     a file in scenarios/ (without .txt) or a path
  --plant BUG         plant a known bug to watch the checker catch it: ack-before-sync
  --verbose           print the fault schedule and the faults applied
  -h, --help          this text

Workload: the foundation's ledger (clients append numbered values to servers that persist and
acknowledge them). The checker reports lost acknowledged values, duplicates, reordering,
clients that never finished, and actor errors.`;

interface SimArgs {
  seed: number;
  seeds: number;
  faults: "swarm" | "none";
  values: number;
  scenario: Scenario | undefined;
  plant: string | undefined;
  verbose: boolean;
}

export async function simCommand(argv: readonly string[]): Promise<number> {
  let args: SimArgs;
  try {
    const parsed = await parseSimArgs(argv);
    if (parsed === "help") {
      process.stdout.write(`${HELP}\n`);
      return 0;
    }
    args = parsed;
  } catch (error) {
    process.stderr.write(`zhumq sim: ${(error as Error).message}\n\nRun 'zhumq sim --help' for usage.\n`);
    return 2;
  }
  if (args.scenario !== undefined) return runScenario(args, args.scenario);
  return args.seeds === 1 ? runOne(args) : sweep(args);
}

async function parseSimArgs(argv: readonly string[]): Promise<SimArgs | "help"> {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      seed: { type: "string" },
      seeds: { type: "string" },
      faults: { type: "string" },
      values: { type: "string" },
      scenario: { type: "string" },
      plant: { type: "string" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help === true) return "help";
  const faults = values.faults ?? "swarm";
  if (faults !== "swarm" && faults !== "none") throw new Error(`--faults must be swarm or none, not '${faults}'`);
  if (values.plant !== undefined && values.plant !== "ack-before-sync") throw new Error(`unknown --plant '${values.plant}' (known: ack-before-sync)`);
  return {
    seed: positiveInteger("--seed", values.seed ?? "1", 0),
    seeds: positiveInteger("--seeds", values.seeds ?? "1", 1),
    faults,
    values: positiveInteger("--values", values.values ?? "300", 1),
    scenario: values.scenario === undefined ? undefined : await loadScenario(values.scenario),
    plant: values.plant,
    verbose: values.verbose === true,
  };
}

function positiveInteger(flag: string, text: string, minimum: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < minimum) throw new Error(`${flag} needs an integer >= ${minimum}, not '${text}'`);
  return value;
}

export async function loadScenario(nameOrPath: string): Promise<Scenario> {
  const candidates = [nameOrPath, path.join("scenarios", `${nameOrPath}.txt`), path.join("scenarios", nameOrPath)];
  const file = candidates.find((candidate) => existsSync(candidate) && candidate.endsWith(".txt"));
  if (file === undefined) throw new Error(`no scenario '${nameOrPath}' (looked for ${candidates.join(", ")})`);
  return parseScenario(path.basename(file, ".txt"), await readFile(file, "utf8"));
}

function replayCommand(args: SimArgs, seed: number): string {
  const parts = ["npx zhumq sim", args.scenario ? `--scenario ${args.scenario.name}` : `--seed ${seed}`];
  if (args.scenario === undefined && args.faults !== "swarm") parts.push(`--faults ${args.faults}`);
  if (args.values !== 300) parts.push(`--values ${args.values}`);
  if (args.plant !== undefined) parts.push(`--plant ${args.plant}`);
  return parts.join(" ");
}

function runSeed(args: SimArgs, seed: number, scenario?: Scenario): Promise<LedgerRunResult> {
  return runLedger({
    seed,
    faults: scenario ? "none" : args.faults,
    valuesPerClient: args.values,
    ackBeforeSync: (scenario?.plant ?? args.plant) === "ack-before-sync",
    ...(scenario ? { schedule: scenario.steps } : {}),
  });
}

async function runOne(args: SimArgs): Promise<number> {
  const result = await runSeed(args, args.seed);
  printResult(args, result);
  return result.ok ? 0 : 1;
}

async function runScenario(args: SimArgs, scenario: Scenario): Promise<number> {
  const result = await runSeed(args, scenario.seed, scenario);
  process.stdout.write(`scenario ${scenario.name}: ${scenario.title}\nexpected: ${scenario.expect}\n`);
  printResult(args, result);
  const met = (result.ok ? "pass" : "fail") === scenario.expect;
  process.stdout.write(met ? "outcome matches the scenario's expectation\n" : "OUTCOME DIFFERS from the scenario's expectation\n");
  return met ? 0 : 1;
}

async function sweep(args: SimArgs): Promise<number> {
  const started = performance.now();
  let virtualMs = 0;
  for (let index = 0; index < args.seeds; index++) {
    const seed = args.seed + index;
    const result = await runSeed(args, seed);
    virtualMs += result.virtualMs;
    progress(index + 1, args.seeds, seed);
    if (!result.ok) {
      process.stderr.write("\n");
      printResult(args, result);
      return 1;
    }
  }
  const wallS = (performance.now() - started) / 1000;
  process.stderr.write("\n");
  process.stdout.write(
    `${args.seeds} seeds passed (${args.seed}..${args.seed + args.seeds - 1}) in ${wallS.toFixed(1)} s: ` +
      `${((args.seeds / wallS) * 60).toFixed(0)} seeds/min, ${(virtualMs / 1000 / wallS).toFixed(1)}x time compression\n`,
  );
  return 0;
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

function printResult(args: SimArgs, result: LedgerRunResult): void {
  const wallS = result.wallMs / 1000;
  const lines = [
    `zhumq sim  seed ${result.seed}  workload ledger  faults ${args.scenario ? "scenario" : args.faults}${args.plant ? `  planted bug ${args.plant}` : ""}`,
    `  verdict       ${result.ok ? "PASS" : `FAIL (${result.anomalies.length} anomalies)`}`,
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
