/**
 * A test network for the pure Raft core: nodes in memory, a store that makes every operation
 * durable at once, messages queued until the test delivers them (optionally dropping those a
 * partition cuts), and ticks given by hand. No xstate, no host, no simulator: the algorithm
 * alone, step by step, as in etcd-io/raft's interaction tests.
 *
 * Used only by tests (it lives here so tests of several folders can share it).
 */
import { decodeBatch } from "../../disk/batch-view.ts";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { metaOf } from "./entries.ts";
import { persisted, readDone, receive, tick } from "./core.ts";
import { requestRead } from "./reads.ts";
import { changeMembership, propose, transferLeadership } from "./requests.ts";
import { compact } from "./snapshot.ts";
import { lossFields, recoveredVoteless, withLoss, writtenHardState } from "./voteless.ts";
import { createCore, reportStatus, type RaftCore } from "./state.ts";
import { DEFAULT_RAFT_SETTINGS, type HardState, type NodeId, type RaftMessage, type RaftOperation, type RaftOutput, type RaftPlant, type RaftRead, type RaftVoteReply, type RaftSettings, type Snapshot } from "./types.ts";
import type { Random } from "../../ports/random.ts";

/** A deterministic Random for tests: a fixed sequence per node. */
export class CountingRandom implements Random {
  private state: number;
  constructor(readonly seed: string) {
    this.state = [...seed].reduce((sum, char) => (sum * 31 + char.charCodeAt(0)) >>> 0, 7);
  }
  next(): number {
    this.state = (Math.imul(this.state, 1103515245) + 12345) >>> 0;
    return this.state / 4294967296;
  }
  int(bound: number): number {
    return Math.floor(this.next() * bound);
  }
  derive(name: string): Random {
    return new CountingRandom(`${this.seed}/${name}`);
  }
}

interface Disk {
  batches: Uint8Array[];
  hardState: HardState;
  snapshot?: Snapshot;
}

export interface Envelope {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly message: RaftMessage;
}

export class TestNode {
  core: RaftCore;
  readonly outputs: RaftOutput[] = [];
  readonly disk: Disk = { batches: [], hardState: { term: 0, votedFor: null } };

  constructor(
    readonly id: NodeId,
    private readonly network: TestNetwork,
    private readonly voters: readonly NodeId[],
    private readonly settings: RaftSettings,
    private readonly plant: RaftPlant | undefined,
    private readonly guardEmptyStart = false,
  ) {
    this.core = this.boot();
  }

  private boot(): RaftCore {
    const entries = this.disk.batches.map((batch) => metaOf(decodeBatch(batch)));
    // Voteless while the log ends below what a cut lost (damageAtRest), as the broker's store says.
    const loss = recoveredVoteless(this.disk.hardState, entries.at(-1)?.index ?? this.disk.snapshot?.index ?? -1);
    const core = createCore({
      self: this.id,
      group: "g",
      voters: this.voters,
      settings: this.settings,
      recovered: { hardState: this.disk.hardState, entries, ...(this.disk.snapshot === undefined ? {} : { snapshot: this.disk.snapshot }), ...lossFields(loss) },
      clock: { now: () => this.network.nowMs },
      random: new CountingRandom(`${this.id}:${this.network.restarts}`),
      ...(this.plant === undefined ? {} : { plant: this.plant }),
      ...(this.guardEmptyStart ? { guardEmptyStart: true } : {}),
    });
    return core;
  }

  /** Crash and restart from the disk (which holds everything: this store syncs at once). */
  restart(): void {
    this.network.restarts++;
    this.core = this.boot();
    this.flush(); // what the new core wrote at start
  }

  /** Crash; the disk is wiped (nothing left: no term, no vote, no entry, no snapshot); restart under the same id. */
  wipe(): void {
    this.disk.batches = [];
    this.disk.hardState = { term: 0, votedFor: null };
    delete this.disk.snapshot;
    this.restart();
  }

  /**
   * Crash; damage at rest then cuts the log after `after`, as the broker's store does at recovery:
   * it records what the log held first (voteless.ts). Then restart.
   */
  damageAtRest(after: number): void {
    const held = this.disk.batches.length === 0 ? -1 : decodeBatch(this.disk.batches.at(-1)!).lastOffset;
    this.disk.hardState = withLoss(this.disk.hardState, held) ?? this.disk.hardState;
    this.disk.batches = this.disk.batches.filter((batch) => decodeBatch(batch).lastOffset <= after);
    this.restart();
  }

  run(action: (core: RaftCore) => void): void {
    action(this.core);
    this.flush();
  }

  private flush(): void {
    reportStatus(this.core);
    const effects = this.core.effects;
    this.core.effects = [];
    const operations: RaftOperation[] = [];
    let sync = false;
    const reads: { id: number; read: RaftRead }[] = [];
    for (const effect of effects) {
      if (effect.type === "effect.persist") {
        operations.push(effect.operation);
        sync ||= effect.sync;
        this.apply(effect.operation);
      } else if (effect.type === "effect.send") {
        this.network.queue.push({ from: this.id, to: effect.to, message: effect.message });
      } else if (effect.type === "effect.notify") {
        this.outputs.push(effect.output);
      } else if (effect.type === "effect.read") {
        reads.push({ id: effect.id, read: effect.read });
      }
    }
    if (operations.length > 0) this.run((core) => persisted(core, operations, true));
    for (const { id, read } of reads) this.run((core) => readDone(core, id, { batches: this.read(read) }));
  }

  private apply(operation: RaftOperation): void {
    if (operation.kind === "append") this.disk.batches.push(...operation.batches.map((batch) => batch.slice()));
    else if (operation.kind === "truncate") this.disk.batches = this.disk.batches.filter((batch) => decodeBatch(batch).lastOffset <= operation.after);
    else if (operation.kind === "hard-state") this.disk.hardState = hardStateOf(operation);
    else if (operation.kind === "snapshot") {
      this.disk.snapshot = operation.snapshot;
      this.disk.batches = operation.reset ? [] : this.disk.batches.filter((batch) => decodeBatch(batch).lastOffset > operation.snapshot.index);
    }
  }

  /** The application compacts its log up to `index` with state `data`. */
  compact(index: number, data: Uint8Array): void {
    this.run((core) => compact(core, index, data));
  }

  private read(request: RaftRead): Uint8Array[] {
    const out: Uint8Array[] = [];
    let bytes = 0;
    for (const batch of this.disk.batches) {
      const view = decodeBatch(batch);
      if (view.baseOffset < request.from) continue;
      if (out.length > 0 && bytes + batch.length > request.maxBytes) break;
      out.push(batch);
      bytes += batch.length;
    }
    return out;
  }

  /** The data records applied so far, as text. */
  applied(): string[] {
    const values: string[] = [];
    for (const output of this.outputs) {
      if (output.type !== "raft.applied") continue;
      for (const entry of output.entries) {
        if (entry.kind !== "data") continue;
        decodeBatch(entry.batch).forEachRecord((record) => values.push(new TextDecoder().decode(record.value() ?? new Uint8Array(0))));
      }
    }
    return values;
  }

  of<T extends RaftOutput["type"]>(type: T): Extract<RaftOutput, { type: T }>[] {
    return this.outputs.filter((output): output is Extract<RaftOutput, { type: T }> => output.type === type);
  }
}

export class TestNetwork {
  readonly nodes = new Map<NodeId, TestNode>();
  queue: Envelope[] = [];
  /** Every message delivered, in order. */
  readonly delivered: Envelope[] = [];
  nowMs = 0;
  restarts = 0;
  /** Directed links that drop messages: "a->b". */
  readonly cut = new Set<string>();
  /** Rewrites each round of queued messages before delivery: drop, duplicate or reorder them (undefined: as queued). */
  mangle: ((round: readonly Envelope[]) => Envelope[]) | undefined;
  private proposals = 0;

  constructor(ids: readonly NodeId[], options: { settings?: Partial<RaftSettings>; plant?: RaftPlant; voters?: readonly NodeId[]; guardEmptyStart?: boolean } = {}) {
    const settings = { ...DEFAULT_RAFT_SETTINGS, ...options.settings };
    for (const id of ids) this.nodes.set(id, new TestNode(id, this, options.voters ?? ids, settings, options.plant, options.guardEmptyStart ?? false));
  }

  node(id: NodeId): TestNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  add(id: NodeId, voters: readonly NodeId[] = []): TestNode {
    const node = new TestNode(id, this, voters, this.node([...this.nodes.keys()][0]!).core.settings, undefined);
    this.nodes.set(id, node);
    return node;
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Deliver queued messages (and the ones they cause) until none is left, or `rounds` passes. */
  deliver(rounds = 1000): number {
    let delivered = 0;
    for (let round = 0; round < rounds && this.queue.length > 0; round++) {
      const batch = this.mangle === undefined ? this.queue : this.mangle(this.queue);
      this.queue = [];
      for (const { from, to, message } of batch) {
        if (this.cut.has(`${from}->${to}`)) continue;
        const node = this.nodes.get(to);
        if (node === undefined) continue;
        delivered++;
        this.delivered.push({ from, to, message });
        node.run((core) => receive(core, from, message));
      }
    }
    return delivered;
  }

  /** Tick every node (or the listed ones) `count` times, delivering messages after each tick. */
  tick(count = 1, only?: readonly NodeId[]): void {
    for (let index = 0; index < count; index++) {
      this.nowMs += 10;
      for (const node of this.nodes.values()) if (only === undefined || only.includes(node.id)) node.run(tick);
      this.deliver();
    }
  }

  /** Tick until `predicate` holds (at most `limit` ticks). */
  tickUntil(predicate: () => boolean, limit = 500): boolean {
    for (let index = 0; index < limit; index++) {
      if (predicate()) return true;
      this.tick();
    }
    return predicate();
  }

  leaders(): TestNode[] {
    return [...this.nodes.values()].filter((node) => node.core.role === "leader");
  }

  leader(): TestNode {
    const leaders = this.leaders();
    if (leaders.length !== 1) throw new Error(`expected one leader, found ${leaders.map((node) => node.id).join(",") || "none"}`);
    return leaders[0]!;
  }

  elect(): TestNode {
    if (!this.tickUntil(() => this.leaders().length === 1 && this.leader().core.commitIndex >= this.leader().core.termStartIndex)) throw new Error("no leader elected");
    return this.leader();
  }

  /** Propose a one-record batch with `value` at `node`. */
  propose(node: TestNode, value: string): number {
    const id = ++this.proposals;
    const batch = encodeBatch([{ value: new TextEncoder().encode(value), timestampMs: this.nowMs }]);
    node.run((core) => propose(core, { type: "raft.propose", id, batch }));
    return id;
  }

  read(node: TestNode, id: number): void {
    node.run((core) => requestRead(core, id));
  }

  transfer(node: TestNode, to: NodeId): void {
    node.run((core) => transferLeadership(core, to));
  }

  membership(node: TestNode, id: number, change: "add" | "remove", target: NodeId): void {
    node.run((core) => changeMembership(core, { type: "raft.membership", id, change, node: target }));
  }
}

/** A Raft node's disk kept in memory by the replica test clusters: its batches, hard state and snapshot. */
export interface MemoryDisk {
  batches: Uint8Array[];
  hardState: HardState;
  snapshot?: Snapshot;
}

/** The hard state a `hard-state` write leaves on disk. */
function hardStateOf(operation: Extract<RaftOperation, { kind: "hard-state" }>): HardState {
  return writtenHardState(operation);
}

/** Carry out one Raft persist operation on a memory disk, as the store would on files. */
export function writeToMemoryDisk(disk: MemoryDisk, operation: RaftOperation): void {
  if (operation.kind === "append") disk.batches.push(...operation.batches.map((batch) => batch.slice()));
  else if (operation.kind === "truncate") disk.batches = disk.batches.filter((batch) => decodeBatch(batch).lastOffset <= operation.after);
  else if (operation.kind === "hard-state") disk.hardState = hardStateOf(operation);
  else if (operation.kind === "snapshot") {
    disk.snapshot = operation.snapshot;
    disk.batches = operation.reset ? [] : disk.batches.filter((batch) => decodeBatch(batch).lastOffset > operation.snapshot.index);
  }
}

/** Ask `node` for its vote for candidate `from` at a term above its own, with a log ending at (lastIndex, lastTerm). */
export function askVote(network: TestNetwork, node: TestNode, from: string, lastIndex: number, lastTerm: number): boolean {
  network.queue = [];
  node.run((core) => receive(core, from, { type: "raft.vote", group: "g", term: core.term + 1, preVote: false, lastIndex, lastTerm, transfer: true }));
  const reply = network.queue.find((envelope) => envelope.from === node.id && envelope.message.type === "raft.vote.reply");
  network.queue = [];
  return (reply?.message as RaftVoteReply | undefined)?.granted === true;
}
