import { describe, expect, it } from "vitest";
import { ZhumqMetrics } from "./metrics.ts";

function sample(body: string, series: string): number | undefined {
  const line = body.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("message counters", () => {
  it("count every message a node's actor takes in (one series) and sends (by type), brokers and coordinators alike", async () => {
    const metrics = new ZhumqMetrics({ processMetrics: false });
    const broker = metrics.node("broker-0", "broker").observer;
    const coordinator = metrics.node("coordinator", "coordinator").observer;
    broker.received?.("broker-1", { type: "replica.fetch", requestId: 1 });
    broker.received?.("client", { type: "made-up", requestId: 2 });
    broker.sent?.("broker-1", { type: "replica.fetch.reply", requestId: 1, records: new Uint8Array(0) });
    broker.sent?.("broker-1", { type: "replica.fetch.reply", requestId: 3, records: new Uint8Array(0) });
    broker.sent?.("coordinator", { type: "broker.heartbeat", requestId: 9 });
    coordinator.received?.("broker-0", { type: "broker.heartbeat", requestId: 9 });
    coordinator.sent?.("broker-0", { type: "broker.heartbeat.reply", requestId: 9 });
    const { body } = await metrics.render();
    expect(sample(body, 'zhumq_node_messages_received_total{node="broker-0"}')).toBe(2);
    expect(sample(body, 'zhumq_node_messages_sent_total{node="broker-0",type="replica.fetch.reply"}')).toBe(2);
    expect(sample(body, 'zhumq_node_messages_sent_total{node="broker-0",type="broker.heartbeat"}')).toBe(1);
    expect(sample(body, 'zhumq_node_messages_received_total{node="coordinator"}')).toBe(1);
    expect(sample(body, 'zhumq_node_messages_sent_total{node="coordinator",type="broker.heartbeat.reply"}')).toBe(1);
    expect(body).not.toContain("made-up"); // a peer's types never become labels
  });
});
