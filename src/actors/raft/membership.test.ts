/**
 * Membership changes that carry members' addresses, and learners: a config entry written with
 * addresses reaches every node (append, restart, InstallSnapshot, the snapshot file), the plain
 * list form stays as it was, and a learner catches up without counting toward commit.
 */
import { describe, expect, it } from "vitest";
import { controlEntry, metaOf } from "./entries.ts";
import { decodeBatch } from "../../disk/batch-view.ts";
import { addLearner, changeMembership, dropLearner } from "./requests.ts";
import { TestNetwork } from "./testing.ts";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("config entries with addresses", () => {
  it("round-trip both forms; the plain list form is byte-for-byte what it was", () => {
    const plain = controlEntry("config", 5, 2, 0, ["a", "b"]);
    expect(new TextDecoder().decode(plain.batch)).toContain('["a","b"]');
    expect(metaOf(decodeBatch(plain.batch))).toMatchObject({ kind: "config", voters: ["a", "b"] });
    expect(metaOf(decodeBatch(plain.batch)).addresses).toBeUndefined();
    const withAddresses = controlEntry("config", 5, 2, 0, ["a", "b"], { a: "h1:1", b: "h2:2" });
    expect(metaOf(decodeBatch(withAddresses.batch))).toMatchObject({ kind: "config", voters: ["a", "b"], addresses: { a: "h1:1", b: "h2:2" } });
  });
});

describe("a membership change with an address", () => {
  it("every node — a new one too, and one restarted or wiped into a snapshot — learns the added member's address from the log", () => {
    const net = new TestNetwork(["a", "b", "c"]);
    const leader = net.elect();
    net.propose(leader, "v0");
    net.tick(2);
    const d = net.add("d");
    leader.run((core) => changeMembership(core, { type: "raft.membership", id: 100, change: "add", node: "d", address: "10.0.0.4:9090" }));
    expect(net.tickUntil(() => [...net.nodes.values()].every((node) => node.core.voters.includes("d") && node.core.commitIndex >= leader.core.pendingConfigIndex))).toBe(true);
    for (const node of net.nodes.values()) {
      const config = node.of("raft.config").at(-1)!;
      expect(config.voters).toEqual(["a", "b", "c", "d"]);
      expect(config.addresses).toEqual({ d: "10.0.0.4:9090" });
    }
    // Removing one drops its address; the entry keeps the others'.
    const current = net.leader();
    const removed = ["a", "b", "c"].find((id) => id !== current.id)!;
    current.run((core) => changeMembership(core, { type: "raft.membership", id: 101, change: "remove", node: removed }));
    expect(net.tickUntil(() => current.core.commitIndex >= current.core.pendingConfigIndex)).toBe(true);
    expect(current.of("raft.config").at(-1)).toMatchObject({ voters: ["a", "b", "c", "d"].filter((id) => id !== removed), addresses: { d: "10.0.0.4:9090" } });
    // Compaction keeps the configuration's addresses in the snapshot; a restart from it has them.
    net.tick(3);
    current.compact(current.core.appliedIndex, bytes("state"));
    expect(current.disk.snapshot?.addresses).toEqual({ d: "10.0.0.4:9090" });
    current.restart();
    expect(current.core.configs[0]!.addresses).toEqual({ d: "10.0.0.4:9090" });
    // A wiped node gets the snapshot from the leader, addresses included.
    const next = net.elect();
    next.compact(next.core.appliedIndex, bytes("state2"));
    d.disk.batches = [];
    delete d.disk.snapshot;
    d.restart();
    net.propose(next, "after");
    expect(net.tickUntil(() => d.core.appliedIndex === next.core.log.lastIndex)).toBe(true);
    expect(d.of("raft.config").at(-1)).toMatchObject({ addresses: { d: "10.0.0.4:9090" } });
  });
});

describe("a learner", () => {
  it("catches up without counting toward commit, then becomes a voter with the progress it had", () => {
    const net = new TestNetwork(["a", "b", "c"]);
    const leader = net.elect();
    for (let i = 0; i < 5; i++) net.propose(leader, `v${i}`);
    net.tick(2);
    const d = net.add("d");
    let added = false;
    leader.run((core) => {
      added = addLearner(core, "d");
    });
    expect(added).toBe(true);
    expect(leader.core.voters).not.toContain("d");
    expect(net.tickUntil(() => d.core.log.lastIndex === leader.core.log.lastIndex)).toBe(true);
    expect(d.applied()).toEqual(["v0", "v1", "v2", "v3", "v4"]);
    // The voters alone commit: with every voter but the leader cut off, nothing commits, whatever the learner holds.
    net.isolate("b");
    net.cut.add("a->c").add("c->a").add("b->c").add("c->b");
    const commit = leader.core.commitIndex;
    if (leader.id !== "c") net.propose(leader, "stuck");
    net.tick(5);
    if (leader.id !== "c") expect(leader.core.commitIndex).toBe(commit);
    net.heal();
    // A voter already: no learner. A follower: refused.
    const current = net.elect();
    let refused = true;
    const follower = [...net.nodes.values()].find((node) => node.core.role === "follower" && node.id !== "d")!;
    follower.run((core) => {
      refused = !addLearner(core, "d");
    });
    expect(refused).toBe(true);
    current.run((core) => {
      addLearner(core, "d");
      dropLearner(core, "d");
    });
    expect(current.core.progress.has("d")).toBe(false);
    current.run((core) => addLearner(core, "d"));
    net.tick(3);
    current.run((core) => changeMembership(core, { type: "raft.membership", id: 7, change: "add", node: "d" }));
    expect(net.tickUntil(() => d.core.voters.includes("d") && current.core.commitIndex >= current.core.pendingConfigIndex)).toBe(true);
    current.run((core) => dropLearner(core, "d"));
    expect(current.core.progress.has("d")).toBe(true);
  });
});
