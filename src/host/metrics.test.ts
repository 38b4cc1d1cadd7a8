import { describe, expect, it } from "vitest";
import { ZhumqMetrics } from "./metrics.ts";

/** The value of one series in a Prometheus text exposition. */
function sample(body: string, series: string): number | undefined {
  const line = body.split("\n").find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("coordinator metrics on a quorum replica", () => {
  it("group rebalances and offset commits count what the entries a leader applied did (a quorum host persists Raft entries, not commands)", async () => {
    const metrics = new ZhumqMetrics({ processMetrics: false });
    const node = metrics.node("coordinator-0", "coordinator");
    node.coordinatorOutput({ type: "coordinator.quorum.groups.applied", rebalances: 1, offsetCommits: 3 });
    node.coordinatorOutput({ type: "coordinator.quorum.groups.applied", rebalances: 0, offsetCommits: 2 });
    node.coordinatorOutput({ type: "coordinator.quorum.groups.applied", rebalances: "x" });
    const { body } = await metrics.render();
    expect(sample(body, 'zhumq_coordinator_group_rebalances_total{node="coordinator-0"}')).toBe(1);
    expect(sample(body, 'zhumq_coordinator_offset_commits_total{node="coordinator-0"}')).toBe(5);
  });

  it("a scrape of a replica that does not serve exports no gauges read from a coordinator context, and does not throw", async () => {
    const metrics = new ZhumqMetrics({ processMetrics: false });
    const node = metrics.node("coordinator-1", "coordinator");
    node.attach({ snapshot: { context: { replica: { serving: undefined }, recovered: {} } }, durableStore: undefined });
    const { body } = await metrics.render();
    expect(sample(body, 'zhumq_coordinator_topics{node="coordinator-1"}')).toBeUndefined();
  });
});

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
