/**
 * The client commands — topic, produce, consume, bench — run in this process against a real
 * cluster (a coordinator and two brokers on gRPC over 127.0.0.1, port 0, data in a temp folder),
 * with their stdin, stdout, stderr and Ctrl-C replaced by test doubles. What a user sees: the
 * output, the error lines and the exit status. (client-processes.test.ts runs the real binary.)
 */
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Writable } from "node:stream";
import { runCommand, Sink, type Command, type CommandRun } from "../../test/support/command-io.ts";
import { logBytes } from "../../test/support/log-bytes.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcTransport } from "../net/index.ts";
import { startCluster, type LocalCluster } from "../host/real-node.ts";
import type { HostCrash } from "../host/host.ts";
import { ZhuMQ } from "../client/zhumq.ts";
import { grouped, joinNegativeValues } from "./client-command.ts";
import { partitionStatus, topicCommand, table } from "./topic.ts";
import { defaultReplicationFactor } from "./topic-defaults.ts";
import { produceCommand } from "./produce.ts";
import { consumeCommand, jsonBytes } from "./consume.ts";
import { benchCommand } from "./bench.ts";
import { brokerAdminCommand } from "./broker-admin.ts";
import { PRODUCER_DEFAULTS } from "../host/stores/clients.ts";

let dataDir: string;
let cluster: LocalCluster;
let bootstrap: string;
const crashes: HostCrash[] = [];

/** Runs `command` with `input` on stdin; `interrupt` (if given) plays Ctrl-C; the cluster's --bootstrap is added unless `withBootstrap` is false. */
async function run(command: Command, argv: readonly string[], options: { input?: string; interrupt?: AbortSignal; stdout?: Writable; withBootstrap?: boolean; env?: Record<string, string> } = {}): Promise<CommandRun> {
  const args = options.withBootstrap === false ? argv : [...argv, "--bootstrap", bootstrap];
  return runCommand(command, args, options);
}

/** The produce and consume tests are about those commands, not replication: one copy keeps them so. */
const ONE_COPY = ["--replication-factor", "1"] as const;

function jsonLines(text: string): Record<string, unknown>[] {
  return text.trim().split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as Record<string, unknown>);
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-cli-"));
  // A short lease, so that a stopped broker shows as down within seconds — but not so short that
  // a loaded machine's pauses expire live brokers: 600 ms did at load 24, and the failovers (with
  // unclean election on, in one test) lost acks-1 messages the test then looked for.
  cluster = await startCluster({ dataDir, network: GrpcTransport, brokers: 2, onCrash: (crash) => crashes.push(crash), coordinatorSettings: { leaseMs: 2_500, leaseCheckIntervalMs: 50 }, brokerSettings: { heartbeatIntervalMs: 50 } });
  bootstrap = `${cluster.coordinatorEndpoint.id}@${cluster.coordinatorEndpoint.address}`;
});

afterAll(async () => {
  await cluster?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  expect(crashes).toEqual([]);
});

describe("grouped", () => {
  it("prints what toLocaleString(\"en-US\") prints for the rounded number, without loading ICU's formatting", () => {
    const values = [0, -0, -0.4, 0.5, 7, 999, 1_000, -1_000, 12_345.6, -987_654_321, 1_000_000, 2 ** 31, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1e20, 1e21, -1e22, Infinity, -Infinity, NaN];
    for (let digits = 1; digits <= 21; digits++) values.push(Number("9".repeat(digits)), Number(`1${"0".repeat(digits - 1)}`));
    for (const value of values) expect(grouped(value), String(value)).toBe(Math.round(value).toLocaleString("en-US"));
  });
});

describe("--help and bad flags", () => {
  it.each([
    ["topic", topicCommand],
    ["produce", produceCommand],
    ["consume", consumeCommand],
    ["bench", benchCommand],
  ] as const)("zhumq %s --help: usage with examples, exit 0", async (name, command) => {
    const result = await run(command, ["--help"], { withBootstrap: false });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`zhumq ${name}`);
    expect(result.stdout).toContain("Examples:");
    expect(result.stdout).toContain("--bootstrap ID@HOST:PORT");
    expect(result.stderr).toBe("");
  });

  it.each([
    ["topic", ["list", "--frobnicate"], topicCommand, /Unknown option '--frobnicate'/],
    ["topic", [], topicCommand, /say what to do: create, list, describe, alter or delete/],
    ["topic", ["rename", "x"], topicCommand, /unknown action 'rename'/],
    ["topic", ["describe"], topicCommand, /'describe' needs a topic NAME/],
    ["topic", ["create", "t", "--partitions", "zero"], topicCommand, /--partitions: must be an integer from 1/],
    ["topic", ["create", "t", "--mode", "gossip"], topicCommand, /--mode: must be fetch or raft/],
    ["topic", ["list", "--partitions", "3"], topicCommand, /--partitions: only for 'topic create'/],
    ["topic", ["create", "t", "--replication-factor", "3", "--min-in-sync", "4"], topicCommand, /--min-in-sync: must be an integer from 1 to 3 \(the replication factor\), got '4'/],
    ["topic", ["create", "t", "--min-in-sync", "8"], topicCommand, /--min-in-sync: must be an integer from 1 to 7 \(the largest replication factor\), got '8'/],
    ["topic", ["create", "t", "--min-in-sync", "0", "--mode", "fetch"], topicCommand, /--min-in-sync: must be an integer from 1 to 7/],
    ["topic", ["create", "t", "--replication-factor", "8"], topicCommand, /--replication-factor: must be an integer from 1 to 7, got '8'/],
    ["topic", ["create", "t", "--mode", "quorum", "--min-in-sync", "1"], topicCommand, /--mode: must be fetch or raft, got 'quorum'/],
    ["topic", ["describe", "t", "--min-in-sync", "2"], topicCommand, /--min-in-sync: only for 'topic create'/],
    ["topic", ["list", "--unclean-leader-election"], topicCommand, /--unclean-leader-election: only for 'topic create'/],
    ["topic", ["alter", "t"], topicCommand, /--mode: 'topic alter' needs --mode raft\|fetch/],
    ["topic", ["alter", "t", "--mode", "paxos"], topicCommand, /--mode: must be fetch or raft, got 'paxos'/],
    ["topic", ["alter", "t", "--mode", "raft", "--partitions", "2"], topicCommand, /--partitions: only for 'topic create'/],
    ["topic", ["describe", "t", "--mode", "raft"], topicCommand, /--mode: only for 'topic create' and 'topic alter'/],
    ["produce", [], produceCommand, /needs a TOPIC/],
    ["produce", ["t", "--acks", "2"], produceCommand, /--acks: must be -1 \(or all\), 1 or 0, got '2'/],
    ["produce", ["t", "--key", "k", "--key-separator", ":"], produceCommand, /give --key or --key-separator, not both/],
    ["produce", ["t", "--header", "novalue"], produceCommand, /--header: must be KEY=VALUE/],
    ["produce", ["t", "--partition", "-1"], produceCommand, /--partition: must be an integer from 0/],
    ["produce", ["t", "u"], produceCommand, /unexpected argument 'u'/],
    ["produce", ["t", "--compression", "brotli"], produceCommand, /--compression: must be one of none, gzip, snappy, lz4, zstd, got 'brotli'/],
    ["consume", ["t", "--from", "yesterday"], consumeCommand, /--from: must be earliest, latest or an offset/],
    ["consume", ["t", "--from", "-3"], consumeCommand, /--from: must be earliest, latest or an offset \(an integer >= 0\), got '-3'/],
    ["consume", ["t", "--max-messages", "0"], consumeCommand, /--max-messages: must be an integer from 1/],
    ["consume", ["t", "--base64"], consumeCommand, /--base64: goes with --json/],
    ["bench", ["--size", "-5"], benchCommand, /--size: must be an integer from 0/],
    ["bench", ["extra"], benchCommand, /Unexpected argument 'extra'/],
  ] as const)("zhumq %s %j: says what is wrong, points at --help, exit 2", async (name, argv, command, message) => {
    const result = await run(command, argv);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(new RegExp(`^zhumq ${name}: `));
    expect(result.stderr).toContain(`Run 'zhumq ${name} --help' for usage.`);
    expect(result.stdout).toBe("");
  });

  it("a bad --bootstrap is a usage error too (exit 2), and ZHUMQ_BOOTSTRAP is checked the same way", async () => {
    const flag = await run(topicCommand, ["list", "--bootstrap", "no-port-here"], { withBootstrap: false });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^zhumq topic: --bootstrap: must be ID@HOST:PORT/);
    const env = await run(topicCommand, ["list"], { withBootstrap: false, env: { ZHUMQ_BOOTSTRAP: "coordinator@" } });
    expect(env.code).toBe(2);
    expect(env.stderr).toMatch(/^zhumq topic: ZHUMQ_BOOTSTRAP: must be ID@HOST:PORT/);
  });

  it("ZHUMQ_BOOTSTRAP replaces the default coordinator; --bootstrap wins over it", async () => {
    await run(topicCommand, ["create", "via-env"]);
    const fromEnv = await run(topicCommand, ["list"], { withBootstrap: false, env: { ZHUMQ_BOOTSTRAP: bootstrap } });
    expect(fromEnv.stdout.split("\n")).toContain("via-env");
    const flagWins = await run(topicCommand, ["list"], { env: { ZHUMQ_BOOTSTRAP: "coordinator@127.0.0.1:9" } });
    expect(flagWins.code).toBe(0);
  });

  it("joins a negative number to the flag before it, so `--acks -1` means what it says", () => {
    expect(joinNegativeValues(["t", "--acks", "-1", "--verbose", "-1", "--key", "-x"], { acks: { type: "string" }, key: { type: "string" }, verbose: { type: "boolean" } })).toEqual(["t", "--acks=-1", "--verbose", "-1", "--key", "-x"]);
  });
});

describe("zhumq topic", () => {
  it("create, list, describe (leaders, epochs, replicas, broker liveness), delete", async () => {
    const created = await run(topicCommand, ["create", "orders", "--partitions", "3", "--replication-factor", "1"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/^created topic 'orders'\ntopic orders: 3 partitions, replication factor 1, mode fetch, min in-sync 1\n/);
    expect(created.stdout).toMatch(/PARTITION\s+LEADER\s+EPOCH\s+REPLICAS\s+ISR\s+STATUS\n/);

    const listed = await run(topicCommand, ["list"]);
    expect(listed.stdout.split("\n")).toContain("orders");
    expect(JSON.parse((await run(topicCommand, ["list", "--json"])).stdout)).toContain("orders");

    const described = await run(topicCommand, ["describe", "orders", "--json"]);
    const topic = JSON.parse(described.stdout) as { partitions: { partition: number; leader: string; leaderEpoch: number; replicas: string[] }[]; brokers: { id: string; alive: boolean; address: string }[] };
    expect(topic.partitions.map((partition) => partition.partition)).toEqual([0, 1, 2]);
    for (const partition of topic.partitions) {
      expect(partition.replicas).toEqual([partition.leader]);
      expect(partition.leaderEpoch).toBeGreaterThanOrEqual(1);
    }
    for (const broker of topic.brokers) expect(broker).toEqual({ id: broker.id, alive: true, address: cluster.brokers.find((node) => node.id === broker.id)!.address });

    const text = await run(topicCommand, ["describe", "orders"]);
    for (const partition of topic.partitions) expect(text.stdout).toMatch(new RegExp(`\\n  ${partition.partition}\\s+${partition.leader}\\s+${partition.leaderEpoch}\\s+${partition.leader}\\s+${partition.leader}\\s+ok\\n`));
    expect(text.stdout).toMatch(/BROKER\s+STATE\s+ADDRESS/);

    expect(await run(topicCommand, ["delete", "orders"])).toEqual({ code: 0, stdout: "deleted topic 'orders'\n", stderr: "" });
    expect((await run(topicCommand, ["list"])).stdout.split("\n")).not.toContain("orders");
  });

  it("a broker that is down shows as down, and its partitions with no leader", async () => {
    await run(topicCommand, ["create", "fragile", "--partitions", "4", "--replication-factor", "1"]);
    const { partitions } = JSON.parse((await run(topicCommand, ["describe", "fragile", "--json"])).stdout) as { partitions: { leader: string }[] };
    const victim = partitions[0]!.leader;
    const index = cluster.brokers.findIndex((broker) => broker.id === victim);
    await cluster.brokers[index]!.stop();
    try {
      let text = "";
      const leaderless = new RegExp(`  0\\s+none\\s+\\d+\\s+${victim} \\(down\\)\\s+${victim}\\s+no leader\\n`);
      // Until its lease runs out, with a deadline that holds on a busy machine. Topic and broker
      // states come from two requests, so wait for the whole picture, not the first sign of it.
      const deadline = Date.now() + 30_000;
      while (!leaderless.test(text) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        text = (await run(topicCommand, ["describe", "fragile"])).stdout;
      }
      expect(text).toMatch(leaderless);
      expect(text).toMatch(/\n  \d without a leader, of 4\n/);
      expect(text).toMatch(new RegExp(`${victim}\\s+down\\s+`));
    } finally {
      await cluster.restartBroker(index);
    }
  });

  it("without --replication-factor a topic gets min(3, live brokers) copies: 2 on this two-broker cluster", async () => {
    const created = await run(topicCommand, ["create", "defaulted", "--partitions", "2"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/\ntopic defaulted: 2 partitions, replication factor 2, mode fetch, min in-sync 2\n/);
    const raft = await run(topicCommand, ["create", "defaulted-raft", "--mode", "raft"]);
    expect(raft.stdout).toMatch(/replication factor 2, mode raft/);
    // Above the default factor: only known once the cluster is asked, and still refused before the create.
    const tooMany = await run(topicCommand, ["create", "defaulted-3", "--min-in-sync", "3"]);
    expect(tooMany.code).toBe(2);
    expect(tooMany.stderr).toMatch(/^zhumq topic: --min-in-sync: must be an integer from 1 to 2 \(the replication factor, min\(3, live brokers\) by default; give --replication-factor to choose it\), got '3'/);
    expect((await run(topicCommand, ["list"])).stdout.split("\n")).not.toContain("defaulted-3");
  });

  it("topic alter --mode: the intent is taken at once (exit 0), the partitions then switch to raft mode; a bad mode is a usage error", async () => {
    expect((await run(topicCommand, ["create", "goes-raft", "--partitions", "2"])).code).toBe(0);
    const altered = await run(topicCommand, ["alter", "goes-raft", "--mode", "raft"]);
    expect(altered.code, altered.stderr).toBe(0);
    const deadline = Date.now() + 60_000;
    let described = "";
    while (Date.now() < deadline) {
      described = (await run(topicCommand, ["describe", "goes-raft"])).stdout;
      if (/mode raft/.test(described) && !/switching to/.test(described)) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(described).toMatch(/mode raft/);
    expect(described).not.toMatch(/switching to/);
    expect((await run(topicCommand, ["alter", "goes-raft", "--mode", "both"])).code).toBe(2);
  });

  it("describe a replicated topic: ISR, each replica's end offset and lag; a stopped follower leaves the ISR: under-replicated", async () => {
    const created = await run(topicCommand, ["create", "copies", "--replication-factor", "2", "--min-in-sync", "1", "--unclean-leader-election"]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(/\ntopic copies: 1 partition, replication factor 2, mode fetch, min in-sync 1, unclean leader election on\n/);
    expect((await run(produceCommand, ["copies", "--acks", "1"], { input: "a\nb\nc\n" })).code).toBe(0);
    type Json = { minInSync: number; uncleanLeaderElection: boolean; partitions: { leader: string; replicas: string[]; isr: string[]; replicaStates: { broker: string; state: string; endOffset?: number; lag?: number }[] }[] };
    const describeJson = async (): Promise<Json> => JSON.parse((await run(topicCommand, ["describe", "copies", "--json"])).stdout) as Json;
    // End offsets arrive with heartbeats: wait for the leader's report of the three messages.
    let topic = await describeJson();
    const leaderEnd = (json: Json): number | undefined => json.partitions[0]!.replicaStates.find((replica) => replica.broker === json.partitions[0]!.leader)?.endOffset;
    for (const deadline = Date.now() + 20_000; leaderEnd(topic) !== 3 && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      topic = await describeJson();
    }
    const [partition] = topic.partitions;
    expect(topic).toMatchObject({ minInSync: 1, uncleanLeaderElection: true });
    expect(partition!.isr).toContain(partition!.leader);
    expect(partition!.replicaStates.map((replica) => replica.broker)).toEqual(partition!.replicas);
    const text = (await run(topicCommand, ["describe", "copies"])).stdout;
    expect(text).toMatch(/\n  PARTITION\s+REPLICA\s+STATE\s+END OFFSET\s+LAG\n/);
    expect(text).toMatch(new RegExp(`\\n  0\\s+${partition!.leader} \\(leader\\)\\s+in-sync\\s+3\\s+0\\n`));

    const follower = partition!.replicas.find((broker) => broker !== partition!.leader)!;
    const index = cluster.brokers.findIndex((broker) => broker.id === follower);
    await cluster.brokers[index]!.stop();
    try {
      let described = "";
      const underReplicated = new RegExp(`\\n  0\\s+${partition!.leader}\\s+\\d+\\s+.+ \\(down\\)\\s+${partition!.leader}\\s+under-replicated\\n`);
      const offline = new RegExp(`\\n  0\\s+${follower}\\s+offline\\s+`);
      // A stopped broker leaves the ISR as it goes (its clean shutdown); it shows as down once its
      // lease runs out. Topic and broker states come from two requests: wait for the whole picture.
      for (const deadline = Date.now() + 30_000; !(underReplicated.test(described) && offline.test(described)) && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        described = (await run(topicCommand, ["describe", "copies"])).stdout;
      }
      expect(described).toMatch(underReplicated);
      expect(described).toMatch(/\n  1 under-replicated \(ISR smaller than replicas\), of 1\n/);
      expect(described).toMatch(offline);
    } finally {
      await cluster.restartBroker(index);
    }
  });

  it("the default factor and a partition's status, decided alone", () => {
    expect([0, 1, 2, 3, 5].map((live) => defaultReplicationFactor(live, "fetch"))).toEqual([1, 1, 2, 3, 3]);
    expect(defaultReplicationFactor(5, "raft")).toBe(3);
    const partition = { partition: 0, leader: "b1", leaderEpoch: 1, replicas: ["b1", "b2"], replicaStates: [], damaged: [], logStartOffset: 0 };
    expect(partitionStatus({ ...partition, isr: ["b1", "b2"] })).toBe("ok");
    expect(partitionStatus({ ...partition, isr: ["b1"] })).toBe("under-replicated");
    expect(partitionStatus({ ...partition, leader: null, isr: ["b2"] })).toBe("no leader, under-replicated");
    // An older coordinator sends no ISR: nothing is claimed about it.
    expect(partitionStatus(partition)).toBe("ok");
    // A move: b3 still catching up is not a lost copy; the status says what is added and removed.
    const moving = { ...partition, replicas: ["b1", "b2", "b3"], move: { targetReplicas: ["b1", "b3"], adding: ["b3"], removing: ["b2"] } };
    expect(partitionStatus({ ...moving, isr: ["b1", "b2"] })).toBe("moving +b3 -b2");
    expect(partitionStatus({ ...moving, isr: ["b1"] })).toBe("moving +b3 -b2, under-replicated");
    expect(partitionStatus({ ...moving, isr: ["b1", "b2", "b3"], move: { ...moving.move, adding: [] } })).toBe("moving -b2");
  });

  it("zhumq broker decommission: an unknown broker is refused naming the registered ones (exit 1), a missing ID is a usage error (exit 2)", async () => {
    const unknown = await run(brokerAdminCommand, ["no-such-broker"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^zhumq broker decommission: INVALID_REQUEST: broker 'no-such-broker' is not registered \(registered: .+\)\n$/);
    const missing = await run(brokerAdminCommand, []);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/say which broker/);
  });

  it("typed errors from the cluster: 'zhumq topic: CODE: message', exit 1", async () => {
    await run(topicCommand, ["create", "twice"]);
    const again = await run(topicCommand, ["create", "twice"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe("zhumq topic: TOPIC_ALREADY_EXISTS: topic 'twice' already exists\n");
    const unknown = await run(topicCommand, ["describe", "never-made"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^zhumq topic: UNKNOWN_TOPIC_OR_PARTITION: .*never-made/);
    const invalid = await run(topicCommand, ["create", "no/slashes"]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^zhumq topic: INVALID_TOPIC: /);
    expect((await run(topicCommand, ["delete", "never-made"])).stderr).toMatch(/^zhumq topic: UNKNOWN_TOPIC_OR_PARTITION: /);
  });

  it("no coordinator at --bootstrap: COORDINATOR_NOT_AVAILABLE saying what happened there, exit 1", async () => {
    const result = await run(topicCommand, ["list", "--bootstrap", "coordinator@127.0.0.1:9", "--connect-timeout-ms", "300"], { withBootstrap: false });
    expect(result.code).toBe(1);
    // Refused for the whole (short) timeout: the diagnosis or the timeout, whichever comes first, names it.
    expect(result.stderr).toMatch(/^zhumq topic: COORDINATOR_NOT_AVAILABLE: .*connection refused 127\.0\.0\.1:9 /);
  });

  it("lines up table columns", () => {
    expect(table(["A", "LONGER"], [["wide-cell", "x"], ["y", "z"]])).toEqual(["A          LONGER", "wide-cell  x", "y          z"]);
  });
});

describe("zhumq produce and zhumq consume", () => {
  it("three lines in, the same three messages out, in order, as JSON", async () => {
    await run(topicCommand, ["create", "lines", "--partitions", "3", ...ONE_COPY]);
    const produced = await run(produceCommand, ["lines", "--partition", "1", "--acks", "-1", "--verbose"], { input: "first\nsecond\nthird\n" });
    expect(produced.code, produced.stderr).toBe(0);
    expect(produced.stdout).toBe(["line 1: partition 1 offset 0", "line 2: partition 1 offset 1", "line 3: partition 1 offset 2", "3 of 3 messages written to 'lines' (acks -1)", "  partition 1: offsets 0-2 (3 messages)", ""].join("\n"));
    const consumed = await run(consumeCommand, ["lines", "--from", "earliest", "--max-messages", "3", "--json"]);
    expect(consumed.code, consumed.stderr).toBe(0);
    const messages = jsonLines(consumed.stdout);
    expect(messages.map((message) => [message["partition"], message["offset"], message["key"], message["value"], message["headers"]])).toEqual([
      [1, 0, null, "first", {}],
      [1, 1, null, "second", {}],
      [1, 2, null, "third", {}],
    ]);
    expect(typeof messages[0]!["timestamp"]).toBe("number");
    expect(consumed.stderr).toBe("zhumq consume: 3 messages from 'lines'; stopped after --max-messages 3\n");
  });

  it("--compression: batches are stored compressed and read back whole", async () => {
    const order = JSON.stringify({ customer: "c-0001", items: [{ sku: "sku-42", quantity: 1, price: "19.99" }], status: "paid", note: "leave at the door" });
    const input = Array.from({ length: 200 }, (_, index) => order.replace("c-0001", `c-${String(index).padStart(4, "0")}`)).join("\n") + "\n";
    await run(topicCommand, ["create", "packed", ...ONE_COPY]);
    await run(topicCommand, ["create", "unpacked", ...ONE_COPY]);
    const packed = await run(produceCommand, ["packed", "--compression", "zstd"], { input });
    expect(packed.code, packed.stderr).toBe(0);
    expect((await run(produceCommand, ["unpacked", "--compression", "none"], { input })).code).toBe(0);
    expect(logBytes(dataDir, "packed")).toBeLessThan(logBytes(dataDir, "unpacked") / 2);
    const consumed = await run(consumeCommand, ["packed", "--from", "earliest", "--max-messages", "200", "--json"]);
    expect(consumed.code, consumed.stderr).toBe(0);
    expect(jsonLines(consumed.stdout).map((message) => message["value"])).toEqual(input.trim().split("\n"));
  });

  it("keys (--key-separator), headers, acks 1; text output is partition:offset key=value", async () => {
    await run(topicCommand, ["create", "keyed", "--partitions", "2", ...ONE_COPY]);
    const produced = await run(produceCommand, ["keyed", "--key-separator", "::", "--header", "source=test", "--header", "source=again", "--acks", "1"], { input: "user-1::signed up\nuser-2::paid=yes\nuser-1::left\n" });
    expect(produced.code, produced.stderr).toBe(0);
    expect(produced.stdout).toMatch(/^3 of 3 messages written to 'keyed' \(acks 1\)\n/);
    const text = await run(consumeCommand, ["keyed", "--from", "earliest", "--max-messages", "3"]);
    const lines = text.stdout.trim().split("\n");
    expect(lines.map((line) => line.replace(/^\d+:\d+ /, "")).sort()).toEqual(["user-1=left", "user-1=signed up", "user-2=paid=yes"]);
    // Same key, same partition, in order.
    const user1 = lines.filter((line) => line.includes("user-1="));
    expect(new Set(user1.map((line) => line.split(":")[0])).size).toBe(1);
    expect(user1.map((line) => line.split(" ").slice(1).join(" "))).toEqual(["user-1=signed up", "user-1=left"]);
    const json = jsonLines((await run(consumeCommand, ["keyed", "--from", "earliest", "--max-messages", "1", "--json"])).stdout)[0]!;
    expect(json["headers"]).toEqual({ source: ["test", "again"] });
  });

  it("a line that cannot be a message is named, the rest are written, exit 1", async () => {
    await run(topicCommand, ["create", "partial", ...ONE_COPY]);
    const result = await run(produceCommand, ["partial", "--key-separator", "="], { input: "a=1\nno separator\nb=2\n" });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^2 of 3 messages written to 'partial'/);
    expect(result.stderr).toBe("zhumq produce: 1 of 3 messages not written:\n  line 2: INVALID_REQUEST: no key separator '=' in the line\n");
  });

  it("a message too large for the broker fails with its code and line number; the others are written", async () => {
    await run(topicCommand, ["create", "sizes", ...ONE_COPY]);
    const result = await run(produceCommand, ["sizes"], { input: `small\n${"x".repeat(1_100_000)}\nsmall again\n` });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^2 of 3 messages written/);
    expect(result.stderr).toMatch(/line 2: .*(MESSAGE_TOO_LARGE|too large|exceeds)/i);
  });

  it("an unknown topic or partition is refused at once: 'CODE: message', exit 1", async () => {
    // Not the producer's delivery timeout (30 s by default): the refusal is at once. Compared with
    // that timeout rather than a fixed figure, and with room for a machine 10x slower than usual.
    const started = performance.now();
    const topic = await run(produceCommand, ["no-such-topic"], { input: "x\n" });
    expect(topic.code).toBe(1);
    expect(topic.stderr).toMatch(/^zhumq produce: UNKNOWN_TOPIC_OR_PARTITION: topic 'no-such-topic' does not exist/);
    expect(performance.now() - started).toBeLessThan(PRODUCER_DEFAULTS.deliveryTimeoutMs / 2);
    await run(topicCommand, ["create", "small", ...ONE_COPY]);
    const partition = await run(produceCommand, ["small", "--partition", "5"], { input: "x\n" });
    expect(partition.stderr).toMatch(/^zhumq produce: UNKNOWN_TOPIC_OR_PARTITION: topic 'small' has 1 partition \(0 to 0\), not 5/);
    const consume = await run(consumeCommand, ["no-such-topic", "--from", "earliest"]);
    expect(consume.code).toBe(1);
    expect(consume.stderr).toMatch(/^zhumq consume: UNKNOWN_TOPIC_OR_PARTITION: /);
  });

  it("--file, an empty input, acks 0, and a file that is not there", async () => {
    await run(topicCommand, ["create", "files", ...ONE_COPY]);
    const file = path.join(dataDir, "input.txt");
    writeFileSync(file, "one\ntwo\n");
    const fromFile = await run(produceCommand, ["files", "--file", file]);
    expect(fromFile.stdout).toMatch(/^2 of 2 messages written to 'files'/);
    expect((await run(produceCommand, ["files"], { input: "" })).stdout).toBe("no messages: the input was empty\n");
    const acks0 = await run(produceCommand, ["files", "--acks", "0"], { input: "three\n" });
    expect(acks0.stdout).toMatch(/^1 of 1 message sent to 'files' \(acks 0\): not acknowledged, so no offsets\n  partition 0: 1 message\n/);
    const missing = await run(produceCommand, ["files", "--file", path.join(dataDir, "absent.txt")]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--file: cannot read .*absent\.txt/);
    const all = await run(consumeCommand, ["files", "--from", "earliest", "--timeout-ms", "1000"]);
    expect(all.stdout).toBe("0:0 one\n0:1 two\n0:2 three\n");
  });

  it("--from an offset and --partition; --timeout-ms ends an idle consumer with exit 0", async () => {
    await run(topicCommand, ["create", "offsets", "--partitions", "2", ...ONE_COPY]);
    await run(produceCommand, ["offsets", "--partition", "1"], { input: "a\nb\nc\nd\n" });
    await run(produceCommand, ["offsets", "--partition", "0"], { input: "zero\n" });
    const result = await run(consumeCommand, ["offsets", "--partition", "1", "--from", "2", "--timeout-ms", "400"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("1:2 c\n1:3 d\n");
    expect(result.stderr).toBe("zhumq consume: 2 messages from 'offsets'; no message for 400 ms\n");
    const latest = await run(consumeCommand, ["offsets", "--timeout-ms", "300"]);
    expect(latest).toEqual({ code: 0, stdout: "", stderr: "zhumq consume: 0 messages from 'offsets'; no message for 300 ms\n" });
  });

  it("Ctrl-C stops a consumer that would run forever, exit 0; a closed output stops it too", async () => {
    await run(topicCommand, ["create", "forever", ...ONE_COPY]);
    await run(produceCommand, ["forever"], { input: "1\n2\n3\n" });
    const interrupt = new AbortController();
    const printed = new Sink();
    const running = run(consumeCommand, ["forever", "--from", "earliest"], { interrupt: interrupt.signal, stdout: printed });
    // Ctrl-C once all three are printed (waited for, with a deadline: not a fixed pause).
    for (const deadline = Date.now() + 30_000; !printed.text.includes("0:2 3\n") && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 10));
    interrupt.abort(new DOMException("interrupted by SIGINT", "AbortError"));
    const result = await running;
    expect(result).toEqual({ code: 0, stdout: "0:0 1\n0:1 2\n0:2 3\n", stderr: "zhumq consume: 3 messages from 'forever'; interrupted\n" });

    const closing = new Sink();
    const write = closing._write.bind(closing);
    closing._write = (chunk, encoding, done) => {
      write(chunk, encoding, done);
      closing.destroy(); // the reader went away after the first line (`| head -1`)
    };
    const closed = await run(consumeCommand, ["forever", "--from", "earliest"], { stdout: closing });
    expect(closed.code).toBe(0);
    expect(closed.stderr).toBe("zhumq consume: 1 message from 'forever'; its output was closed\n");
  });

  it("JSON shows bytes that are not UTF-8 (and everything, with --base64) as { base64 }", () => {
    expect(jsonBytes(Buffer.from("héllo"), false)).toBe("héllo");
    expect(jsonBytes(Buffer.from([0xff, 0xfe, 0x00]), false)).toEqual({ base64: "//4A" });
    expect(jsonBytes(Buffer.from("text"), true)).toEqual({ base64: "dGV4dA==" });
    expect(jsonBytes(null, false)).toBeNull();
  });

  it("a message with bytes that are not UTF-8, produced by the library, reads back exactly through --json", async () => {
    await run(topicCommand, ["create", "binary", ...ONE_COPY]);
    const zhumq = new ZhuMQ({ bootstrap });
    const producer = zhumq.producer();
    await producer.connect();
    await producer.send({ topic: "binary", messages: [{ key: Buffer.from([0x80]), value: Buffer.from([0, 1, 2, 255]), headers: { h: Buffer.from([0xc3]) } }] });
    await producer.disconnect();
    const [message] = jsonLines((await run(consumeCommand, ["binary", "--from", "earliest", "--max-messages", "1", "--json"])).stdout);
    expect(message).toMatchObject({ key: { base64: "gA==" }, value: { base64: "AAEC/w==" }, headers: { h: { base64: "ww==" } } });
  });
});

describe("zhumq bench", () => {
  it("produces, reads back, prints msgs/s, MB/s and latency, and deletes the topic it made", async () => {
    const result = await run(benchCommand, ["--messages", "300", "--size", "64", "--partitions", "2"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^zhumq bench: 300 messages of 64 bytes to 'zhumq-bench-[0-9a-f]{8}' \(2 partitions\), acks -1\n/);
    expect(result.stdout).toMatch(/ produce +300 msgs in [\d.]+ s +[\d,]+ msgs\/s +[\d.]+ MB\/s +latency \(send to ack\) p50 [\d.]+ ms +p99 [\d.]+ ms +max [\d.]+ ms\n/);
    expect(result.stdout).toMatch(/ consume +300 msgs in [\d.]+ s +[\d,]+ msgs\/s +[\d.]+ MB\/s\n$/);
    expect((await run(topicCommand, ["list"])).stdout).not.toMatch(/zhumq-bench-/);
  });

  it("on a topic of the user's: creates it if missing, keeps it", async () => {
    const result = await run(benchCommand, ["--messages", "50", "--topic", "bench-mine", "--acks", "1"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/ consume +50 msgs/);
    expect((await run(topicCommand, ["list"])).stdout.split("\n")).toContain("bench-mine");
  });
});
