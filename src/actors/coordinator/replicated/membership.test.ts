/**
 * Coordinator membership changes (membership.ts) on replicas driven by hand: add a replica that
 * joins with no configuration (it catches up as a learner, then votes, and learns every address
 * from the log), remove one, and the typed refusals: unknown id, one change at a time, would
 * lose quorum, not the leader, a wiped replica re-added under its old id.
 */
import { describe, expect, it } from "vitest";
import { CoordinatorList } from "../../shared/retry.ts";
import { decodeBatch } from "../../../disk/batch-view.ts";
import { metaOf } from "../../raft/entries.ts";
import { CountingRandom, writeToMemoryDisk } from "../../raft/testing.ts";
import { DEFAULT_RAFT_SETTINGS, type HardState, type RaftMessage, type RaftOperation, type RaftRead, type Snapshot } from "../../raft/types.ts";
import { DEFAULT_COORDINATOR_SETTINGS } from "../limits.ts";
import { startState } from "../machine.ts";
import { stateDigest } from "./digest.ts";
import type { CoordinatorMembershipReply } from "./membership.ts";
import { createReplica, onPersisted, onRaftMessage, onReadDone, onRequest, onTick, type QuorumEffect, type QuorumReplica } from "./replica.ts";

const SETTINGS = { ...DEFAULT_COORDINATOR_SETTINGS, leaseMs: 1_000 };
const ADDRESSES: Record<string, string> = { c0: "h0:9090", c1: "h1:9090", c2: "h2:9090" };

interface Node {
  replica: QuorumReplica;
  disk: { batches: Uint8Array[]; hardState: HardState; snapshot?: Snapshot };
  readonly replies: { to: string; message: { type: string; requestId?: number; error?: { code: string; leader?: string } } }[];
  readonly notices: { type: string; addresses?: Record<string, string> }[];
}

class Harness {
  nowMs = 0;
  readonly nodes = new Map<string, Node>();
  readonly queue: { from: string; to: string; message: RaftMessage }[] = [];
  readonly cut = new Set<string>();

  constructor(readonly snapshotEvery = 0) {
    for (const id of Object.keys(ADDRESSES)) this.start(id, false);
  }

  start(id: string, joining: boolean): void {
    const disk = { batches: [], hardState: { term: 0, votedFor: null } };
    const node: Node = { replica: undefined as unknown as QuorumReplica, disk, replies: [], notices: [] };
    this.nodes.set(id, node);
    node.replica = this.boot(id, node.disk, joining);
  }

  private boot(id: string, disk: Node["disk"], joining: boolean): QuorumReplica {
    const clock = { now: () => this.nowMs };
    const random = new CountingRandom(`${id}:${this.nowMs}`);
    const recovered = { hardState: disk.hardState, entries: disk.batches.map((batch) => metaOf(decodeBatch(batch))), ...(disk.snapshot === undefined ? {} : { snapshot: disk.snapshot }) };
    return createReplica({
      basis: { self: id, settings: SETTINGS, clock, random },
      raft: { self: id, group: "coordinator", voters: joining ? [] : Object.keys(ADDRESSES), addresses: ADDRESSES, settings: DEFAULT_RAFT_SETTINGS, recovered, clock, random },
      start: startState(SETTINGS, undefined),
      reportDigests: false,
      snapshotEvery: this.snapshotEvery,
    });
  }

  node(id: string): Node {
    return this.nodes.get(id)!;
  }

  handle(id: string, effects: readonly QuorumEffect[]): void {
    const node = this.node(id);
    const operations: RaftOperation[] = [];
    const reads: { id: number; read: RaftRead }[] = [];
    for (const effect of effects) {
      if (effect.type === "effect.persist") {
        operations.push(effect.operation);
        writeToMemoryDisk(node.disk, effect.operation);
      } else if (effect.type === "effect.send") {
        const message = effect.message as { type: string };
        if (message.type.startsWith("raft.")) this.queue.push({ from: id, to: effect.to, message: effect.message as RaftMessage });
        else node.replies.push({ to: effect.to, message: effect.message as Node["replies"][number]["message"] });
      } else if (effect.type === "effect.read") {
        reads.push({ id: effect.id, read: effect.read });
      } else if (effect.type === "effect.notify") {
        node.notices.push(effect.output as Node["notices"][number]);
      }
    }
    if (operations.length > 0) this.handle(id, onPersisted(node.replica, operations, true));
    for (const { id: readId, read } of reads) this.handle(id, onReadDone(this.node(id).replica, readId, { batches: this.node(id).disk.batches.filter((batch) => decodeBatch(batch).baseOffset >= read.from) }));
  }

  deliver(): void {
    while (this.queue.length > 0) {
      const { from, to, message } = this.queue.shift()!;
      if (this.cut.has(from) || this.cut.has(to) || !this.nodes.has(to)) continue;
      this.handle(to, onRaftMessage(this.node(to).replica, from, message));
    }
  }

  tick(ticks: number): void {
    for (let index = 0; index < ticks; index++) {
      this.nowMs += DEFAULT_RAFT_SETTINGS.tickMs;
      for (const id of this.nodes.keys()) this.handle(id, onTick(this.node(id).replica));
      this.deliver();
    }
  }

  serving(): string | undefined {
    return [...this.nodes.keys()].find((id) => this.node(id).replica.serving !== undefined && !this.cut.has(id));
  }

  untilServing(): string {
    for (let round = 0; round < 300 && this.serving() === undefined; round++) this.tick(1);
    expect(this.serving(), "a leader serves").toBeDefined();
    return this.serving()!;
  }

  /** Send a membership request to `to` and tick until it is answered (or `ticks` pass). */
  change(to: string, requestId: number, change: "add" | "remove", node: string, address?: string, ticks = 400): CoordinatorMembershipReply | undefined {
    const before = this.node(to).replies.length;
    this.handle(to, onRequest(this.node(to).replica, "admin", { type: "coordinator.membership.request", requestId, change, node, ...(address === undefined ? {} : { address }) }));
    for (let round = 0; round < ticks; round++) {
      const answer = this.node(to).replies.slice(before).find((reply) => reply.message.type === "coordinator.membership.reply" && reply.message.requestId === requestId);
      if (answer !== undefined) return answer.message as CoordinatorMembershipReply;
      this.tick(1);
    }
    return undefined;
  }
}

describe("coordinator membership changes", () => {
  it("metadata replies list the voters and their addresses as they are now: a client's list follows adds and removes", () => {
    const harness = new Harness();
    const leader = harness.untilServing();
    const metadata = (requestId: number): { id: string; address: string }[] | undefined => {
      const before = harness.node(leader).replies.length;
      harness.handle(leader, onRequest(harness.node(leader).replica, "client", { type: "metadata.request", requestId, topics: null }));
      harness.tick(5);
      const reply = harness.node(leader).replies.slice(before).find((found) => found.message.type === "metadata.reply" && found.message.requestId === requestId);
      expect(reply, "the metadata request is answered").toBeDefined();
      return (reply!.message as { coordinators?: { id: string; address: string }[] }).coordinators;
    };
    expect(metadata(1)).toEqual(Object.entries(ADDRESSES).map(([id, address]) => ({ id, address })));
    harness.start("c3", true);
    expect(harness.change(leader, 2, "add", "c3", "h3:9090")?.error).toBeUndefined();
    const victim = ["c0", "c1", "c2"].find((id) => id !== leader)!;
    expect(harness.change(leader, 3, "remove", victim)?.error).toBeUndefined();
    harness.nodes.delete(victim);
    const members = metadata(4)!;
    expect(members.map((member) => member.id).sort()).toEqual(["c0", "c1", "c2", "c3"].filter((id) => id !== victim));
    expect(members.find((member) => member.id === "c3")?.address).toBe("h3:9090");
    // A client that knew only the bootstrap replicas takes the list from this reply.
    const list = new CoordinatorList(Object.keys(ADDRESSES));
    list.learnMembers(members.map((member) => member.id));
    expect(list.members).toContain("c3");
    expect(list.members).not.toContain(victim);
  });

  it("heartbeat and group heartbeat replies carry the committed voters with their config index, only when the echo differs", () => {
    const harness = new Harness();
    const leader = harness.untilServing();
    let requestId = 100;
    const ask = (from: string, message: Record<string, unknown>): { coordinators?: { id: string; address: string }[]; coordinatorsIndex?: number; error?: unknown } => {
      const id = requestId++;
      const before = harness.node(leader).replies.length;
      harness.handle(leader, onRequest(harness.node(leader).replica, from, { ...message, requestId: id }));
      harness.tick(5);
      const reply = harness.node(leader).replies.slice(before).find((found) => found.to === from && found.message.requestId === id);
      expect(reply, `${String(message["type"])} is answered`).toBeDefined();
      return reply!.message as ReturnType<typeof ask>;
    };
    const heartbeat = (echo?: number): ReturnType<typeof ask> => ask("b1", { type: "broker.heartbeat", broker: "b1", address: "hb:9092", serving: [], replicas: [], ...(echo === undefined ? {} : { coordinatorsIndex: echo }) });
    const first = heartbeat();
    expect(first.error).toBeUndefined();
    expect(first.coordinatorsIndex).toBe(-1); // the bootstrap configuration
    expect(first.coordinators).toEqual(Object.entries(ADDRESSES).map(([id, address]) => ({ id, address })));
    const same = heartbeat(-1);
    expect(same.coordinators).toBeUndefined();
    expect(same.coordinatorsIndex).toBeUndefined();

    harness.start("c3", true);
    expect(harness.change(leader, 2, "add", "c3", "h3:9090")?.error).toBeUndefined();
    const victim = ["c0", "c1", "c2"].find((id) => id !== leader)!;
    expect(harness.change(leader, 3, "remove", victim)?.error).toBeUndefined();
    harness.nodes.delete(victim);
    const changed = heartbeat(-1);
    expect(changed.coordinatorsIndex).toBeGreaterThan(-1);
    expect(changed.coordinators!.map((member) => member.id).sort()).toEqual(["c0", "c1", "c2", "c3"].filter((id) => id !== victim));
    expect(changed.coordinators!.find((member) => member.id === "c3")?.address).toBe("h3:9090");
    expect(heartbeat(changed.coordinatorsIndex).coordinators).toBeUndefined();
    // A joining group member gets the list too, and then not again.
    const joined = ask("m1", { type: "group.heartbeat", groupId: "g", memberId: "m1-id", memberEpoch: 0, topics: ["t"], owned: [] });
    expect(joined.error).toBeUndefined();
    expect(joined.coordinatorsIndex).toBe(changed.coordinatorsIndex);
    const again = ask("m1", { type: "group.heartbeat", groupId: "g", memberId: (joined as { memberId?: string }).memberId, memberEpoch: (joined as { memberEpoch?: number }).memberEpoch, owned: [], coordinatorsIndex: changed.coordinatorsIndex });
    expect(again.error).toBeUndefined();
    expect(again.coordinators).toBeUndefined();
  });

  it("adds a joining replica once it caught up (with a snapshot), removes one; every replica learns the addresses from the log", () => {
    const harness = new Harness(4);
    const leader = harness.untilServing();
    harness.handle(leader, onRequest(harness.node(leader).replica, "b0", { type: "broker.heartbeat", requestId: 1, broker: "b0" }));
    harness.tick(3);
    for (let index = 0; index < 10; index++) harness.handle(leader, onRequest(harness.node(leader).replica, "admin", { type: "topic.create", requestId: 100 + index, topic: `t${index}`, partitions: 1, replicationFactor: 1, replicationMode: "fetch" }));
    harness.tick(10);
    expect(harness.node(leader).replica.snapshotIndex).toBeGreaterThan(0);
    harness.start("c3", true);
    expect(harness.node("c3").replica.core.voters).toEqual([]);
    const added = harness.change(leader, 1, "add", "c3", "h3:9090");
    expect(added?.error).toBeUndefined();
    expect(added?.voters).toEqual(["c0", "c1", "c2", "c3"]);
    expect(added?.addresses).toEqual({ ...ADDRESSES, c3: "h3:9090" });
    harness.tick(5);
    // The new replica installed the snapshot, applied the rest, and knows every member's address.
    const c3 = harness.node("c3").replica;
    expect(c3.core.voters).toEqual(["c0", "c1", "c2", "c3"]);
    expect(c3.applied.topics.size).toBe(10);
    expect(stateDigest(c3.applied)).toBe(stateDigest(harness.node(leader).replica.applied));
    expect(harness.node("c3").notices.filter((notice) => notice.type === "coordinator.quorum.addresses").at(-1)?.addresses).toEqual({ ...ADDRESSES, c3: "h3:9090" });
    for (const id of ["c0", "c1", "c2"]) expect(harness.node(id).notices.filter((notice) => notice.type === "coordinator.quorum.addresses").at(-1)?.addresses).toMatchObject({ c3: "h3:9090" });

    // Remove a follower; the quorum keeps serving with the rest.
    const victim = ["c0", "c1", "c2"].find((id) => id !== leader)!;
    const removed = harness.change(leader, 2, "remove", victim);
    expect(removed?.error).toBeUndefined();
    expect(removed?.voters).not.toContain(victim);
    expect(removed?.addresses?.[victim]).toBeUndefined();
    harness.nodes.delete(victim);
    // The same remove again (a client's retry after a lost answer) gets the same answer; a remove
    // of a replica that never voted is refused.
    const again = harness.change(leader, 3, "remove", victim);
    expect(again?.error).toBeUndefined();
    expect(again?.voters).toEqual(removed?.voters);
    expect(harness.change(leader, 4, "remove", "c9")?.error?.code).toBe("UNKNOWN_COORDINATOR");
  });

  it("refuses typed: not the leader, unknown id, a voter re-added (a wiped replica must take a new id), one change at a time, would lose quorum, no catch-up", () => {
    const harness = new Harness();
    const leader = harness.untilServing();
    harness.tick(5);
    const follower = ["c0", "c1", "c2"].find((id) => id !== leader)!;
    const notLeader = harness.change(follower, 1, "remove", leader, undefined, 1);
    expect(notLeader?.error).toMatchObject({ code: "COORDINATOR_NOT_AVAILABLE", leader, leaderAddress: ADDRESSES[leader] });
    expect(harness.change(leader, 2, "remove", "c9")?.error?.code).toBe("UNKNOWN_COORDINATOR");
    expect(harness.change(leader, 3, "add", follower, "elsewhere:1")?.error?.code).toBe("UNKNOWN_COORDINATOR");
    expect(harness.change(leader, 4, "add", "c9", "not an address")?.error?.code).toBe("INVALID_REQUEST");
    // An add whose replica never starts: a second change meanwhile is refused; the add gives up.
    const before = harness.node(leader).replies.length;
    harness.handle(leader, onRequest(harness.node(leader).replica, "admin", { type: "coordinator.membership.request", requestId: 5, change: "add", node: "c9", address: "h9:1" }));
    expect(harness.change(leader, 6, "remove", follower, undefined, 1)?.error?.code).toBe("COORDINATOR_CHANGE_PENDING");
    harness.tick(Math.ceil(31_000 / DEFAULT_RAFT_SETTINGS.tickMs));
    const gaveUp = harness.node(leader).replies.slice(before).find((reply) => reply.message.requestId === 5)?.message;
    expect(gaveUp?.error?.code).toBe("COORDINATOR_NOT_CAUGHT_UP");
    expect(harness.node(leader).replica.core.voters).toEqual(["c0", "c1", "c2"]);
    // One follower down: removing the other live one would leave no majority.
    const [down, up] = ["c0", "c1", "c2"].filter((id) => id !== leader);
    harness.cut.add(down!);
    harness.tick(200);
    expect(harness.change(leader, 7, "remove", up!)?.error?.code).toBe("WOULD_LOSE_QUORUM");
    // Removing the one that is down is fine.
    expect(harness.change(leader, 8, "remove", down!)?.error).toBeUndefined();
  });
});
