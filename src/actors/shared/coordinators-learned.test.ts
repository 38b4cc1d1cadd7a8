/**
 * Group members and pushers learn the coordinator quorum's voters from their regular replies
 * (group heartbeats, StartGet: CoordinatorsLearned): a newer list replaces the configured one —
 * removed replicas are never asked again, added ones are — and a deposed leader's late reply
 * with an older list changes nothing.
 */
import { describe, expect, it } from "vitest";
import { FakeCoordinator, MemberBench, TEST_MEMBER_INPUT } from "../member/testing.ts";
import { PusherBench } from "../pusher/testing.ts";
import type { CoordinatorMember } from "./messages.ts";
import { newerCoordinators } from "./coordinators-learned.ts";
import { CoordinatorList } from "./retry.ts";

const members = (ids: readonly string[]): CoordinatorMember[] => ids.map((id) => ({ id, address: `10.0.0.${id.length}:9090` }));
const BOOTSTRAP = ["c1", "c2", "c3"];
const REPLACED = ["c4", "c5", "c6"];

describe("newerCoordinators and CoordinatorList.learnFromReply", () => {
  it("takes only a well-formed list with a newer index", () => {
    expect(newerCoordinators({ coordinators: members(REPLACED), coordinatorsIndex: 4 }, undefined)).toEqual({ index: 4, voters: REPLACED });
    expect(newerCoordinators({ coordinators: members(REPLACED), coordinatorsIndex: 4 }, { index: 4, voters: BOOTSTRAP })).toBeUndefined();
    expect(newerCoordinators({ coordinators: members(BOOTSTRAP), coordinatorsIndex: 2 }, { index: 4, voters: REPLACED })).toBeUndefined();
    expect(newerCoordinators({ coordinators: members(REPLACED) }, undefined)).toBeUndefined();
    expect(newerCoordinators({ coordinators: [], coordinatorsIndex: 9 }, undefined)).toBeUndefined();
    expect(newerCoordinators({ coordinators: [{ id: "c4" }, { id: "c4" }, { id: 5 }, null], coordinatorsIndex: 9 }, undefined)).toEqual({ index: 9, voters: ["c4"] });
  });

  it("a list replaced by a newer one; an older one (a deposed leader's) ignored; rotation stays within the voters", () => {
    const list = new CoordinatorList(BOOTSTRAP);
    expect(list.echo).toEqual({});
    expect(list.learnFromReply({ coordinators: members(["c1", "c4", "c5"]), coordinatorsIndex: 7 })).toBe(true);
    expect(list.current).toBe("c1");
    expect(list.echo).toEqual({ coordinatorsIndex: 7 });
    expect(list.learnFromReply({ coordinators: members(REPLACED), coordinatorsIndex: 12 })).toBe(true);
    expect(list.learnFromReply({ coordinators: members(BOOTSTRAP), coordinatorsIndex: 3 })).toBe(false);
    expect(list.members).toEqual(REPLACED);
    const asked = new Set<string>();
    for (let turn = 0; turn < 9; turn++, list.rotate()) asked.add(list.current);
    expect(asked).toEqual(new Set(REPLACED));
  });
});

describe("a group member", () => {
  it("takes the voters from a heartbeat reply, echoes their index, and after its replica is gone asks only the new voters", () => {
    const coordinator = new FakeCoordinator();
    let index = 20;
    let stale = false;
    const removed = new Set(BOOTSTRAP);
    coordinator.onHeartbeat = (request, to) => {
      // The bootstrap replicas are stopped once the member has the new list; c5 leads.
      if (removed.has(to) && request.coordinatorsIndex !== undefined) return "drop";
      if (to !== "c1" && to !== "c5") return "drop";
      const reply = coordinator.acceptHeartbeat(request);
      if (stale) return { ...reply, coordinators: members(BOOTSTRAP), coordinatorsIndex: 1 };
      return request.coordinatorsIndex === index ? reply : { ...reply, coordinators: members(REPLACED), coordinatorsIndex: index };
    };
    const bench = new MemberBench(coordinator, { coordinator: BOOTSTRAP }).start();
    expect(bench.outputsOf("member.joined")).toHaveLength(1);
    expect(bench.state.coordinators.members).toEqual(REPLACED);
    bench.advance(10_000);
    const heartbeats = bench.sentOf("group.heartbeat");
    expect(heartbeats[0]!.to).toBe("c1");
    const later = heartbeats.slice(1);
    expect(later.length).toBeGreaterThan(3);
    expect(later.every((item) => REPLACED.includes(item.to) && item.message.coordinatorsIndex === index)).toBe(true);
    expect(later[later.length - 1]!.to).toBe("c5");
    expect(bench.outputsOf("member.lost")).toHaveLength(0);
    // A deposed leader's late reply with the bootstrap configuration changes nothing.
    stale = true;
    bench.advance(3 * TEST_MEMBER_INPUT.sessionTimeoutMs);
    expect(bench.state.coordinators.members).toEqual(REPLACED);
    expect(bench.state.coordinators.echo).toEqual({ coordinatorsIndex: index });
    // A newer configuration replaces it.
    stale = false;
    index = 30;
    bench.advance(TEST_MEMBER_INPUT.sessionTimeoutMs);
    expect(bench.state.coordinators.echo).toEqual({ coordinatorsIndex: 30 });
  });
});

describe("a pusher", () => {
  it("takes the voters from a StartGet reply and echoes their index in the next one", () => {
    const bench = new PusherBench({ coordinator: BOOTSTRAP });
    let refusals = 0;
    bench.coordinator.onStartGet = (request) => {
      const reply = refusals++ === 0 ? bench.coordinator.refuse(request, { code: "BROKER_NOT_AVAILABLE", message: "no leader yet" }) : bench.coordinator.grant(request);
      return request.coordinatorsIndex === 8 ? reply : { ...reply, coordinators: members(REPLACED), coordinatorsIndex: 8 };
    };
    bench.send({ type: "pusher.member", memberId: "m-1", memberEpoch: 1 });
    bench.send({ type: "pusher.add", partitions: [{ topic: "orders", partition: 0 }] });
    bench.advance(0);
    expect(bench.state.coordinators.members).toEqual(REPLACED);
    bench.advance(2_000);
    const asks = bench.sentToCoordinator.filter((message) => message.type === "startget.request");
    expect(asks.length).toBeGreaterThan(1);
    expect((asks[0] as { coordinatorsIndex?: number }).coordinatorsIndex).toBeUndefined();
    expect((asks[1] as { coordinatorsIndex?: number }).coordinatorsIndex).toBe(8);
    // A timeout rotates within the new voters only.
    bench.state.coordinators.rotate();
    expect(REPLACED).toContain(bench.state.coordinators.current);
  });
});
