/**
 * A push.end lost on the way (found by the simulator, seed 17 of `zhumq sim --groups 2 --push
 * --replication-factor 3`: broker-1 ended jepsen/0 with NOT_LEADER while the member was cut off,
 * and the member's partition waited for ever on a session that no longer served it, while that
 * session's other partition kept it alive). The broker's push.status lists only the partitions it
 * still serves; the pusher takes an unlisted one as ended and asks the coordinator again.
 */
import { describe, expect, it } from "vitest";
import { PUSH_PROBE_INTERVAL_MS } from "../shared/push-messages.ts";
import { PusherBench } from "./testing.ts";

const ORDERS = "orders";

describe("a partition whose push.end was lost", () => {
  it("is taken as ended when the broker's status no longer lists it, and asked for again from its exact position", () => {
    const bench = new PusherBench();
    bench.send({ type: "pusher.member", memberId: "m-1", memberEpoch: 1 });
    bench.send({ type: "pusher.add", partitions: [{ topic: ORDERS, partition: 0, offset: 0 }, { topic: ORDERS, partition: 1, offset: 0 }] });
    bench.advance(0);
    bench.flush();
    bench.produce(ORDERS, 0, ["a", "b"]);
    bench.produce(ORDERS, 1, ["c"]);
    bench.flush();
    bench.finishAll();
    bench.flush();
    expect(bench.offsets(ORDERS, 0)).toEqual([0, 1]);
    const asked = bench.sentToCoordinator.length;
    // The broker stops serving orders/0 (it no longer leads it); its push.end is lost.
    bench.broker.sessions.get("session-1")!.partitions.delete(`${ORDERS}/0`);
    bench.advance(PUSH_PROBE_INTERVAL_MS);
    bench.flush();
    bench.advance(1_000);
    bench.flush();
    expect(bench.sentToCoordinator.length).toBeGreaterThan(asked);
    expect(bench.sentToCoordinator.at(-1)).toMatchObject({ partitions: [{ topic: ORDERS, partition: 0, offset: 2 }] });
    // orders/1 stays on its session, undisturbed; orders/0 goes on in a new one.
    expect(bench.state.sessions.get("session-1")?.partitions.has(`${ORDERS}/1`)).toBe(true);
    bench.produce(ORDERS, 0, ["d"]);
    bench.flush();
    bench.finishAll();
    bench.flush();
    expect(bench.offsets(ORDERS, 0)).toEqual([0, 1, 2]);
  });

  it("is left alone while the status lists it", () => {
    const bench = new PusherBench();
    bench.send({ type: "pusher.member", memberId: "m-1", memberEpoch: 1 });
    bench.send({ type: "pusher.add", partitions: [{ topic: ORDERS, partition: 0, offset: 0 }] });
    bench.advance(0);
    bench.flush();
    const asked = bench.sentToCoordinator.length;
    for (let probe = 0; probe < 3; probe++) {
      bench.advance(PUSH_PROBE_INTERVAL_MS);
      bench.flush();
    }
    expect(bench.sentToCoordinator.length).toBe(asked);
    expect(bench.state.sessions.get("session-1")?.partitions.has(`${ORDERS}/0`)).toBe(true);
  });
});
