/**
 * The raft → fetch rule of mode-switch.ts against real Raft logs: Raft groups (the pure core, in
 * the in-memory test network) run under random partitions and proposals, then stop; a random
 * majority of voters reports its sealed log (broker/mode-switch.ts sealReport) and the coordinator
 * picks the fetch leader and the cut. The property: the chosen log, cut there, holds every entry
 * any node applied (committed). The planted `switch-before-commit` (take the first reporter's
 * log, without waiting for a majority) must break it on some seed.
 */
import { describe, expect, it } from "vitest";
import { CountingRandom, TestNetwork } from "../raft/testing.ts";
import { sealReport } from "../broker/mode-switch.ts";
import { raftToFetch, type RaftSeal, type SwitchView } from "./mode-switch.ts";
import type { TopicState } from "./state.ts";

const VOTERS = ["n1", "n2", "n3"];

interface Outcome {
  readonly lost: string[];
  readonly decided: boolean;
  readonly committed: number;
}

function run(seed: number, plant: boolean): Outcome {
  const random = new CountingRandom(`mode-switch-raft/${seed}`);
  const network = new TestNetwork(VOTERS, { settings: { electionTicks: 10, heartbeatTicks: 2 } });
  let values = 0;
  for (let step = 0; step < 60; step++) {
    const roll = random.int(10);
    if (roll === 0) {
      network.heal();
      network.isolate(VOTERS[random.int(VOTERS.length)]!);
    } else if (roll === 1) {
      network.heal();
    } else if (roll <= 5) {
      for (const leader of network.leaders()) network.propose(leader, `v${++values}`);
    }
    network.tick(1 + random.int(4));
  }
  // Sealed: the groups stop. What was applied anywhere was committed.
  const committed = new Map<number, number>();
  for (const node of network.nodes.values()) for (const output of node.of("raft.applied")) for (const entry of output.entries) committed.set(entry.index, entry.term);
  const reporters = [...VOTERS].sort(() => random.next() - 0.5).slice(0, plant ? 1 : 2);
  const seals = new Map<string, RaftSeal>();
  for (const id of reporters) {
    const core = network.node(id).core;
    const report = sealReport({ lastIndex: core.log.lastIndex, syncedIndex: core.syncedIndex, termAt: (index) => core.log.termAt(index), voteless: false });
    if (report !== undefined) seals.set(id, { ...report, term: core.term });
  }
  const partition = { replicas: VOTERS, leader: "n1", leaderEpoch: 1, isr: VOTERS, isrVersion: 0, mode: "raft" as const };
  const topic: TopicState = { topic: "t", replicationFactor: 3, replicationMode: "fetch", minInSync: 2, uncleanLeaderElection: false, partitions: [partition] };
  const view: SwitchView = { isAlive: () => true, endOffset: () => undefined, handedOver: () => false, sealed: (broker) => seals.get(broker), raftTerm: () => undefined, ...(plant ? { plant: "switch-before-commit" as const } : {}) };
  const decision = raftToFetch(topic, 0, view);
  if (decision === undefined) return { lost: [], decided: false, committed: committed.size };
  const chosen = network.node(decision.leader!).core.log;
  const lost = [...committed].filter(([index, term]) => index >= decision.endOffset || chosen.termAt(index) !== term).map(([index, term]) => `${index}@${term}`);
  return { lost, decided: true, committed: committed.size };
}

describe("raft → fetch picks a log holding every committed entry", () => {
  it("on every seed, whichever majority reports", () => {
    let decided = 0;
    let committed = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const outcome = run(seed, false);
      expect(outcome.lost, `seed ${seed}`).toEqual([]);
      if (outcome.decided) decided++;
      committed += outcome.committed;
    }
    expect(decided).toBeGreaterThan(30);
    expect(committed).toBeGreaterThan(200); // the runs commit entries: the property is not empty
  });

  it("the planted switch-before-commit loses committed entries on some seed", () => {
    const failing = Array.from({ length: 40 }, (_, index) => index + 1).filter((seed) => run(seed, true).lost.length > 0);
    expect(failing.length).toBeGreaterThan(0);
  });
});
