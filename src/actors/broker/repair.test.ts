/**
 * Repair of rot at rest from the leader (repair.ts), on the simulated kernel: two brokers with
 * their real stores on SimFileSystems, a scripted coordinator that answers heartbeats with a
 * fixed leader, commits ISR proposals the way the real one does (same epoch and version), and
 * remembers when each ISR was committed; a raw client produces and fetches.
 */
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { brokerDefinition } from "../../host/stores/broker-store.ts";
import type { ActorHost } from "../../host/host.ts";
import type { Transport } from "../../ports/transport.ts";
import { actorBoot, scriptedBoot } from "../../sim/node.ts";
import { SimWorld } from "../../sim/world.ts";
import type { BrokerHeartbeat, FetchReply, ProduceReply, ZhumqMessage } from "../shared/messages.ts";
import type { brokerMachine } from "./machine.ts";
import type { PartitionState } from "./partition.ts";
import type { BrokerOperation, BrokerOutput, BrokerRecovered } from "./types.ts";

const A = "broker-a";
const B = "broker-b";
const COORDINATOR = "coordinator";
const CLIENT = "client";
const TOPIC = "orders";
const SEGMENT = `partitions/${TOPIC}/0/00000000000000000000.log`;
const HEARTBEAT_MS = 100;
const LEASE_MS = 1_000;

type BrokerHost = ActorHost<typeof brokerMachine, ZhumqMessage, BrokerOperation, BrokerRecovered>;

interface Output {
  readonly broker: string;
  readonly atMs: number;
  readonly output: BrokerOutput;
}

/** The coordinator's view of partition 0: who leads, in which epoch, and the committed ISR. */
interface Leadership {
  leader: string;
  leaderEpoch: number;
  isr: string[];
  isrVersion: number;
  /** When each committed ISR took effect, in order. */
  readonly history: { atMs: number; isr: string[] }[];
  /** The leader is told to hand over (LeaderAssignment.handingOver), as election.ts tells a damaged one. */
  handingOver?: boolean;
  /** The leader is told these ranges of its damage may be whole on another replica (LeaderAssignment.damageWholeElsewhere). */
  damageWholeElsewhere?: { fromOffset: number; toOffset: number }[];
}

class Cluster {
  readonly world: SimWorld;
  readonly hosts = new Map<string, BrokerHost>();
  readonly outputs: Output[] = [];
  readonly inbox: { from: string; message: ZhumqMessage }[] = [];
  readonly heartbeats: { broker: string; message: BrokerHeartbeat }[] = [];
  readonly partition: Leadership = { leader: A, leaderEpoch: 1, isr: [A, B], isrVersion: 1, history: [] };
  /** While set, ISR proposals are not committed (a slow coordinator). */
  holdProposals = false;
  private coordinator: Transport | undefined;
  private client: Transport | undefined;
  private nextRequestId = 1;

  constructor(seed: number) {
    this.world = new SimWorld(seed);
    for (const id of [A, B]) {
      const definition = brokerDefinition({ coordinator: COORDINATOR, heartbeatIntervalMs: HEARTBEAT_MS, flushIntervalMs: 50, replicaLagMaxMs: 2_000 });
      const boot = actorBoot(definition, (host) => this.hosts.set(id, host), { onNotify: (output) => this.outputs.push({ broker: id, atMs: this.world.kernel.now(), output: output as BrokerOutput }) });
      this.world.addNode(id, boot, { syncLatencyMs: { min: 5, max: 5 }, tornWrites: false });
    }
    this.world.addNode(COORDINATOR, scriptedBoot<ZhumqMessage>((transport) => (this.coordinator = transport), (from, message) => this.onCoordinatorMessage(from, message)));
    this.world.addNode(CLIENT, scriptedBoot<ZhumqMessage>((transport) => (this.client = transport), (from, message) => this.inbox.push({ from, message })));
  }

  private onCoordinatorMessage(from: string, message: ZhumqMessage): void {
    if (message.type !== "broker.heartbeat") return;
    this.heartbeats.push({ broker: from, message });
    const p = this.partition;
    for (const proposal of this.holdProposals ? [] : (message.isrProposals ?? [])) {
      if (from !== p.leader || proposal.leaderEpoch !== p.leaderEpoch || proposal.isrVersion !== p.isrVersion) continue;
      p.isr = [...proposal.isr];
      p.isrVersion += 1;
      p.history.push({ atMs: this.world.kernel.now(), isr: [...p.isr] });
    }
    const leads = from === p.leader;
    const handingOver = { ...(p.handingOver === true ? { handingOver: true } : {}), ...(p.damageWholeElsewhere === undefined ? {} : { damageWholeElsewhere: p.damageWholeElsewhere }) };
    const assignments = leads ? [{ topic: TOPIC, partition: 0, leaderEpoch: p.leaderEpoch, replicas: [A, B], isr: p.isr, isrVersion: p.isrVersion, minInSync: 1, ...handingOver }] : [];
    const follows = leads ? [] : [{ topic: TOPIC, partition: 0, leaderEpoch: p.leaderEpoch, leader: p.leader }];
    this.coordinator!.send(from, { type: "broker.heartbeat.reply", requestId: message.requestId, leaseMs: LEASE_MS, assignments, follows });
  }

  async start(): Promise<this> {
    for (const node of this.world.nodes.values()) void node.start();
    this.world.kernel.markAsync();
    await this.run(HEARTBEAT_MS * 2);
    return this;
  }

  async run(ms: number): Promise<void> {
    await this.world.kernel.run({ untilMs: this.world.kernel.now() + ms });
  }

  async until(done: () => boolean, maxMs = 5_000): Promise<void> {
    await this.world.kernel.run({ untilMs: this.world.kernel.now() + maxMs, stopWhen: done });
  }

  state(broker: string): PartitionState {
    const context = (this.hosts.get(broker)!.snapshot as { context: { partitions: ReadonlyMap<string, PartitionState> } }).context;
    return context.partitions.get(`${TOPIC}/0`)!;
  }

  async produce(value: string): Promise<ProduceReply> {
    const requestId = this.nextRequestId++;
    const batch = encodeBatch([{ value: new TextEncoder().encode(value), timestampMs: 1_000 }]);
    this.client!.send(this.partition.leader, { type: "produce.request", requestId, topic: TOPIC, partition: 0, leaderEpoch: this.partition.leaderEpoch, acks: -1, batch });
    await this.until(() => this.answer(requestId) !== undefined);
    return this.answer(requestId) as ProduceReply;
  }

  async fetch(offset: number): Promise<FetchReply> {
    const requestId = this.nextRequestId++;
    this.client!.send(this.partition.leader, { type: "fetch.request", requestId, topic: TOPIC, partition: 0, leaderEpoch: this.partition.leaderEpoch, offset, maxBytes: 1 << 20, maxWaitMs: 0 });
    await this.until(() => this.answer(requestId) !== undefined);
    return this.answer(requestId) as FetchReply;
  }

  private answer(requestId: number): ZhumqMessage | undefined {
    return this.inbox.find((received) => "requestId" in received.message && received.message.requestId === requestId)?.message;
  }

  /** Crash `broker`, flip one byte inside its copy of batch `index` (one-record batches of equal size), sync, restart. */
  async rot(broker: string, index: number): Promise<void> {
    const node = this.world.node(broker);
    node.crash();
    const batchBytes = encodeBatch([{ value: new TextEncoder().encode("v0"), timestampMs: 1_000 }]).length;
    const handle = await this.world.kernel.settle(node.fs.open(SEGMENT, "readwrite"));
    await this.world.kernel.settle(handle.write(batchBytes * index + batchBytes - 2, new Uint8Array([0xaa])));
    await this.world.kernel.settle(handle.sync());
    await this.world.kernel.settle(handle.close());
    this.hosts.delete(broker);
    void node.restart();
    this.world.kernel.markAsync();
    await this.until(() => this.hosts.has(broker));
  }

  async segmentBytes(broker: string): Promise<Uint8Array> {
    return this.world.kernel.settle(this.world.node(broker).fs.readFile(SEGMENT));
  }

  of(type: BrokerOutput["type"], broker?: string): Output[] {
    return this.outputs.filter((entry) => entry.output.type === type && (broker === undefined || entry.broker === broker));
  }

  failures(): string[] {
    return [...this.world.nodes.values()].flatMap((node) => node.failures.map((failure) => `${failure.node}: ${String(failure.error)}`));
  }
}

/** Whether a heartbeat sent after the copy's damage was noted came back keeping the leadership here. */
function keptSinceDamage(state: PartitionState): boolean {
  const kept = state.leader?.keptDespiteDamageAtMs;
  return kept !== undefined && state.damaged.every((range) => (range.notedAtMs ?? Infinity) <= kept);
}

async function cluster(seed: number, values = 6): Promise<Cluster> {
  const c = await new Cluster(seed).start();
  for (let index = 0; index < values; index++) expect(await c.produce(`v${index}`)).toMatchObject({ baseOffset: index });
  await c.until(() => c.state(B).syncedEnd === values);
  expect(c.state(B).syncedEnd).toBe(values);
  return c;
}

describe("repair of rot at rest from the leader", () => {
  it("a follower with a damaged range leaves the ISR, cuts its log at the range, refetches it, and ends byte-identical to the leader", async () => {
    const c = await cluster(1);
    await c.rot(B, 2);
    // Recovery found the damage: the follower knows the range and its file.
    expect(c.state(B).damaged).toEqual([expect.objectContaining({ fromOffset: 2, toOffset: 3, file: SEGMENT })]);
    await c.until(() => c.of("broker.replica.repaired", B).length > 0 && c.partition.isr.length === 2);
    expect(c.failures()).toEqual([]);

    const [repairing] = c.of("broker.replica.repairing", B);
    expect(repairing?.output).toMatchObject({ topic: TOPIC, partition: 0, fromOffset: 2, toOffset: 3, file: SEGMENT, cutFrom: 2, leader: A, leaderEpoch: 1 });
    expect(c.of("broker.replica.repaired", B)[0]?.output).toMatchObject({ fromOffset: 2, toOffset: 3, file: SEGMENT, leader: A });
    // The ISR lost the follower before it cut anything, and got it back after the refetch.
    const removal = c.partition.history.find((entry) => !entry.isr.includes(B));
    expect(removal).toBeDefined();
    expect(removal!.atMs).toBeLessThanOrEqual(repairing!.atMs);
    expect(c.partition.isr).toEqual([A, B]);

    expect(c.state(B).damaged).toEqual([]);
    expect(c.state(B).endOffset).toBe(6);
    expect(await c.segmentBytes(B)).toEqual(await c.segmentBytes(A));
    // The heartbeats no longer report damage.
    await c.run(HEARTBEAT_MS * 2);
    expect(c.heartbeats.filter((entry) => entry.broker === B).at(-1)!.message.damaged).toBeUndefined();
  });

  it("until the coordinator commits its removal from the ISR, the follower cuts nothing: it keeps its copy and keeps replicating", async () => {
    const c = await cluster(5);
    c.holdProposals = true;
    await c.rot(B, 2);
    await c.run(2_000);
    expect(c.heartbeats.some((entry) => entry.broker === A && entry.message.isrProposals?.some((proposal) => !proposal.isr.includes(B)))).toBe(true);
    expect(c.of("broker.replica.repairing", B)).toEqual([]);
    expect(c.state(B)).toMatchObject({ endOffset: 6, damaged: [expect.objectContaining({ fromOffset: 2 })] });
    // Still a member: it still holds everything it reported, and acks -1 still counts it.
    expect(await c.produce("v6")).toMatchObject({ baseOffset: 6 });
    expect(c.state(B).syncedEnd).toBe(7);

    c.holdProposals = false;
    await c.until(() => c.of("broker.replica.repaired", B).length > 0);
    expect(c.partition.history[0]!.isr).toEqual([A]);
    expect(c.failures()).toEqual([]);
    expect(await c.segmentBytes(B)).toEqual(await c.segmentBytes(A));
  });

  it("the follower keeps replicating, and acks -1 keeps being answered, while it repairs", async () => {
    const c = await cluster(2);
    await c.rot(B, 1);
    for (let index = 6; index < 12; index++) expect(await c.produce(`v${index}`)).toMatchObject({ baseOffset: index });
    await c.until(() => c.of("broker.replica.repaired", B).length > 0 && c.state(B).syncedEnd === 12);
    expect(c.failures()).toEqual([]);
    expect(await c.segmentBytes(B)).toEqual(await c.segmentBytes(A));
  });

  it("a damaged leader does not cut its own copy: it serves CORRUPT_DATA for the range; after a hand-over it repairs as a follower", async () => {
    const c = await cluster(3);
    await c.rot(A, 3);
    // The restarted leader's HW comes back once the follower's fetch (timed out on the crash) reports again.
    await c.until(() => c.state(A).highWatermark === 6, 10_000);
    expect(c.state(A).leaderEpoch).toBe(1);
    const damaged = await c.fetch(3);
    expect(damaged).toMatchObject({ error: { code: "CORRUPT_DATA" }, damaged: { fromOffset: 3, toOffset: 4 } });
    expect(c.state(A)).toMatchObject({ endOffset: 6, damaged: [expect.objectContaining({ fromOffset: 3, toOffset: 4 })] });
    expect(c.of("broker.replica.repairing", A)).toEqual([]);

    // The coordinator hands leadership to the whole copy (as election.ts does for a damaged leader).
    Object.assign(c.partition, { leader: B, leaderEpoch: 2, isr: [B, A], isrVersion: c.partition.isrVersion + 1 });
    await c.until(() => c.of("broker.replica.repaired", A).length > 0);
    expect(c.failures()).toEqual([]);
    expect(c.of("broker.replica.repairing", A)[0]?.output).toMatchObject({ fromOffset: 3, toOffset: 4, leader: B, leaderEpoch: 2 });
    expect(c.state(A).damaged).toEqual([]);
    expect(await c.segmentBytes(A)).toEqual(await c.segmentBytes(B));
    expect((await c.fetch(3)).error).toBeUndefined();
  });

  it("a leader that finds damage on a read asks the consumer to retry while a whole in-sync copy may take over, and says CORRUPT_DATA once the coordinator kept it leading", async () => {
    const c = await cluster(5);
    const batchBytes = encodeBatch([{ value: new TextEncoder().encode("v0"), timestampMs: 1_000 }]).length;
    // Rot under the running leader: the first read that reaches it finds it.
    c.world.node(A).fs.damageAtRest("flip-bit", { path: SEGMENT, position: batchBytes * 3 + batchBytes - 2, bit: 3 });
    const first = await c.fetch(3);
    expect(first.error).toMatchObject({ code: "NOT_LEADER", message: expect.stringContaining("moving to a whole in-sync copy") });
    // The scripted coordinator keeps A leading (it hands nothing over): after a heartbeat that
    // reported the damage comes back, the damage is answered as what it is.
    const seen = c.heartbeats.length;
    await c.until(() => c.heartbeats.slice(seen).some((entry) => entry.broker === A && (entry.message.damaged?.length ?? 0) > 0) && c.state(A).leader?.keptDespiteDamageAtMs !== undefined);
    expect(await c.fetch(3)).toMatchObject({ error: { code: "CORRUPT_DATA" }, damaged: { fromOffset: 3, toOffset: 4 } });
    expect(c.failures()).toEqual([]);
  });

  it("a leader kept despite its damage, then told to hand over (a whole copy rejoined the ISR), asks consumers to retry again", async () => {
    const c = await cluster(7);
    const batchBytes = encodeBatch([{ value: new TextEncoder().encode("v0"), timestampMs: 1_000 }]).length;
    c.world.node(A).fs.damageAtRest("flip-bit", { path: SEGMENT, position: batchBytes * 3 + batchBytes - 2, bit: 3 });
    expect((await c.fetch(3)).error).toMatchObject({ code: "NOT_LEADER" });
    await c.until(() => c.state(A).leader?.keptDespiteDamageAtMs !== undefined);
    expect(await c.fetch(3)).toMatchObject({ error: { code: "CORRUPT_DATA" } });
    // The coordinator now fences it for a hand-over to the whole copy: what kept it is stale.
    c.partition.handingOver = true;
    await c.until(() => c.state(A).leader?.handingOver === true);
    expect((await c.fetch(3)).error).toMatchObject({ code: "NOT_LEADER", message: expect.stringContaining("moving to a whole in-sync copy") });
    expect(c.failures()).toEqual([]);
  });

  it("a leader alone in its ISR waits for the coordinator's verdict, then answers CORRUPT_DATA when no other replica may hold the range whole", async () => {
    const c = await cluster(6);
    Object.assign(c.partition, { isr: [A], isrVersion: c.partition.isrVersion + 1 });
    await c.until(() => c.state(A).leader?.isr.length === 1);
    const batchBytes = encodeBatch([{ value: new TextEncoder().encode("v0"), timestampMs: 1_000 }]).length;
    c.world.node(A).fs.damageAtRest("flip-bit", { path: SEGMENT, position: batchBytes * 2 + batchBytes - 2, bit: 3 });
    // B, outside the ISR, may hold it: the coordinator decides once it has heard of the damage.
    expect((await c.fetch(2)).error).toMatchObject({ code: "NOT_LEADER" });
    await c.until(() => keptSinceDamage(c.state(A)));
    expect(await c.fetch(2)).toMatchObject({ error: { code: "CORRUPT_DATA" }, damaged: { fromOffset: 2, toOffset: 3 } });
  });

  it("a leader alone in its ISR and fenced (handingOver, as for a mode switch) still gets a verdict: CORRUPT_DATA, not retries for good (sim seed 205)", async () => {
    const c = await cluster(9);
    c.world.node(B).crash(); // the follower stays out of the ISR: nobody whole to hand over to
    Object.assign(c.partition, { isr: [A], isrVersion: c.partition.isrVersion + 1, handingOver: true });
    await c.until(() => c.state(A).leader?.isr.length === 1 && c.state(A).leader?.handingOver === true);
    const batchBytes = encodeBatch([{ value: new TextEncoder().encode("v0"), timestampMs: 1_000 }]).length;
    c.world.node(A).fs.damageAtRest("flip-bit", { path: SEGMENT, position: batchBytes * 2 + batchBytes - 2, bit: 3 });
    expect((await c.fetch(2)).error).toMatchObject({ code: "NOT_LEADER" });
    await c.until(() => keptSinceDamage(c.state(A)));
    expect(await c.fetch(2)).toMatchObject({ error: { code: "CORRUPT_DATA" }, damaged: { fromOffset: 2, toOffset: 3 } });
    expect(c.failures()).toEqual([]);
  });

  it("a leader alone in its ISR asks readers to retry while the coordinator says another replica may hold the range whole", async () => {
    const c = await cluster(8);
    Object.assign(c.partition, { isr: [A], isrVersion: c.partition.isrVersion + 1, damageWholeElsewhere: [{ fromOffset: 2, toOffset: 3 }] });
    await c.until(() => c.state(A).leader?.isr.length === 1);
    const batchBytes = encodeBatch([{ value: new TextEncoder().encode("v0"), timestampMs: 1_000 }]).length;
    c.world.node(A).fs.damageAtRest("flip-bit", { path: SEGMENT, position: batchBytes * 2 + batchBytes - 2, bit: 3 });
    expect((await c.fetch(2)).error).toMatchObject({ code: "NOT_LEADER" });
    await c.until(() => keptSinceDamage(c.state(A)));
    expect(c.state(A).leader?.damageWholeElsewhere).toEqual([{ fromOffset: 2, toOffset: 3 }]);
    expect((await c.fetch(2)).error).toMatchObject({ code: "NOT_LEADER" });
    // The coordinator no longer says so (that copy came back without the range): the damage is what it is.
    delete c.partition.damageWholeElsewhere;
    await c.until(() => c.state(A).leader?.damageWholeElsewhere === undefined);
    expect(await c.fetch(2)).toMatchObject({ error: { code: "CORRUPT_DATA" }, damaged: { fromOffset: 2, toOffset: 3 } });
    expect(c.failures()).toEqual([]);
  });

  it("when the leader's copy of the range is damaged too, the follower cuts nothing and goes on replicating", async () => {
    const c = await cluster(4);
    await c.rot(B, 2);
    await c.rot(A, 2);
    await c.until(() => c.of("broker.replica.repair.blocked", B).length > 0);
    expect(c.of("broker.replica.repair.blocked", B)[0]?.output).toMatchObject({ fromOffset: 2, leader: A });
    expect(c.of("broker.replica.repairing", B)).toEqual([]);
    expect(c.state(B)).toMatchObject({ endOffset: 6, damaged: [expect.objectContaining({ fromOffset: 2 })] });
    expect(await c.produce("v6")).toMatchObject({ baseOffset: 6 });
    await c.until(() => c.state(B).syncedEnd === 7);
    expect(c.state(B).syncedEnd).toBe(7);
    expect(c.failures()).toEqual([]);
  });
});
