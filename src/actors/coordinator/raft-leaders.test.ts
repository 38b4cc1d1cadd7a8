/**
 * Raft-mode topics at the coordinator: accepted with any replication factor the cluster can place,
 * each voter told of its group in heartbeat replies (never a leader or follower assignment), no
 * election of the coordinator's own, and metadata naming the leader and term the brokers report.
 */
import { describe, expect, it } from "vitest";
import type { BrokerHeartbeatReply, MetadataReply, RaftLeadershipReport, TopicCreateReply } from "../shared/messages.ts";
import { noteRaftReports } from "./raft-leaders.ts";
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
});
