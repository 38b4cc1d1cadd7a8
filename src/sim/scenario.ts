/**
 * Scenarios: named fault stories in readable text files under scenarios/, each with its expected
 * outcome. A scenario file is a header of "# key: value" lines, then a fault schedule
 * (see nemesis.ts for the step syntax):
 *
 *   # title: a broker crashes while producers write with acks -1
 *   # workload: queue          (queue, the default, or ledger)
 *   # acks: -1                 (queue only)
 *   # seed: 3
 *   # expect: pass
 *   at 120 crash server-0
 *   at 400 restart server-0
 *
 * Optional headers: `# messages: N` (values per producer or client), and `# faults: swarm` for a
 * run whose network, disks and configuration misbehave as the seed draws them in a sweep while
 * the listed steps replace the drawn schedule (what `zhumq sim --shrink` writes: a failing swarm
 * seed with its schedule cut down), `# replication-factor: N`, `# coordinators: N` (a coordinator
 * quorum; docs/coordinator-quorum.md), `# mode-switches: N` (the topic switches between raft and
 * fetch mode N times; src/sim/queue/mode-switches.ts), and `# groups: N` or `NxM` (consumer
 * groups read the topic instead of plain consumers; see src/sim/groups/workload.ts), optionally
 * followed by how they consume: `pull` (the default), `push` (StartGet) or `mixed` — `# groups:
 * 1x2 push` — and `# session-timeout-ms: N` (the members' session); `# safety-ms: N` lengthens the
 * safety phase (default 6000: the producers spread their writes over it, and every fault heals
 * at its end). The default, `# faults: none`, runs the steps on a quiet
 * network and honest disks.
 */
import { SNAPSHOT_CHUNK_BYTES_CEILING } from "../actors/raft/types.ts";
import { formatSchedule, parseSchedule, type FaultStep } from "./nemesis.ts";
import { CLOCK_DRIFT_PPM_MAX } from "../actors/broker/lease.ts";

export interface Scenario {
  readonly name: string;
  readonly title: string;
  readonly workload: string;
  readonly seed: number;
  readonly expect: "pass" | "fail";
  /** A planted bug the run enables, for scenarios that prove the checker can fail. */
  readonly plant: string | undefined;
  /** queue workload: the producers' ack level (-1, 1 or 0; default -1). */
  readonly acks: -1 | 0 | 1;
  /** queue workload: bit flips per disk read, for bit-rot stories (default: none). */
  readonly bitFlipPerRead: number | undefined;
  /** none: only the listed faults; swarm: the seed's drawn network/disk/config profile too. */
  readonly faults: "swarm" | "none";
  /** Values per producer (queue) or client (ledger); the workload's default when absent. */
  readonly messages: number | undefined;
  /** queue workload: replicas per partition (`# replication-factor: 3`); the workload's default when absent. */
  readonly replicationFactor?: number | undefined;
  /** queue workload: coordinator replicas (`# coordinators: 3`, a Raft quorum); 1 when absent. */
  readonly coordinators?: number | undefined;
  /** queue workload: how partitions replicate (`# mode: raft`); fetch when absent. */
  readonly replicationMode?: "fetch" | "raft" | undefined;
  /** queue workload: switch the topic's mode this many times over the safety phase (`# mode-switches: 4`); none when absent. */
  readonly modeSwitches?: number | undefined;
  /** queue workload: retention on, small segments (`# retention: on`). */
  readonly retention?: boolean | undefined;
  /** queue workload: the authorizer on, with the intruder (`# authorizer: on`). */
  readonly authorizer?: boolean | undefined;
  /**
   * queue workload: consumer groups instead of plain consumers (`# groups: 2` for two groups with
   * drawn sizes, `# groups: 2x3` for two groups of three members each, named g<group>-member-<n>;
   * `# groups: 2x3 push` for members that push).
   */
  readonly groups?: { readonly count: number; readonly membersPerGroup?: number; readonly mode?: "pull" | "push" | "mixed"; readonly sessionTimeoutMs?: number } | undefined;
  /** queue workload: the safety phase in virtual ms (`# safety-ms: 14000`); the workload's default when absent. */
  readonly safetyMs?: number | undefined;
  /** queue workload: clocks drift within ±this many ppm (`# clock-drift: 500`; drawn per node from the seed). */
  readonly clockDriftPpm?: number | undefined;
  /** queue and raft workloads: data bytes per InstallSnapshot chunk of every Raft group (`# snapshot-chunk-bytes: 512`); the Raft setting when absent. */
  readonly snapshotChunkBytes?: number | undefined;
  /** queue workload: fixed clock skews (`# clock-skew: broker-0=-2000 coordinator=2000`); unnamed nodes keep true clocks. */
  readonly clockSkewPpm?: Readonly<Record<string, number>> | undefined;
  readonly steps: readonly FaultStep[];
}

export class ScenarioError extends Error {
  override readonly name = "ScenarioError";
}

export function parseScenario(name: string, text: string): Scenario {
  const header = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^#\s*([\w-]+):\s*(.*)$/.exec(line.trim());
    if (match) header.set(match[1]!.toLowerCase(), match[2]!.trim());
  }
  const expect = header.get("expect") ?? "pass";
  if (expect !== "pass" && expect !== "fail") throw new ScenarioError(`${name}: expect must be pass or fail, not '${expect}'`);
  const seed = Number(header.get("seed") ?? "1");
  const acks = Number(header.get("acks") ?? "-1");
  if (acks !== -1 && acks !== 0 && acks !== 1) throw new ScenarioError(`${name}: acks must be -1, 0 or 1`);
  const flips = header.get("bit-flip-per-read");
  const bitFlipPerRead = flips === undefined ? undefined : Number(flips);
  if (bitFlipPerRead !== undefined && !(bitFlipPerRead >= 0 && bitFlipPerRead <= 1)) throw new ScenarioError(`${name}: bit-flip-per-read must be in [0, 1]`);
  if (!Number.isSafeInteger(seed)) throw new ScenarioError(`${name}: seed must be an integer`);
  const faults = header.get("faults") ?? "none";
  if (faults !== "swarm" && faults !== "none") throw new ScenarioError(`${name}: faults must be swarm or none, not '${faults}'`);
  const messagesText = header.get("messages");
  const messages = messagesText === undefined ? undefined : Number(messagesText);
  if (messages !== undefined && !(Number.isSafeInteger(messages) && messages >= 1)) throw new ScenarioError(`${name}: messages must be an integer >= 1`);
  const factorText = header.get("replication-factor");
  const replicationFactor = factorText === undefined ? undefined : Number(factorText);
  if (replicationFactor !== undefined && !(Number.isSafeInteger(replicationFactor) && replicationFactor >= 1 && replicationFactor <= 7)) throw new ScenarioError(`${name}: replication-factor must be an integer from 1 to 7`);
  const coordinatorsText = header.get("coordinators");
  const coordinators = coordinatorsText === undefined ? undefined : Number(coordinatorsText);
  if (coordinators !== undefined && !(Number.isSafeInteger(coordinators) && coordinators >= 1 && coordinators <= 7)) throw new ScenarioError(`${name}: coordinators must be an integer from 1 to 7`);
  const modeText = header.get("mode");
  if (modeText !== undefined && modeText !== "fetch" && modeText !== "raft") throw new ScenarioError(`${name}: mode must be fetch or raft, not '${modeText}'`);
  const switchesText = header.get("mode-switches");
  const modeSwitches = switchesText === undefined ? undefined : Number(switchesText);
  if (modeSwitches !== undefined && !(Number.isSafeInteger(modeSwitches) && modeSwitches >= 0 && modeSwitches <= 64)) throw new ScenarioError(`${name}: mode-switches must be an integer from 0 to 64`);
  const authorizerText = header.get("authorizer");
  if (authorizerText !== undefined && authorizerText !== "on" && authorizerText !== "off") throw new ScenarioError(`${name}: authorizer must be on or off, not '${authorizerText}'`);
  const retentionText = header.get("retention");
  if (retentionText !== undefined && retentionText !== "on" && retentionText !== "off") throw new ScenarioError(`${name}: retention must be on or off, not '${retentionText}'`);
  const parsedGroups = parseGroups(name, header.get("groups"));
  const sessionText = header.get("session-timeout-ms");
  const sessionTimeoutMs = sessionText === undefined ? undefined : Number(sessionText);
  if (sessionTimeoutMs !== undefined && !(Number.isSafeInteger(sessionTimeoutMs) && sessionTimeoutMs >= 100 && sessionTimeoutMs <= 60_000)) throw new ScenarioError(`${name}: session-timeout-ms must be an integer from 100 to 60000`);
  if (sessionTimeoutMs !== undefined && parsedGroups === undefined) throw new ScenarioError(`${name}: session-timeout-ms needs a groups header`);
  const groups = parsedGroups === undefined || sessionTimeoutMs === undefined ? parsedGroups : { ...parsedGroups, sessionTimeoutMs };
  const safetyText = header.get("safety-ms");
  const safetyMs = safetyText === undefined ? undefined : Number(safetyText);
  if (safetyMs !== undefined && !(Number.isSafeInteger(safetyMs) && safetyMs >= 1_000 && safetyMs <= 120_000)) throw new ScenarioError(`${name}: safety-ms must be an integer from 1000 to 120000`);
  const driftText = header.get("clock-drift");
  const clockDriftPpm = driftText === undefined ? undefined : Number(driftText);
  if (clockDriftPpm !== undefined && !(Number.isSafeInteger(clockDriftPpm) && clockDriftPpm >= 0 && clockDriftPpm <= CLOCK_DRIFT_PPM_MAX)) throw new ScenarioError(`${name}: clock-drift must be an integer from 0 to ${CLOCK_DRIFT_PPM_MAX} (ppm)`);
  const clockSkewPpm = parseSkews(name, header.get("clock-skew"));
  const chunkText = header.get("snapshot-chunk-bytes");
  const snapshotChunkBytes = chunkText === undefined ? undefined : Number(chunkText);
  if (snapshotChunkBytes !== undefined && !(Number.isSafeInteger(snapshotChunkBytes) && snapshotChunkBytes >= 1 && snapshotChunkBytes <= SNAPSHOT_CHUNK_BYTES_CEILING)) throw new ScenarioError(`${name}: snapshot-chunk-bytes must be an integer from 1 to ${SNAPSHOT_CHUNK_BYTES_CEILING}`);
  return {
    ...(snapshotChunkBytes === undefined ? {} : { snapshotChunkBytes }),
    ...(safetyMs === undefined ? {} : { safetyMs }),
    ...(clockDriftPpm === undefined ? {} : { clockDriftPpm }),
    ...(clockSkewPpm === undefined ? {} : { clockSkewPpm }),
    replicationFactor,
    ...(coordinators === undefined ? {} : { coordinators }),
    ...(modeText === undefined ? {} : { replicationMode: modeText }),
    ...(modeSwitches === undefined ? {} : { modeSwitches }),
    ...(retentionText === undefined ? {} : { retention: retentionText === "on" }),
    ...(authorizerText === undefined ? {} : { authorizer: authorizerText === "on" }),
    ...(groups === undefined ? {} : { groups }),
    name,
    title: header.get("title") ?? name,
    workload: header.get("workload") ?? "queue",
    seed,
    expect,
    plant: header.get("plant"),
    acks,
    bitFlipPerRead,
    faults,
    messages,
    steps: parseSchedule(text),
  };
}

/** `node=ppm node=ppm ...`, as a `# clock-skew:` header says it. */
function parseSkews(name: string, text: string | undefined): Record<string, number> | undefined {
  if (text === undefined) return undefined;
  const skews: Record<string, number> = {};
  for (const word of text.split(/[\s,]+/).filter((part) => part !== "")) {
    const match = /^([^=\s]+)=([+-]?\d+(?:\.\d+)?)$/.exec(word);
    const ppm = Number(match?.[2]);
    if (match === null || !(Math.abs(ppm) <= CLOCK_DRIFT_PPM_MAX)) throw new ScenarioError(`${name}: clock-skew must be node=ppm pairs (each within ±${CLOCK_DRIFT_PPM_MAX}), not '${word}'`);
    skews[match[1]!] = ppm;
  }
  return skews;
}

/** `N` or `NxM` (N groups of M members), then optionally how they consume (`pull`, `push`, `mixed`), as a `# groups:` header says it. */
function parseGroups(name: string, text: string | undefined): Scenario["groups"] {
  if (text === undefined) return undefined;
  const match = /^(\d+)(?:x(\d+))?(?:\s+(pull|push|mixed))?$/.exec(text);
  const count = Number(match?.[1]);
  const members = match?.[2] === undefined ? undefined : Number(match[2]);
  const mode = match?.[3] as "pull" | "push" | "mixed" | undefined;
  if (match === null || !(count >= 1 && count <= 8) || (members !== undefined && !(members >= 1 && members <= 8))) throw new ScenarioError(`${name}: groups must be N or NxM (N groups of M members, each from 1 to 8), optionally followed by pull, push or mixed, not '${text}'`);
  return { count, ...(members === undefined ? {} : { membersPerGroup: members }), ...(mode === undefined ? {} : { mode }) };
}

/** A scenario as text; `notes` become comment lines after the header. Parses back to itself. */
export function formatScenario(scenario: Omit<Scenario, "name">, notes: readonly string[] = []): string {
  const lines = [`# title: ${scenario.title}`, `# workload: ${scenario.workload}`];
  if (scenario.workload === "queue") lines.push(`# acks: ${scenario.acks}`);
  lines.push(`# seed: ${scenario.seed}`);
  if (scenario.plant !== undefined) lines.push(`# plant: ${scenario.plant}`);
  if (scenario.faults !== "none") lines.push(`# faults: ${scenario.faults}`);
  if (scenario.messages !== undefined) lines.push(`# messages: ${scenario.messages}`);
  if (scenario.replicationFactor !== undefined) lines.push(`# replication-factor: ${scenario.replicationFactor}`);
  if (scenario.replicationMode !== undefined) lines.push(`# mode: ${scenario.replicationMode}`);
  if (scenario.modeSwitches !== undefined) lines.push(`# mode-switches: ${scenario.modeSwitches}`);
  if (scenario.retention !== undefined) lines.push(`# retention: ${scenario.retention ? "on" : "off"}`);
  if (scenario.authorizer !== undefined) lines.push(`# authorizer: ${scenario.authorizer ? "on" : "off"}`);
  if (scenario.coordinators !== undefined) lines.push(`# coordinators: ${scenario.coordinators}`);
  if (scenario.groups !== undefined) lines.push(`# groups: ${scenario.groups.count}${scenario.groups.membersPerGroup === undefined ? "" : `x${scenario.groups.membersPerGroup}`}${scenario.groups.mode === undefined ? "" : ` ${scenario.groups.mode}`}`);
  if (scenario.groups?.sessionTimeoutMs !== undefined) lines.push(`# session-timeout-ms: ${scenario.groups.sessionTimeoutMs}`);
  if (scenario.safetyMs !== undefined) lines.push(`# safety-ms: ${scenario.safetyMs}`);
  if (scenario.bitFlipPerRead !== undefined) lines.push(`# bit-flip-per-read: ${scenario.bitFlipPerRead}`);
  if (scenario.clockDriftPpm !== undefined) lines.push(`# clock-drift: ${scenario.clockDriftPpm}`);
  if (scenario.snapshotChunkBytes !== undefined) lines.push(`# snapshot-chunk-bytes: ${scenario.snapshotChunkBytes}`);
  if (scenario.clockSkewPpm !== undefined) lines.push(`# clock-skew: ${Object.entries(scenario.clockSkewPpm).map(([node, ppm]) => `${node}=${ppm}`).join(" ")}`);
  lines.push(`# expect: ${scenario.expect}`, ...notes.map((note) => `# ${note}`));
  const schedule = formatSchedule(scenario.steps);
  return `${lines.join("\n")}\n${schedule === "" ? "" : `${schedule}\n`}`;
}
