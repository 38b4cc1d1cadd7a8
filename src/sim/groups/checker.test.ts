import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { QueueHistory, type FinalLog } from "../queue/history.ts";
import { ackedSends, checkGroups, type AckedSend, type GroupCheckOptions, type GroupCheckResult, type GroupRule } from "./checker.ts";
import { GroupHistory, type GroupStart, type ReleaseReason } from "./history.ts";

const TOPIC = "t";

/** The value the workload sent to (partition, offset): unique, readable in messages. */
const valueAt = (partition: number, offset: number): string => `v${partition}-${offset}`;

/** A hand-written group history, told step by step; each step is 1 ms after the last. */
class Story {
  readonly history = new GroupHistory();
  readonly acked: AckedSend[] = [];
  readonly logs: FinalLog[] = [];
  private now = 0;

  subscribe(groupId: string, from?: GroupStart): this {
    this.history.subscribed(this.tick(), { groupId, topic: TOPIC, ...(from === undefined ? {} : { from }) });
    return this;
  }

  grant(groupId: string, memberId: string, options: { partition?: number; epoch?: number } = {}): this {
    this.history.granted(this.tick(), { groupId, memberId, memberEpoch: options.epoch ?? 1, topic: TOPIC, partition: options.partition ?? 0 });
    return this;
  }

  release(groupId: string, memberId: string, options: { partition?: number; reason?: ReleaseReason } = {}): this {
    this.history.released(this.tick(), { groupId, memberId, topic: TOPIC, partition: options.partition ?? 0, reason: options.reason ?? "revoked" });
    return this;
  }

  /** Member (on a process named after it unless given) finished the records at these offsets. */
  process(groupId: string, memberId: string, offsets: number[], options: { partition?: number; epoch?: number; process?: string } = {}): this {
    const partition = options.partition ?? 0;
    for (const offset of offsets) {
      this.history.processed(this.tick(), { process: options.process ?? memberId, groupId, memberId, memberEpoch: options.epoch ?? 1, topic: TOPIC, partition, offset, value: valueAt(partition, offset) });
    }
    return this;
  }

  commit(groupId: string, memberId: string, offset: number, partition = 0): this {
    this.history.commitAccepted(this.tick(), { groupId, memberId, topic: TOPIC, partition, offset });
    return this;
  }

  remove(groupId: string, memberId: string): this {
    this.history.memberRemoved(this.tick(), { groupId, memberId, reason: "session timeout" });
    return this;
  }

  lost(groupId: string, memberId: string, partitions: number[] = [0]): this {
    this.history.memberLost(this.tick(), { process: memberId, groupId, memberId, partitions: [{ topic: TOPIC, partitions }] });
    return this;
  }

  reset(groupId: string, offset: number, partition = 0): this {
    this.history.offsetsReset(this.tick(), { groupId, topic: TOPIC, partition, offset });
    return this;
  }

  crash(process: string): this {
    this.history.crashed(this.tick(), process);
    return this;
  }

  restart(process: string): this {
    this.history.restarted(this.tick(), process);
    return this;
  }

  /** Producers were told these offsets of a partition are written. */
  ack(offsets: number[], partition = 0): this {
    for (const offset of offsets) this.acked.push({ atMs: this.tick(), topic: TOPIC, partition, offset, value: valueAt(partition, offset) });
    return this;
  }

  /** A partition's final committed log holds these offsets. */
  log(offsets: number[], partition = 0): this {
    this.logs.push({ topic: TOPIC, partition, replica: "b1", records: offsets.map((offset) => ({ offset, value: valueAt(partition, offset) })) });
    return this;
  }

  check(options?: GroupCheckOptions): GroupCheckResult {
    return checkGroups(this.history, this.logs, this.acked, options);
  }

  private tick(): number {
    return ++this.now;
  }
}

const rulesOf = (result: GroupCheckResult): GroupRule[] => [...new Set(result.violations.map((violation) => violation.rule))].sort();
const messagesOf = (result: GroupCheckResult, rule: GroupRule): string[] => result.violations.filter((violation) => violation.rule === rule).map((violation) => violation.message);

/** Group g1 on partition 0: m1 takes offsets 0..1, hands over cleanly to m2, which takes 2..3. */
function cleanHandover(): Story {
  return new Story()
    .subscribe("g1", "earliest")
    .ack([0, 1, 2, 3])
    .log([0, 1, 2, 3])
    .grant("g1", "m1")
    .process("g1", "m1", [0, 1])
    .commit("g1", "m1", 2)
    .release("g1", "m1")
    .grant("g1", "m2", { epoch: 2 })
    .process("g1", "m2", [2, 3], { epoch: 2 })
    .commit("g1", "m2", 4);
}

describe("group-exclusivity", () => {
  it("passes a clean handover: revoked from the old owner, then granted to the new one", () => {
    const result = cleanHandover().check();
    expect(result.violations).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.figures).toMatchObject({ grants: 2, releases: { revoked: 1, removed: 0, left: 0 }, rebalancesPerGroup: { g1: 2 }, commitsAccepted: 2, duplicatesPerGroup: { g1: 0 }, zombieProcessed: 0 });
  });

  it("fails overlapping grants: the partition given to m2 before m1 released it (assign-before-revoke)", () => {
    const story = new Story().subscribe("g1", "earliest").ack([0, 1]).log([0, 1]).grant("g1", "m1").grant("g1", "m2", { epoch: 2 }).process("g1", "m1", [0, 1]).process("g1", "m2", [0, 1], { epoch: 2 });
    const result = story.check();
    expect(rulesOf(result)).toEqual(["group-exclusivity"]);
    expect(messagesOf(result, "group-exclusivity")[0]).toMatch(/group g1: t\/0 granted to m2 \(epoch 2\) at \d+ ms while m1 still owned it/);
  });

  it("fails processing after a revoke-release", () => {
    const story = cleanHandover().process("g1", "m1", [2]);
    const result = story.check();
    expect(rulesOf(result)).toEqual(["group-exclusivity"]);
    expect(messagesOf(result, "group-exclusivity")[0]).toMatch(/m1 \(m1\) processed group g1: t\/0@2 \(v0-2\) at \d+ ms after it was released from it \(revoked\) at \d+ ms; m2 owned it/);
  });

  it("fails processing a partition never granted, and processing at an epoch below the grant's", () => {
    const never = new Story().subscribe("g1").process("g1", "m1", [0]).check({ liveness: false });
    expect(messagesOf(never, "group-exclusivity")[0]).toMatch(/but was never granted it/);
    const stale = new Story().subscribe("g1").grant("g1", "m1", { epoch: 3 }).process("g1", "m1", [0], { epoch: 2 }).check({ liveness: false });
    expect(messagesOf(stale, "group-exclusivity")[0]).toMatch(/at member epoch 2, below epoch 3/);
  });

  it("fails a commit the coordinator accepted from a removed member (accept-fenced-commit)", () => {
    const story = new Story()
      .subscribe("g1", "earliest")
      .log([0, 1, 2, 3])
      .grant("g1", "m1")
      .process("g1", "m1", [0, 1])
      .remove("g1", "m1")
      .release("g1", "m1", { reason: "removed" })
      .grant("g1", "m2", { epoch: 2 })
      .process("g1", "m2", [0, 1, 2, 3], { epoch: 2 })
      .commit("g1", "m2", 4)
      .commit("g1", "m1", 2);
    const result = story.check();
    expect(rulesOf(result)).toEqual(["commit-monotonic", "group-exclusivity"]);
    expect(messagesOf(result, "group-exclusivity")[0]).toMatch(/accepted m1's commit of group g1: t\/0 offset 2 at \d+ ms after it was removed at \d+ ms \(session timeout\)/);
  });

  it("counts a zombie's processing after its removal as a figure, not a failure", () => {
    const story = new Story()
      .subscribe("g1", "earliest")
      .ack([0, 1, 2])
      .log([0, 1, 2])
      .grant("g1", "m1")
      .process("g1", "m1", [0])
      .commit("g1", "m1", 1)
      .remove("g1", "m1")
      .grant("g1", "m2", { epoch: 2 })
      .process("g1", "m1", [1, 2]) // m1 has not noticed yet
      .process("g1", "m2", [1, 2], { epoch: 2 })
      .commit("g1", "m2", 3);
    const result = story.check();
    expect(result.violations).toEqual([]);
    expect(result.figures.zombieProcessed).toBe(2);
    expect(result.figures.duplicatesPerGroup).toEqual({ g1: 2 });
    expect(result.figures.reprocessedPerGroup).toEqual({ g1: 2 });
  });

  it("fails a zombie that goes on processing after its process learnt it was no longer a member", () => {
    const story = new Story().subscribe("g1").grant("g1", "m1").remove("g1", "m1").process("g1", "m1", [0]).lost("g1", "m1").process("g1", "m1", [1]);
    const result = story.check({ liveness: false });
    expect(result.figures.zombieProcessed).toBe(1);
    expect(messagesOf(result, "group-exclusivity")).toHaveLength(1);
    expect(messagesOf(result, "group-exclusivity")[0]).toMatch(/processed group g1: t\/0@1 .* after its process learnt at \d+ ms that it was no longer a member/);
  });

  it("takes a repeated grant to the owner (a new epoch for a kept partition) as the same interval", () => {
    const story = new Story().subscribe("g1", "earliest").log([0, 1]).grant("g1", "m1").grant("g1", "m1", { epoch: 2 }).process("g1", "m1", [0]).process("g1", "m1", [1], { epoch: 2 });
    expect(story.check().violations).toEqual([]);
  });

  it("takes a release for removal as the member's removal: a zombie, not a fault", () => {
    const story = new Story().subscribe("g1").grant("g1", "m1").release("g1", "m1", { reason: "removed" }).process("g1", "m1", [0]);
    const result = story.check({ liveness: false });
    expect(result.violations).toEqual([]);
    expect(result.figures.zombieProcessed).toBe(1);
  });

  it("keeps exclusivity per group: two groups own one partition at once", () => {
    const story = new Story().subscribe("g1", "earliest").subscribe("g2", "earliest").ack([0]).log([0]).grant("g1", "m1").grant("g2", "n1").process("g1", "m1", [0]).process("g2", "n1", [0]);
    expect(story.check().violations).toEqual([]);
  });
});

describe("commit-monotonic", () => {
  it("passes equal and forward commits, and a commit below an old one after an operator reset", () => {
    const story = cleanHandover().commit("g1", "m2", 4).release("g1", "m2", { reason: "left" }).reset("g1", 1).grant("g1", "m3", { epoch: 3 }).process("g1", "m3", [1], { epoch: 3 }).commit("g1", "m3", 2);
    expect(story.check().violations).toEqual([]);
  });

  it("fails a commit that goes backwards", () => {
    const story = new Story().subscribe("g1", "earliest").log([0, 1, 2, 3]).grant("g1", "m1").process("g1", "m1", [0, 1, 2, 3]).commit("g1", "m1", 4).commit("g1", "m1", 2);
    const result = story.check();
    expect(rulesOf(result)).toEqual(["commit-monotonic"]);
    expect(messagesOf(result, "commit-monotonic")[0]).toMatch(/group g1: t\/0: the committed offset went back from 4 \(committed by m1 at \d+ ms\) to 2 \(m1 at \d+ ms\)/);
  });

  it("fails a commit below the point an operator reset the group to", () => {
    const story = new Story().subscribe("g1", "earliest").log([0, 1, 2, 3]).reset("g1", 3).grant("g1", "m1").process("g1", "m1", [0, 1, 2]).commit("g1", "m1", 1);
    const result = story.check({ liveness: false });
    expect(messagesOf(result, "commit-monotonic")[0]).toMatch(/went back from 3 \(operator reset at \d+ ms\) to 1/);
  });
});

describe("commit-beyond-processed", () => {
  it("fails a commit past an offset no member processed", () => {
    const story = new Story().subscribe("g1", "earliest").ack([0, 1, 2, 3]).log([0, 1, 2, 3]).grant("g1", "m1").process("g1", "m1", [0]).commit("g1", "m1", 3).process("g1", "m1", [1, 2, 3]);
    const result = story.check();
    expect(rulesOf(result)).toEqual(["commit-beyond-processed"]);
    expect(messagesOf(result, "commit-beyond-processed")[0]).toMatch(/group g1: t\/0: m1 committed offset 3 at \d+ ms, but no member of the group had processed 1\.\.2 \(v0-1, v0-2\) since where the group started \(offset 0\)/);
  });

  it("judges from the previous commit, not from the start", () => {
    const story = new Story().subscribe("g1", "earliest").log([0, 1, 2, 3, 4]).grant("g1", "m1").process("g1", "m1", [0, 1]).commit("g1", "m1", 2).process("g1", "m1", [2]).commit("g1", "m1", 5);
    expect(messagesOf(story.check({ liveness: false }), "commit-beyond-processed")[0]).toMatch(/processed 3\.\.4 .* since the previous committed point 2 \(committed by m1/);
  });

  it("takes a group from latest to start where it first processed", () => {
    const story = new Story().ack([0, 1, 2]).log([0, 1, 2, 3, 4]).subscribe("g1").grant("g1", "m1").process("g1", "m1", [3, 4]).ack([3, 4]).commit("g1", "m1", 5);
    const result = story.check();
    expect(result.violations).toEqual([]);
  });

  it("catches commit-before-processing: a member commits what it fetched, crashes, and the next owner skips the rest", () => {
    const story = new Story()
      .subscribe("g1", "earliest")
      .ack([0, 1, 2, 3, 4])
      .log([0, 1, 2, 3, 4])
      .grant("g1", "m1")
      .process("g1", "m1", [0])
      .commit("g1", "m1", 3) // fetched 0..2, committed before processing them
      .crash("m1")
      .remove("g1", "m1")
      .release("g1", "m1", { reason: "removed" })
      .grant("g1", "m2", { epoch: 2 })
      .process("g1", "m2", [3, 4], { epoch: 2 })
      .commit("g1", "m2", 5);
    const result = story.check();
    expect(rulesOf(result)).toEqual(["at-least-once-per-group", "commit-beyond-processed"]);
    expect(messagesOf(result, "at-least-once-per-group")[0]).toMatch(/group g1: t\/0 has 2 acknowledged record\(s\) .* offsets 1\.\.2 \(v0-1, v0-2\)/);
  });

  it("counts duplicates after a crash as a figure: the new owner resumes from the committed offset", () => {
    const story = new Story()
      .subscribe("g1", "earliest")
      .ack([0, 1, 2, 3, 4])
      .log([0, 1, 2, 3, 4])
      .grant("g1", "m1")
      .process("g1", "m1", [0, 1, 2, 3])
      .commit("g1", "m1", 2)
      .crash("m1")
      .remove("g1", "m1")
      .release("g1", "m1", { reason: "removed" })
      .restart("m1")
      .grant("g1", "m1b", { epoch: 2 })
      .process("g1", "m1b", [2, 3, 4], { epoch: 2, process: "m1" })
      .commit("g1", "m1b", 5);
    const result = story.check();
    expect(result.violations).toEqual([]);
    expect(result.figures).toMatchObject({ duplicatesPerGroup: { g1: 2 }, crashes: 1, membersRemoved: 1, releases: { revoked: 0, removed: 1, left: 0 }, zombieProcessed: 0 });
  });

  it("owes nothing an operator's forward reset skipped", () => {
    const story = new Story().subscribe("g1", "earliest").ack([0, 1, 2, 3, 4]).log([0, 1, 2, 3, 4]).reset("g1", 3).grant("g1", "m1").process("g1", "m1", [3, 4]).commit("g1", "m1", 5);
    expect(story.check().violations).toEqual([]);
  });
});

describe("at-least-once-per-group", () => {
  it("fails an acknowledged message a subscribed group never processed", () => {
    const story = new Story().subscribe("g1").subscribe("g2").ack([0, 1, 2]).log([0, 1, 2]).grant("g1", "m1").grant("g2", "n1").process("g1", "m1", [0, 1, 2]).process("g2", "n1", [0, 2]);
    const result = story.check();
    expect(rulesOf(result)).toEqual(["at-least-once-per-group"]);
    expect(messagesOf(result, "at-least-once-per-group")).toEqual([expect.stringMatching(/^group g2: t\/0 has 1 acknowledged record\(s\) after the group subscribed to t \(at 2 ms\) that no member processed by the end: offsets 1 \(v0-1\)$/)]);
  });

  it("owes nothing acknowledged before the group subscribed (from latest), and nothing before the liveness phase", () => {
    const story = new Story().subscribe("g1").ack([0, 1]).log([0, 1, 2]).subscribe("g2").ack([2]).grant("g1", "m1").grant("g2", "n1").process("g1", "m1", [0, 1, 2]).process("g2", "n1", [2]);
    expect(story.check().violations).toEqual([]);
    const early = new Story().subscribe("g1").ack([0, 1]).log([0, 1]);
    expect(rulesOf(early.check())).toEqual(["at-least-once-per-group"]);
    expect(early.check({ liveness: false }).ok).toBe(true);
  });

  it("reads acknowledged sends straight from a queue history", () => {
    const queue = new QueueHistory();
    queue.sendInvoked(1, "p1", { id: 1, topic: TOPIC, value: valueAt(0, 0), acks: -1 });
    queue.sendOk(2, "p1", { id: 1, topic: TOPIC, partition: 0, offset: 0 });
    const groups = new GroupHistory();
    groups.subscribed(0, { groupId: "g1", topic: TOPIC });
    expect(ackedSends(queue)).toHaveLength(1);
    expect(rulesOf(checkGroups(groups, [], ackedSends(queue)))).toEqual(["at-least-once-per-group"]);
  });
});

describe("pub-sub-completeness", () => {
  it("passes two groups that each see the whole topic", () => {
    const story = new Story().subscribe("g1", "earliest").subscribe("g2", "earliest").log([0, 1, 2]).ack([0, 1]).grant("g1", "m1").grant("g2", "n1").process("g1", "m1", [0, 1, 2]).process("g2", "n1", [0, 1, 2]);
    expect(story.check().violations).toEqual([]);
  });

  it("fails a second group missing records (here ones never acknowledged, so at-least-once is silent)", () => {
    const story = new Story().subscribe("g1", "earliest").subscribe("g2", "earliest").log([0, 1, 2, 3]).grant("g1", "m1").grant("g2", "n1").process("g1", "m1", [0, 1, 2, 3]).process("g2", "n1", [0, 1]);
    const result = story.check();
    expect(rulesOf(result)).toEqual(["pub-sub-completeness"]);
    expect(messagesOf(result, "pub-sub-completeness")).toEqual([expect.stringMatching(/^group g2: t\/0 has 2 record\(s\) of the final committed log at or above where the group started \(offset 0\) that no member processed by the end: offsets 2\.\.3 \(v0-2, v0-3\)$/)]);
  });

  it("fails two groups that split the topic between them, as if they were one group", () => {
    const story = new Story().ack([0, 1, 2, 3]).log([0, 1, 2, 3]).subscribe("g1", "earliest").subscribe("g2", "earliest").grant("g1", "m1").grant("g2", "n1").process("g1", "m1", [0, 1]).process("g2", "n1", [2, 3]);
    const result = story.check();
    expect(rulesOf(result)).toEqual(["pub-sub-completeness"]);
    expect(messagesOf(result, "pub-sub-completeness")).toHaveLength(2);
  });

  it("reports a record once per group when at-least-once already named it", () => {
    const story = new Story().subscribe("g1").ack([0, 1]).log([0, 1]).grant("g1", "m1").process("g1", "m1", [0]);
    expect(rulesOf(story.check())).toEqual(["at-least-once-per-group"]);
  });

  it("judges each partition of the topic", () => {
    const story = new Story().subscribe("g1", "earliest").log([0, 1], 0).log([0, 1], 1).grant("g1", "m1").grant("g1", "m1", { partition: 1 }).process("g1", "m1", [0, 1]).process("g1", "m1", [0], { partition: 1 });
    expect(messagesOf(story.check(), "pub-sub-completeness")).toEqual([expect.stringMatching(/t\/1 has 1 record.*offsets 1 \(v1-1\)/)]);
  });
});

describe("malformed histories and limits", () => {
  it("names a process that processed while crashed, and a release of something never granted", () => {
    const story = new Story().subscribe("g1").grant("g1", "m1").crash("m1").process("g1", "m1", [0]).release("g1", "m2");
    const result = story.check({ liveness: false });
    expect(messagesOf(result, "malformed-history")).toEqual([expect.stringMatching(/m1 processed t\/0@0 \(v0-0\) at \d+ ms while crashed/), expect.stringMatching(/released from m2 \(revoked\) at \d+ ms, which did not own it/)]);
  });

  it("keeps at most violationsPerRuleMax violations of a rule, counts the rest, and still fails", () => {
    const story = new Story().subscribe("g1");
    for (let partition = 0; partition < 3; partition++) story.grant("g1", "m1", { partition }).grant("g1", "m2", { partition });
    const result = story.check({ violationsPerRuleMax: 1 });
    expect(result.violations).toHaveLength(1);
    expect(result.figures.violationsPerRule).toEqual({ "group-exclusivity": 3 });
    expect(result.figures.leftOut).toBe(2);
    expect(result.ok).toBe(false);
  });
});

// ------------------------------------------------------------------ properties over a model

type Plant = "none" | "assign-before-revoke" | "commit-before-processing" | "accept-fenced-commit";

interface Command {
  readonly kind: "process" | "commit" | "handover" | "crash";
  readonly group: number;
  readonly partition: number;
  readonly count: number;
}

const PARTITIONS = 2;
const RECORDS = 6;

interface Seat {
  member: string;
  generation: number;
  epoch: number;
  /** Next offset the owner will process. */
  position: number;
  committed: number;
}

/**
 * A correct group run told as a story (or one with a planted bug): every group subscribes from
 * earliest, all records are acknowledged, and each partition's owner processes, commits, hands
 * over (commit, revoke, then grant) or crashes (removed, then a new member resumes from the
 * committed offset). At the end every owner finishes its partition.
 */
function modelRun(groups: number, commands: readonly Command[], plant: Plant): Story {
  const story = new Story();
  for (let group = 0; group < groups; group++) story.subscribe(`g${group}`, "earliest");
  const offsets = Array.from({ length: RECORDS }, (_, offset) => offset);
  for (let partition = 0; partition < PARTITIONS; partition++) story.ack(offsets, partition).log(offsets, partition);
  const seats = new Map<string, Seat>();
  const seatOf = (group: number, partition: number): Seat => seats.get(`${group}/${partition}`)!;
  const memberName = (group: number, partition: number, generation: number): string => `g${group}p${partition}m${generation}`;
  for (let group = 0; group < groups; group++) {
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const seat: Seat = { member: memberName(group, partition, 0), generation: 0, epoch: 1, position: 0, committed: 0 };
      seats.set(`${group}/${partition}`, seat);
      story.grant(`g${group}`, seat.member, { partition, epoch: 1 });
    }
  }
  const processUpTo = (groupId: string, seat: Seat, partition: number, end: number): void => {
    const range = offsets.slice(seat.position, end);
    story.process(groupId, seat.member, range, { partition, epoch: seat.epoch });
    seat.position = Math.max(seat.position, end);
  };
  for (const command of commands) {
    const group = command.group % groups;
    const { partition } = command;
    const groupId = `g${group}`;
    const seat = seatOf(group, partition);
    const end = Math.min(RECORDS, seat.position + command.count);
    switch (command.kind) {
      case "process":
        if (plant === "commit-before-processing" && end > seat.position) story.commit(groupId, seat.member, (seat.committed = end), partition);
        processUpTo(groupId, seat, partition, end);
        break;
      case "commit":
        story.commit(groupId, seat.member, (seat.committed = seat.position), partition);
        break;
      case "handover": {
        story.commit(groupId, seat.member, (seat.committed = seat.position), partition);
        const next = memberName(group, partition, seat.generation + 1);
        if (plant === "assign-before-revoke") story.grant(groupId, next, { partition, epoch: seat.epoch + 1 }).release(groupId, seat.member, { partition });
        else story.release(groupId, seat.member, { partition }).grant(groupId, next, { partition, epoch: seat.epoch + 1 });
        Object.assign(seat, { member: next, generation: seat.generation + 1, epoch: seat.epoch + 1, position: seat.committed });
        break;
      }
      case "crash": {
        const zombie = { ...seat };
        story.crash(seat.member).remove(groupId, seat.member).release(groupId, seat.member, { partition, reason: "removed" });
        const next = memberName(group, partition, seat.generation + 1);
        story.grant(groupId, next, { partition, epoch: seat.epoch + 1 });
        Object.assign(seat, { member: next, generation: seat.generation + 1, epoch: seat.epoch + 1, position: seat.committed });
        if (plant === "accept-fenced-commit") story.commit(groupId, zombie.member, zombie.position, partition);
        break;
      }
    }
  }
  for (const [key, seat] of seats) {
    const [group, partition] = key.split("/").map(Number) as [number, number];
    processUpTo(`g${group}`, seat, partition, RECORDS);
    story.commit(`g${group}`, seat.member, (seat.committed = RECORDS), partition);
  }
  return story;
}

const commandArbitrary = fc.record({
  kind: fc.constantFrom<Command["kind"]>("process", "process", "commit", "handover", "crash"),
  group: fc.nat({ max: 3 }),
  partition: fc.nat({ max: PARTITIONS - 1 }),
  count: fc.integer({ min: 1, max: 3 }),
});
const runArbitrary = fc.record({ groups: fc.integer({ min: 1, max: 3 }), commands: fc.array(commandArbitrary, { maxLength: 30 }) });

describe("properties: a correct model never fails, each planted bug always does", () => {
  it("passes every correct run, counting its duplicates", () => {
    fc.assert(
      fc.property(runArbitrary, ({ groups, commands }) => {
        const result = modelRun(groups, commands, "none").check();
        expect(result.violations).toEqual([]);
        expect(Object.keys(result.figures.duplicatesPerGroup)).toHaveLength(groups);
      }),
    );
  });

  it("assign-before-revoke fails group-exclusivity whenever a partition changed hands", () => {
    fc.assert(
      fc.property(runArbitrary, ({ groups, commands }) => {
        const handovers = commands.some((command) => command.kind === "handover");
        expect(rulesOf(modelRun(groups, commands, "assign-before-revoke").check()).includes("group-exclusivity")).toBe(handovers);
      }),
    );
  });

  it("commit-before-processing fails commit-beyond-processed whenever a batch was processed", () => {
    fc.assert(
      fc.property(runArbitrary, ({ groups, commands }) => {
        const processed = commands.some((command) => command.kind === "process");
        expect(rulesOf(modelRun(groups, commands, "commit-before-processing").check()).includes("commit-beyond-processed")).toBe(processed);
      }),
    );
  });

  it("accept-fenced-commit fails group-exclusivity whenever a member crashed", () => {
    fc.assert(
      fc.property(runArbitrary, ({ groups, commands }) => {
        const crashed = commands.some((command) => command.kind === "crash");
        expect(rulesOf(modelRun(groups, commands, "accept-fenced-commit").check()).includes("group-exclusivity")).toBe(crashed);
      }),
    );
  });
});
