/**
 * Heartbeat reports left out (`sameReport`, ../shared/report-digest.ts): a coordinator that holds
 * the report decides exactly what the full heartbeat would have made it decide; one that does not
 * answers `reportWanted` and does nothing else; malformed ones are refused.
 */
import { describe, expect, it } from "vitest";
import type { BrokerHeartbeatReply, MetadataReply, ReplicaReport, ServingPartition, TopicCreateReply } from "../shared/messages.ts";
import { reportDigest } from "../shared/report-digest.ts";
import { drivenCoordinator } from "../../../test/support/coordinator-driver.ts";
import { noteReport, withReport } from "./reports.ts";

type Driven = ReturnType<typeof drivenCoordinator>;

/** A broker's report of what its last reply made it lead and host, each replica at `end`. */
function reportOf(reply: BrokerHeartbeatReply | undefined, end: number): { serving: ServingPartition[]; replicas: ReplicaReport[] } {
  // A leader asked to hand over reports itself fenced, all it wrote durable (broker/heartbeat.ts).
  const serving = (reply?.assignments ?? []).map(({ topic, partition, leaderEpoch, handingOver }) => ({ topic, partition, leaderEpoch, ...(handingOver === true ? { handedOver: true } : {}) }));
  const follows = (reply?.follows ?? []).map(({ topic, partition, leaderEpoch }) => ({ topic, partition, leaderEpoch, endOffset: end }));
  return { serving, replicas: [...serving.map(({ topic, partition, leaderEpoch }) => ({ topic, partition, leaderEpoch, endOffset: end })), ...follows] };
}

describe("heartbeat reports left out", () => {
  it("decide exactly what the full reports decide: same replies, same commands, same notices", () => {
    const full = drivenCoordinator({ randomSeed: "reports" });
    const short = drivenCoordinator({ randomSeed: "reports" });
    const last = new Map<string, BrokerHeartbeatReply>();
    /** What `short`'s broker holds as acknowledged, per broker. */
    const held = new Map<string, string | undefined>();
    let shortened = 0;
    const beat = (broker: string, end: number, extra: Record<string, unknown> = {}): void => {
      const report = reportOf(last.get(broker), end);
      const digest = reportDigest(report);
      const message = { type: "broker.heartbeat", broker, incarnation: 7, ...extra, ...report, reportDigest: digest };
      const same = held.get(broker) === digest;
      if (same) shortened++;
      const a = full.ask<BrokerHeartbeatReply>(broker, message);
      const b = short.ask<BrokerHeartbeatReply>(broker, same ? { type: "broker.heartbeat", broker, incarnation: 7, ...extra, reportDigest: digest, sameReport: true } : message);
      expect(b).toEqual(a);
      expect(a.reportDigest).toBe(digest);
      held.set(broker, b.reportDigest);
      last.set(broker, a);
    };
    for (const broker of ["b1", "b2", "b3"]) beat(broker, 0);
    const created = [full, short].map((c) => c.ask<TopicCreateReply>("admin", { type: "topic.create", topic: "orders", partitions: 6, replicationFactor: 2, replicationMode: "fetch" }));
    expect(created[1]).toEqual(created[0]);
    for (let round = 0; round < 4; round++) for (const broker of ["b1", "b2", "b3"]) beat(broker, 0);
    // Writes move the ends; then b1 leaves cleanly (its leaderships move) while its report stays the same.
    for (const broker of ["b1", "b2", "b3"]) beat(broker, 5);
    for (let round = 0; round < 3; round++) for (const broker of ["b1", "b2", "b3"]) beat(broker, 5, broker === "b1" ? { leaving: true } : {});
    for (const c of [full, short]) c.advance(500); // b1 goes quiet
    for (let round = 0; round < 3; round++) for (const broker of ["b2", "b3"]) beat(broker, 5);
    const metadata = [full, short].map((c) => c.ask<MetadataReply>("client", { type: "metadata.request", topics: null }));
    expect(metadata[1]).toEqual(metadata[0]);
    expect(short.effects).toEqual(full.effects);
    expect(shortened).toBeGreaterThan(15);
  });

  it("are answered reportWanted, with nothing done, by a coordinator that does not hold them", () => {
    const c: Driven = drivenCoordinator({ randomSeed: "wanted" });
    const digest = reportDigest({ serving: [], replicas: [] });
    // A fresh coordinator (restarted, or a new quorum leader) holds no report: no registration, no lease.
    const first = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", reportDigest: digest, sameReport: true });
    expect(first).toEqual({ type: "broker.heartbeat.reply", requestId: first.requestId, leaseMs: 1_000, assignments: [], reportWanted: true });
    expect(c.effects.filter((effect) => effect.type !== "effect.send" && effect.type !== "effect.timer.set")).toEqual([]);
    expect(c.ask<MetadataReply>("client", { type: "metadata.request", topics: null }).brokers).toEqual([]);
    // The full report is taken and acknowledged; then the short one stands for it.
    const full = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", serving: [], replicas: [], reportDigest: digest });
    expect(full.reportDigest).toBe(digest);
    const same = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", reportDigest: digest, sameReport: true });
    expect(same.reportWanted).toBeUndefined();
    expect(same.reportDigest).toBe(digest);
    // Another digest than the one held (the broker's report changed, the full one was lost): asked for.
    const other = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", reportDigest: "0123456789abcdef", sameReport: true });
    expect(other.reportWanted).toBe(true);
    // A full heartbeat without a digest (an older broker) leaves nothing held.
    c.ask("b1", { type: "broker.heartbeat", broker: "b1", serving: [], replicas: [] });
    expect(c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", reportDigest: digest, sameReport: true }).reportWanted).toBe(true);
  });

  it("are refused INVALID_REQUEST when malformed", () => {
    const c = drivenCoordinator({ randomSeed: "malformed" });
    const digest = reportDigest({});
    for (const bad of [
      { reportDigest: digest, sameReport: true, serving: [] },
      { reportDigest: digest, sameReport: true, raft: [] },
      { sameReport: true },
      { reportDigest: digest, sameReport: false },
      { reportDigest: "not a digest" },
      { reportDigest: digest, reportFollows: true, replicas: [] },
      { reportDigest: digest, reportFollows: true, sameReport: true },
      { reportDigest: digest, reportFollows: false },
    ]) {
      const reply = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", ...bad });
      expect(reply.error?.code, JSON.stringify(bad)).toBe("INVALID_REQUEST");
    }
  });

  it("stand for the held lists, put back as they came; a full report replaces them", () => {
    const serving = [{ topic: "orders", partition: 0, leaderEpoch: 2, handedOver: true }];
    const replicas = [{ topic: "orders", partition: 0, leaderEpoch: 2, endOffset: 9 }];
    const raft = [{ topic: "r", partition: 0, term: 3, leader: "b1", serving: true, committedEnd: 4 }];
    const digest = reportDigest({ serving, replicas, raft });
    const fullBeat = { type: "broker.heartbeat", requestId: 1, broker: "b1", serving, replicas, raft, leaving: true, reportDigest: digest } as const;
    expect(withReport(undefined, fullBeat)).toEqual({ request: fullBeat, reused: false });
    const held = noteReport(undefined, fullBeat, false)!;
    expect(held.get("b1")).toEqual({ digest, serving, replicas, raft });
    const shortBeat = { type: "broker.heartbeat", requestId: 2, broker: "b1", leaving: true, reportDigest: digest, sameReport: true } as const;
    expect(withReport(held, shortBeat)).toEqual({ request: { ...fullBeat, requestId: 2 }, reused: true });
    expect(noteReport(held, shortBeat, true)).toBeUndefined();
    expect(withReport(held, { ...shortBeat, broker: "b2" })).toBeUndefined();
    expect(noteReport(held, { type: "broker.heartbeat", requestId: 3, broker: "b1" }, false)?.has("b1")).toBe(false);
  });

  it("with reportFollows, stand for the held report of the broker's incarnation whatever its digest, and the reply names the held digest", () => {
    const serving = [{ topic: "orders", partition: 0, leaderEpoch: 2 }];
    const replicas = [{ topic: "orders", partition: 0, leaderEpoch: 2, endOffset: 9 }];
    const digest = reportDigest({ serving, replicas });
    const fullBeat = { type: "broker.heartbeat", requestId: 1, broker: "b1", incarnation: 7, serving, replicas, reportDigest: digest } as const;
    const held = noteReport(undefined, fullBeat, false)!;
    expect(held.get("b1")).toEqual({ digest, incarnation: 7, serving, replicas });
    // The broker's report moved on (another digest); its full report is still in flight.
    const following = { type: "broker.heartbeat", requestId: 2, broker: "b1", incarnation: 7, reportDigest: "0123456789abcdef", reportFollows: true } as const;
    expect(withReport(held, following)).toEqual({ request: { ...fullBeat, requestId: 2 }, reused: true });
    expect(noteReport(held, following, true)).toBeUndefined();
    // Nothing held, or held from another incarnation of the broker (it restarted): not stood for.
    expect(withReport(undefined, following)).toBeUndefined();
    expect(withReport(held, { ...following, incarnation: 8 })).toBeUndefined();
    expect(withReport(held, { ...following, broker: "b2" })).toBeUndefined();
  });

  it("with reportFollows, renew the lease and decide as a heartbeat of the held report would; a coordinator holding none asks for it", () => {
    const c: Driven = drivenCoordinator({ randomSeed: "follows" });
    const twin: Driven = drivenCoordinator({ randomSeed: "follows" });
    const wanted = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", incarnation: 1, reportDigest: reportDigest({}), reportFollows: true });
    expect(wanted).toEqual({ type: "broker.heartbeat.reply", requestId: wanted.requestId, leaseMs: 1_000, assignments: [], reportWanted: true });
    twin.ask("b1", { type: "broker.heartbeat", broker: "b1", incarnation: 1, reportDigest: reportDigest({}), sameReport: true }); // the twin's request ids keep in step
    const digest = reportDigest({ serving: [], replicas: [] });
    for (const driven of [c, twin]) expect(driven.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", incarnation: 1, serving: [], replicas: [], reportDigest: digest }).reportDigest).toBe(digest);
    const before = { c: c.effects.length, twin: twin.effects.length };
    for (let beat = 0; beat < 8; beat++) {
      for (const driven of [c, twin]) driven.advance(400); // two lease lengths in all: only heartbeats keep b1 up
      const following = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", incarnation: 1, reportDigest: "0123456789abcdef", reportFollows: true });
      const same = twin.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", incarnation: 1, reportDigest: digest, sameReport: true });
      expect(following).toEqual(same);
      expect(following.reportDigest).toBe(digest);
    }
    expect(c.effects.slice(before.c)).toEqual(twin.effects.slice(before.twin));
    expect(c.ask<MetadataReply>("client", { type: "metadata.request", topics: null }).brokers.map((broker) => broker.id)).toEqual(["b1"]);
  });
});
