import { describe, expect, it } from "vitest";
import type { TopicDescription } from "../client/admin.ts";
import { topicSummary } from "./topic.ts";

const base: TopicDescription = { topic: "t", replicationFactor: 3, replicationMode: "fetch", minInSync: 2, uncleanLeaderElection: false, partitions: [] };

describe("topic describe's summary line", () => {
  it("names min in-sync for a fetch-mode topic", () => {
    expect(topicSummary(base)).toBe("0 partitions, replication factor 3, mode fetch, min in-sync 2");
  });

  it("prints the mode, never min in-sync, for a raft topic (it has no ISR: a commit needs any majority)", () => {
    expect(topicSummary({ ...base, replicationMode: "raft" })).toBe("0 partitions, replication factor 3, mode raft");
  });
});
