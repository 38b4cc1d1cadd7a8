/**
 * Issue 16, item 6, as a new user met it: a `zhumq coordinator` and a `zhumq broker --id broker-1`
 * as child processes (plaintext, loopback), and a rogue gRPC connection to the coordinator whose
 * hello claims to be broker-1.
 *
 * - While the rogue stream is open (held for several leases), the coordinator's replies still reach
 *   the real broker-1 on its own stream: its lease stays live, every produce is acknowledged, the
 *   rogue receives nothing, and the coordinator never marks broker-1 down. After the rogue closes,
 *   broker-1 is still answered (the route falls back to its stream rather than to none).
 * - A broker whose lease lapsed for another reason (the process stopped with SIGSTOP long enough
 *   for the coordinator to declare it down) re-registers and serves writes again soon after it
 *   runs again.
 *
 * Waits have deadlines (generous: a busy 2-core machine); every child is killed after each test.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ZhuMQ } from "../src/index.ts";
import { openRawLink } from "../src/net/testing.ts";
import { useProcessSandbox, type ZhumqProcess } from "./support/zhumq-process.ts";

const LEASE_MS = 1_200;
const HEARTBEAT_INTERVAL_MS = 200;
/** How long the rogue holds its stream: several leases, so a lapse could not go unnoticed. */
const ROGUE_HOLD_MS = 4 * LEASE_MS;

interface LogLine {
  readonly event?: string;
  readonly broker?: string;
  readonly listen?: string;
  readonly fields?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

function logLines(child: ZhumqProcess): LogLine[] {
  return child.stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);
}

function field(line: LogLine, name: string): unknown {
  return line[name] ?? line.fields?.[name];
}

async function eventually<T>(what: string, check: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function brokerEvents(coordinator: ZhumqProcess, event: string): number {
  return logLines(coordinator).filter((line) => line.event === event && field(line, "broker") === "broker-1").length;
}

describe("identity hijack (issue 16 item 6): a connection claiming a live broker's id", () => {
  const sandbox = useProcessSandbox("zhumq-hijack-");

  async function startCluster(): Promise<{ coordinator: ZhumqProcess; broker: ZhumqProcess; address: string; zhumq: ZhuMQ }> {
    const coordinatorConfig = path.join(sandbox.dir, "coordinator.json");
    writeFileSync(coordinatorConfig, JSON.stringify({ settings: { leaseMs: LEASE_MS, leaseCheckIntervalMs: 100 } }));
    const brokerConfig = path.join(sandbox.dir, "broker.json");
    writeFileSync(brokerConfig, JSON.stringify({ settings: { heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS } }));
    const coordinator = sandbox.processes.start(["coordinator", "--id", "coordinator", "--listen", "127.0.0.1:0", "--data", path.join(sandbox.dir, "c"), "--config", coordinatorConfig]);
    await coordinator.waitFor('"node.started"');
    const started = logLines(coordinator).find((line) => line.event === "node.started")!;
    const address = String(field(started, "listen"));
    const broker = sandbox.processes.start(["broker", "--id", "broker-1", "--listen", "127.0.0.1:0", "--coordinator", `coordinator@${address}`, "--data", path.join(sandbox.dir, "b1"), "--config", brokerConfig]);
    await broker.waitFor('"node.started"');
    await eventually("broker-1 registered", () => (brokerEvents(coordinator, "broker.up") > 0 ? true : undefined));
    const zhumq = new ZhuMQ({ bootstrap: `coordinator@${address}`, clientId: "hijack-test" });
    const admin = zhumq.admin();
    await admin.connect();
    await admin.createTopic({ topic: "t", partitions: 1 });
    await admin.disconnect();
    return { coordinator, broker, address, zhumq };
  }

  it("the rogue stream takes none of broker-1's replies; writes keep succeeding during and after it", async () => {
    const { coordinator, address, zhumq } = await startCluster();
    const producer = zhumq.producer({ requestTimeoutMs: 5_000 });
    await producer.connect();
    try {
      await eventually("a first write", async () => producer.send({ topic: "t", messages: [{ value: "warm-up" }] }).then(() => true, () => undefined));
      const downBefore = brokerEvents(coordinator, "broker.down");
      const rogue = openRawLink(address, "broker-1", "coordinator");
      let written = 0;
      try {
        await rogue.accepted;
        const heldSince = Date.now();
        // Write all through the hold: a lapsed lease would answer NOT_LEADER and the send would fail.
        while (Date.now() - heldSince < ROGUE_HOLD_MS) {
          await producer.send({ topic: "t", messages: [{ value: `during ${written}` }] });
          written++;
        }
        expect(rogue.received, "the coordinator answered the rogue as if it were broker-1").toEqual([]);
      } finally {
        rogue.close();
      }
      expect(written).toBeGreaterThan(0);
      // After the rogue left, broker-1 is still answered: its lease stays live across more leases.
      const afterSince = Date.now();
      let after = 0;
      while (Date.now() - afterSince < 2 * LEASE_MS) {
        await producer.send({ topic: "t", messages: [{ value: `after ${after}` }] });
        after++;
      }
      expect(brokerEvents(coordinator, "broker.down"), "the coordinator declared broker-1 down").toBe(downBefore);
    } finally {
      await producer.disconnect();
    }
  }, 300_000);

  it("a broker whose lease lapsed (stopped past its lease) re-registers and serves writes again", async () => {
    const { coordinator, broker, zhumq } = await startCluster();
    const producer = zhumq.producer({ requestTimeoutMs: 5_000 });
    await producer.connect();
    try {
      await eventually("a first write", async () => producer.send({ topic: "t", messages: [{ value: "before" }] }).then(() => true, () => undefined));
      const upBefore = brokerEvents(coordinator, "broker.up");
      broker.process.kill("SIGSTOP");
      try {
        await eventually("the coordinator to declare broker-1 down", () => (brokerEvents(coordinator, "broker.down") > 0 ? true : undefined));
      } finally {
        broker.process.kill("SIGCONT");
      }
      const resumedAt = Date.now();
      await eventually("broker-1 up again", () => (brokerEvents(coordinator, "broker.up") > upBefore ? true : undefined));
      await eventually("a write acknowledged after the lapse", async () => producer.send({ topic: "t", messages: [{ value: "after" }] }).then(() => true, () => undefined));
      // A few heartbeats, not a minute: generous for a loaded machine, far below what the issue saw (never).
      const recoveredMs = Date.now() - resumedAt;
      expect(recoveredMs).toBeLessThan(60 * HEARTBEAT_INTERVAL_MS + 20_000);
    } finally {
      await producer.disconnect();
    }
  }, 300_000);
});
