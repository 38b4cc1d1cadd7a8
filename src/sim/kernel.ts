/**
 * The simulator kernel: virtual time and one event heap ordered by (time, sequence).
 *
 * Everything in a simulated run — timers, message deliveries, disk completions, faults — is an
 * event on this heap, and the kernel runs them one at a time. Virtual time jumps straight to the
 * next event, so a run costs the work it does, not the time it simulates.
 *
 * Promises: the FileSystem port and the host are promise-based. A promise continuation is a
 * microtask, which would otherwise run whenever Node gets round to it. The kernel drains all
 * microtasks after any event that resolved a promise (`markAsync`), by yielding one macrotask,
 * so continuations always run between two events, in FIFO order — deterministically.
 *
 * While a run is in progress, `Date.now`, `new Date()` and `Math.random` are replaced by the
 * virtual clock and a seeded stream, so a dependency's stray call cannot break replay; the calls
 * are counted and reported.
 */
import { EventHeap } from "./heap.ts";
import { SeededRandom } from "./random.ts";
import { TraceHash } from "./trace.ts";
import type { TraceRecorder } from "./trace-recorder.ts";

export type TaskCallback = () => void;

export interface TaskHandle {
  cancelled: boolean;
  readonly at: number;
}

interface Task extends TaskHandle {
  readonly callback: TaskCallback;
}


/** The virtual epoch: virtual time 0 is this wall-clock instant as seen by a patched Date.now. */
export const VIRTUAL_EPOCH_MS = Date.UTC(2026, 0, 1);

const realSetImmediate = globalThis.setImmediate;
const RealDate = globalThis.Date;
const realMathRandom = Math.random;

export interface RunLimits {
  /** Stop before running any event due after this virtual time. */
  untilMs?: number;
  /** Stop after this many events (a runaway guard). */
  maxEvents?: number;
  /** Stop as soon as this returns true (checked after every event). */
  stopWhen?: () => boolean;
}

export interface StrayCalls {
  dateNow: number;
  mathRandom: number;
}

export class SimulationError extends Error {
  override readonly name = "SimulationError";
}

export class Kernel {
  readonly random: SeededRandom;
  readonly trace = new TraceHash();
  /**
   * The run's trace recorder (`zhumq sim --trace`), or undefined: every hook in the simulated
   * world checks this one field, so recording costs nothing when off. It only watches.
   */
  recorder: TraceRecorder | undefined = undefined;
  /**
   * While a node's send is released at resume (src/sim/node.ts): when its process emitted it,
   * before the pause held it. The network carries it with the message.
   */
  heldEmittedAtMs: number | undefined = undefined;
  /**
   * While a message's handler runs: when its sender's process emitted it (earlier than it left
   * when a pause held it). A reply's effects on the receiver can be dated by the decision behind
   * it: the queue history dates an acknowledgement so (src/sim/queue/cluster.ts).
   */
  delivering: { readonly emittedAtMs: number } | undefined = undefined;
  readonly stray: StrayCalls = { dateNow: 0, mathRandom: 0 };
  private readonly heap = new EventHeap<Task>();
  private readonly strayRandom: SeededRandom;
  private nowMs = 0;
  private seq = 0;
  private asyncPending = false;
  private patchDepth = 0;
  eventsRun = 0;

  constructor(readonly seed: string | number) {
    this.random = new SeededRandom(String(seed));
    this.strayRandom = this.random.derive("stray-math-random");
  }

  now(): number {
    return this.nowMs;
  }

  get pending(): number {
    return this.heap.size;
  }

  /** Schedule `callback` to run `delayMs` from now (0 = after everything already due now). */
  schedule(delayMs: number, callback: TaskCallback): TaskHandle {
    const delay = Number.isFinite(delayMs) && delayMs > 0 ? delayMs : 0;
    const task: Task = { at: this.nowMs + delay, cancelled: false, callback };
    this.heap.push(task.at, this.seq++, task);
    return task;
  }

  cancel(handle: TaskHandle): void {
    handle.cancelled = true;
  }

  /** A component resolved or created a promise: drain microtasks before the next event. */
  markAsync(): void {
    this.asyncPending = true;
  }

  /** Run exactly one due event; false when the heap is empty or the next is past `untilMs`. */
  step(untilMs = Infinity): boolean {
    while (this.heap.size > 0) {
      if (this.heap.peekTime()! > untilMs) return false;
      const { time, seq, item } = this.heap.pop();
      if (item.cancelled) continue;
      this.nowMs = time;
      this.eventsRun++;
      this.trace.foldNumber(time);
      this.trace.foldNumber(seq);
      item.callback();
      return true;
    }
    return false;
  }

  /**
   * Run events until the heap is empty or a limit is reached. Purely synchronous workloads run in
   * a tight loop; an event that touched a promise makes the loop yield once to drain microtasks.
   */
  async run(limits: RunLimits = {}): Promise<void> {
    const untilMs = limits.untilMs ?? Infinity;
    const maxEvents = limits.maxEvents ?? Infinity;
    const stopWhen = limits.stopWhen;
    const startEvents = this.eventsRun;
    this.patchWorld();
    try {
      await this.drainIfNeeded();
      for (;;) {
        if (stopWhen?.()) break;
        if (this.eventsRun - startEvents >= maxEvents) break;
        if (!this.step(untilMs)) {
          // Nothing due: a continuation may still schedule more work at this instant.
          if (!this.asyncPending) break;
          await this.drainIfNeeded();
          continue;
        }
        await this.drainIfNeeded();
      }
      if (untilMs !== Infinity && this.nowMs < untilMs && !stopWhen?.() && this.eventsRun - startEvents < maxEvents) {
        this.nowMs = untilMs;
      }
    } finally {
      this.restoreWorld();
    }
  }

  /** Run the simulation until `promise` settles, then return (or throw) its outcome. */
  async settle<T>(promise: Promise<T>, limits: Omit<RunLimits, "stopWhen"> = {}): Promise<T> {
    let settled = false;
    const observed = promise.then(
      (value) => {
        settled = true;
        return value;
      },
      (error: unknown) => {
        settled = true;
        throw error;
      },
    );
    observed.catch(() => undefined);
    this.markAsync();
    await this.run({ ...limits, stopWhen: () => settled });
    if (!settled) {
      throw new SimulationError(`promise did not settle: heap ${this.heap.size === 0 ? "empty" : "limit reached"} at virtual ${this.nowMs} ms`);
    }
    return observed;
  }

  private async drainIfNeeded(): Promise<void> {
    while (this.asyncPending) {
      this.asyncPending = false;
      await new Promise<void>((resolve) => realSetImmediate(resolve));
    }
  }

  private patchWorld(): void {
    if (this.patchDepth++ > 0) return;
    const kernel = this;
    const virtualNow = (): number => {
      kernel.stray.dateNow++;
      return VIRTUAL_EPOCH_MS + Math.floor(kernel.nowMs);
    };
    class VirtualDate extends RealDate {
      constructor(...args: unknown[]) {
        if (args.length === 0) super(virtualNow());
        else super(...(args as [string]));
      }
      static override now(): number {
        return virtualNow();
      }
    }
    globalThis.Date = VirtualDate as DateConstructor;
    Math.random = () => {
      kernel.stray.mathRandom++;
      return kernel.strayRandom.next();
    };
  }

  private restoreWorld(): void {
    if (--this.patchDepth > 0) return;
    globalThis.Date = RealDate;
    Math.random = realMathRandom;
  }
}
