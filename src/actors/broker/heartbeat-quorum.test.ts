/**
 * A broker with a coordinator quorum: whom it takes coordinator messages from, and where its
 * next heartbeat goes after a refusal (the simulator's quorum runs cover the rotation on silence).
 */
import { describe, expect, it } from "vitest";
import type { HeartbeatState } from "./core.ts";
import { followLeader, isCoordinator } from "./heartbeat.ts";

const heartbeat: HeartbeatState = { nextRequestId: 1, outstanding: new Map(), registered: true, leaseExpiresAtMs: 0 };
const quorum = { coordinator: "c0", coordinators: ["c0", "c1", "c2"] };

describe("broker heartbeats with a coordinator quorum", () => {
  it("takes coordinator messages from any replica, and only from them", () => {
    expect(["c0", "c1", "c2"].every((node) => isCoordinator(quorum, node))).toBe(true);
    expect(isCoordinator(quorum, "b1")).toBe(false);
    expect(isCoordinator({ coordinator: "coordinator" }, "coordinator")).toBe(true);
    expect(isCoordinator({ coordinator: "coordinator" }, "c1")).toBe(false);
  });

  it("follows the leader a refusal names, else moves to the next replica; a single coordinator stays put", () => {
    expect(followLeader(quorum, heartbeat, "c2")).toEqual({ target: "c2" });
    expect(followLeader(quorum, { ...heartbeat, target: "c1" }, undefined)).toEqual({ target: "c2" });
    expect(followLeader(quorum, { ...heartbeat, target: "c2" }, undefined)).toEqual({ target: "c0" });
    // A leader outside the list (a stale or forged hint) is not followed.
    expect(followLeader(quorum, heartbeat, "elsewhere")).toEqual({ target: "c1" });
    expect(followLeader({ coordinator: "coordinator" }, heartbeat, "c1")).toEqual({});
  });
});
