/**
 * node-log.ts: records for storage events and coordinator outputs, leadership changes read from
 * the heartbeats a broker sends, and refused requests limited per second with a suppressed count.
 * Time is a plain variable here: the observer reads only the clock it is given.
 */
import { describe, expect, it } from "vitest";
import { brokerOutputRecord, coordinatorOutputRecord, logObserver, REFUSALS_PER_SECOND_MAX, storageRecord, type LogRecord } from "./node-log.ts";

function watch() {
  const records: LogRecord[] = [];
  const changes: [string, number][] = [];
  let nowMs = 0;
  const observer = logObserver((record) => records.push(record), () => nowMs, (change, count) => changes.push([change, count]));
  return { records, changes, observer, advance: (ms: number) => (nowMs += ms) };
}

const heartbeat = (serving: { topic: string; partition: number; leaderEpoch: number }[]) => ({ type: "broker.heartbeat", requestId: 1, broker: "b", serving });
const refused = (code: string) => ({ type: "produce.reply", requestId: 1, topic: "t", partition: 2, error: { code, message: "no" }, baseOffset: -1, duplicate: false });

describe("node log records", () => {
  it("a torn tail is a warning with every field of the event, its partition read from the path", () => {
    const record = storageRecord({ kind: "tail-truncated", file: "partitions/orders/3/00000000000000000000.log", position: 120, bytes: 40, reason: "short batch", offset: 7, batchesLost: 1 });
    expect(record).toMatchObject({ level: "warn", event: "storage.tail-truncated", fields: { topic: "orders", partition: 3, kind: "tail-truncated", position: 120, bytes: 40, offset: 7, batchesLost: 1, reason: "short batch" } });
    expect(record.message).toMatch(/^storage tail-truncated: partitions\/orders\/3\/0+\.log byte 120/);
    expect(storageRecord({ kind: "index-rebuilt", file: "x.index", position: 0, bytes: 0, reason: "stale" }).level).toBe("info");
  });

  it("brokers going down warn, coming up inform, other outputs say nothing", () => {
    expect(coordinatorOutputRecord({ type: "coordinator.broker.down", broker: "b1", atMs: 5 })).toMatchObject({ level: "warn", event: "broker.down", fields: { broker: "b1", reason: "lease expired" } });
    expect(coordinatorOutputRecord({ type: "coordinator.broker.up", broker: "b1", atMs: 5 })?.level).toBe("info");
    expect(coordinatorOutputRecord({ type: "producer.result" })).toBeUndefined();
    expect(coordinatorOutputRecord({ type: "coordinator.quorum.serving", serving: true, term: 4, appliedIndex: 9 })).toMatchObject({ level: "info", event: "coordinator.leading", fields: { term: 4, appliedIndex: 9 } });
    expect(coordinatorOutputRecord({ type: "coordinator.quorum.serving", serving: false, term: 4, appliedIndex: 9 })?.event).toBe("coordinator.following");
    expect(coordinatorOutputRecord({ type: "coordinator.raft", output: { type: "raft.status" } })).toBeUndefined();
  });

  it("a follower's repair of rot at rest names the partition, the file and the offsets", () => {
    const file = "partitions/orders@00000000000000ab/0/00000000000000000000.log";
    const repairing = brokerOutputRecord({ type: "broker.replica.repairing", topic: "orders", partition: 0, fromOffset: 2, toOffset: 3, file, reason: "CRC mismatch", cutFrom: 2, leader: "b1", leaderEpoch: 4 });
    expect(repairing).toMatchObject({ level: "warn", event: "replica.repairing", fields: { topic: "orders", partition: 0, fromOffset: 2, toOffset: 3, file, cutFrom: 2, leader: "b1" } });
    expect(repairing!.message).toBe(`replica repairing: orders/0 offsets [2, 3) damaged in ${file} (CRC mismatch); log cut at 2, refetching from leader 'b1'`);
    expect(brokerOutputRecord({ type: "broker.replica.repaired", topic: "orders", partition: 0, fromOffset: 2, toOffset: 3, file, leader: "b1" })?.message).toBe(`replica repaired: orders/0 offsets [2, 3) of ${file} refetched from leader 'b1'`);
    expect(brokerOutputRecord({ type: "broker.replica.repair.blocked", topic: "orders", partition: 0, fromOffset: 2, leader: "b1", reason: "damaged" })?.level).toBe("warn");
    expect(brokerOutputRecord({ type: "broker.leader.started" })).toBeUndefined();
  });

  it("leadership changes are the differences between consecutive heartbeats", () => {
    const { records, changes, observer } = watch();
    observer.sent!("coordinator", heartbeat([{ topic: "t", partition: 0, leaderEpoch: 1 }]));
    observer.sent!("coordinator", heartbeat([{ topic: "t", partition: 0, leaderEpoch: 1 }]));
    observer.sent!("coordinator", heartbeat([{ topic: "t", partition: 1, leaderEpoch: 4 }]));
    expect(records.map((record) => [record.event, record.fields?.["partition"]])).toEqual([
      ["leader.gained", 0],
      ["leader.gained", 1],
      ["leader.lost", 0],
    ]);
    expect(changes.filter(([, count]) => count > 0)).toEqual([
      ["gained", 1],
      ["gained", 1],
      ["lost", 1],
    ]);
  });

  it("a heartbeat that leaves its report out stands for the full one of its digest", () => {
    const { records, observer } = watch();
    const lead = (leaderEpoch: number, reportDigest: string) => ({ ...heartbeat([{ topic: "t", partition: 0, leaderEpoch }]), reportDigest });
    const short = (reportDigest: string) => ({ type: "broker.heartbeat", requestId: 2, broker: "b", reportDigest, sameReport: true });
    observer.sent!("coordinator", lead(1, "00000000000000a1"));
    observer.sent!("coordinator", lead(2, "00000000000000a2")); // sent, but the coordinator never held it
    observer.sent!("coordinator", short("00000000000000a1")); // back to epoch 1's report
    observer.sent!("coordinator", short("00000000000000ff")); // unknown here: nothing to compare
    expect(records.map((record) => [record.event, record.fields?.["leaderEpoch"]])).toEqual([
      ["leader.gained", 1],
      ["leader.gained", 2],
      ["leader.gained", 1],
    ]);
  });

  it("refusals: at most N a second per kind and code, then one line saying how many were suppressed", () => {
    const { records, observer, advance } = watch();
    for (let index = 0; index < 50; index++) observer.sent!("client-1", refused("INVALID_RECORD"));
    observer.sent!("client-1", refused("NOT_LEADER")); // another code: its own allowance
    expect(records.filter((record) => record.fields?.["code"] === "INVALID_RECORD")).toHaveLength(REFUSALS_PER_SECOND_MAX);
    expect(records.at(-1)).toMatchObject({ level: "info", event: "request.refused", fields: { kind: "produce", code: "NOT_LEADER", topic: "t", partition: 2, client: "client-1" } });
    advance(1_000);
    observer.sent!("client-1", refused("INVALID_RECORD"));
    expect(records.at(-1)).toMatchObject({ level: "warn", fields: { code: "INVALID_RECORD", suppressed: 50 - REFUSALS_PER_SECOND_MAX } });
    expect(records.at(-1)!.message).toContain(`${50 - REFUSALS_PER_SECOND_MAX} more like it suppressed`);
  });
});
