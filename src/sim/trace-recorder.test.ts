/**
 * The trace recorder: a recorded run is the same run (same trace hash, same verdict) for every
 * workload; the document has the documented shape; payloads are summarised, never copied; the
 * caps hold and say so; and a planted bug's anomalies point at the client operations that show it.
 */
import { describe, expect, it } from "vitest";
import { runWorkload, traceRunOf, type WorkloadOptions } from "./workloads.ts";
import { summarizeMessage, TRACE_FORMAT, TRACE_VERSION, TraceRecorder, type TraceDocument } from "./trace-recorder.ts";

const EVENT_KINDS = ["message.delivered", "message.dropped", "timer.fired", "store.committed", "node.started", "node.crashed", "node.paused", "node.resumed", "fault"];

async function traced(options: WorkloadOptions, limits: ConstructorParameters<typeof TraceRecorder>[0] = {}): Promise<{ document: TraceDocument; traceHash: string; ok: boolean }> {
  const recorder = new TraceRecorder(limits);
  const result = await runWorkload({ ...options, recorder });
  const document = recorder.document(traceRunOf(result, "-"));
  return { document, traceHash: result.traceHash, ok: result.ok };
}

describe("the trace recorder", () => {
  it.each([
    { workload: "queue", seed: 3, faults: "swarm", messages: 30 },
    { workload: "queue", seed: 2, faults: "swarm", messages: 20, plant: "fsync-lies" },
    { workload: "raft", seed: 4, faults: "swarm" },
    { workload: "ledger", seed: 5, faults: "swarm", messages: 20 },
  ] as const)("does not change the run: $workload seed $seed has the same trace hash and verdict with and without it", async (options) => {
    const plain = await runWorkload(options);
    const recorded = await traced(options);
    expect(recorded.traceHash).toBe(plain.traceHash);
    expect(recorded.ok).toBe(plain.ok);
    expect(recorded.document.events.length).toBeGreaterThan(0);
  }, 60_000);

  it("writes the documented shape for a standard queue run, in time order, well under a few MB", async () => {
    const { document } = await traced({ workload: "queue", seed: 1, faults: "swarm" });
    expect(document).toMatchObject({ format: TRACE_FORMAT, version: TRACE_VERSION, run: { workload: "queue", seed: 1 } });
    expect(document.truncated).toBeUndefined();
    expect(document.nodes).toEqual(["coordinator", "broker-0", "broker-1", "broker-2", "admin", "producer-0", "producer-1", "consumer-0", "consumer-1"]);
    let previous = 0;
    for (const event of document.events) {
      expect(EVENT_KINDS).toContain(event.kind);
      expect(event.atMs).toBeGreaterThanOrEqual(previous);
      previous = event.atMs;
      if ("node" in event) expect(document.nodes).toContain(event.node);
      if (event.kind === "message.delivered") expect(event.sentAtMs).toBeLessThanOrEqual(event.atMs);
    }
    for (const kind of ["message.delivered", "timer.fired", "store.committed", "node.started", "fault"]) expect(document.counts[kind]).toBeGreaterThan(0);
    // Seed 1 draws a duplicating network: its second copies are marked.
    expect(document.events.filter((event) => event.kind === "message.delivered" && event.duplicate === true).length).toBeGreaterThan(0);
    // Every send and poll of the history is there, with its process and time.
    expect(document.operations.filter((operation) => operation.type === "send.invoke")).toHaveLength(500);
    expect(document.operations.every((operation) => document.nodes.includes(operation.process))).toBe(true);
    const text = JSON.stringify(document);
    expect(JSON.parse(text)).toEqual(document);
    expect(Buffer.byteLength(text)).toBeLessThan(3 * 1_048_576);
    // Summaries carry sizes, never the bytes themselves.
    const produce = document.events.find((event) => event.kind === "message.delivered" && event.message.type === "produce.request");
    expect(produce).toMatchObject({ message: { topic: "jepsen", bytes: expect.any(Number) as number } });
    expect(text).not.toMatch(/"value":\{"0":/);
  }, 60_000);

  it("keeps at most eventsMax events and operationsMax operations, counts the rest and marks the document truncated", async () => {
    const { document } = await traced({ workload: "queue", seed: 1, faults: "swarm", messages: 20 }, { eventsMax: 100, operationsMax: 10 });
    expect(document.events).toHaveLength(100);
    expect(document.operations).toHaveLength(10);
    const seen = Object.values(document.counts).reduce((sum, count) => sum + count, 0);
    expect(document.truncated).toEqual({ events: seen - 100, operations: expect.any(Number) as number, fromMs: expect.any(Number) as number });
    expect(document.truncated!.operations).toBeGreaterThan(0);
    expect(document.truncated!.fromMs).toBeGreaterThanOrEqual(document.events[99]!.atMs);
    expect(document.limits).toEqual({ eventsMax: 100, operationsMax: 10 });
    expect(() => new TraceRecorder({ eventsMax: -1 })).toThrow(/eventsMax/);
  }, 60_000);

  it("links a planted bug's anomalies to the client operations that show it", async () => {
    const { document, ok } = await traced({ workload: "queue", seed: 2, faults: "swarm", messages: 20, plant: "fsync-lies" });
    expect(ok).toBe(false);
    expect(document.anomalies.length).toBeGreaterThan(0);
    const lost = document.anomalies.find((anomaly) => anomaly.kind === "lost-write");
    expect(lost).toBeDefined();
    expect(lost!.operations.length).toBeGreaterThan(0);
    const value = document.operations[lost!.operations[0]!]!.value as string;
    expect(lost!.detail).toContain(value);
    for (const index of lost!.operations) expect(document.operations[index]!.value).toBe(value);
  }, 60_000);

  it("summarises a message by its type, identifiers, error code and byte size, with a bounded walk", () => {
    const batch = new Uint8Array(1_000);
    expect(summarizeMessage({ type: "produce.request", requestId: 7, topic: "t", partition: 2, batches: [batch, { nested: batch }], secret: "payload" })).toEqual({
      type: "produce.request",
      requestId: 7,
      topic: "t",
      partition: 2,
      bytes: 2_000,
    });
    expect(summarizeMessage({ type: "produce.reply", error: { code: "STORAGE_FULL", message: "full" } })).toEqual({ type: "produce.reply", error: "STORAGE_FULL" });
    expect(summarizeMessage("text")).toEqual({ type: "string" });
    // A very deep or very wide message is walked only so far.
    let deep: object = { bytes: new Uint8Array(5) };
    for (let depth = 0; depth < 10_000; depth++) deep = { inner: deep };
    expect(summarizeMessage({ type: "deep", deep })).toEqual({ type: "deep" });
    const wide = { type: "wide", items: Array.from({ length: 100_000 }, () => ({ data: new Uint8Array(1) })) };
    expect(summarizeMessage(wide).bytes).toBeLessThan(1_000);
  });
});
