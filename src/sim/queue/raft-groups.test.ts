import { describe, expect, it } from "vitest";
import type { HardState, RaftMessage, RaftOutput } from "../../actors/raft/types.ts";
import type { NodeId } from "../../ports/transport.ts";
import { QueueHistory } from "./history.ts";
import { RaftGroupsObserver } from "./raft-groups.ts";

const GROUP = "events/0";

/** A raft-mode partition's brokers as the queue simulator sees them: their outputs, their sends, their crashes. */
function partition() {
  const observer = new RaftGroupsObserver(new QueueHistory(), () => 0);
  const output = (broker: NodeId, raft: RaftOutput): void => observer.observe(broker, { type: "broker.raft.output", group: GROUP, topic: "events", partition: 0, output: raft });
  const story = {
    observer,
    started(broker: NodeId, hardState: HardState = { term: 0, votedFor: null }) {
      output(broker, { type: "raft.started", hardState, entries: [] });
      output(broker, { type: "raft.config", voters: ["broker-0", "broker-1", "broker-2"], index: -1 });
      return story;
    },
    era(broker: NodeId, leaderEpoch: number) {
      observer.observe(broker, { type: "broker.raft.era", group: GROUP, topic: "events", partition: 0, leaderEpoch });
      return story;
    },
    /** `broker` answers `candidate`'s vote request of `term` in a `broker.raft` bundle. */
    grants(broker: NodeId, candidate: NodeId, term: number, options: { preVote?: boolean; granted?: boolean } = {}) {
      const reply: RaftMessage = { type: "raft.vote.reply", group: GROUP, term, preVote: options.preVote ?? false, granted: options.granted ?? true };
      observer.sent(broker, candidate, { type: "broker.raft", messages: [reply] });
      return story;
    },
    crashed(broker: NodeId) {
      observer.crashed(broker);
      return story;
    },
    kinds: () => observer.violations.map((violation) => `${violation.group} ${violation.kind}`),
  };
  return story;
}

describe("a raft-mode partition's votes, judged from what its brokers send", () => {
  it("finds double-vote: a broker grants its vote to two candidates in one term", () => {
    const story = partition().started("broker-1").grants("broker-1", "broker-0", 3).grants("broker-1", "broker-2", 3);
    expect(story.kinds()).toEqual([`${GROUP} double-vote`]);
  });

  it("finds double-vote across a crash: the restarted broker forgot its vote and grants another", () => {
    const story = partition().started("broker-1").grants("broker-1", "broker-0", 3).crashed("broker-1");
    story.started("broker-1", { term: 2, votedFor: null }).grants("broker-1", "broker-2", 3);
    expect(story.kinds()).toEqual([`${GROUP} vote-lost`, `${GROUP} double-vote`]);
  });

  it("finds vote-lost: a broker sent a vote, crashed, and came back with a hard state without it", () => {
    const story = partition().started("broker-1").grants("broker-1", "broker-0", 3).crashed("broker-1").started("broker-1", { term: 3, votedFor: null });
    expect(story.kinds()).toEqual([`${GROUP} vote-lost`]);
  });

  it("judges each raft era as a group of its own, by the sender's era", () => {
    // broker-1 voted in term 3 before the partition left raft mode; back in raft mode (the era of epoch 2) its terms start again.
    const story = partition().started("broker-1").grants("broker-1", "broker-0", 3);
    story.era("broker-1", 2).started("broker-1", { term: 2, votedFor: null }).grants("broker-1", "broker-2", 3);
    expect(story.kinds()).toEqual([]);
    story.grants("broker-1", "broker-0", 3);
    expect(story.kinds()).toEqual([`${GROUP}#2 double-vote`]);
  });

  it("finds nothing in a correct history: a vote sent again, pre-votes, refusals, a vote remembered across a crash", () => {
    const story = partition().started("broker-0").started("broker-1").started("broker-2");
    story.grants("broker-1", "broker-0", 3).grants("broker-1", "broker-0", 3); // the same vote, answered twice
    story.grants("broker-2", "broker-0", 4, { preVote: true }).grants("broker-2", "broker-1", 4, { preVote: true }); // pre-votes bind nothing
    story.grants("broker-2", "broker-0", 3).grants("broker-2", "broker-1", 3, { granted: false });
    story.crashed("broker-1").started("broker-1", { term: 3, votedFor: "broker-0" }).grants("broker-1", "broker-0", 3);
    story.crashed("broker-2").started("broker-2", { term: 5, votedFor: null }).grants("broker-2", "broker-1", 5);
    expect(story.kinds()).toEqual([]);
  });

  it("looks only at broker.raft bundles", () => {
    const story = partition().started("broker-1").grants("broker-1", "broker-0", 3);
    story.observer.sent("broker-1", "broker-2", { type: "produce.reply", requestId: 1 });
    story.observer.sent("broker-1", "broker-2", { type: "broker.raft", messages: [], beat: {} });
    expect(story.kinds()).toEqual([]);
  });
});
