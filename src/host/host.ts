/**
 * The actor host: runs one xstate actor on the ports a node gives it. The simulated world and the
 * real process use this same code; only the ports differ.
 *
 * - Start-up path: `definition.open(fs)` reads the actor's durable state; the actor starts with it
 *   as input. A restart after a crash goes through exactly this path.
 * - Incoming transport messages become actor events through `definition.toEvent`.
 * - Effects the actor emits while handling one event form a batch. Batches run strictly in order
 *   (commit-pipeline.ts): persist all operations, sync if any asked for it, then send. A batch with
 *   no persist on an idle pipeline is sent at once, synchronously. While a sync is in flight, later
 *   batches are merged into one persist + one sync (group commit); a store that allows it
 *   (`persistDuringSync`) persists them during that sync, and the next sync covers them.
 * - The actor's timers run on the node's Clock (xstate's `clock` option), so virtual time drives
 *   every `after` transition in the simulator. Keyed timers (`effect.timer.set`) run on it too and
 *   come back as `timer.fired`.
 * - `effect.read` calls the store's `read` at once and answers with `read.done`; `effect.notify`
 *   hands its output to the application through `hooks.onNotify`.
 * - An `effect.send` marked `ahead` leaves when its event's effects are flushed, before every batch
 *   the pipeline holds (effects.ts: only for messages that state nothing not yet durable).
 * - An `effect.send` with a `receipt` number is sent with a transport receipt; the transport's
 *   answer comes back to the actor as `send.settled` (never after the actor stopped).
 * - With `deliverPersisted`, the actor hears `store.persisted` after each persist (and sync),
 *   with what the store refused (`rejected`: a full disk, say), and what the actor sends in
 *   reaction leaves at once when it persists nothing (its replies waited for this sync already,
 *   not for the next one).
 * - With `hooks.observer` (real nodes: metrics and logs), the host shows it every message received
 *   and sent, every completed persist/sync with its durations, and every completed read. The
 *   simulator passes one only when it records a trace (`zhumq sim --trace`: persist/sync only),
 *   and otherwise pays one undefined-check per step; the observer never feeds back into the actor.
 * - An error thrown inside the actor, or a failed persist, is fail-stop: the host stops the actor
 *   and reports a crash naming the actor and the event; the node decides what a crash means
 *   (the simulator crashes the node, a real process exits with that message).
 */
import { createActor, type Actor, type AnyStateMachine, type EventFromLogic } from "xstate";
import type { Clock, TimerHandle } from "../ports/clock.ts";
import type { FileSystem } from "../ports/filesystem.ts";
import type { Random } from "../ports/random.ts";
import type { NodeId, Transport } from "../ports/transport.ts";
import { CommitPipeline, type Commit } from "./commit-pipeline.ts";
import type { Effect, EffectsEmitted, ReadDone, SendSettled, StorePersisted, TimerFired } from "../actors/shared/effects.ts";

export interface NodePorts<Message> {
  readonly clock: Clock;
  readonly random: Random;
  readonly transport: Transport<Message>;
  readonly fs: FileSystem;
  /**
   * Called when the host starts promise-based work (a persist, a read) outside any port call.
   * The simulator uses it to drain promise continuations before its next event; a real host
   * leaves it out.
   */
  readonly notePendingWork?: () => void;
}

/** The durable side of an actor: written by the host, never by the actor. */
export interface ActorStore<Operation> {
  /**
   * Write the operations in order. A store may refuse some for a reason the node survives and
   * return what it refused (handed to the actor in `store.persisted`); it throws for the rest.
   */
  persist(operations: readonly Operation[]): Promise<readonly unknown[] | void>;
  /** Make every earlier persist durable; may return what it could not make durable, as `persist`. */
  sync(): Promise<readonly unknown[] | void>;
  /** Optional: these operations may be persisted while a sync runs (see commit-pipeline.ts). */
  persistDuringSync?(operations: readonly Operation[]): boolean;
  close(): Promise<void>;
  /** Serve an `effect.read`; only actors that emit reads need it. */
  read?(request: unknown): Promise<unknown>;
}

export interface ActorDefinition<Machine extends AnyStateMachine, Message, Operation, Input> {
  readonly name: string;
  readonly machine: Machine;
  /** Read durable state and open the store: the actor's whole start-up path. */
  open(fs: FileSystem): Promise<{ recovered: Input; store: ActorStore<Operation> }>;
  /** The actor's input, built from what was recovered and the ports (clock/random reach it here). */
  input(recovered: Input, ports: NodePorts<Message>): unknown;
  /** `principal`: who sent it, as `hooks.principalOf` authenticated it (absent: anonymous; src/actors/shared/principal.ts). */
  toEvent(from: NodeId, message: Message, principal?: string): EventFromLogic<Machine>;
  /** Deliver `store.persisted` after every completed persist (the actor's "Advance"). */
  readonly deliverPersisted?: boolean;
  /**
   * The store refused some of a batch's operations (`rejected`): each of the batch's sends is kept,
   * replaced by the message returned, or dropped (undefined) — a message may claim a write that
   * was not made (a Raft vote or acknowledgement). Sends with a receipt always leave. Default: all leave.
   */
  readonly withhold?: (message: Message, rejected: readonly unknown[]) => Message | undefined;
}

export interface HostCrash {
  readonly actor: string;
  readonly node: NodeId;
  readonly event: string;
  readonly error: unknown;
}

/** One persist (and sync, when asked) the host carried out: the group commit of merged batches. */
export interface CommitObserved<Operation> {
  readonly operations: readonly Operation[];
  readonly synced: boolean;
  /** Milliseconds on the observer's clock spent in `store.persist` and in `store.sync`. */
  readonly persistMs: number;
  readonly syncMs: number;
}

/**
 * Watches a host from outside, for metrics and logs on real nodes. Every method is called
 * synchronously on the host's path and must be cheap and must not throw; none can change what the
 * actor does. `now` is the observer's own clock (the host itself reads none for it).
 */
export interface HostObserver<Message = unknown, Operation = unknown> {
  now(): number;
  received?(from: NodeId, message: Message): void;
  sent?(to: NodeId, message: Message): void;
  committed?(commit: CommitObserved<Operation>): void;
  readDone?(request: unknown, outcome: { result?: unknown; error?: unknown }, durationMs: number): void;
}

export interface HostHooks {
  onCrash(crash: HostCrash): void;
  /** Outputs the actor hands to its application (`effect.notify`). */
  onNotify?(output: unknown): void;
  /** Real nodes (metrics, logs), and the simulator when it records a trace; else undefined. */
  observer?: HostObserver;
  /**
   * Who sent an incoming message (src/host/principal.ts on real nodes): attached to its event as
   * `principal`, for the actor's authorizer. Absent, or undefined for a message: anonymous.
   */
  principalOf?(from: NodeId, message: unknown): string | undefined;
}

interface Batch<Message, Operation> {
  operations: Operation[];
  sync: boolean;
  sends: { to: NodeId; message: Message; receipt: number | undefined }[];
}

export class ActorHost<Machine extends AnyStateMachine, Message, Operation, Input> {
  private actor: Actor<Machine> | undefined;
  private collecting: Batch<Message, Operation> = emptyBatch();
  /** Sends marked `ahead` (effects.ts): they leave when the event's effects are flushed, before what the pipeline holds. */
  private ahead: Batch<Message, Operation>["sends"] = [];
  private readonly pipeline: CommitPipeline<Operation, Batch<Message, Operation>>;
  private stopped = false;
  private currentEvent = "start";
  private readonly timers = new Map<string, TimerHandle>();

  private constructor(
    private readonly definition: ActorDefinition<Machine, Message, Operation, Input>,
    private readonly ports: NodePorts<Message>,
    private readonly store: ActorStore<Operation>,
    private readonly hooks: HostHooks,
  ) {
    const observer = hooks.observer?.committed === undefined ? undefined : hooks.observer;
    this.pipeline = new CommitPipeline(store, {
      merge: mergeBatches,
      deliver: (commit) => this.committed(commit),
      fail: (error) => this.crash(error),
      stopped: () => this.stopped,
      ...(ports.notePendingWork === undefined ? {} : { notePendingWork: ports.notePendingWork }),
      ...(observer === undefined ? {} : { now: () => observer.now() }),
    });
  }

  static async start<M extends AnyStateMachine, Msg, Op, In>(
    definition: ActorDefinition<M, Msg, Op, In>,
    ports: NodePorts<Msg>,
    hooks: HostHooks,
  ): Promise<ActorHost<M, Msg, Op, In>> {
    const { recovered, store } = await definition.open(ports.fs);
    const host = new ActorHost(definition, ports, store, hooks);
    host.boot(recovered);
    return host;
  }

  get snapshot(): ReturnType<Actor<Machine>["getSnapshot"]> | undefined {
    return this.actor?.getSnapshot();
  }

  /** The actor's store, for observers that read figures from it (sizes on disk); never to write. */
  get durableStore(): ActorStore<Operation> {
    return this.store;
  }

  /** Deliver an event as if it came from outside (tests, the simulator's workload driver). */
  send(event: EventFromLogic<Machine>): void {
    if (this.stopped || this.actor === undefined) return;
    this.currentEvent = (event as { type: string }).type;
    this.actor.send(event);
    this.flush();
  }

  /** Stop the actor; pending effects are abandoned (a crash) unless `drain` waits for them. */
  async stop(options: { drain: boolean } = { drain: false }): Promise<void> {
    if (options.drain) await this.idle();
    this.stopped = true;
    this.clearTimers();
    this.actor?.stop();
    if (options.drain) await this.store.close();
  }

  /** Resolves when every queued batch has been carried out. */
  async idle(): Promise<void> {
    while (this.pipeline.busy) {
      await new Promise<void>((resolve) => this.ports.clock.setTimeout(resolve, 0));
    }
  }

  private boot(recovered: Input): void {
    const clock = this.timerClock();
    // xstate's conditional option types cannot see through a generic machine; the options are plain.
    const create = createActor as unknown as (logic: Machine, options: object) => Actor<Machine>;
    const actor = create(this.definition.machine, { input: this.definition.input(recovered, this.ports), clock, id: this.definition.name });
    actor.on("*", (emitted: { type: string }) => this.collect(emitted as Effect<Message, Operation>));
    actor.subscribe({ error: (error: unknown) => this.crash(error) });
    this.actor = actor;
    const observer = this.hooks.observer;
    const principalOf = this.hooks.principalOf;
    const toEvent = principalOf === undefined ? (from: NodeId, message: Message) => this.definition.toEvent(from, message) : (from: NodeId, message: Message) => this.definition.toEvent(from, message, principalOf(from, message));
    this.ports.transport.onMessage(
      observer?.received === undefined
        ? (from, message) => this.send(toEvent(from, message))
        : (from, message) => {
            observer.received!(from, message);
            this.send(toEvent(from, message));
          },
    );
    actor.start();
    this.flush();
  }

  /** The node's clock, wrapped so effects of a timer-driven transition are flushed too. */
  private timerClock(): Clock {
    const clock = this.ports.clock;
    return {
      now: () => clock.now(),
      setTimeout: (callback: () => void, delayMs: number): TimerHandle =>
        clock.setTimeout(() => {
          // A finished actor (final state) keeps no timers: xstate would only warn about them.
          if (this.stopped || (this.actor?.getSnapshot() as { status?: string } | undefined)?.status !== "active") return;
          this.currentEvent = "timer";
          callback();
          this.flush();
        }, delayMs),
      clearTimeout: (handle: TimerHandle) => clock.clearTimeout(handle),
    };
  }

  private collect(effect: Effect<Message, Operation, unknown, unknown> | EffectsEmitted<Effect<Message, Operation, unknown, unknown>>): void {
    switch (effect.type) {
      case "effect.all":
        for (const one of effect.effects) this.collect(one);
        return;
      case "effect.send":
        (effect.ahead === true ? this.ahead : this.collecting.sends).push({ to: effect.to, message: effect.message, receipt: effect.receipt });
        return;
      case "effect.persist":
        this.collecting.operations.push(effect.operation);
        this.collecting.sync ||= effect.sync;
        return;
      case "effect.timer.set":
        return this.setTimer(effect.key, effect.delayMs);
      case "effect.timer.cancel":
        return this.cancelTimer(effect.key);
      case "effect.read":
        return this.startRead(effect.id, effect.read);
      case "effect.notify":
        this.hooks.onNotify?.(effect.output);
        return;
    }
  }

  private setTimer(key: string, delayMs: number): void {
    this.cancelTimer(key);
    const handle = this.ports.clock.setTimeout(() => {
      this.timers.delete(key);
      const fired: TimerFired = { type: "timer.fired", key };
      this.send(fired as EventFromLogic<Machine>);
    }, delayMs);
    this.timers.set(key, handle);
  }

  private cancelTimer(key: string): void {
    const handle = this.timers.get(key);
    if (handle === undefined) return;
    this.timers.delete(key);
    this.ports.clock.clearTimeout(handle);
  }

  private clearTimers(): void {
    for (const handle of this.timers.values()) this.ports.clock.clearTimeout(handle);
    this.timers.clear();
  }

  private startRead(id: number, request: unknown): void {
    const store = this.store;
    if (store.read === undefined) throw new Error(`${this.definition.name} emitted a read, but its store has no read()`);
    const observer = this.hooks.observer?.readDone === undefined ? undefined : this.hooks.observer;
    const startedAt = observer?.now() ?? 0;
    const answer = (done: ReadDone): void => {
      observer?.readDone!(request, done, observer.now() - startedAt);
      this.send(done as EventFromLogic<Machine>);
    };
    this.ports.notePendingWork?.();
    store.read(request).then(
      (result) => answer({ type: "read.done", id, result }),
      (error: unknown) => answer({ type: "read.done", id, error }),
    );
  }

  private flush(): void {
    if (this.stopped) return;
    this.sendAhead();
    const batch = this.collecting;
    if (batch.operations.length === 0 && batch.sends.length === 0) return;
    this.collecting = emptyBatch();
    if (!this.pipeline.busy && batch.operations.length === 0) {
      this.sendAll(batch);
      return;
    }
    this.pipeline.push(batch);
  }

  /** A group's persist (and sync) completed: send what waited for it, tell the actor. */
  private committed({ batch, rejected, persistMs, syncMs }: Commit<Batch<Message, Operation>>): void {
    if (batch.operations.length > 0) this.hooks.observer?.committed?.({ operations: batch.operations, synced: batch.sync, persistMs, syncMs });
    if (rejected.length > 0 && this.definition.deliverPersisted !== true) throw new Error(`${this.definition.name}'s store refused writes, but the actor does not hear of it`);
    if (rejected.length > 0) this.withholdBeforeHeard(batch, rejected);
    this.sendAll(batch);
    if (this.definition.deliverPersisted === true && batch.operations.length > 0) {
      const persisted: StorePersisted<Operation> = { type: "store.persisted", operations: batch.operations, synced: batch.sync, ...(rejected.length === 0 ? {} : { rejected }) };
      this.deliverPersisted(persisted);
    }
  }

  /** The reaction's sends leave now unless it persists something (then they wait their turn). */
  private deliverPersisted(persisted: StorePersisted<Operation>): void {
    if (this.stopped || this.actor === undefined) return;
    this.currentEvent = persisted.type;
    this.actor.send(persisted as EventFromLogic<Machine>);
    if (this.stopped) return;
    this.sendAhead();
    const reaction = this.collecting;
    if (reaction.operations.length > 0) return this.flush();
    this.collecting = emptyBatch();
    this.sendAll(reaction);
  }

  /**
   * A refusal: what the definition withholds (ActorDefinition.withhold) is taken out of every send
   * emitted before the actor hears of it — this batch's, the batches queued behind it and the one
   * being collected — since all of those may rest on the refused writes.
   */
  private withholdBeforeHeard(batch: Batch<Message, Operation>, rejected: readonly unknown[]): void {
    const withhold = this.definition.withhold;
    if (withhold === undefined) return;
    for (const each of [batch, ...this.pipeline.pending(), this.collecting]) {
      const sends: Batch<Message, Operation>["sends"] = [];
      for (const send of each.sends) {
        const message = send.receipt === undefined ? withhold(send.message, rejected) : send.message;
        if (message !== undefined) sends.push(message === send.message ? send : { ...send, message });
      }
      each.sends.splice(0, each.sends.length, ...sends);
    }
  }

  private sendAhead(): void {
    if (this.ahead.length === 0) return;
    const sends = this.ahead;
    this.ahead = [];
    this.sendAll({ operations: [], sync: false, sends });
  }

  private sendAll(batch: Batch<Message, Operation>): void {
    const observer = this.hooks.observer;
    for (const { to, message, receipt } of batch.sends) {
      observer?.sent?.(to, message);
      if (receipt === undefined) this.ports.transport.send(to, message);
      else this.ports.transport.send(to, message, (outcome) => this.settled({ type: "send.settled", receipt, outcome }));
    }
  }

  private settled(event: SendSettled): void {
    this.send(event as EventFromLogic<Machine>);
  }

  private crash(error: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.clearTimers();
    this.actor?.stop();
    this.hooks.onCrash({ actor: this.definition.name, node: this.ports.transport.self, event: this.currentEvent, error });
  }
}

function emptyBatch<Message, Operation>(): Batch<Message, Operation> {
  return { operations: [], sync: false, sends: [] };
}

function mergeBatches<Message, Operation>(batches: Batch<Message, Operation>[]): Batch<Message, Operation> {
  if (batches.length === 1) return batches[0]!;
  const merged = emptyBatch<Message, Operation>();
  for (const batch of batches) {
    merged.operations.push(...batch.operations);
    merged.sync ||= batch.sync;
    merged.sends.push(...batch.sends);
  }
  return merged;
}
