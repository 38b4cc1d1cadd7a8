/**
 * One source for limits: what `zhumq topic --help` states and what its flags accept are the
 * constants the coordinator enforces, and a real coordinator (gRPC on 127.0.0.1) refuses just past
 * them with a message naming the same number.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcTransport } from "../net/index.ts";
import { startCluster, type LocalCluster } from "../host/real-node.ts";
import { DEFAULT_COORDINATOR_LIMITS, coordinatorSettingsProblems, DEFAULT_COORDINATOR_SETTINGS, NODE_ID_LENGTH_MAX } from "../actors/coordinator/limits.ts";
import { DEFAULT_BROKER_LIMITS } from "../actors/broker/limits.ts";
import { TOPIC_NAME_BYTES_MAX, topicNameProblem } from "../actors/shared/ids.ts";
import { PARTITIONS_PER_TOPIC_MAX } from "../actors/shared/routes.ts";
import { PUSH_WINDOW_BATCHES_MAX, PUSH_WINDOW_BYTES_MAX } from "../client/consumer.ts";
import { CONNECT_TIMEOUT_MS_DEFAULT as CLIENT_CONNECT_DEFAULT } from "../client/context.ts";
import { CONNECT_TIMEOUT_MS_DEFAULT as CLI_CONNECT_DEFAULT } from "./client-command.ts";
import { NODE_ID_PATTERN } from "./config.ts";
import { topicCommand } from "./topic.ts";
import { consumeCommand } from "./consume.ts";
import { runCommand } from "../../test/support/command-io.ts";

const grouped = (value: number): string => value.toLocaleString("en-US");

describe("the CLI's help states the server's numbers", () => {
  it("zhumq topic --help: the topic name length and the coordinator's partitions per topic", async () => {
    const { code, stdout } = await runCommand(topicCommand, ["--help"]);
    expect(code).toBe(0);
    expect(stdout).toContain(`A topic name is 1 to ${TOPIC_NAME_BYTES_MAX} of`);
    expect(stdout).toContain(`partitions of a new topic, 1 to ${grouped(DEFAULT_COORDINATOR_LIMITS.partitionsPerTopicMax)}`);
    expect(stdout).not.toMatch(/249|1,000,000/);
  });

  it("node ids, push windows and the connect timeout are the same constants on both sides", () => {
    expect(NODE_ID_PATTERN.test("n".repeat(NODE_ID_LENGTH_MAX))).toBe(true);
    expect(NODE_ID_PATTERN.test("n".repeat(NODE_ID_LENGTH_MAX + 1))).toBe(false);
    expect(PUSH_WINDOW_BYTES_MAX).toBe(DEFAULT_BROKER_LIMITS.pushWindowBytesMax);
    expect(PUSH_WINDOW_BATCHES_MAX).toBe(DEFAULT_BROKER_LIMITS.pushWindowBatchesMax);
    expect(CLI_CONNECT_DEFAULT).toBe(CLIENT_CONNECT_DEFAULT);
    expect(topicNameProblem("t".repeat(TOPIC_NAME_BYTES_MAX))).toBeUndefined();
    expect(topicNameProblem("t".repeat(TOPIC_NAME_BYTES_MAX + 1))).toContain(String(TOPIC_NAME_BYTES_MAX));
  });

  it("a coordinator may be set to at most the partitions the CLI and clients accept", () => {
    const limits = (partitionsPerTopicMax: number) => ({ ...DEFAULT_COORDINATOR_SETTINGS, limits: { ...DEFAULT_COORDINATOR_LIMITS, partitionsPerTopicMax, partitionsTotalMax: Math.max(partitionsPerTopicMax, DEFAULT_COORDINATOR_LIMITS.partitionsTotalMax) } });
    expect(coordinatorSettingsProblems(limits(PARTITIONS_PER_TOPIC_MAX))).toEqual([]);
    expect(coordinatorSettingsProblems(limits(PARTITIONS_PER_TOPIC_MAX + 1)).join()).toContain(`${PARTITIONS_PER_TOPIC_MAX}]`);
  });
});

describe("a real coordinator refuses just past the numbers the CLI states", () => {
  let dataDir: string;
  let cluster: LocalCluster;
  let bootstrap: string[];

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-limits-"));
    cluster = await startCluster({ dataDir, network: GrpcTransport, brokers: 1 });
    bootstrap = ["--bootstrap", `${cluster.coordinatorEndpoint.id}@${cluster.coordinatorEndpoint.address}`];
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("a topic name one character too long: INVALID_TOPIC naming the limit", async () => {
    const { code, stderr } = await runCommand(topicCommand, ["create", "t".repeat(TOPIC_NAME_BYTES_MAX + 1), "--replication-factor", "1", ...bootstrap]);
    expect(code).toBe(1);
    expect(stderr).toContain("INVALID_TOPIC");
    expect(stderr).toContain(`at most ${TOPIC_NAME_BYTES_MAX} characters`);
  });

  it("one partition past the coordinator's limit: INVALID_REQUEST naming the number the help states", async () => {
    const max = DEFAULT_COORDINATOR_LIMITS.partitionsPerTopicMax;
    const { code, stderr } = await runCommand(topicCommand, ["create", "too-many", "--partitions", String(max + 1), "--replication-factor", "1", ...bootstrap]);
    expect(code).toBe(1);
    expect(stderr).toContain(`from 1 to ${max}`);
  });

  it("past the ceiling of any coordinator: refused by the CLI itself (exit 2), as are partition numbers", async () => {
    const topic = await runCommand(topicCommand, ["create", "way-too-many", "--partitions", String(PARTITIONS_PER_TOPIC_MAX + 1), ...bootstrap]);
    expect(topic.code).toBe(2);
    expect(topic.stderr).toContain(String(PARTITIONS_PER_TOPIC_MAX));
    const consume = await runCommand(consumeCommand, ["t", "--partition", String(PARTITIONS_PER_TOPIC_MAX), ...bootstrap]);
    expect(consume.code).toBe(2);
    expect(consume.stderr).toContain(String(PARTITIONS_PER_TOPIC_MAX - 1));
  });
});
