/**
 * A simulated node: one process with its own clock view, random stream, network endpoint and
 * disk, and the process faults that can hit it.
 *
 * Fault model:
 * - crash: the process dies at once. Every in-memory actor state is gone, every timer it set is
 *   cancelled, messages in flight to it are dropped on arrival while it is down, and its disk
 *   keeps only what the disk's crash model keeps (see fs.ts). Promises its old incarnation was
 *   waiting on never settle, and code of the old incarnation that still runs (a boot's
 *   continuation that had not yet reached its disk when the crash came) reaches nothing: its disk
 *   calls never settle, its message handler is never installed, its outputs are not heard.
 * - restart: a new incarnation boots through the node's normal start-up path (the boot function,
 *   which reads the disk). With `wipe`, the disk is replaced by an empty one first.
 * - pause / resume: the process is frozen (a GC pause, a stopped VM). Timers that fall due and
 *   messages that arrive while paused are held, and run in their original order at resume.
 *   A disk completion may still run the process's code while paused, but anything it sends is
 *   held too and leaves at resume. Nothing is lost.
 * Every callback that reaches the node passes its gate, which applies the three rules above.
 *
 * Clock drift: the node's clock runs at `clockRate` local ms per real (virtual) ms — 1 unless a
 * workload draws a drift for it (`zhumq sim --clock-drift`). It reads `clockRate × now` and a
 * timer set for d ms fires after d / clockRate real ms. The rate is constant for the whole run
 * (every incarnation: the machine's oscillator, not the process); only rates matter to zhumq,
 * which never compares two nodes' readings, so all clocks read 0 at the start.
 */
import type { Clock, TimerHandle } from "../ports/clock.ts";
import type { Random } from "../ports/random.ts";
import type { NodeId, SendOutcome, Transport } from "../ports/transport.ts";
import type { FileSystem } from "../ports/filesystem.ts";
import type { AnyStateMachine } from "xstate";
import { ActorHost, type ActorDefinition, type HostCrash, type HostObserver, type NodePorts } from "../host/host.ts";
import type { Kernel, TaskHandle } from "./kernel.ts";
import type { NetworkHost, SimNetwork } from "./network.ts";
import { SimFileSystem, type SimDiskOptions } from "./fs.ts";

export type NodeStatus = "up" | "down" | "paused";

export interface SimNodePorts {
  readonly clock: Clock;
  readonly random: Random;
  readonly transport: Transport;
  /** The node's disk as this incarnation sees it (`fsFor`); the disk itself is `SimNode.fs`. */
  readonly fs: FileSystem;
  readonly notePendingWork: () => void;
}

/** What runs on the node: started by `boot`, stopped (abandoned) by a crash. */
export interface SimProcess {
  stop(): void;
}

export type BootFunction = (ports: SimNodePorts, node: SimNode) => Promise<SimProcess>;

export class SimNode implements NetworkHost {
  status: NodeStatus = "down";
  incarnation = 0;
  /** Errors thrown by actors on this node: each is a bug the run must report. */
  readonly failures: HostCrash[] = [];
  readonly fs: SimFileSystem;
  private process: SimProcess | undefined;
  private held: (() => void)[] = [];
  private transport: Transport;
  /** Local ms per real ms of this node's clock (set before the node starts; 1 = no drift). */
  clockRate = 1;

  constructor(
    readonly id: NodeId,
    private readonly kernel: Kernel,
    private readonly network: SimNetwork,
    private readonly boot: BootFunction,
    disk: Partial<SimDiskOptions> = {},
  ) {
    this.fs = new SimFileSystem(kernel, kernel.random.derive(`disk:${id}`), disk);
    this.transport = network.attach(id, this);
  }

  /** The network's gate and the clock's gate. */
  admit(deliver: () => void): void {
    if (this.status === "up") deliver();
    else if (this.status === "paused") this.held.push(deliver);
  }

  async start(): Promise<void> {
    if (this.status !== "down") return;
    this.status = "up";
    this.incarnation++;
    this.kernel.trace.foldString(`start:${this.id}:${this.incarnation}`);
    this.kernel.recorder?.nodeChanged(this.kernel.now(), "node.started", this.id, this.incarnation);
    this.transport = this.network.attach(this.id, this);
    const incarnation = this.incarnation;
    const ports: SimNodePorts = {
      clock: this.clockFor(incarnation),
      random: this.kernel.random.derive(`node:${this.id}`).derive(`incarnation:${incarnation}`),
      transport: this.transportFor(incarnation),
      fs: this.fsFor(incarnation),
      notePendingWork: () => this.kernel.markAsync(),
    };
    const process = await this.boot(ports, this);
    if (this.incarnation === incarnation) this.process = process;
    else process.stop();
  }

  crash(): void {
    if (this.status === "down") return;
    this.kernel.trace.foldString(`crash:${this.id}:${this.incarnation}`);
    this.kernel.recorder?.nodeChanged(this.kernel.now(), "node.crashed", this.id, this.incarnation);
    this.status = "down";
    this.incarnation++;
    this.held = [];
    this.network.detachHandler(this.id);
    const process = this.process;
    this.process = undefined;
    process?.stop();
    this.fs.crash();
  }

  async restart(options: { wipe?: boolean } = {}): Promise<void> {
    this.crash();
    if (options.wipe === true) this.fs.wipe();
    await this.start();
  }

  pause(): void {
    if (this.status !== "up") return;
    this.kernel.trace.foldString(`pause:${this.id}`);
    this.kernel.recorder?.nodeChanged(this.kernel.now(), "node.paused", this.id, this.incarnation);
    this.status = "paused";
  }

  resume(): void {
    if (this.status !== "paused") return;
    this.kernel.trace.foldString(`resume:${this.id}`);
    this.kernel.recorder?.nodeChanged(this.kernel.now(), "node.resumed", this.id, this.incarnation);
    this.status = "up";
    const held = this.held;
    this.held = [];
    for (const deliver of held) this.kernel.schedule(0, () => this.admit(deliver));
  }

  /** Record an actor error and crash the node: fail-stop, as a real process would exit. */
  fail(crash: HostCrash): void {
    this.failures.push(crash);
    this.crash();
  }

  /** What this node's clock reads now. */
  localNow(): number {
    return this.kernel.now() * this.clockRate;
  }

  /** The real (virtual) time at which this node's clock reads `localMs`. */
  realTimeOf(localMs: number): number {
    return localMs / this.clockRate;
  }

  /** Hooks for a host on this node: a trace observer when the run records a trace, else none. */
  hostHooks(): { observer?: HostObserver } {
    const recorder = this.kernel.recorder;
    return recorder === undefined ? {} : { observer: recorder.hostObserver(this.id, () => this.kernel.now()) };
  }

  private admitFor(incarnation: number, callback: () => void): void {
    if (this.incarnation === incarnation) this.admit(callback);
  }

  /**
   * The disk for one incarnation: once the node has crashed (or restarted) since, every call waits
   * for ever, as a dead process's would. Calls made before the crash are the disk's own business
   * (fs.ts: pending syncs never settle, open handles fail with EBADF); this covers calls the old
   * incarnation's code makes *after* the crash — a boot whose continuation was still queued (sim
   * seed 7103: a broker restarted at 4,235 ms and again at 4,236 ms went on recovering its logs in
   * its second, dead incarnation, side by side with the live one).
   */
  fsFor(incarnation: number): FileSystem {
    const fs = this.fs;
    const live = <T>(call: () => Promise<T>): Promise<T> => (this.incarnation === incarnation ? call() : new Promise<T>(() => undefined));
    return {
      open: (path, mode) => live(() => fs.open(path, mode)),
      readFile: (path) => live(() => fs.readFile(path)),
      stat: (path) => live(() => fs.stat(path)),
      list: (dir) => live(() => fs.list(dir)),
      mkdir: (dir) => live(() => fs.mkdir(dir)),
      remove: (path) => live(() => fs.remove(path)),
      removeDir: (dir) => live(() => fs.removeDir(dir)),
      rename: (from, to) => live(() => fs.rename(from, to)),
      syncDir: (dir) => live(() => fs.syncDir(dir)),
    };
  }

  /** Sends of a stale incarnation vanish; sends while paused leave at resume. */
  private transportFor(incarnation: number): Transport {
    const inner = this.transport;
    return {
      self: inner.self,
      // A boot still running for a crashed incarnation must not take the endpoint from the one
      // running now: that one would never hear a message again (sim seeds 7103 and 7026: a
      // broker restarted twice within a few ms, then heard nothing for the rest of the run).
      onMessage: (handler) => {
        if (this.incarnation === incarnation) inner.onMessage(handler);
      },
      send: (to, message, receipt) => {
        if (this.incarnation !== incarnation) return;
        // A receipt reaches the node like a timer: not after a crash, held while paused.
        const settled = receipt === undefined ? undefined : (outcome: SendOutcome) => this.admitFor(incarnation, () => receipt(outcome));
        if (this.status === "paused") {
          const emittedAtMs = this.kernel.now();
          this.held.push(() => {
            this.kernel.heldEmittedAtMs = emittedAtMs;
            try {
              inner.send(to, message, settled);
            } finally {
              this.kernel.heldEmittedAtMs = undefined;
            }
          });
        }
        else inner.send(to, message, settled);
      },
    };
  }

  /** The node's view of time: virtual time at its clock's rate, with timers that die with the incarnation. */
  private clockFor(incarnation: number): Clock {
    const kernel = this.kernel;
    const rate = this.clockRate;
    return {
      now: () => kernel.now() * rate,
      setTimeout: (callback: () => void, delayMs: number): TimerHandle =>
        kernel.schedule(delayMs / rate, () => {
          const recorder = kernel.recorder;
          if (recorder === undefined) return this.admitFor(incarnation, callback);
          this.admitFor(incarnation, () => {
            recorder.timerFired(kernel.now(), this.id, delayMs);
            callback();
          });
        }),
      clearTimeout: (handle: TimerHandle) => {
        if (handle !== undefined && handle !== null) kernel.cancel(handle as TaskHandle);
      },
    };
  }
}

/** A node a test scripts by hand (a coordinator or a client): it hands the test its transport, and every message it receives. */
export function scriptedBoot<Message>(keep: (transport: Transport) => void, onMessage: (from: NodeId, message: Message) => void): BootFunction {
  return async (ports) => {
    keep(ports.transport);
    ports.transport.onMessage((from, message) => onMessage(from, message as Message));
    return { stop: () => undefined };
  };
}

/**
 * Boot function for a node that runs one actor; an actor error fails the node (fail-stop).
 * `hooks.onNotify` receives the actor's outputs (`effect.notify`), in every incarnation.
 * `hooks.principalOf` names the principal of each sender (the simulated network authenticates
 * nodes by name): the actor's authorizer sees it on every message (absent: anonymous).
 * `hooks.onSend` sees every message the actor sends, when its host sends it (a paused node's sends
 * leave at resume, or never if it crashes first: the hook has seen them go, as a peer could have).
 */
export function actorBoot<Machine extends AnyStateMachine, Message, Operation, Input>(
  definition: ActorDefinition<Machine, Message, Operation, Input>,
  onStarted?: (host: ActorHost<Machine, Message, Operation, Input>) => void,
  hooks?: { onNotify?(output: unknown): void; principalOf?(from: string, message: unknown): string | undefined; onSend?(to: NodeId, message: unknown): void },
): BootFunction {
  return async (ports, node) => {
    const onSend = hooks?.onSend;
    const incarnation = node.incarnation;
    // A checker that judges what left the node sees each send as the host hands it to the transport.
    const transport: Transport =
      onSend === undefined
        ? ports.transport
        : {
            self: ports.transport.self,
            onMessage: (handler) => ports.transport.onMessage(handler),
            send: (to, message, receipt) => {
              if (node.incarnation === incarnation) onSend(to, message);
              ports.transport.send(to, message, receipt);
            },
          };
    // What a crashed incarnation's actor still does (its boot finished after the crash) is not heard.
    const live = (): boolean => node.incarnation === incarnation;
    const host = await ActorHost.start(definition, { ...ports, transport } as NodePorts<Message>, {
      ...node.hostHooks(),
      onCrash: (crash) => {
        if (live()) node.fail(crash);
      },
      onNotify: (output) => {
        if (live()) hooks?.onNotify?.(output);
      },
      ...(hooks?.principalOf === undefined ? {} : { principalOf: hooks.principalOf }),
    });
    if (live()) onStarted?.(host);
    return { stop: () => void host.stop() };
  };
}
