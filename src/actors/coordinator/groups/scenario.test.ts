/**
 * Many members through the real coordinator machine, with a checker over the coordinator's group
 * notices (granted / released / committed) like the simulator's: no partition is held by two
 * members of a group at once, and every accepted commit comes from the partition's holder.
 *
 * - a property: random schedules of joins, heartbeats, leaves, static restarts, commits, pauses
 *   past the session timeout, subscription changes, a topic deleted and made again, and duplicated
 *   heartbeats, for two groups reading one topic; after every step the checker and the state's own
 *   overlap check hold, and once the survivors have heartbeated a few times each group is stable
 *   with every subscribed partition assigned exactly once (publish-subscribe across groups);
 * - the planted bugs, each shown to break the checker on a short script that passes without it.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CoordinatorPlant } from "../handlers.ts";
import type { GroupOutput } from "./batch.ts";
import { groupStateOf, overlaps } from "./state.ts";
import { TestMember, withTopics, type Harness } from "./test-harness.ts";

/** What the simulator's group checker will say of a stream of notices: one line per violation. */
export function groupViolations(outputs: readonly GroupOutput[]): string[] {
  const holder = new Map<string, string>();
  const violations: string[] = [];
  for (const output of outputs) {
    if (output.type === "coordinator.group.member.removed") continue;
    const key = `${output.groupId} ${output.topic}/${output.partition}`;
    const current = holder.get(key);
    if (output.type === "coordinator.group.granted") {
      if (current !== undefined && current !== output.memberId) violations.push(`${key} granted to ${output.memberId} while ${current} holds it`);
      holder.set(key, output.memberId);
    } else if (output.type === "coordinator.group.released") {
      if (current === output.memberId) holder.delete(key);
    } else if (current !== output.memberId) {
      violations.push(`${key} committed by ${output.memberId}, which does not hold it (${current ?? "nobody"} does)`);
    }
  }
  return violations;
}

const PARTITIONS = 8;
const SESSION_MS = 1000;

const AUDIT_PARTITIONS = 3;

type Step =
  | { readonly kind: "join" | "beat" | "leave" | "static-leave" | "commit" | "subscribe" | "duplicate"; readonly slot: number }
  | { readonly kind: "advance"; readonly ms: number }
  | { readonly kind: "audit" };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constantFrom("join" as const, "beat" as const, "commit" as const), slot: fc.nat(4) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom("leave" as const, "static-leave" as const, "subscribe" as const, "duplicate" as const), slot: fc.nat(4) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.integer({ min: 50, max: 1500 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("audit" as const) }) },
);

/** Slots 0–3 are members of group g (2 and 3 static); slot 4 is the only member of group h. */
class Cluster {
  readonly members: (TestMember | undefined)[] = [];
  readonly subscriptions: string[][] = [];
  auditExists = false;
  private generation = 0;
  private offset = 0;

  constructor(readonly c: Harness) {}

  run(next: Step): void {
    if (next.kind === "advance") return this.c.advance(next.ms);
    if (next.kind === "audit") {
      if (this.auditExists) this.c.deleteTopic("audit");
      else this.c.createTopic("audit", AUDIT_PARTITIONS);
      this.auditExists = !this.auditExists;
      return;
    }
    const member = this.members[next.slot];
    if (next.kind === "join") {
      if (member !== undefined) return this.beat(next.slot);
      const groupId = next.slot === 4 ? "h" : "g";
      const extra = next.slot === 2 || next.slot === 3 ? { instanceId: `host-${next.slot}` } : {};
      const joined = new TestMember(this.c, groupId, `m${next.slot}-${++this.generation}`, ["orders"], { sessionTimeoutMs: SESSION_MS, ...extra });
      this.members[next.slot] = joined;
      this.subscriptions[next.slot] = ["orders"];
      if (joined.join().error !== undefined) this.members[next.slot] = undefined;
      return;
    }
    if (member === undefined) return;
    if (next.kind === "beat") return this.beat(next.slot);
    if (next.kind === "commit") return this.commit(member);
    if (next.kind === "subscribe") {
      const topics = this.subscriptions[next.slot]!.length === 1 ? ["orders", "audit"] : ["orders"];
      this.subscriptions[next.slot] = topics;
      if (member.beat({ topics }).error !== undefined) this.members[next.slot] = undefined;
      return;
    }
    if (next.kind === "duplicate") {
      // The network delivers the member's last heartbeat again; the member ignores the reply.
      if (member.sent["memberEpoch"] !== undefined) this.c.heartbeat(member.memberId, member.sent);
      return;
    }
    if (next.kind === "static-leave" && member.last?.error === undefined && (next.slot === 2 || next.slot === 3)) member.beat({ memberEpoch: -2 });
    else member.leave();
    this.members[next.slot] = undefined;
  }

  beat(slot: number): void {
    const reply = this.members[slot]!.beat();
    // Fenced or forgotten: drop everything (uncommitted) and join again later as a new member.
    if (reply.error !== undefined) this.members[slot] = undefined;
  }

  commit(member: TestMember): void {
    if (member.owned.size === 0) return;
    const offsets = [...member.owned].map((key) => ({ topic: key.split("/")[0]!, partition: Number(key.split("/")[1]), offset: ++this.offset }));
    const reply = this.c.commit(member.groupId, member.memberId, member.epoch, offsets);
    for (const result of reply.results) expect([undefined, "FENCED_MEMBER_EPOCH", "STALE_MEMBER_EPOCH", "UNKNOWN_TOPIC_OR_PARTITION"]).toContain(result.error?.code);
  }

  /** Survivors heartbeat through a few session timeouts (the departed expire), then until stable. */
  settle(): void {
    for (let round = 0; round < 5; round++) {
      this.c.advance(SESSION_MS / 3);
      this.members.forEach((member, slot) => member !== undefined && this.beat(slot));
    }
    for (let round = 0; round < 4; round++) this.members.forEach((member, slot) => member !== undefined && this.beat(slot));
  }
}

function expectSafe(c: Harness): void {
  expect(groupViolations(c.groupOutputs())).toEqual([]);
  for (const group of c.state().groups.groups.values()) expect(overlaps(group)).toEqual([]);
}

describe("groups: many members, any schedule", () => {
  it("never lets two members of a group hold a partition at once, and settles with every partition assigned once per group", () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const cluster = new Cluster(withTopics({ orders: PARTITIONS }));
        for (const next of steps) {
          cluster.run(next);
          expectSafe(cluster.c);
        }
        cluster.settle();
        expectSafe(cluster.c);
        for (const groupId of ["g", "h"]) {
          const live = cluster.members.filter((member) => member?.groupId === groupId) as TestMember[];
          const group = cluster.c.state().groups.groups.get(groupId);
          if (live.length === 0) continue;
          expect(group?.members.size).toBe(live.length);
          const owned = live.flatMap((member) => [...member.owned]).sort();
          const subscribed = new Set(cluster.members.flatMap((member, slot) => (member?.groupId === groupId ? cluster.subscriptions[slot]! : [])));
          const expected = [...Array.from({ length: PARTITIONS }, (_, partition) => `orders/${partition}`), ...(cluster.auditExists && subscribed.has("audit") ? Array.from({ length: AUDIT_PARTITIONS }, (_, partition) => `audit/${partition}`) : [])];
          expect(owned).toEqual(expected.sort());
          expect(groupStateOf(group!)).toBe("stable");
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe("groups: planted bugs break the checker", () => {
  /** Member b joins a group where a holds everything; b heartbeats before a confirms its revocation. */
  function rebalanceScript(plant?: CoordinatorPlant): { c: Harness; overlap: string[] } {
    const c = withTopics({ orders: 4 }, plant === undefined ? {} : { plant });
    const a = new TestMember(c, "g", "a", ["orders"]);
    const b = new TestMember(c, "g", "b", ["orders"]);
    a.join();
    b.join();
    a.beat(); // told to revoke two
    b.beat(); // before a confirmed
    const overlap = overlaps(c.state().groups.groups.get("g")!);
    a.beat();
    b.beat();
    return { c, overlap };
  }

  it("assign-before-revoke: a partition is granted while its old owner still holds it", () => {
    const honest = rebalanceScript();
    expect(groupViolations(honest.c.groupOutputs())).toEqual([]);
    expect(honest.overlap).toEqual([]);
    const planted = rebalanceScript("assign-before-revoke");
    expect(groupViolations(planted.c.groupOutputs())).toEqual([expect.stringContaining("granted to b while a holds it"), expect.stringContaining("granted to b while a holds it")]);
    expect(planted.overlap).toHaveLength(2);
  });

  /** Member b's session expires while a heartbeats and takes its partitions; then b commits late. */
  function zombieScript(plant?: CoordinatorPlant): { c: Harness; code: string | undefined } {
    const c = withTopics({ orders: 2 }, plant === undefined ? {} : { plant });
    const a = new TestMember(c, "g", "a", ["orders"], { sessionTimeoutMs: SESSION_MS });
    const b = new TestMember(c, "g", "b", ["orders"], { sessionTimeoutMs: SESSION_MS });
    a.join();
    b.join();
    for (let round = 0; round < 3; round++) [a, b].forEach((member) => member.beat());
    for (let round = 0; round < 5; round++) {
      c.advance(300);
      a.beat();
    }
    const partition = Number([...b.owned][0]!.split("/")[1]);
    const code = c.commit("g", "b", b.epoch, [{ topic: "orders", partition, offset: 5 }]).results[0]!.error?.code;
    return { c, code };
  }

  it("accept-fenced-commit: a zombie's commit is accepted and seen as a commit by a non-holder", () => {
    const honest = zombieScript();
    expect(honest.code).toBe("FENCED_MEMBER_EPOCH");
    expect(groupViolations(honest.c.groupOutputs())).toEqual([]);
    const planted = zombieScript("accept-fenced-commit");
    expect(planted.code).toBeUndefined();
    expect(groupViolations(planted.c.groupOutputs())).toEqual([expect.stringContaining("committed by b, which does not hold it")]);
  });
});
