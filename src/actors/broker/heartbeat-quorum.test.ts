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

  it("a leader outside the list named WITH its address (a replica added since) joins the list and is trusted", () => {
    const followed = followLeader(quorum, heartbeat, "c4", "10.0.0.4:9090");
    expect(followed).toEqual({ target: "c4", joined: ["c4"] });
    const after = { ...heartbeat, ...followed };
    expect(isCoordinator(quorum, "c4", after)).toBe(true);
    expect(isCoordinator(quorum, "c4", heartbeat)).toBe(false);
    // From then on it is one of the replicas: followed by name, and in the rotation.
    expect(followLeader(quorum, after, "c4")).toEqual({ target: "c4" });
    expect(followLeader(quorum, { ...after, target: "c2" }, undefined)).toEqual({ target: "c4" });
  });
});

