import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { AckLevel } from "../../actors/shared/messages.ts";
import { checkQueue, type AnomalyKind, type QueueCheckOptions, type QueueCheckResult } from "./checker.ts";
import { NULL_VALUE, QueueHistory, type PollOp, type QueueHistoryData, type QueueOp, type SendOkOp } from "./history.ts";

const TOPIC = "t";

/** A hand-written history, told step by step; each step is 1 ms after the last. */
class Story {
  readonly history = new QueueHistory();
  private now = 0;

  invoke(value: string, options: { acks?: AckLevel; partition?: number; process?: string } = {}): this {
    const send = { id: value, topic: TOPIC, value, acks: options.acks ?? -1 };
    this.history.sendInvoked(this.tick(), options.process ?? "p1", options.partition === undefined ? send : { ...send, partition: options.partition });
    return this;
  }

  ok(value: string, offset: number, options: { acks?: AckLevel; partition?: number; process?: string; ackedPartition?: number } = {}): this {
    this.invoke(value, options);
    this.history.sendOk(this.tick(), options.process ?? "p1", { id: value, topic: TOPIC, partition: options.ackedPartition ?? options.partition ?? 0, offset });
    return this;
  }

  /** The acknowledgement of a send invoked earlier (`invoke`). */
  okInvoked(value: string, offset: number, options: { partition?: number; process?: string } = {}): this {
    this.history.sendOk(this.tick(), options.process ?? "p1", { id: value, topic: TOPIC, partition: options.partition ?? 0, offset });
    return this;
  }

  fail(value: string, options: { acks?: AckLevel; process?: string } = {}): this {
    this.invoke(value, options);
    this.history.sendFailed(this.tick(), options.process ?? "p1", value, "NOT_LEADER");
    return this;
  }

  unknown(value: string, options: { acks?: AckLevel; process?: string } = {}): this {
    this.invoke(value, options);
    this.history.sendUnknown(this.tick(), options.process ?? "p1", value, "timeout");
    return this;
  }

  /** One delivery of records [offset, value] to a consumer. */
  poll(process: string, records: [number, string][], partition = 0): this {
    this.history.polled(this.tick(), process, { topic: TOPIC, partition, records: records.map(([offset, value]) => ({ offset, value })) });
    return this;
  }

  reset(process: string, offset: number, partition = 0): this {
    this.history.consumerReset(this.tick(), process, { topic: TOPIC, partition, offset });
    return this;
  }

  /** The consumer was at `from`, below the leader's log start `to`, and moved up to it. */
  skipDeleted(process: string, from: number, to: number, partition = 0): this {
    this.history.consumerReset(this.tick(), process, { topic: TOPIC, partition, offset: to, reason: "below the log start", deletedBelowStart: { fromOffset: from, toOffset: to } });
    return this;
  }

  /** The consumer moved past [from, to), which its broker answered CORRUPT_DATA for. */
  skipDamaged(process: string, from: number, to: number, partition = 0): this {
    this.history.consumerReset(this.tick(), process, { topic: TOPIC, partition, offset: to, reason: "damaged", skippedDamaged: { fromOffset: from, toOffset: to } });
    return this;
  }

  leaderChange(change: { partition?: number; epoch?: number; leader?: string; previousLeader?: string; unclean?: boolean } = {}): this {
    const { partition, epoch, ...known } = change;
    this.history.leaderChanged({ topic: TOPIC, partition: partition ?? 0, atMs: this.tick(), epoch: epoch ?? 2, ...known });
    return this;
  }

  /** A broker started acting as leader of partition 0 (or the given one) in an epoch. */
  claim(broker: string, epoch: number, partition = 0): this {
    this.history.leaderStarted({ atMs: this.tick(), topic: TOPIC, partition, epoch, broker });
    return this;
  }

  log(records: [number, string][], options: { partition?: number; replica?: string; highWatermark?: number; damaged?: [number, number][]; inSync?: boolean; leader?: boolean; batches?: [number, number, string][]; startOffset?: number } = {}): this {
    const { partition, replica, damaged, batches, ...rest } = options;
    const log = { topic: TOPIC, partition: partition ?? 0, replica: replica ?? "b1", records: records.map(([offset, value]) => ({ offset, value })), ...rest };
    const ranges = damaged?.map(([fromOffset, toOffset]) => ({ fromOffset, toOffset }));
    const digests = batches?.map(([baseOffset, lastOffset, digest]) => ({ baseOffset, lastOffset, digest }));
    this.history.finalLog({ ...log, ...(ranges === undefined ? {} : { damaged: ranges }), ...(digests === undefined ? {} : { batches: digests }) });
    return this;
  }

  /** Damage at rest cut [from, to) from a replica's copy (a Raft voter's cut, or a fetch-mode repair). */
  repaired(replica: string, from: number, to: number, partition = 0): this {
    this.history.rangeRepaired({ atMs: this.tick(), topic: TOPIC, partition, replica, fromOffset: from, toOffset: to, raftCut: true });
    return this;
  }

  check(options?: QueueCheckOptions): QueueCheckResult {
    return checkQueue(this.history, options);
  }

  private tick(): number {
    return ++this.now;
  }
}

const kinds = (result: QueueCheckResult): AnomalyKind[] => result.anomalies.map((anomaly) => anomaly.kind);
const allowedKinds = (result: QueueCheckResult): AnomalyKind[] => result.allowed.map((anomaly) => anomaly.kind);

/** Three acknowledged values at offsets 0..2, all polled in one delivery and all in the log. */
function cleanStory(): Story {
  return new Story()
    .ok("a0", 0)
    .ok("a1", 1)
    .ok("a2", 2)
    .poll("c1", [[0, "a0"], [1, "a1"], [2, "a2"]])
    .log([[0, "a0"], [1, "a1"], [2, "a2"]]);
}

describe("queue checker: a clean history passes", () => {
  it("accepts acknowledged, polled, logged values, with unknown and failed sends around them", () => {
    const story = cleanStory().unknown("u0").unknown("u1").fail("f0").ok("a3", 4);
    story.poll("c1", [[3, "u0"], [4, "a3"]]).log([[0, "a0"], [1, "a1"], [2, "a2"], [3, "u0"], [4, "a3"]], { replica: "b2" });
    const result = story.check();
    expect(result.anomalies).toEqual([]);
    expect(result.allowed).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.stats).toMatchObject({ sendsInvoked: 7, sendsOk: 4, sendsFailed: 1, sendsUnknown: 2, unknownWritten: 1, pollRecords: 5, pollDeliveries: 2, partitions: 1, committedRecords: 5, leftOut: 0 });
  });

  it("lets a consumer go back after a reset, and a lagging replica hold a prefix", () => {
    const story = cleanStory().reset("c1", 1).poll("c1", [[1, "a1"], [2, "a2"]]).log([[0, "a0"]], { replica: "b2" });
    expect(story.check().anomalies).toEqual([]);
  });
});

describe("queue checker: every rule has a history that must fail it", () => {
  it("lost-write: an acknowledged value is in no final log", () => {
    const result = new Story().ok("a0", 0).ok("a1", 1).poll("c1", [[0, "a0"]]).log([[0, "a0"]]).check();
    expect(kinds(result)).toEqual(["lost-write"]);
    expect(result.anomalies[0]!.values).toEqual(["a1"]);
    expect(result.ok).toBe(false);
  });

  it("lost-write beyond the damage promise (raft mode): allowed only once a majority of the voters lost an acknowledged offset", () => {
    // Raft promises nothing once damage at rest took one acknowledged entry from a majority: no
    // leader can be elected safely, and the partition's log is stranded (sim seed 32, --mode raft
    // --damage-at-rest: rot cut broker-1 and broker-2 below offsets 44-45 that broker-0 never had).
    const stranded = (): Story => new Story().ok("a0", 0).ok("a1", 1).ok("a2", 2).poll("c1", [[0, "a0"]]).log([], { replica: "b1" }).log([], { replica: "b2" }).log([], { replica: "b3" });
    const options = { damagedMajority: 2 };
    // One voter's loss is within the promise: the partition's emptiness is a loss.
    const one = stranded().repaired("b1", 1, 3).check(options);
    expect(kinds(one)).toContain("lost-write");
    expect(one.ok).toBe(false);
    // Two voters lost offset 2 — but different offsets each do not add up.
    const apart = stranded().repaired("b1", 1, 2).repaired("b2", 2, 3).check(options);
    expect(apart.ok).toBe(false);
    const two = stranded().repaired("b1", 1, 3).repaired("b2", 2, 3).check(options);
    expect(two.ok, JSON.stringify(two.anomalies)).toBe(true);
    expect(allowedKinds(two)).toContain("beyond-damage-promise");
    expect(allowedKinds(two).every((kind) => kind === "beyond-damage-promise")).toBe(true);
    // Fetch-mode repairs (refilled from the leader) are no such loss.
    const refilled = stranded();
    refilled.history.rangeRepaired({ atMs: 90, topic: TOPIC, partition: 0, replica: "b1", fromOffset: 0, toOffset: 9 });
    refilled.history.rangeRepaired({ atMs: 91, topic: TOPIC, partition: 0, replica: "b2", fromOffset: 0, toOffset: 9 });
    expect(refilled.check(options).ok).toBe(false);
    // Off (fetch mode, where a damaged copy refills from the leader): a loss still.
    expect(stranded().repaired("b1", 1, 3).repaired("b2", 2, 3).check().ok).toBe(false);
    // Another partition's damage excuses nothing here.
    expect(stranded().repaired("b1", 0, 9, 1).repaired("b2", 0, 9, 1).check(options).ok).toBe(false);
  });

  it("uncommitted-read beyond the damage promise: a polled offset is committed, acknowledged or not (sim seed 7036)", () => {
    // Replication factor 1 across a switch to raft mode: u0 was polled (committed) but its
    // acknowledgement never came; rot on the only copy took it, and the adoption cut the log there.
    const rotted = (): Story => new Story().unknown("u0").poll("c1", [[0, "u0"]]).log([], { replica: "b1", highWatermark: 0 });
    const options = { damagedMajority: 1 };
    expect(kinds(rotted().check(options))).toEqual(["uncommitted-read"]);
    const cut = rotted().repaired("b1", 0, 1).check(options);
    expect(cut.ok, JSON.stringify(cut.anomalies)).toBe(true);
    expect(allowedKinds(cut)).toEqual(["beyond-damage-promise"]);
    // A cut that missed the polled offset excuses nothing.
    expect(rotted().repaired("b1", 1, 2).check(options).ok).toBe(false);
  });

  it("lost-write: a polled value (so committed) is in no final log, even unacknowledged", () => {
    const result = new Story().ok("a0", 0).unknown("u1").ok("a2", 2).poll("c1", [[0, "a0"], [1, "u1"], [2, "a2"]]).log([[0, "a0"], [2, "a2"]]).check();
    expect(kinds(result)).toEqual(["lost-write"]);
    expect(result.anomalies[0]!.detail).toContain("polled by c1");
  });

  it("lost-write without final logs (Jepsen's rule): acknowledged below the highest polled offset, never polled", () => {
    const result = new Story().ok("a0", 0).ok("a1", 1).ok("a2", 2).poll("c1", [[0, "a0"]]).poll("c1", [[2, "a2"]]).check();
    expect(kinds(result)).toContain("lost-write");
    expect(result.anomalies.find((anomaly) => anomaly.kind === "lost-write")!.values).toEqual(["a1"]);
  });

  it("deleted-by-retention: a committed value the leader's retention deleted before a consumer moved past it is not unseen, where a final log starts above it (sim seed 9002 --acks 1 --replication-factor 3 --retention)", () => {
    // b1 led and deleted 0..2; b2 kept 1..2 to the end. c1 read a0, then found the log starting at 3.
    const story = () => new Story().ok("a0", 0).ok("a1", 1).ok("a2", 2).ok("a3", 3).poll("c1", [[0, "a0"]]);
    const logs = (s: Story): Story => s.log([[3, "a3"]], { startOffset: 3 }).log([[1, "a1"], [2, "a2"], [3, "a3"]], { replica: "b2", startOffset: 1 });
    const moved = logs(story().skipDeleted("c1", 1, 3).poll("c1", [[3, "a3"]])).check();
    expect(moved.anomalies).toEqual([]);
    expect(allowedKinds(moved)).toContain("deleted-by-retention");
    expect(moved.allowed.flatMap((finding) => finding.values)).toEqual(expect.arrayContaining(["a1", "a2"]));
    // Without the move, or past every final log's start (a leader that claimed a start no replica reached), they are unseen.
    expect(kinds(logs(story().poll("c1", [[3, "a3"]])).check())).toContain("unseen");
    const beyond = story().skipDeleted("c1", 1, 3).poll("c1", [[3, "a3"]]).log([[1, "a1"], [2, "a2"], [3, "a3"]], { startOffset: 1 }).check();
    expect(kinds(beyond)).toEqual(["unseen"]);
  });

  it("deleted-by-retention: an out-of-sync replica's stale log from offset 0 does not keep a deleted value from being excused (sim seed 9057 --acks 1 --replication-factor 3 --retention)", () => {
    const story = () => new Story().ok("a0", 0).ok("a1", 1).ok("a2", 2).poll("c1", [[0, "a0"], [1, "a1"], [2, "a2"]]).log([[2, "a2"]], { leader: true, inSync: true, startOffset: 2, highWatermark: 3 });
    const stale = story().log([[0, "x0"], [1, "x1"]], { replica: "b3", inSync: false, highWatermark: 0 }).check();
    expect(stale.anomalies).toEqual([]);
    expect(allowedKinds(stale)).toContain("deleted-by-retention");
    // An in-sync replica starting at 0 without them: lost.
    const inSync = story().log([[0, "x0"]], { replica: "b3", inSync: true, highWatermark: 1 }).check({ liveness: false });
    expect(kinds(inSync)).toContain("lost-write");
  });

  it("deleted-by-retention: below the start of every final log a loss is allowed; at or above it, a lost write", () => {
    // Retention deleted offsets 0-1 on both replicas; a2 (offset 2) is gone from a log that starts at 1.
    const story = new Story().ok("a0", 0).ok("a1", 1).ok("a2", 2).ok("a3", 3).poll("c1", [[0, "a0"], [1, "a1"]]).poll("c1", [[3, "a3"]]);
    story.log([[3, "a3"]], { startOffset: 2 }).log([[1, "a1"], [3, "a3"]], { replica: "b2", startOffset: 1 });
    const result = story.check();
    expect(allowedKinds(result)).toEqual(["deleted-by-retention"]);
    expect(result.allowed[0]!.values).toEqual(["a0"]);
    expect(kinds(result)).toEqual(["lost-write"]);
    expect(result.anomalies[0]!.values).toEqual(["a2"]);
  });

  it("unseen: a committed value nobody polled by the end (a liveness failure)", () => {
    const story = new Story().ok("a0", 0).unknown("u1").poll("c1", [[0, "a0"]]).log([[0, "a0"], [1, "u1"]]);
    expect(kinds(story.check())).toEqual(["unseen"]);
    expect(story.check().anomalies[0]!.values).toEqual(["u1"]);
    expect(story.check({ liveness: false }).ok).toBe(true);
  });

  it("unseen without final logs: an acknowledged value nobody polled", () => {
    const result = new Story().ok("a0", 0).ok("a1", 1).poll("c1", [[0, "a0"]]).check();
    expect(kinds(result)).toEqual(["unseen"]);
  });

  it("duplicate: one value at two offsets of the final log", () => {
    const result = new Story().ok("a0", 0).poll("c1", [[0, "a0"], [1, "a0"]]).log([[0, "a0"], [1, "a0"]]).check();
    expect(kinds(result)).toContain("duplicate");
    expect(kinds(result)).not.toContain("lost-write");
  });

  it("duplicate: one value polled at two offsets", () => {
    const result = new Story().ok("a0", 0).poll("c1", [[0, "a0"]]).poll("c2", [[3, "a0"]]).check({ liveness: false });
    expect(kinds(result)).toContain("duplicate");
  });

  it("inconsistent-offsets: two consumers see two values at one offset", () => {
    const result = new Story().unknown("u0").unknown("u1").poll("c1", [[0, "u0"]]).poll("c2", [[0, "u1"]]).check({ liveness: false });
    expect(kinds(result)).toEqual(["inconsistent-offsets"]);
    expect(result.anomalies[0]!.values).toEqual(["u0", "u1"]);
  });

  it("inconsistent-offsets: acknowledged at one offset, stored and polled at another", () => {
    const result = new Story().ok("a0", 0).ok("a1", 5).poll("c1", [[0, "a0"], [1, "a1"]]).log([[0, "a0"], [1, "a1"]]).check();
    expect(kinds(result)).toEqual(["inconsistent-offsets"]);
    expect(result.anomalies[0]!.detail).toContain("acknowledged at t/0@5");
  });

  it("inconsistent-offsets: two replicas hold different committed values at one offset", () => {
    const result = new Story().unknown("u0").unknown("u1").poll("c1", [[0, "u0"]]).log([[0, "u0"]]).log([[0, "u1"]], { replica: "b2" }).check({ liveness: false });
    expect(kinds(result)).toEqual(["inconsistent-offsets"]);
  });

  it("inconsistent-offsets: sent to one partition, acknowledged at another", () => {
    const result = new Story().ok("a0", 0, { partition: 0, ackedPartition: 1 }).poll("c1", [[0, "a0"]], 1).log([[0, "a0"]], { partition: 1 }).check();
    expect(kinds(result)).toEqual(["inconsistent-offsets"]);
  });

  it("aborted-read: a failed send is polled", () => {
    const result = new Story().ok("a0", 0).fail("f1").poll("c1", [[0, "a0"], [1, "f1"]]).check();
    expect(kinds(result)).toEqual(["aborted-read"]);
    expect(result.anomalies[0]!.values).toEqual(["f1"]);
  });

  it("aborted-read: a failed send is in the final log", () => {
    const result = new Story().fail("f0").log([[0, "f0"]]).check({ liveness: false });
    expect(kinds(result)).toEqual(["aborted-read"]);
  });

  it("nonmonotonic-poll: a later delivery goes back", () => {
    const result = cleanStory().poll("c1", [[1, "a1"]]).check();
    expect(kinds(result)).toEqual(["nonmonotonic-poll"]);
  });

  it("nonmonotonic-poll: a delivery repeats the last offset", () => {
    const result = cleanStory().poll("c1", [[2, "a2"]]).check();
    expect(kinds(result)).toEqual(["nonmonotonic-poll"]);
  });

  it("nonmonotonic-poll: a delivery before the offset the consumer was reset to", () => {
    const result = cleanStory().reset("c2", 2).poll("c2", [[1, "a1"], [2, "a2"]]).check();
    expect(kinds(result)).toEqual(["nonmonotonic-poll"]);
  });

  it("int-nonmonotonic-poll: one delivery out of order", () => {
    const result = new Story().ok("a0", 0).ok("a1", 1).poll("c1", [[1, "a1"], [0, "a0"]]).log([[0, "a0"], [1, "a1"]]).check();
    expect(kinds(result)).toEqual(["int-nonmonotonic-poll"]);
  });

  it("poll-skip: the next delivery jumps over a committed value", () => {
    const result = new Story().ok("a0", 0).ok("a1", 1).ok("a2", 2).poll("c1", [[0, "a0"]]).poll("c1", [[2, "a2"]]).poll("c2", [[1, "a1"]]).log([[0, "a0"], [1, "a1"], [2, "a2"]]).check();
    expect(kinds(result)).toEqual(["poll-skip"]);
    expect(result.anomalies[0]!.values).toEqual(["a1"]);
  });

  it("poll-skip: the first delivery after a reset starts past the reset offset", () => {
    const result = cleanStory().reset("c2", 0).poll("c2", [[1, "a1"], [2, "a2"]]).check();
    expect(kinds(result)).toEqual(["poll-skip"]);
  });

  it("int-poll-skip: one delivery jumps over a committed value", () => {
    const result = new Story().ok("a0", 0).ok("a1", 1).ok("a2", 2).poll("c1", [[0, "a0"], [2, "a2"]]).poll("c2", [[1, "a1"]]).log([[0, "a0"], [1, "a1"], [2, "a2"]]).check();
    expect(kinds(result)).toEqual(["int-poll-skip"]);
  });

  it("nonmonotonic-send: one producer's later send lands at a lower offset", () => {
    const result = new Story().ok("a0", 1).ok("a1", 0).poll("c1", [[0, "a1"], [1, "a0"]]).log([[0, "a1"], [1, "a0"]]).check();
    expect(kinds(result)).toEqual(["nonmonotonic-send"]);
    expect(result.anomalies[0]!.values).toEqual(["a0", "a1"]);
  });

  it("nonmonotonic-send: acks-0 sends (never acknowledged) stored out of invocation order", () => {
    const result = new Story().unknown("z0", { acks: 0 }).unknown("z1", { acks: 0 }).poll("c1", [[0, "z1"], [1, "z0"]]).log([[0, "z1"], [1, "z0"]]).check();
    expect(kinds(result)).toEqual(["nonmonotonic-send"]);
  });

  it("key-affinity: two acknowledged sends with one key land in different partitions", () => {
    const story = new Story();
    const keyed = (value: string, partition: number, offset: number): void => {
      story.history.sendInvoked(offset * 2 + partition, "p1", { id: value, topic: TOPIC, key: "k", value, acks: -1 });
      story.history.sendOk(offset * 2 + partition + 1, "p1", { id: value, topic: TOPIC, partition, offset });
    };
    keyed("a0", 0, 0);
    keyed("a1", 1, 0);
    story.poll("c1", [[0, "a0"]], 0).poll("c1", [[0, "a1"]], 1).log([[0, "a0"]], { partition: 0 }).log([[0, "a1"]], { partition: 1 });
    expect(kinds(story.check())).toEqual(["key-affinity"]);
  });

  it("phantom-value: a value nobody sent", () => {
    const result = cleanStory().poll("c1", [[3, "ghost"]]).log([[3, "ghost"]], { replica: "b2" }).check();
    expect(kinds(result)).toEqual(["phantom-value"]);
  });

  it("denied-write: a value the authorizer had to refuse is in a log (and polled); refused and absent passes", () => {
    const denied = { atMs: 5, process: "intruder", principal: "User:intruder", topic: TOPIC, partition: 0, value: "denied-0" };
    const written = cleanStory().poll("c1", [[3, "denied-0"]]).log([[0, "a0"], [1, "a1"], [2, "a2"], [3, "denied-0"]], { replica: "b2" });
    written.history.deniedWrites.push(denied);
    const result = written.check();
    expect(kinds(result)).toEqual(["denied-write"]);
    expect(result.anomalies[0]!.detail).toMatch(/produced by User:intruder \(intruder\).*the refused write was written/);
    const refused = cleanStory();
    refused.history.deniedWrites.push(denied);
    expect(refused.check().anomalies).toEqual([]);
  });

  it("multiple-outcomes: a producer reports one send both acknowledged and failed", () => {
    const story = cleanStory();
    story.history.sendFailed(99, "p1", "a1", "NOT_LEADER");
    const result = story.check();
    expect(kinds(result)).toContain("multiple-outcomes");
    expect(kinds(result)).toContain("aborted-read");
  });

  it("malformed-history: an outcome without an invocation, and a value sent twice", () => {
    const data: QueueHistoryData = {
      ops: [
        { type: "send.ok", atMs: 1, process: "p1", id: 7, value: "x", acks: -1, topic: TOPIC, partition: 0, offset: 0 },
        { type: "send.invoke", atMs: 2, process: "p1", id: 1, topic: TOPIC, value: "y", acks: -1 },
        { type: "send.invoke", atMs: 3, process: "p2", id: 1, topic: TOPIC, value: "y", acks: -1 },
      ],
      finalLogs: [],
      leaderChanges: [],
    };
    expect(kinds(checkQueue(data))).toEqual(["malformed-history", "malformed-history"]);
  });

  it("ignores a final log's uncommitted tail above its high watermark", () => {
    const result = cleanStory().log([[0, "a0"], [1, "a1"], [2, "a2"], [3, "junk"]], { replica: "b2", highWatermark: 3 }).check();
    expect(result.anomalies).toEqual([]);
  });

  it("caps each kind's list but still counts and fails", () => {
    const story = new Story();
    for (let index = 0; index < 5; index++) story.ok(`a${index}`, index);
    story.log([]);
    const result = story.check({ anomaliesPerKindMax: 2 });
    expect(result.anomalies).toHaveLength(2);
    expect(result.stats.counts["lost-write"]).toBe(5);
    expect(result.stats.leftOut).toBe(3);
    expect(result.ok).toBe(false);
  });
});

describe("queue checker: what each ack level allows", () => {
  /** a1 is acknowledged at offset 1 and then lost; `between` runs after the ack. */
  const lostAck = (acks: AckLevel, between: (story: Story) => void = () => undefined): QueueCheckResult => {
    const story = new Story().ok("a0", 0, { acks }).ok("a1", 1, { acks });
    between(story);
    return story.poll("c1", [[0, "a0"]]).log([[0, "a0"]]).check();
  };

  it("acks -1: a lost acknowledged write is an anomaly, leader change or not", () => {
    expect(kinds(lostAck(-1))).toEqual(["lost-write"]);
    expect(kinds(lostAck(-1, (story) => story.leaderChange()))).toEqual(["lost-write"]);
    const clean = lostAck(-1, (story) => story.leaderChange({ epoch: 5, previousLeader: "b1", leader: "b2", unclean: false }));
    expect(kinds(clean)).toEqual(["lost-write"]);
    expect(clean.allowed).toEqual([]);
  });

  it("acks 1: the same loss is an anomaly without a leader change after the ack", () => {
    expect(kinds(lostAck(1))).toEqual(["lost-write"]);
    const changedBefore = new Story().leaderChange().ok("a0", 0, { acks: 1 }).ok("a1", 1, { acks: 1 }).poll("c1", [[0, "a0"]]).log([[0, "a0"]]).check();
    expect(kinds(changedBefore)).toEqual(["lost-write"]);
  });

  it("acks 1: a loss across a leader change is allowed, and named", () => {
    const result = lostAck(1, (story) => story.leaderChange());
    expect(result.ok).toBe(true);
    expect(allowedKinds(result)).toEqual(["lost-write-after-leader-change"]);
    expect(result.allowed[0]!.values).toEqual(["a1"]);
  });

  it("acks 1: the excused loss names the first leader change after the ack", () => {
    const result = new Story()
      .leaderChange({ epoch: 4, leader: "b1" })
      .ok("a0", 0, { acks: 1 })
      .ok("a1", 1, { acks: 1 })
      .leaderChange({ epoch: 5, previousLeader: "b1", leader: "b2" })
      .leaderChange({ epoch: 6, previousLeader: "b2", leader: "b3" })
      .poll("c1", [[0, "a0"]])
      .log([[0, "a0"]])
      .check();
    expect(allowedKinds(result)).toEqual(["lost-write-after-leader-change"]);
    expect(result.allowed[0]!.detail).toContain("epoch 4 → 5, b1 → b2 at 6 ms");
    expect(result.allowed[0]!.detail).not.toContain("unclean");
    expect(result.allowed[0]!.ops).toContainEqual({ type: "leader.change", topic: TOPIC, partition: 0, atMs: 6, epoch: 5, previousLeader: "b1", leader: "b2" });
  });

  it("acks 1: the change is described from what is known, and an unclean election is named", () => {
    const onlyNew = lostAck(1, (story) => story.leaderChange({ epoch: 5, leader: "b2" }));
    expect(onlyNew.allowed[0]!.detail).toContain("epoch 5, new leader b2 at 5 ms");
    const fromBefore = new Story().leaderChange({ epoch: 4, leader: "b1" }).ok("a0", 0, { acks: 1 }).leaderChange({ epoch: 5, leader: "b2" }).log([]).check();
    expect(fromBefore.allowed[0]!.detail).toContain("epoch 4 → 5, b1 → b2 at 4 ms");
    const unclean = lostAck(1, (story) => story.leaderChange({ epoch: 5, previousLeader: "b1", leader: "b3", unclean: true }));
    expect(unclean.ok).toBe(true);
    expect(unclean.allowed[0]!.detail).toContain("epoch 5, b1 → b3 at 5 ms (unclean election: possible loss)");
  });

  it("acks 1: a reply a pause held past the leader change is dated by the leader's decision (sim seed 1110)", () => {
    // Decided at 1 ms (its lease live), held by a pause of the leader, received at 500 ms after
    // the election at 200 ms: the change came after the decision, so the loss is the acks-1 kind.
    const held = (decidedAtMs: number) => {
      const history = new QueueHistory();
      history.sendInvoked(0, "p1", { id: "a0", topic: TOPIC, value: "a0", acks: 1 });
      history.leaderChanged({ topic: TOPIC, partition: 0, atMs: 200, epoch: 3, previousLeader: "b1", leader: "b0" });
      history.sendOk(500, "p1", { id: "a0", topic: TOPIC, partition: 0, offset: 0 }, decidedAtMs);
      history.finalLog({ topic: TOPIC, partition: 0, replica: "b0", records: [] });
      return checkQueue(history);
    };
    const paused = held(1);
    expect(paused.ok).toBe(true);
    expect(allowedKinds(paused)).toEqual(["lost-write-after-leader-change"]);
    expect(paused.allowed[0]!.detail).toContain("decided at 1 ms, its reply held by a pause");
    // Decided after the change (a deposed leader acknowledging): a lost write, as before.
    expect(kinds(held(300))).toEqual(["lost-write"]);
  });

  it("acks 1: the leader-change excuse can be turned off", () => {
    const story = new Story().ok("a0", 0, { acks: 1 }).leaderChange().log([]);
    expect(kinds(story.check({ lossAcrossLeaderChange: "anomaly" }))).toEqual(["lost-write-after-leader-change"]);
    expect(story.check({ lossAcrossLeaderChange: "anomaly" }).ok).toBe(false);
  });

  it("acks 1: an excused loss whose offset a new value took is not two values at one offset", () => {
    const story = new Story().ok("a0", 0, { acks: 1 }).leaderChange().ok("b0", 0, { acks: 1, process: "p2" }).poll("c1", [[0, "b0"]]).log([[0, "b0"]]);
    const result = story.check();
    expect(result.anomalies).toEqual([]);
    expect(allowedKinds(result)).toEqual(["lost-write-after-leader-change"]);
  });

  it("acks 1: a polled value is committed, so losing it is an anomaly even across a leader change", () => {
    const hole = new Story().ok("a0", 0, { acks: 1 }).poll("c1", [[0, "a0"]]).leaderChange().ok("a1", 1, { acks: 1 }).poll("c1", [[1, "a1"]]).log([[1, "a1"]]).check();
    expect(kinds(hole)).toEqual(["lost-write"]);
    // Past the end of the final log it reads as what it most likely was: a read of an uncommitted record.
    const truncated = new Story().ok("a0", 0, { acks: 1 }).poll("c1", [[0, "a0"]]).leaderChange().log([]).check();
    expect(kinds(truncated)).toEqual(["uncommitted-read"]);
    expect(allowedKinds(truncated)).toEqual(["lost-write-after-leader-change"]);
  });

  it("acks 0: the same loss is allowed (acknowledged or unknown)", () => {
    const acked = lostAck(0);
    expect(acked.ok).toBe(true);
    expect(allowedKinds(acked)).toEqual(["lost-write-at-acks-0"]);
    const unknown = new Story().unknown("z0", { acks: 0 }).unknown("z1", { acks: 0 }).poll("c1", [[0, "z0"]]).log([[0, "z0"]]).check();
    expect(unknown.anomalies).toEqual([]);
    expect(unknown.allowed).toEqual([]);
  });

  it("acks 0: duplicates and two values at one offset are still anomalies", () => {
    const duplicated = new Story().unknown("z0", { acks: 0 }).poll("c1", [[0, "z0"], [1, "z0"]]).log([[0, "z0"], [1, "z0"]]).check();
    expect(kinds(duplicated)).toEqual(["duplicate"]);
    const clashed = new Story().unknown("z0", { acks: 0 }).unknown("z1", { acks: 0 }).poll("c1", [[0, "z0"]]).log([[0, "z0"]]).log([[0, "z1"]], { replica: "b2" }).check({ liveness: false });
    expect(kinds(clashed)).toContain("inconsistent-offsets");
  });
});

describe("replication", () => {
  /**
   * Leader b1 (epoch 1, then again after a restart) lost leadership to b2 in epoch 2; b2 and b1
   * end in sync, b2 leading, b1's high watermark behind b2's and an uncommitted tail above it; b3
   * fell out of the in-sync set with a prefix.
   */
  function replicatedStory(): Story {
    return new Story()
      .claim("b1", 1)
      .ok("a0", 0)
      .claim("b1", 1)
      .ok("a1", 1)
      .leaderChange({ epoch: 2, previousLeader: "b1", leader: "b2" })
      .claim("b2", 2)
      .ok("a2", 2)
      .poll("c1", [[0, "a0"], [1, "a1"], [2, "a2"]])
      .log([[0, "a0"], [1, "a1"], [2, "a2"]], { replica: "b2", leader: true, inSync: true, highWatermark: 3, batches: [[0, 1, "d01"], [2, 2, "d2"]] })
      .log([[0, "a0"], [1, "a1"], [2, "a2"], [3, "tail"]], { replica: "b1", inSync: true, highWatermark: 2, batches: [[0, 1, "d01"], [2, 3, "other"]] })
      .log([[0, "a0"]], { replica: "b3", inSync: false });
  }

  it("accepts agreeing in-sync replicas, a lagging out-of-sync one, and one leader per epoch", () => {
    const result = replicatedStory().check();
    expect(result.anomalies).toEqual([]);
    expect(result.allowed).toEqual([]);
  });

  it("replica-divergence: an in-sync replica lacks a record below the committed point", () => {
    const result = replicatedStory().log([[0, "a0"], [2, "a2"]], { replica: "b4", inSync: true, highWatermark: 3 }).check();
    expect(kinds(result)).toEqual(["replica-divergence"]);
    expect(result.anomalies[0]!.detail).toBe("t/0: in-sync replica b4 differs from leader b2 below committed offset 3: at offset 1 b4 holds nothing and b2 holds a1");
    expect(result.anomalies[0]!.values).toEqual(["a1"]);
  });

  it("replica-divergence: an in-sync replica holds another value (which the merged log also calls inconsistent)", () => {
    const result = replicatedStory().unknown("u1").log([[0, "a0"], [1, "u1"]], { replica: "b4", inSync: true }).check({ liveness: false });
    expect(kinds(result)).toEqual(["inconsistent-offsets", "replica-divergence"]);
    expect(result.anomalies[1]!.detail).toContain("at offset 1 b4 holds u1 and b2 holds a1");
  });

  it("replica-divergence: same records, different bytes in a committed batch", () => {
    const result = replicatedStory().log([[0, "a0"], [1, "a1"]], { replica: "b4", inSync: true, batches: [[0, 1, "flipped"]] }).check();
    expect(kinds(result)).toEqual(["replica-divergence"]);
    expect(result.anomalies[0]!.detail).toContain("the batch at offset 0 differs in bytes: 0..1 digest flipped on b4, 0..1 digest d01 on b2");
  });

  it("replica-divergence does not judge a replica outside the in-sync set, nor anything above the committed point", () => {
    const lagging = replicatedStory().log([[0, "a0"], [2, "a2"]], { replica: "b4", inSync: false }).check();
    expect(lagging.anomalies).toEqual([]);
    const noLeader = new Story().ok("a0", 0).poll("c1", [[0, "a0"]]).log([[0, "a0"]], { inSync: true }).log([], { replica: "b2", inSync: true, highWatermark: 1 }).check();
    expect(noLeader.anomalies).toEqual([]);
  });

  it("replica-divergence compares only what both replicas still hold: retention runs on each broker's own clock (sim seed 9077 --retention)", () => {
    const retained = replicatedStory().log([[2, "a2"]], { replica: "b4", inSync: true, highWatermark: 3, startOffset: 2, batches: [[2, 2, "d2"]] }).check();
    expect(retained.anomalies).toEqual([]);
    const differsAbove = replicatedStory().log([[1, "x1"], [2, "a2"]], { replica: "b4", inSync: true, highWatermark: 3, startOffset: 1 }).check({ liveness: false });
    expect(kinds(differsAbove)).toContain("replica-divergence");
    expect(differsAbove.anomalies.find((anomaly) => anomaly.kind === "replica-divergence")!.detail).toContain("at offset 1 b4 holds x1 and b2 holds a1");
  });

  it("uncommitted-read: a consumer saw a value the final log replaced, reported once as itself", () => {
    const result = new Story()
      .ok("a0", 0, { acks: 1 })
      .ok("a1", 1, { acks: 1 })
      .poll("c1", [[0, "a0"], [1, "a1"]])
      .leaderChange({ epoch: 2, previousLeader: "b1", leader: "b2" })
      .ok("n1", 1, { acks: 1, process: "p2" })
      .poll("c2", [[0, "a0"], [1, "n1"]])
      .log([[0, "a0"], [1, "n1"]], { replica: "b2", leader: true, inSync: true })
      .check();
    expect(kinds(result)).toEqual(["uncommitted-read"]);
    expect(result.anomalies[0]!.detail).toContain("c1 polled a1 at t/0@1 (5 ms), but the final committed log holds n1 (final log of b2) there");
    expect(result.anomalies[0]!.values).toEqual(["a1", "n1"]);
    expect(allowedKinds(result)).toEqual(["lost-write-after-leader-change"]);
  });

  it("uncommitted-read: a consumer saw a value past the end of every final log", () => {
    const result = new Story().ok("a0", 0).unknown("u1").poll("c1", [[0, "a0"], [1, "u1"]]).log([[0, "a0"]]).check();
    expect(kinds(result)).toEqual(["uncommitted-read"]);
    expect(result.anomalies[0]!.detail).toContain("the final logs end at offset 1 and none holds u1");
    // Appended, refused for want of replicas, read anyway, truncated: the read is the fault, not the refusal.
    const refused = new Story().ok("a0", 0).fail("f1").poll("c1", [[0, "a0"], [1, "f1"]]).log([[0, "a0"]]).check();
    expect(kinds(refused)).toEqual(["uncommitted-read"]);
  });

  it("uncommitted-read: the value was written again later, so the bad read is not also a duplicate", () => {
    const result = new Story()
      .ok("a0", 0)
      .unknown("u1")
      .ok("n1", 1, { process: "p2" })
      .poll("c1", [[0, "a0"], [1, "u1"]])
      .poll("c2", [[0, "a0"], [1, "n1"], [2, "u1"]])
      .log([[0, "a0"], [1, "n1"], [2, "u1"]])
      .check();
    expect(kinds(result)).toEqual(["uncommitted-read"]);
  });

  it("uncommitted-read needs a final log: without one, two values at one offset stay inconsistent-offsets", () => {
    const result = new Story().unknown("u0").unknown("u1").poll("c1", [[0, "u0"]]).poll("c2", [[0, "u1"]]).check({ liveness: false });
    expect(kinds(result)).toEqual(["inconsistent-offsets"]);
  });

  it("two-leaders: two brokers claimed one partition in one epoch", () => {
    const result = replicatedStory().claim("b3", 2).check();
    expect(kinds(result)).toEqual(["two-leaders"]);
    expect(result.anomalies[0]!.detail).toBe("t/0 epoch 2: 2 brokers claimed leadership: b2 at 8 ms, b3 at 12 ms");
    expect(result.anomalies[0]!.ops).toEqual([
      { type: "leader.claim", atMs: 8, topic: TOPIC, partition: 0, epoch: 2, broker: "b2" },
      { type: "leader.claim", atMs: 12, topic: TOPIC, partition: 0, epoch: 2, broker: "b3" },
    ]);
  });

  it("two-leaders is only that: one epoch per partition, any broker claiming again or an old epoch later is not it", () => {
    const result = replicatedStory().claim("b2", 2).claim("b1", 1).claim("b3", 2, 1).check();
    expect(result.anomalies).toEqual([]);
  });
});

describe("queue history recorder", () => {
  it("copies value and ack level onto outcomes, numbers deliveries, skips empty ones", () => {
    const history = new QueueHistory();
    history.sendInvoked(1, "p1", { id: 1, topic: TOPIC, key: "k", value: "v1", acks: 1 });
    history.sendInvoked(2, "p1", { id: 2, topic: TOPIC, value: "v2", acks: 0 });
    history.sendOk(3, "p1", { id: 1, topic: TOPIC, partition: 2, offset: 9 });
    history.polled(4, "c1", { topic: TOPIC, partition: 2, records: [] });
    history.polled(5, "c1", { topic: TOPIC, partition: 2, records: [{ offset: 9, value: "v1" }] });
    history.polled(6, "c1", { topic: TOPIC, partition: 2, records: [{ offset: 10, value: "v3" }, { offset: 11, value: "v4" }] });
    expect(history.ops[2]).toEqual({ type: "send.ok", atMs: 3, process: "p1", id: 1, value: "v1", acks: 1, topic: TOPIC, partition: 2, offset: 9 });
    expect(history.ops.filter((op): op is PollOp => op.type === "poll").map((op) => op.group)).toEqual([0, 1, 1]);
    expect(history.pendingSends().map((op) => op.value)).toEqual(["v2"]);
  });

  it("records leader claims, and final logs with their replication fields as given", () => {
    const history = new QueueHistory();
    history.leaderStarted({ atMs: 1, topic: TOPIC, partition: 0, epoch: 3, broker: "b1" });
    history.leaderChanged({ topic: TOPIC, partition: 0, atMs: 2, epoch: 4, leader: "b2", previousLeader: "b1", unclean: true });
    history.finalLog({ topic: TOPIC, partition: 0, replica: "b2", records: [], highWatermark: 0, inSync: true, leader: true, batches: [{ baseOffset: 0, lastOffset: 1, digest: "d" }] });
    expect(history.leaderClaims).toEqual([{ atMs: 1, topic: TOPIC, partition: 0, epoch: 3, broker: "b1" }]);
    expect(history.leaderChanges[0]).toMatchObject({ previousLeader: "b1", unclean: true });
    expect(history.finalLogs[0]).toMatchObject({ inSync: true, leader: true, batches: [{ baseOffset: 0, lastOffset: 1, digest: "d" }] });
  });

  it("takes the producer's and consumer's outputs as they come", () => {
    const history = new QueueHistory();
    for (const id of [1, 2, 3]) history.sendInvoked(id, "p1", { id, topic: TOPIC, value: `v${id}`, acks: id === 1 ? 0 : -1 });
    history.sendSent(4, "p1", { id: 1, partition: 3 });
    history.sendErrored(5, "p1", { id: 2, partition: 3, error: { code: "MESSAGE_TOO_LARGE", message: "too big" }, outcome: "failed" });
    history.sendErrored(6, "p1", { id: 3, error: { code: "REQUEST_TIMED_OUT", message: "no answer" }, outcome: "unknown" });
    history.polled(7, "c1", { topic: TOPIC, partition: 3, records: [{ offset: 0, value: new TextEncoder().encode("v1") }, { offset: 1, value: null }] });
    history.consumerReset(8, "c1", { topic: TOPIC, partition: 3, offset: 0, reason: "assigned" });
    expect(history.ops.slice(3)).toEqual([
      { type: "send.unknown", atMs: 4, process: "p1", id: 1, value: "v1", acks: 0, reason: "acks 0: sent, never acknowledged", partition: 3 },
      { type: "send.fail", atMs: 5, process: "p1", id: 2, value: "v2", acks: -1, error: "MESSAGE_TOO_LARGE", partition: 3 },
      { type: "send.unknown", atMs: 6, process: "p1", id: 3, value: "v3", acks: -1, reason: "REQUEST_TIMED_OUT: no answer" },
      { type: "poll", atMs: 7, process: "c1", topic: TOPIC, partition: 3, offset: 0, value: "v1", group: 0 },
      { type: "poll", atMs: 7, process: "c1", topic: TOPIC, partition: 3, offset: 1, value: NULL_VALUE, group: 0 },
      { type: "consumer.reset", atMs: 8, process: "c1", topic: TOPIC, partition: 3, offset: 0, reason: "assigned" },
    ]);
  });

  it("refuses an outcome for a send it never saw (a harness bug)", () => {
    const history = new QueueHistory();
    expect(() => history.sendOk(1, "p1", { id: 1, topic: TOPIC, partition: 0, offset: 0 })).toThrow(/never invoked/);
    history.sendInvoked(1, "p1", { id: 1, topic: TOPIC, value: "v", acks: -1 });
    expect(() => history.sendInvoked(2, "p1", { id: 1, topic: TOPIC, value: "w", acks: -1 })).toThrow(/twice/);
  });
});

// ------------------------------------------------------------------ a correct model, and mutations of it

type Step =
  | { readonly kind: "invoke"; readonly producer: number; readonly partition: number; readonly acks: AckLevel }
  | { readonly kind: "settle"; readonly producer: number; readonly outcome: "ok" | "fail" | "unknown-written" | "unknown-lost" }
  | { readonly kind: "poll"; readonly consumer: number; readonly partition: number; readonly max: number }
  | { readonly kind: "reset"; readonly consumer: number; readonly partition: number; readonly to: number }
  | { readonly kind: "leader"; readonly partition: number };

const PARTITIONS = 2;
const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("invoke" as const), producer: fc.nat(1), partition: fc.nat(PARTITIONS - 1), acks: fc.constantFrom<AckLevel>(-1, 0, 1) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("settle" as const), producer: fc.nat(1), outcome: fc.constantFrom("ok" as const, "ok" as const, "fail" as const, "unknown-written" as const, "unknown-lost" as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("poll" as const), consumer: fc.nat(1), partition: fc.nat(PARTITIONS - 1), max: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reset" as const), consumer: fc.nat(1), partition: fc.nat(PARTITIONS - 1), to: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("leader" as const), partition: fc.nat(PARTITIONS - 1) }) },
);
const modelArbitrary = fc.record({ steps: fc.array(stepArbitrary, { minLength: 20, maxLength: 120, size: "medium" }), laggingReplicaKeeps: fc.double({ min: 0, max: 1, noNaN: true }) });

/**
 * A correct queue: one log per partition; each producer's sends are settled in the order it
 * invoked them and appended when written; consumers deliver the log in order from their position;
 * at the end a drain consumer reads everything, and the final logs are the model's logs (b1
 * leading; b2 in sync, lagging with a prefix and its high watermark at its end; a batch per
 * record). Every leader change comes with one claim, by b1 or b2, of the new epoch.
 */
function modelHistory(model: { readonly steps: readonly Step[]; readonly laggingReplicaKeeps: number }): QueueHistory {
  const history = new QueueHistory();
  const logs: string[][] = Array.from({ length: PARTITIONS }, () => []);
  const pending: { id: number; value: string; partition: number; acks: AckLevel }[][] = [[], []];
  const positions = new Map<string, number>();
  let sequence = 0;
  let now = 0;
  const deliver = (consumer: string, partition: number, max: number): void => {
    const from = positions.get(`${consumer}/${partition}`) ?? 0;
    const records = logs[partition]!.slice(from, from + max).map((value, index) => ({ offset: from + index, value }));
    history.polled(now, consumer, { topic: TOPIC, partition, records });
    positions.set(`${consumer}/${partition}`, from + records.length);
  };
  for (const step of model.steps) {
    now++;
    if (step.kind === "invoke") {
      const send = { id: sequence, value: `p${step.producer}-${sequence++}`, partition: step.partition, acks: step.acks };
      pending[step.producer]!.push(send);
      history.sendInvoked(now, `p${step.producer}`, { id: send.id, topic: TOPIC, partition: send.partition, value: send.value, acks: send.acks });
    } else if (step.kind === "settle") {
      const send = pending[step.producer]!.shift();
      if (send === undefined) continue;
      const process = `p${step.producer}`;
      const outcome = send.acks === 0 && step.outcome === "ok" ? "unknown-written" : step.outcome;
      const log = logs[send.partition]!;
      if (outcome === "ok" || outcome === "unknown-written") log.push(send.value);
      if (outcome === "ok") history.sendOk(now, process, { id: send.id, topic: TOPIC, partition: send.partition, offset: log.length - 1 });
      else if (outcome === "fail") history.sendFailed(now, process, send.id, "NOT_LEADER");
      else history.sendUnknown(now, process, send.id, "timeout");
    } else if (step.kind === "poll") {
      deliver(`c${step.consumer}`, step.partition, step.max);
    } else if (step.kind === "reset") {
      const to = step.to % (logs[step.partition]!.length + 1);
      history.consumerReset(now, `c${step.consumer}`, { topic: TOPIC, partition: step.partition, offset: to });
      positions.set(`c${step.consumer}/${step.partition}`, to);
    } else {
      history.leaderChanged({ topic: TOPIC, partition: step.partition, atMs: now, epoch: now });
      history.leaderStarted({ atMs: now, topic: TOPIC, partition: step.partition, epoch: now, broker: `b${(now % 2) + 1}` });
    }
  }
  for (let partition = 0; partition < PARTITIONS; partition++) {
    now++;
    history.consumerReset(now, "drain", { topic: TOPIC, partition, offset: 0 });
    while ((positions.get(`drain/${partition}`) ?? 0) < logs[partition]!.length) deliver("drain", partition, 3);
    const records = logs[partition]!.map((value, offset) => ({ offset, value }));
    const batches = records.map((record) => ({ baseOffset: record.offset, lastOffset: record.offset, digest: record.value }));
    const kept = Math.floor(records.length * model.laggingReplicaKeeps);
    history.finalLog({ topic: TOPIC, partition, replica: "b1", records, highWatermark: records.length, leader: true, inSync: true, batches });
    history.finalLog({ topic: TOPIC, partition, replica: "b2", records: records.slice(0, kept), highWatermark: kept, inSync: true, batches: batches.slice(0, kept) });
  }
  return history;
}

function copyOf(history: QueueHistory): { ops: QueueOp[]; finalLogs: QueueHistory["finalLogs"]; leaderChanges: QueueHistory["leaderChanges"]; leaderClaims: QueueHistory["leaderClaims"] } {
  return { ops: [...history.ops], finalLogs: [...history.finalLogs], leaderChanges: [...history.leaderChanges], leaderClaims: [...history.leaderClaims] };
}

const loggedValues = (history: QueueHistoryData): string[] => history.finalLogs.filter((log) => log.replica === "b1").flatMap((log) => log.records.map((record) => record.value));

/** Consecutive polls of one consumer session (same consumer and partition, no reset between). */
function sessionPollPairs(ops: readonly QueueOp[]): [number, number][] {
  const last = new Map<string, number>();
  const pairs: [number, number][] = [];
  ops.forEach((op, index) => {
    if (op.type !== "poll" && op.type !== "consumer.reset") return;
    const key = `${op.process}/${op.partition}`;
    if (op.type === "consumer.reset") {
      last.delete(key);
      return;
    }
    const previous = last.get(key);
    if (previous !== undefined) pairs.push([previous, index]);
    last.set(key, index);
  });
  return pairs;
}

describe("queue checker against a correct model", () => {
  it("never reports an anomaly for a history of a correct queue (and is deterministic)", () => {
    fc.assert(
      fc.property(modelArbitrary, (model) => {
        const history = modelHistory(model);
        const result = checkQueue(history);
        expect(result.anomalies).toEqual([]);
        expect(result.allowed).toEqual([]);
        expect(checkQueue(history)).toEqual(result);
      }),
      { numRuns: 200 },
    );
  });

  it("losing an acknowledged value is a lost-write, unless acks 1 and the leader changed after the ack", () => {
    fc.assert(
      fc.property(modelArbitrary, fc.nat(), (model, pick) => {
        const history = modelHistory(model);
        const acked = history.ops.filter((op): op is SendOkOp => op.type === "send.ok");
        fc.pre(acked.length > 0);
        const ok = acked[pick % acked.length]!;
        const data = copyOf(history);
        data.finalLogs = data.finalLogs.map((log) => ({ ...log, records: log.records.filter((record) => record.value !== ok.value) }));
        data.ops = data.ops.filter((op) => !(op.type === "poll" && op.value === ok.value));
        const result = checkQueue(data);
        const excused = ok.acks === 1 && history.leaderChanges.some((change) => change.partition === ok.partition && change.atMs > ok.atMs);
        if (excused) {
          expect(result.anomalies).toEqual([]);
          expect(result.allowed.map((anomaly) => [anomaly.kind, anomaly.values])).toEqual([["lost-write-after-leader-change", [ok.value]]]);
        } else {
          expect(result.anomalies.filter((anomaly) => anomaly.kind === "lost-write").map((anomaly) => anomaly.values)).toEqual([[ok.value]]);
        }
      }),
    );
  });

  it("dropping a logged value that was polled is a lost-write, or an uncommitted-read when it was the partition's last", () => {
    fc.assert(
      fc.property(modelArbitrary, fc.nat(), (model, pick) => {
        const history = modelHistory(model);
        const values = loggedValues(history);
        fc.pre(values.length > 0);
        const value = values[pick % values.length]!;
        const data = copyOf(history);
        data.finalLogs = data.finalLogs.map((log) => ({ ...log, records: log.records.filter((record) => record.value !== value) }));
        const log = history.finalLogs.find((candidate) => candidate.replica === "b1" && candidate.records.some((record) => record.value === value))!;
        const last = log.records[log.records.length - 1]!.value === value;
        const result = checkQueue(data);
        const expected = last ? "uncommitted-read" : "lost-write";
        expect(result.anomalies.some((anomaly) => anomaly.kind === expected && anomaly.values.includes(value))).toBe(true);
      }),
    );
  });

  it("swapping two polls of one consumer session is a nonmonotonic poll", () => {
    fc.assert(
      fc.property(modelArbitrary, fc.nat(), (model, pick) => {
        const history = modelHistory(model);
        const pairs = sessionPollPairs(history.ops);
        fc.pre(pairs.length > 0);
        const [first, second] = pairs[pick % pairs.length]!;
        const data = copyOf(history);
        [data.ops[first], data.ops[second]] = [data.ops[second]!, data.ops[first]!];
        const found = kinds(checkQueue(data));
        expect(found.some((kind) => kind === "nonmonotonic-poll" || kind === "int-nonmonotonic-poll")).toBe(true);
      }),
    );
  });

  it("storing a value a second time is a duplicate", () => {
    fc.assert(
      fc.property(modelArbitrary, fc.nat(), (model, pick) => {
        const history = modelHistory(model);
        const values = loggedValues(history);
        fc.pre(values.length > 0);
        const value = values[pick % values.length]!;
        const data = copyOf(history);
        data.finalLogs = data.finalLogs.map((log) => (log.replica === "b1" && log.partition === 0 ? { ...log, records: [...log.records, { offset: log.records.length, value }], highWatermark: log.records.length + 1 } : log));
        const result = checkQueue(data);
        expect(result.anomalies.some((anomaly) => anomaly.kind === "duplicate" && anomaly.values.includes(value))).toBe(true);
      }),
    );
  });

  it("marking a logged value's send failed is an aborted read", () => {
    fc.assert(
      fc.property(modelArbitrary, fc.nat(), (model, pick) => {
        const history = modelHistory(model);
        const logged = new Set(loggedValues(history));
        const outcomes = history.ops.flatMap((op, index) => ((op.type === "send.ok" || op.type === "send.unknown") && logged.has(op.value) ? [index] : []));
        fc.pre(outcomes.length > 0);
        const index = outcomes[pick % outcomes.length]!;
        const data = copyOf(history);
        const outcome = data.ops[index] as SendOkOp;
        data.ops[index] = { type: "send.fail", atMs: outcome.atMs, process: outcome.process, id: outcome.id, value: outcome.value, acks: outcome.acks, error: "NOT_LEADER" };
        const result = checkQueue(data);
        expect(result.anomalies.some((anomaly) => anomaly.kind === "aborted-read" && anomaly.values.includes(outcome.value))).toBe(true);
      }),
    );
  });

  it("changing a committed batch on the in-sync follower is a replica divergence", () => {
    fc.assert(
      fc.property(modelArbitrary, fc.nat(), (model, pick) => {
        const history = modelHistory(model);
        const follower = history.finalLogs.filter((log) => log.replica === "b2" && log.records.length > 0);
        fc.pre(follower.length > 0);
        const log = follower[pick % follower.length]!;
        const offset = pick % log.records.length;
        const data = copyOf(history);
        const batches = (log.batches ?? []).map((batch) => (batch.baseOffset === offset ? { ...batch, digest: `${batch.digest}-flipped` } : batch));
        data.finalLogs = data.finalLogs.map((candidate) => (candidate === log ? { ...log, batches } : candidate));
        const divergence = checkQueue(data).anomalies.filter((anomaly) => anomaly.kind === "replica-divergence");
        expect(divergence.map((anomaly) => anomaly.detail)).toEqual([expect.stringContaining(`the batch at offset ${offset} differs in bytes`)]);
      }),
    );
  });

  it("a second broker claiming an epoch already claimed is two leaders", () => {
    fc.assert(
      fc.property(modelArbitrary, fc.nat(), (model, pick) => {
        const history = modelHistory(model);
        fc.pre(history.leaderClaims.length > 0);
        const claim = history.leaderClaims[pick % history.leaderClaims.length]!;
        const data = copyOf(history);
        data.leaderClaims.push({ ...claim, atMs: claim.atMs + 1000, broker: "b3" });
        const found = checkQueue(data).anomalies.filter((anomaly) => anomaly.kind === "two-leaders");
        expect(found).toHaveLength(1);
      }),
    );
  });

  it("swapping the acknowledged offsets of two sends of one producer is a nonmonotonic send", () => {
    fc.assert(
      fc.property(modelArbitrary, fc.nat(), (model, pick) => {
        const history = modelHistory(model);
        const pairs: [number, number][] = [];
        const oks = history.ops.flatMap((op, index) => (op.type === "send.ok" ? [[op, index] as const] : []));
        for (let a = 0; a < oks.length; a++) {
          for (let b = a + 1; b < oks.length; b++) {
            if (oks[a]![0].process === oks[b]![0].process && oks[a]![0].partition === oks[b]![0].partition) pairs.push([oks[a]![1], oks[b]![1]]);
          }
        }
        fc.pre(pairs.length > 0);
        const [first, second] = pairs[pick % pairs.length]!;
        const data = copyOf(history);
        const [one, two] = [data.ops[first] as SendOkOp, data.ops[second] as SendOkOp];
        data.ops[first] = { ...one, offset: two.offset };
        data.ops[second] = { ...two, offset: one.offset };
        const found = kinds(checkQueue(data));
        expect(found).toContain("nonmonotonic-send");
      }),
    );
  });
});

describe("damage at rest", () => {
  /** a1 and a2 sat in a batch that rotted on the only replica; the consumer skipped it knowingly. */
  function rottedStory(): Story {
    return new Story()
      .ok("a0", 0)
      .ok("a1", 1)
      .ok("a2", 2)
      .ok("a3", 3)
      .poll("c1", [[0, "a0"]])
      .skipDamaged("c1", 1, 3)
      .poll("c1", [[3, "a3"]])
      .log([[0, "a0"], [3, "a3"]], { damaged: [[1, 3]] });
  }

  it("a loss inside a range the final log reports damaged is allowed with one replica, and named", () => {
    const result = rottedStory().check();
    expect(kinds(result)).toEqual([]);
    expect(allowedKinds(result)).toEqual(["lost-to-damage", "lost-to-damage"]);
    expect(result.allowed[0]!.detail).toContain("damaged at rest");
    expect(result.ok).toBe(true);
  });

  it("the same loss is an anomaly when damage must be repaired (replicas)", () => {
    expect(kinds(rottedStory().check({ lossToDamage: "anomaly" }))).toEqual(["lost-to-damage", "lost-to-damage"]);
  });

  it("a polled value inside a damaged range that later rotted is excused too; one just outside is a lost write", () => {
    const story = new Story()
      .ok("a0", 0)
      .ok("a1", 1)
      .ok("a2", 2)
      .ok("a3", 3)
      .poll("c1", [[0, "a0"], [1, "a1"], [2, "a2"], [3, "a3"]])
      .log([[0, "a0"], [3, "a3"]], { damaged: [[1, 2]] });
    const result = story.check();
    expect(allowedKinds(result)).toEqual(["lost-to-damage"]);
    expect(kinds(result)).toEqual(["lost-write"]);
    expect(result.anomalies[0]!.values).toEqual(["a2"]);
  });

  it("a value polled where the log later rotted and again at a readable offset (an unrecognisable retry) is excused; two readable copies are not", () => {
    const across = new Story().ok("a0", 0).ok("a1", 1).poll("c1", [[0, "a0"], [1, "a1"]]).log([[0, "a0"], [2, "a1"]], { damaged: [[1, 2]] }).check();
    expect(kinds(across)).toEqual([]);
    expect(allowedKinds(across)).toContain("duplicate-across-damage");
    const twice = new Story().ok("a0", 0).ok("a1", 1).poll("c1", [[0, "a0"], [1, "a1"]]).log([[0, "a0"], [1, "a1"], [2, "a1"]], { damaged: [[5, 6]] }).check();
    expect(kinds(twice)).toContain("duplicate");
  });

  it("a retry acknowledged after later sends because damage took its first copy (and the broker's sequence state) keeps its first place: no nonmonotonic-send; without the damage it is one", () => {
    // a's first attempt landed at @0 (its answer lost), b at @1; both rotted at rest; a's retry
    // was then taken as new and acknowledged at @2 (seeds 1035 and 1135 of the default workload).
    const story = (damaged: boolean): QueueCheckResult =>
      new Story()
        .invoke("a")
        .ok("b", 1)
        .poll("c1", [[0, "a"], [1, "b"]])
        .okInvoked("a", 2)
        .poll("c1", [[2, "a"]])
        .log([[2, "a"], ...(damaged ? [] : ([[0, "a"], [1, "b"]] as [number, string][]))], damaged ? { damaged: [[0, 2]] } : {})
        .check();
    expect(kinds(story(true))).toEqual([]);
    expect(allowedKinds(story(true))).toContain("duplicate-across-damage");
    expect(kinds(story(false))).toContain("duplicate");
    // A later send below an earlier one with no damage around is still caught.
    const reordered = new Story().invoke("a").ok("b", 0).okInvoked("a", 1).poll("c1", [[0, "b"], [1, "a"]]).log([[0, "b"], [1, "a"]]).check();
    expect(kinds(reordered)).toEqual(["nonmonotonic-send"]);
  });

  it("a consumer that skips a range the final log reads fine hid good data: skipped-undamaged", () => {
    const story = new Story()
      .ok("a0", 0)
      .ok("a1", 1)
      .ok("a2", 2)
      .poll("c1", [[0, "a0"]])
      .skipDamaged("c1", 1, 2)
      .poll("c1", [[2, "a2"]])
      .log([[0, "a0"], [1, "a1"], [2, "a2"]]);
    const result = story.check();
    expect(kinds(result)).toContain("skipped-undamaged");
    expect(result.anomalies.find((anomaly) => anomaly.kind === "skipped-undamaged")!.values).toEqual(["a1"]);
  });

  it("a skipped range that a replica later repaired from its leader is not skipped-undamaged; one it did not repair still is", () => {
    const story = (repaired: { fromOffset: number; toOffset: number }): Story => {
      const built = new Story()
        .ok("a0", 0)
        .ok("a1", 1)
        .ok("a2", 2)
        .ok("a3", 3)
        .poll("c1", [[0, "a0"]])
        .skipDamaged("c1", 1, 3)
        .poll("c1", [[3, "a3"]])
        .log([[0, "a0"], [1, "a1"], [2, "a2"], [3, "a3"]]);
      built.history.rangeRepaired({ atMs: 100, topic: TOPIC, partition: 0, replica: "b1", ...repaired });
      return built;
    };
    expect(kinds(story({ fromOffset: 1, toOffset: 3 }).check())).not.toContain("skipped-undamaged");
    const partly = story({ fromOffset: 1, toOffset: 2 }).check();
    expect(partly.anomalies.find((anomaly) => anomaly.kind === "skipped-undamaged")!.values).toEqual(["a2"]);
  });
});
