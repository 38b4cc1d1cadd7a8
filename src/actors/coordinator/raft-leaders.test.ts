/**
 * Raft-mode topics at the coordinator: accepted with any replication factor the cluster can place,
 * each voter told of its group in heartbeat replies (never a leader or follower assignment), no
 * election of the coordinator's own, and metadata naming the leader and term the brokers report.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { BrokerHeartbeatReply, MetadataReply, RaftLeadershipReport, TopicCreateReply } from "../shared/messages.ts";
import { reportDigest } from "../shared/report-digest.ts";
import type { CoordinatorCommand } from "./state.ts";
import { anySealed, noteRaftReports, raftPeers, type RaftLeadership } from "./raft-leaders.ts";
import { drivenCoordinator } from "../../../test/support/coordinator-driver.ts";

function coordinator() {
  const { ask, advance } = drivenCoordinator({ randomSeed: "raft-coordinator" });
  return {
    ask,
    advance,
    heartbeat: (broker: string, raft?: RaftLeadershipReport[]) => ask<BrokerHeartbeatReply>(broker, { type: "broker.heartbeat", broker, ...(raft === undefined ? {} : { raft }) }),
  };
}

const report = (topic: string, term: number, leader: string | null, serving: boolean): RaftLeadershipReport => ({ topic, partition: 0, term, leader, serving, committedEnd: 0 });

describe("raft-mode topics at the coordinator", () => {
  it("creates RF 3 raft topics and lists each partition's group to its voters, with no leader or follower assignment", () => {
    const c = coordinator();
    for (const broker of ["b1", "b2", "b3"]) c.heartbeat(broker);
    const created = c.ask<TopicCreateReply>("admin", { type: "topic.create", topic: "r", partitions: 2, replicationFactor: 3, replicationMode: "raft" });
    expect(created.error).toBeUndefined();
    expect(created.metadata!.replicationMode).toBe("raft");
    for (const broker of ["b1", "b2", "b3"]) {
      const reply = c.heartbeat(broker);
      expect(reply.assignments).toEqual([]);
      expect(reply.follows ?? []).toEqual([]);
      expect(reply.raftGroups!.map((group) => [group.partition, [...group.voters].sort()])).toEqual([
        [0, ["b1", "b2", "b3"]],
        [1, ["b1", "b2", "b3"]],
      ]);
    }
    for (const factor of [1, 5]) {
      const c5 = coordinator();
      for (const broker of ["b1", "b2", "b3", "b4", "b5"]) c5.heartbeat(broker);
      expect(c5.ask<TopicCreateReply>("admin", { type: "topic.create", topic: "r", partitions: 1, replicationFactor: factor, replicationMode: "raft" }).error).toBeUndefined();
    }
  });

  it("names in metadata the leader and term its voters report serving, and no leader while none serves", () => {
    const c = coordinator();
    for (const broker of ["b1", "b2", "b3"]) c.heartbeat(broker);
    c.ask<TopicCreateReply>("admin", { type: "topic.create", topic: "r", partitions: 1, replicationFactor: 3, replicationMode: "raft" });
    const partition = () => c.ask<MetadataReply>("client", { type: "metadata.request", topics: ["r"] }).topics[0]!.partitions[0]!;
    expect(partition().leader).toBeNull();
    c.heartbeat("b1", [report("r", 4, "b2", false)]);
    expect(partition().leader).toBeNull(); // a hint, not a serving leader
    c.heartbeat("b2", [report("r", 4, "b2", true)]);
    expect(partition()).toMatchObject({ leader: "b2", leaderEpoch: 4 });
    c.heartbeat("b3", [report("r", 3, "b1", false)]); // an older term changes nothing
    expect(partition()).toMatchObject({ leader: "b2", leaderEpoch: 4 });
    c.heartbeat("b2", [report("r", 5, null, false)]); // it stepped down
    expect(partition().leader).toBeNull();
    c.heartbeat("b3", [report("r", 6, "b3", true)]);
    expect(partition()).toMatchObject({ leader: "b3", leaderEpoch: 6 });
  });

  it("refuses malformed raft reports with INVALID_REQUEST", () => {
    const c = coordinator();
    const reply = c.ask<BrokerHeartbeatReply>("b1", { type: "broker.heartbeat", broker: "b1", raft: [{ topic: "r", partition: 0, term: -1, leader: null, serving: false, committedEnd: 0 }] });
    expect(reply.error?.code).toBe("INVALID_REQUEST");
  });

  it("noteRaftReports: the newest term wins; a serving report at the known term replaces a hint", () => {
    let known = noteRaftReports(new Map(), "b1", [report("r", 2, "b1", true)]);
    expect(known.get("r/0")).toEqual({ term: 2, leader: "b1", serving: true });
    known = noteRaftReports(known, "b2", [report("r", 2, "b1", false)]);
    expect(known.get("r/0")).toEqual({ term: 2, leader: "b1", serving: true });
    known = noteRaftReports(known, "b2", [report("r", 3, null, false)]);
    expect(known.get("r/0")).toEqual({ term: 3, leader: null, serving: false });
    known = noteRaftReports(known, "b3", [report("r", 3, "b3", true)]);
    expect(known.get("r/0")).toEqual({ term: 3, leader: "b3", serving: true });
  });

  it("noteRaftReports hands back the map itself when the reports change nothing (an idle broker's, again and again)", () => {
    const reports = [report("r", 2, "b1", true), { ...report("s", 2, "b1", false), partition: 1 }];
    // b1 leads "s" but does not serve yet: its first report names it as a hint, the next drops the hint (it says it does not serve).
    const known = noteRaftReports(noteRaftReports(new Map(), "b1", reports), "b1", reports);
    expect(noteRaftReports(known, "b1", reports)).toBe(known);
    expect(noteRaftReports(known, "b2", [report("r", 1, "b1", false)])).toBe(known); // an older term
    const moved = noteRaftReports(known, "b2", [report("r", 3, "b2", true)]);
    expect(moved).not.toBe(known);
    expect(moved.get("r/0")).toEqual({ term: 3, leader: "b2", serving: true });
    expect(known.get("r/0")).toEqual({ term: 2, leader: "b1", serving: true }); // never mutated
  });

  it("reports left out: a lost heartbeat, a lost reply and a coordinator restart all end with the full leadership picture", () => {
    const brokers = ["b1", "b2", "b3"] as const;
    const partitions = 6;
    // Each broker as broker/heartbeat.ts does it: the report in full unless the coordinator's last reply said it holds that digest.
    const held = new Map<string, string | undefined>();
    const leaders = new Map<number, { broker: string; term: number }>(Array.from({ length: partitions }, (_, partition) => [partition, { broker: brokers[partition % 3]!, term: 2 }]));
    const reportsOf = (broker: string): RaftLeadershipReport[] =>
      Array.from({ length: partitions }, (_, partition) => {
        const leader = leaders.get(partition)!;
        return { topic: "r", partition, term: leader.term, leader: leader.broker, serving: leader.broker === broker, committedEnd: 1 };
      });
    let c = drivenCoordinator({ randomSeed: "raft-reports" });
    let sent = { full: 0, short: 0, wanted: 0 };
    const beat = (broker: string, lose: "request" | "reply" | "none" = "none"): void => {
      const raft = reportsOf(broker);
      const digest = reportDigest({ raft });
      const short = held.get(broker) === digest;
      if (lose === "request") return;
      const reply = c.ask<BrokerHeartbeatReply>(broker, short ? { type: "broker.heartbeat", broker, incarnation: 1, reportDigest: digest, sameReport: true } : { type: "broker.heartbeat", broker, incarnation: 1, raft, reportDigest: digest });
      if (short) sent.short++;
      else sent.full++;
      if (lose === "reply") return;
      if (reply.reportWanted === true) {
        sent.wanted++;
        held.delete(broker);
        return beat(broker); // broker/core.ts sends the full report at once
      }
      held.set(broker, reply.reportDigest);
    };
    const picture = (): (string | null)[] => c.ask<MetadataReply>("client", { type: "metadata.request", topics: ["r"] }).topics[0]!.partitions.map((partition) => (partition.leader === null ? null : `${partition.leader}@${partition.leaderEpoch}`));
    const expected = (): string[] => Array.from({ length: partitions }, (_, partition) => `${leaders.get(partition)!.broker}@${leaders.get(partition)!.term}`);
    for (const broker of brokers) beat(broker);
    expect(c.ask<TopicCreateReply>("admin", { type: "topic.create", topic: "r", partitions, replicationFactor: 3, replicationMode: "raft" }).error).toBeUndefined();
    for (let round = 0; round < 3; round++) for (const broker of brokers) beat(broker);
    expect(picture()).toEqual(expected());
    expect(sent.short).toBeGreaterThan(sent.full); // idle: the reports are left out

    // Partition 0 moves to b2 at term 3; b2's full heartbeat is lost, then the reply to the next one.
    leaders.set(0, { broker: "b2", term: 3 });
    beat("b2", "request");
    expect(picture()[0]).toBe("b1@2");
    beat("b2", "reply"); // taken, but b2 does not learn it: its next heartbeat is full again
    expect(picture()[0]).toBe("b2@3");
    for (const broker of brokers) beat(broker);
    expect(picture()).toEqual(expected());

    // The coordinator restarts from its command log: it holds no report, asks for each, and knows every leader again.
    const commands = c.effects.flatMap((effect) => (effect.type === "effect.persist" ? [effect.operation as CoordinatorCommand] : []));
    c = drivenCoordinator({ randomSeed: "raft-reports", commands });
    sent = { full: 0, short: 0, wanted: 0 };
    expect(picture()).toEqual(Array.from({ length: partitions }, () => null));
    for (const broker of brokers) beat(broker);
    expect(sent).toEqual({ full: 3, short: 3, wanted: 3 }); // each short one answered reportWanted, then sent in full
    expect(picture()).toEqual(expected());
    for (const broker of brokers) beat(broker);
    expect(sent).toEqual({ full: 3, short: 6, wanted: 3 });
    expect(picture()).toEqual(expected());
  });

  it("raftPeers: a broker's fellow voters, once per list of groups", () => {
    const groups = [
      { topic: "r", partition: 0, voters: ["b1", "b2", "b3"] },
      { topic: "r", partition: 1, voters: ["b1", "b4", "b2"] },
    ];
    const peers = raftPeers(groups, "b1");
    expect([...peers].sort()).toEqual(["b2", "b3", "b4"]);
    expect(raftPeers(groups, "b1")).toBe(peers);
    expect([...raftPeers(groups, "b2")].sort()).toEqual(["b1", "b3", "b4"]);
    expect(raftPeers([], "b1")).toEqual([]);
  });

  it("noteRaftReports decides what the rule says, report by report (against a plain restatement of it)", () => {
    const rule = (known: ReadonlyMap<string, RaftLeadership>, broker: string, reports: readonly RaftLeadershipReport[]): Map<string, RaftLeadership> => {
      const next = new Map(known);
      for (const entry of reports) {
        const key = `${entry.topic}/${entry.partition}`;
        const current = next.get(key);
        if (entry.serving) {
          if (current === undefined || entry.term >= current.term) next.set(key, { term: entry.term, leader: broker, serving: true });
        } else if (current !== undefined && current.leader === broker && entry.term >= current.term) next.set(key, { term: entry.term, leader: entry.leader === broker ? null : entry.leader, serving: false });
        else if (current === undefined || entry.term > current.term) next.set(key, { term: entry.term, leader: entry.leader, serving: false });
      }
      return next;
    };
    const broker = fc.constantFrom("b1", "b2", "b3");
    const entry = fc.record({ topic: fc.constant("r"), partition: fc.integer({ min: 0, max: 2 }), term: fc.integer({ min: 0, max: 4 }), leader: fc.constantFrom("b1", "b2", "b3", null), serving: fc.boolean(), committedEnd: fc.constant(0) });
    fc.assert(
      fc.property(fc.array(fc.tuple(broker, fc.array(entry, { maxLength: 4 })), { maxLength: 30 }), (steps) => {
        let known: ReadonlyMap<string, RaftLeadership> = new Map();
        let expected: ReadonlyMap<string, RaftLeadership> = new Map();
        for (const [from, reports] of steps) {
          known = noteRaftReports(known, from, reports);
          expected = rule(expected, from, reports);
          expect([...known]).toEqual([...expected]);
        }
      }),
      { numRuns: 300, seed: 12 },
    );
    expect(anySealed([report("r", 1, "b1", false)])).toBe(false);
    expect(anySealed([report("r", 1, "b1", false), { ...report("r", 1, "b1", false), sealed: { lastTerm: 1, endOffset: 3 } }])).toBe(true);
    expect(anySealed(undefined)).toBe(false);
  });
});
