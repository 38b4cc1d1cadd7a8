/**
 * A broker learns the coordinator quorum's voters from heartbeat replies (CoordinatorsLearned,
 * docs/coordinator-quorum.md "Brokers, members and pushers learn the members"), on the simulated
 * kernel with scripted coordinator replicas: the broker is configured with c1..c3 only, the
 * operator has replaced them by c4..c6. Heartbeats then go to the new voters only, a deposed
 * leader's late reply with an older list changes nothing, and the list travels only when the
 * heartbeat's echo differs.
 */
import { describe, expect, it } from "vitest";
import { brokerDefinition } from "../../host/stores/broker-store.ts";
import type { ActorHost } from "../../host/host.ts";
import type { Transport } from "../../ports/transport.ts";
import { actorBoot, type BootFunction } from "../../sim/node.ts";
import { SimWorld } from "../../sim/world.ts";
import type { BrokerHeartbeat, BrokerHeartbeatReply, CoordinatorMember, ZhumqMessage } from "../shared/messages.ts";
import type { brokerMachine } from "./machine.ts";
import type { BrokerOperation, BrokerRecovered } from "./types.ts";
import { HEARTBEAT_INTERVALS_BEFORE_ROTATION } from "./heartbeat.ts";

const BROKER = "b1";
const REPLICAS = ["c1", "c2", "c3", "c4", "c5", "c6"];
const INTERVAL_MS = 100;
const members = (ids: readonly string[]): CoordinatorMember[] => ids.map((id) => ({ id, address: `10.0.0.${id.slice(1)}:9090` }));

/** How a scripted replica answers a heartbeat: a reply, or silence (down, or removed and stopped). */
type Answer = (heartbeat: BrokerHeartbeat) => BrokerHeartbeatReply | undefined;

class Harness {
  readonly world = new SimWorld(11);
  readonly heartbeats: { to: string; message: BrokerHeartbeat }[] = [];
  readonly answers = new Map<string, Answer>();
  readonly transports = new Map<string, Transport>();
  host: ActorHost<typeof brokerMachine, ZhumqMessage, BrokerOperation, BrokerRecovered> | undefined;

  constructor() {
    const definition = brokerDefinition({ coordinator: "c1", coordinators: ["c1", "c2", "c3"], heartbeatIntervalMs: INTERVAL_MS, flushIntervalMs: 50 });
    this.world.addNode(BROKER, actorBoot(definition, (host) => (this.host = host)), { tornWrites: false });
    for (const id of REPLICAS) this.world.addNode(id, this.replica(id));
  }

  private replica(id: string): BootFunction {
    return async (ports) => {
      this.transports.set(id, ports.transport);
      ports.transport.onMessage((from, message) => {
        const heartbeat = message as BrokerHeartbeat;
        if (heartbeat.type !== "broker.heartbeat") return;
        this.heartbeats.push({ to: id, message: heartbeat });
        const reply = this.answers.get(id)?.(heartbeat);
        if (reply !== undefined) ports.transport.send(from, reply);
      });
      return { stop: () => undefined };
    };
  }

  async start(): Promise<this> {
    for (const node of this.world.nodes.values()) void node.start();
    this.world.kernel.markAsync();
    await this.run(10);
    return this;
  }

  async run(ms: number): Promise<void> {
    await this.world.kernel.run({ untilMs: this.world.kernel.now() + ms });
  }

  /** Heartbeats sent from now on, while `ms` pass. */
  async heartbeatsDuring(ms: number): Promise<{ to: string; message: BrokerHeartbeat }[]> {
    const from = this.heartbeats.length;
    await this.run(ms);
    return this.heartbeats.slice(from);
  }

  learned(): { index: number; voters: readonly string[] } | undefined {
    return this.host!.snapshot!.context.heartbeat.learned;
  }
}

/** A serving leader whose committed configuration is `voters` at `index`: the list only when the echo differs. */
function leader(voters: readonly string[], index: number): Answer {
  return (heartbeat) => ({
    type: "broker.heartbeat.reply",
    requestId: heartbeat.requestId,
    leaseMs: 1_000,
    assignments: [],
    ...(heartbeat.coordinatorsIndex === index ? {} : { coordinators: members(voters), coordinatorsIndex: index }),
  });
}

const silenceMs = (HEARTBEAT_INTERVALS_BEFORE_ROTATION + 2) * INTERVAL_MS;

describe("a broker learns the coordinator voters from heartbeat replies", () => {
  it("without a list it rotates over its configured replicas only (the test's control)", async () => {
    const h = await new Harness().start();
    const sent = await h.heartbeatsDuring(20 * silenceMs);
    expect(new Set(sent.map((item) => item.to))).toEqual(new Set(["c1", "c2", "c3"]));
    expect(sent.every((item) => item.message.coordinatorsIndex === undefined)).toBe(true);
  });

  it("takes a newer list, echoes its index, gets no list again, and after its target goes silent asks only the new voters", async () => {
    const h = new Harness();
    // c1 still serves, and its committed configuration is already c4..c6 (it was removed and has not stepped down yet).
    h.answers.set("c1", leader(["c4", "c5", "c6"], 12));
    await h.start();
    await h.run(3 * INTERVAL_MS);
    expect(h.learned()).toEqual({ index: 12, voters: ["c4", "c5", "c6"] });
    const steady = await h.heartbeatsDuring(5 * INTERVAL_MS);
    expect(steady.length).toBeGreaterThan(2);
    expect(steady.every((item) => item.to === "c1" && item.message.coordinatorsIndex === 12)).toBe(true);

    // c1 stops (removed); c5 leads the new configuration.
    h.answers.delete("c1");
    h.answers.set("c5", leader(["c4", "c5", "c6"], 12));
    const after = await h.heartbeatsDuring(30 * silenceMs);
    const targets = after.map((item) => item.to);
    // The heartbeats that were already on their way to c1 aside, none goes to a removed replica.
    const firstNew = targets.findIndex((to) => to !== "c1");
    expect(firstNew).toBeGreaterThan(0);
    expect(targets.slice(firstNew).every((to) => ["c4", "c5", "c6"].includes(to))).toBe(true);
    expect(targets[targets.length - 1]).toBe("c5"); // found the leader and stays with it
    expect(h.host!.snapshot!.context.heartbeat.registered).toBe(true);
  });

  it("a deposed leader's late reply with an older list changes nothing; a newer one replaces the list", async () => {
    const h = new Harness();
    let answered = 0;
    h.answers.set("c1", (heartbeat) => {
      answered++;
      // First the newest list; then, as from a deposed leader, the bootstrap configuration again.
      return answered === 1 ? leader(["c1", "c4", "c5"], 9)(heartbeat) : { type: "broker.heartbeat.reply", requestId: heartbeat.requestId, leaseMs: 1_000, assignments: [], coordinators: members(["c1", "c2", "c3"]), coordinatorsIndex: -1 };
    });
    await h.start();
    await h.run(5 * INTERVAL_MS);
    expect(answered).toBeGreaterThan(2);
    expect(h.learned()).toEqual({ index: 9, voters: ["c1", "c4", "c5"] });
    h.answers.set("c1", leader(["c4", "c5", "c6"], 15));
    await h.run(3 * INTERVAL_MS);
    expect(h.learned()).toEqual({ index: 15, voters: ["c4", "c5", "c6"] });
  });

  it("ignores a malformed list", async () => {
    const h = new Harness();
    h.answers.set("c1", (heartbeat) => ({ ...leader(["c4"], 3)(heartbeat)!, coordinators: [{ id: "" }, 7, null] as unknown as CoordinatorMember[] }));
    await h.start();
    await h.run(5 * INTERVAL_MS);
    expect(h.learned()).toBeUndefined();
  });
});
