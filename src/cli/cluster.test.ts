/**
 * `zhumq cluster status` and `zhumq dev --coordinators N`: the table from replica answers, the
 * dev flags, and one in-process quorum (three replicas, one broker, real gRPC on loopback) whose
 * replicas answer the status request for themselves.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { GrpcTransport } from "../net/index.ts";
import { startCluster, type LocalCluster } from "../host/real-node.ts";
import { ClientContext } from "../client/context.ts";
import { coordinatorStatuses, servingLeader, type ReplicaAnswer, type ReplicaStatus } from "../client/coordinator-status.ts";
import { configurationToFollow, statusLines } from "./cluster.ts";
import { parseDevArgs } from "./dev.ts";
import { freePorts } from "../../test/support/ports.ts";

const status = (id: string, extra: Partial<Extract<ReplicaAnswer, { status: unknown }>["status"]>): ReplicaAnswer => ({
  id,
  status: { id, role: "follower", term: 3, leader: "c1", serving: false, commitIndex: 9, appliedIndex: 9, lastIndex: 9, voters: ["c1", "c2", "c3"], ...extra },
});

describe("zhumq cluster status", () => {
  it("names the serving leader, each replica's role, term and lag behind the leader's log", () => {
    const lines = statusLines([
      status("c1", { role: "leader", serving: true, lastIndex: 12, commitIndex: 11, peers: [{ id: "c2", matchIndex: 12 }, { id: "c3", matchIndex: 7 }], addresses: { c1: "h1:9090", c3: "h3:9090" } }),
      status("c2", { commitIndex: 11 }),
      { id: "c3", unreachable: true },
    ]);
    expect(lines[0]).toBe("coordinator quorum of 3: leader c1, term 3, commit index 11 (2 of 3 answered)");
    expect(lines[1]).toMatch(/REPLICA\s+ADDRESS\s+ROLE\s+TERM\s+LEADER\s+COMMIT\s+APPLIED\s+LAG/);
    expect(lines[2]).toMatch(/c1\s+h1:9090\s+leader\s+3\s+c1\s+11\s+9\s+0$/);
    expect(lines[3]).toMatch(/c2\s+follower\s+3\s+c1\s+11\s+9\s+0$/);
    expect(lines[4]).toMatch(/c3\s+h3:9090\s+unreachable$/);
  });

  it("shows a replica guarding a wiped start, probing or catching up", () => {
    const lines = statusLines([status("c1", { role: "leader", serving: true, leader: "c1" }), status("c2", { term: 0, leader: null, guard: "probing", commitIndex: -1 }), status("c3", { guard: "catching-up" })]);
    expect(lines[3]).toMatch(/c2\s+follower \(guarded: probing\)\s+0\s+-\s+-1/);
    expect(lines[4]).toMatch(/c3\s+follower \(guarded: catching-up\)\s+3\s+c1/);
  });

  it("follows the configuration to replicas --bootstrap does not name: the serving leader's, else the newest a follower knows (the leader may be one added since)", () => {
    const status = (id: string, fields: Partial<ReplicaStatus>): ReplicaAnswer => ({ id, status: { id, role: "follower", term: 3, leader: null, serving: false, commitIndex: 10, appliedIndex: 10, lastIndex: 10, voters: ["c0", "c1", "c2"], ...fields } });
    const added = { voters: ["c1", "c2", "c3"], addresses: { c1: "h:1", c2: "h:2", c3: "h:3" } };
    // c0 was removed and killed; c3, added since, leads: c1 and c2 follow it and know where it listens.
    const followers = [{ id: "c0", unreachable: true } as const, status("c1", { term: 4, leader: "c3", commitIndex: 30, ...added }), status("c2", { term: 4, leader: "c3", commitIndex: 29, ...added })];
    expect(configurationToFollow(followers)?.id).toBe("c1");
    expect(configurationToFollow(followers)?.addresses?.["c3"]).toBe("h:3");
    const served = [status("c1", { term: 5, role: "leader", leader: "c1", serving: true, commitIndex: 5 }), status("c2", { term: 4, commitIndex: 40, ...added })];
    expect(configurationToFollow(served)?.id).toBe("c1"); // a serving leader's view wins
    expect(configurationToFollow([{ id: "c0", unreachable: true }])).toBeUndefined();
  });

  it("says when no leader serves, and when the coordinator is a single one", () => {
    expect(statusLines([status("c1", {}), { id: "c2", unreachable: true }])[0]).toContain("NO LEADER serving (1 of 2 answered)");
    expect(statusLines([{ id: "coordinator", single: true }])).toEqual(["a single coordinator 'coordinator' (no quorum: started without --peers)"]);
  });
});

describe("zhumq dev --coordinators", () => {
  it("puts the replicas on PORT, PORT+1, … and the brokers and dashboard after them", () => {
    expect(parseDevArgs([])).toMatchObject({ coordinators: 1, port: 9090, uiListen: { port: 9094 } });
    expect(parseDevArgs(["--coordinators", "3"])).toMatchObject({ coordinators: 3, uiListen: { port: 9096 } });
    expect(() => parseDevArgs(["--coordinators", "0"])).toThrow(/--coordinators/);
    expect(() => parseDevArgs(["--coordinators", "3", "--metrics-port", "9092"])).toThrow(/one of the nodes' ports/);
  });

  let cluster: LocalCluster | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await cluster?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("a quorum of three in one process: one leader serves, every replica answers for itself", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "zhumq-dev-quorum-"));
    cluster = await startCluster({ dataDir: dir, network: GrpcTransport, brokers: 1, coordinators: 3, port: await freePorts(4), readyTimeoutMs: 60_000 });
    expect(cluster.coordinators.map((node) => node.id)).toEqual(["coordinator-0", "coordinator-1", "coordinator-2"]);
    expect(cluster.bootstrap.split(",")).toHaveLength(3);
    const context = new ClientContext({ bootstrap: cluster.bootstrap, clientId: "status-test" });
    const node = await context.acquire();
    try {
      const answers = await coordinatorStatuses(node, context.coordinators, 10_000);
      const leader = servingLeader(answers);
      expect(leader, JSON.stringify(answers)).toBeDefined();
      for (const answer of answers) expect(answer).toHaveProperty("status.term", leader!.term);
      expect(answers.filter((answer) => "status" in answer && answer.status.serving)).toHaveLength(1);
    } finally {
      await context.release();
    }
  }, 120_000);

  it("a single coordinator (no --peers) shows as single: it answers metadata, not the status request", async () => {
    dir = mkdtempSync(path.join(tmpdir(), "zhumq-dev-single-"));
    cluster = await startCluster({ dataDir: dir, network: GrpcTransport, brokers: 1, readyTimeoutMs: 60_000 });
    expect(cluster.bootstrap).toBe(`coordinator@${cluster.coordinator.address}`);
    const context = new ClientContext({ bootstrap: cluster.bootstrap, clientId: "status-test" });
    const node = await context.acquire();
    try {
      expect(await coordinatorStatuses(node, context.coordinators, 10_000)).toEqual([{ id: "coordinator", single: true }]);
    } finally {
      await context.release();
    }
  }, 120_000);
});
