/**
 * `zhumq group` and the group admin against a real cluster in this process (a coordinator and
 * one broker on gRPC over 127.0.0.1, data in a temp folder). A live member is played by this test:
 * it sends `group.heartbeat` and `offsets.commit` to the coordinator itself, so the commands meet
 * a group with members without needing a consumer. What a user sees: output, error lines, exit
 * status.
 */
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable, Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GrpcTransport } from "../net/index.ts";
import { startCluster, type LocalCluster } from "../host/real-node.ts";
import type { HostCrash } from "../host/host.ts";
import { ZhuMQ } from "../client/zhumq.ts";
import type { Admin } from "../client/admin.ts";
import { ClientContext } from "../client/context.ts";
import { CoordinatorRequests, type RetryPolicy } from "../client/requests.ts";
import { ZhumqError } from "../actors/shared/errors.ts";
import { JOIN_EPOCH, LEAVE_EPOCH, type GroupHeartbeatReply, type TopicPartitions } from "../actors/shared/group-messages.ts";
import type { CommandIo } from "./client-command.ts";
import { groupCommand } from "./group.ts";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

let dataDir: string;
let cluster: LocalCluster;
let bootstrap: string;
let zhumq: ZhuMQ;
let admin: Admin;
let memberContext: ClientContext;
let member: CoordinatorRequests;
const crashes: HostCrash[] = [];
const POLICY: RetryPolicy = { requestTimeoutMs: 2_000, retries: 3, retryBackoffMs: { baseMs: 50, maxMs: 500 } };
/** Long enough that the played member stays alive for the whole test unless it leaves. */
const SESSION_TIMEOUT_MS = 120_000;

async function run(argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const io: CommandIo = { stdin: Readable.from([]), stdout, stderr, stderrIsTTY: false, stdinIsTTY: false, interrupt: new AbortController().signal, env: {} };
  const code = await groupCommand([...argv, "--bootstrap", bootstrap], io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-group-"));
  cluster = await startCluster({ dataDir, network: GrpcTransport, brokers: 1, onCrash: (crash) => crashes.push(crash), brokerSettings: { heartbeatIntervalMs: 50 } });
  bootstrap = `${cluster.coordinatorEndpoint.id}@${cluster.coordinatorEndpoint.address}`;
  zhumq = new ZhuMQ({ bootstrap, clientId: "group-test" });
  admin = zhumq.admin({ requestTimeoutMs: 2_000, retries: 3 });
  await admin.connect();
  memberContext = new ClientContext({ bootstrap, clientId: "played-member" });
  member = new CoordinatorRequests(await memberContext.acquire(), memberContext.coordinators, memberContext.random.derive("member"));
});

afterAll(async () => {
  member?.close();
  await memberContext?.release();
  await admin?.disconnect();
  await cluster?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  expect(crashes).toEqual([]);
});

async function heartbeat(groupId: string, memberId: string, memberEpoch: number, owned: readonly TopicPartitions[], topics?: readonly string[]): Promise<GroupHeartbeatReply> {
  const joining = memberEpoch === JOIN_EPOCH ? { topics: topics ?? [], sessionTimeoutMs: SESSION_TIMEOUT_MS } : {};
  const reply = await member.ask("group.heartbeat.reply", (requestId) => ({ type: "group.heartbeat", requestId, groupId, memberId, memberEpoch, owned, ...joining }), POLICY);
  if (reply.error !== undefined) throw ZhumqError.from(reply.error);
  return reply;
}

/** Join and heartbeat until the member owns what it is assigned (a lone member: every partition). */
async function joinAndSettle(groupId: string, memberId: string, topic: string): Promise<{ memberEpoch: number; owned: readonly TopicPartitions[] }> {
  let reply = await heartbeat(groupId, memberId, JOIN_EPOCH, [], [topic]);
  for (let attempt = 0; attempt < 50; attempt++) {
    const owned = reply.assignment;
    if (owned.some((entry) => entry.partitions.length > 0)) {
      reply = await heartbeat(groupId, memberId, reply.memberEpoch, owned);
      if (JSON.stringify(reply.assignment) === JSON.stringify(owned)) return { memberEpoch: reply.memberEpoch, owned };
    } else {
      await new Promise((resolve) => setTimeout(resolve, 50));
      reply = await heartbeat(groupId, memberId, reply.memberEpoch, owned);
    }
  }
  throw new Error(`member '${memberId}' of '${groupId}' was never given a stable assignment; the last reply: ${JSON.stringify(reply)}`);
}

async function commit(groupId: string, memberId: string, memberEpoch: number, offsets: { partition: number; offset: number }[], topic: string): Promise<void> {
  const reply = await member.ask("offsets.commit.reply", (requestId) => ({ type: "offsets.commit", requestId, groupId, memberId, memberEpoch, offsets: offsets.map((offset) => ({ topic, ...offset })) }), POLICY);
  if (reply.error !== undefined) throw ZhumqError.from(reply.error);
  expect(reply.results.filter((result) => result.error !== undefined)).toEqual([]);
}

async function produce(topic: string, partition: number, count: number): Promise<void> {
  const producer = zhumq.producer({ lingerMs: 1 });
  await producer.connect();
  try {
    await producer.send({ topic, messages: Array.from({ length: count }, (_, index) => ({ value: `m${index}`, partition })) });
  } finally {
    await producer.disconnect();
  }
}

describe("zhumq group against a cluster", () => {
  it("describe of an unknown group: 'zhumq group: GROUP_ID_NOT_FOUND: ...', exit 1; the library throws the same code", async () => {
    const result = await run(["describe", "nobody-here"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^zhumq group: GROUP_ID_NOT_FOUND: .*nobody-here/);
    expect(result.stdout).toBe("");
    await expect(admin.describeGroup("nobody-here")).rejects.toMatchObject({ code: "GROUP_ID_NOT_FOUND", retriable: false });
  });

  it("a group with a live member: describe shows it, its partitions, committed, end and lag; reset and delete are refused naming it and change nothing", async () => {
    const topic = "g-live";
    await admin.createTopic({ topic, partitions: 2, replicationFactor: 1 });
    await produce(topic, 0, 5);
    await produce(topic, 1, 3);
    const { memberEpoch, owned } = await joinAndSettle("live", "member-alpha", topic);
    expect(owned).toEqual([{ topic, partitions: [0, 1] }]);
    await commit("live", "member-alpha", memberEpoch, [{ partition: 0, offset: 2 }], topic);

    const described = await run(["describe", "live"]);
    expect(described.stderr).toBe("");
    expect(described.code).toBe(0);
    expect(described.stdout).toMatch(/^group live: stable, epoch \d+, assignor uniform, 1 member$/m);
    expect(described.stdout).toMatch(/member-alpha +- +\d+ +g-live +g-live:0,1 +-/);
    expect(described.stdout).toMatch(/g-live +0 +member-alpha +2 +5 +3\n/);
    expect(described.stdout).toMatch(/g-live +1 +member-alpha +- +3 +-\n/);
    expect(described.stdout).toContain("total lag 3");
    const json = JSON.parse((await run(["describe", "live", "--json"])).stdout) as { partitions: unknown[] };
    expect(json.partitions).toEqual([
      { topic, partition: 0, committedOffset: 2, endOffset: 5, lag: 3, owner: "member-alpha" },
      { topic, partition: 1, committedOffset: null, endOffset: 3, lag: null, owner: "member-alpha" },
    ]);

    const reset = await run(["reset-offsets", "live", "--topic", topic, "--to", "earliest"]);
    expect(reset.code).toBe(1);
    expect(reset.stderr).toMatch(/^zhumq group: NON_EMPTY_GROUP: .*member-alpha/);
    const deleted = await run(["delete", "live"]);
    expect(deleted.code).toBe(1);
    expect(deleted.stderr).toMatch(/^zhumq group: NON_EMPTY_GROUP: .*member-alpha/);
    await expect(admin.resetOffsets({ groupId: "live", topic, to: "latest" })).rejects.toMatchObject({ code: "NON_EMPTY_GROUP" });
    expect(await admin.fetchOffsets({ groupId: "live" })).toEqual([{ topic, partition: 0, offset: 2 }]);

    await heartbeat("live", "member-alpha", LEAVE_EPOCH, []);
  });

  it("an empty group: reset to earliest, latest and an offset, each seen by fetchOffsets; list; delete, after which it is unknown", async () => {
    const topic = "g-reset";
    await admin.createTopic({ topic, partitions: 2, replicationFactor: 1 });
    await produce(topic, 0, 4);
    await produce(topic, 1, 6);
    const { memberEpoch } = await joinAndSettle("replay", "member-beta", topic);
    await commit("replay", "member-beta", memberEpoch, [{ partition: 0, offset: 3 }, { partition: 1, offset: 6 }], topic);
    await heartbeat("replay", "member-beta", LEAVE_EPOCH, []);

    const listed = JSON.parse((await run(["list", "--json"])).stdout) as { groupId: string; state: string; members: number }[];
    expect(listed.find((group) => group.groupId === "replay")).toEqual({ groupId: "replay", state: "empty", members: 0 });
    expect((await run(["list"])).stdout).toMatch(/^replay +empty +0$/m);

    const earliest = await run(["reset-offsets", "replay", "--topic", topic, "--to", "earliest"]);
    expect(earliest.stderr).toBe("");
    expect(earliest.code).toBe(0);
    expect(earliest.stdout).toContain("group 'replay': 2 offsets of 'g-reset' reset");
    expect(await admin.fetchOffsets({ groupId: "replay" })).toEqual([
      { topic, partition: 0, offset: 0 },
      { topic, partition: 1, offset: 0 },
    ]);

    expect((await run(["reset-offsets", "replay", "--topic", topic, "--to", "latest", "--partitions", "1"])).code).toBe(0);
    expect((await run(["reset-offsets", "replay", "--topic", topic, "--to", "2", "--partitions", "0"])).code).toBe(0);
    expect(await admin.fetchOffsets({ groupId: "replay", topics: [topic] })).toEqual([
      { topic, partition: 0, offset: 2 },
      { topic, partition: 1, offset: 6 },
    ]);

    const beyond = await run(["reset-offsets", "replay", "--topic", topic, "--to", "99", "--partitions", "0"]);
    expect(beyond.code).toBe(1);
    expect(beyond.stderr).toMatch(/OFFSET_OUT_OF_RANGE: offset 99 is outside g-reset\/0's log \[0, 4\]/);
    const noPartition = await run(["reset-offsets", "replay", "--topic", topic, "--to", "earliest", "--partitions", "0,7"]);
    expect(noPartition.code).toBe(1);
    expect(noPartition.stderr).toMatch(/UNKNOWN_TOPIC_OR_PARTITION: .*no partition 7/);
    expect((await admin.fetchOffsets({ groupId: "replay" })).map((offset) => offset.offset)).toEqual([2, 6]);

    const described = await admin.describeGroup("replay");
    expect(described.members).toEqual([]);
    expect(described.partitions.map((row) => [row.partition, row.committedOffset, row.endOffset, row.lag, row.owner])).toEqual([
      [0, 2, 4, 2, null],
      [1, 6, 6, 0, null],
    ]);

    const deleted = await run(["delete", "replay"]);
    expect(deleted.code).toBe(0);
    expect(deleted.stdout).toBe("deleted group 'replay'\n");
    expect((await run(["describe", "replay"])).stderr).toMatch(/GROUP_ID_NOT_FOUND/);
    expect((await admin.listGroups()).map((group) => group.groupId)).not.toContain("replay");
  });
});
