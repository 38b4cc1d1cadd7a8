/**
 * A member that was itself stalled is not a silent broker (found by the simulator's push stall
 * scenario, scenarios/groups-push-consumer-stalls.txt: a process paused for 10 s). When its probe
 * timer finally fires, every session has been quiet for the length of the stall — but the member
 * sent no probe meanwhile. It probes first and keeps the sessions whose brokers answer; only a
 * broker that stays silent through its probes is given up.
 */
import { describe, expect, it } from "vitest";
import { PUSH_PROBE_INTERVAL_MS } from "../shared/push-messages.ts";
import { PusherBench } from "./testing.ts";

const ORDERS = "orders";

function started(): PusherBench {
  const bench = new PusherBench();
  bench.send({ type: "pusher.member", memberId: "m-1", memberEpoch: 1 });
  bench.send({ type: "pusher.add", partitions: [{ topic: ORDERS, partition: 0, offset: 0 }] });
  bench.advance(0);
  bench.flush();
  bench.produce(ORDERS, 0, ["a", "b"]);
  bench.flush();
  return bench;
}

describe("silence after the member's own stall", () => {
  it("keeps a session whose broker answers the first probe after a 10 s stall, and goes on in it", () => {
    const bench = started();
    const asked = bench.sentToCoordinator.length;
    bench.nowMs += 10_000; // the process was paused: no timer fired, nothing was received
    bench.advance(0); // the overdue probe timer fires now, late
    bench.flush(); // the probe goes out and is answered
    bench.advance(PUSH_PROBE_INTERVAL_MS);
    bench.flush();
    expect(bench.state.sessions.has("session-1")).toBe(true);
    expect(bench.sentToCoordinator.length).toBe(asked);
    bench.finishAll();
    bench.produce(ORDERS, 0, ["c"]);
    bench.flush();
    expect(bench.offsets(ORDERS, 0)).toEqual([0, 1, 2]);
  });

  it("still gives up a broker that stays silent after the stall, within a few probes", () => {
    const bench = started();
    bench.broker.receive = () => []; // the broker died during the stall
    bench.toBroker = [];
    bench.nowMs += 10_000;
    bench.advance(0);
    expect(bench.state.sessions.has("session-1")).toBe(true); // one late timer is not proof
    bench.advance(3 * PUSH_PROBE_INTERVAL_MS);
    expect(bench.state.sessions.has("session-1")).toBe(false);
  });
});
