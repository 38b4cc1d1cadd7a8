/**
 * A simulated world: one kernel, one network, and named nodes — the cluster builder every
 * simulated run starts from.
 */
import type { NodeId } from "../ports/transport.ts";
import { Kernel } from "./kernel.ts";
import { SimNetwork, type NetworkProfile, NO_NETWORK_FAULTS } from "./network.ts";
import { SimNode, type BootFunction } from "./node.ts";
import type { SimDamageReport, SimDiskOptions } from "./fs.ts";
import { diskDamage, formatAction, type FaultAction, type FaultStep } from "./nemesis.ts";

/** A damage at rest that landed, and on which node: where a checker must expect it. */
export interface NodeDamageReport extends SimDamageReport {
  readonly node: NodeId;
}

export class SimWorld {
  readonly kernel: Kernel;
  readonly network: SimNetwork;
  readonly nodes = new Map<NodeId, SimNode>();
  /** Faults applied so far, as text, for the run's report. */
  readonly faultLog: string[] = [];
  /** Damage at rest planted so far, oldest first (steps that found nothing to hit are not here). */
  readonly damageAtRest: NodeDamageReport[] = [];

  constructor(seed: string | number, profile: NetworkProfile = NO_NETWORK_FAULTS) {
    this.kernel = new Kernel(seed);
    this.network = new SimNetwork(this.kernel, profile);
  }

  addNode(id: NodeId, boot: BootFunction, disk: Partial<SimDiskOptions> = {}): SimNode {
    if (this.nodes.has(id)) throw new Error(`node ${id} exists already`);
    const node = new SimNode(id, this.kernel, this.network, boot, disk);
    this.nodes.set(id, node);
    this.kernel.recorder?.nodeAdded(id);
    return node;
  }

  node(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node named ${id}`);
    return node;
  }

  /** Schedule every step of a fault schedule on the kernel, relative to now. */
  scheduleFaults(steps: readonly FaultStep[]): void {
    const start = this.kernel.now();
    for (const step of steps) {
      this.kernel.schedule(start + step.atMs - this.kernel.now(), () => this.apply(step.action));
    }
  }

  /**
   * Resolves symbolic node names in fault steps ("leader:0": whoever leads partition 0 now), set
   * by workloads that have such names. A crash, pause or isolation resolves its name afresh and
   * remembers it; the restart or resume that follows acts on the same node.
   */
  nodeResolver: ((name: string) => NodeId | undefined) | undefined;
  /**
   * Whether a restart may wipe this node's disk now (a workload's fault model: e.g. never the
   * only in-sync copy of some data). Absent: always. A refused wipe restarts on the disk as it is.
   */
  wipeAllowed: ((node: NodeId, keepId: boolean) => boolean) | undefined;
  /** Told of every crash a fault step causes (a workload whose clients crash records what they lost). */
  onCrash: ((node: NodeId) => void) | undefined;
  /**
   * Asked before every restart step: true (or why, as a string) takes the restart over (the node
   * stays down). A coordinator quorum replaces a wiped replica by a new member instead of letting
   * it return under its old id, and never restarts the retired one; a workload may keep a node down
   * until its own start.
   */
  restartTakenOver: ((node: NodeId, wipe: boolean, keepId: boolean) => boolean | string) | undefined;
  /** Carries out a `decommission` step (the workload asks its coordinator); absent: the step is logged as not understood. */
  onDecommission: ((node: NodeId) => void) | undefined;
  /** Carries out a `coordinator-add` / `coordinator-remove` step (a coordinator quorum's operator); absent: logged as not understood. */
  onCoordinatorChange: ((action: Extract<FaultAction, { kind: "coordinator-add" | "coordinator-remove" }>) => void) | undefined;
  private readonly resolvedNames = new Map<string, NodeId>();

  private resolve(name: NodeId, fresh: boolean, remember = true): NodeId | undefined {
    if (this.nodes.has(name)) return name;
    if (!fresh && this.resolvedNames.has(name)) return this.resolvedNames.get(name);
    const node = this.nodeResolver?.(name);
    if (node !== undefined && remember) this.resolvedNames.set(name, node);
    return node;
  }

  /** The action with symbolic node names resolved; undefined when one names nobody now (no leader). */
  private resolved(action: FaultAction): FaultAction | undefined {
    switch (action.kind) {
      case "crash":
      case "pause":
      case "isolate":
      case "restart":
      case "resume":
      case "coordinator-remove": {
        // A removal resolves its name afresh and leaves the name's crash–restart pairing alone.
        const node = this.resolve(action.node, action.kind !== "restart" && action.kind !== "resume", action.kind !== "coordinator-remove");
        return node === undefined ? undefined : { ...action, node };
      }
      case "partition": {
        const left = action.left.map((name) => this.resolve(name, true));
        const right = action.right.map((name) => this.resolve(name, true));
        if (left.includes(undefined) || right.includes(undefined)) return undefined;
        return { ...action, left: left as NodeId[], right: right as NodeId[] };
      }
      case "clog": {
        const from = this.resolve(action.from, true);
        const to = this.resolve(action.to, true);
        if (from === undefined || to === undefined) return undefined;
        return from === action.from && to === action.to ? action : { ...action, from, to };
      }
      default:
        return action;
    }
  }

  apply(symbolic: FaultAction): void {
    const action = this.resolved(symbolic);
    if (action === undefined) {
      this.faultLog.push(`${this.kernel.now().toFixed(3)} ${formatAction(symbolic)} (nobody: skipped)`);
      this.kernel.recorder?.fault(this.kernel.now(), symbolic, `${formatAction(symbolic)} (nobody: skipped)`, true);
      return;
    }
    const named = action === symbolic ? "" : ` (${formatAction(symbolic)})`;
    this.faultLog.push(`${this.kernel.now().toFixed(3)} ${formatAction(action)}${named}`);
    this.kernel.recorder?.fault(this.kernel.now(), action, formatAction(action) === formatAction(symbolic) ? formatAction(action) : `${formatAction(action)}${named}`, false);
    switch (action.kind) {
      case "crash":
        this.node(action.node).crash();
        this.onCrash?.(action.node);
        return;
      case "restart": {
        // A node that cannot even start (its recovery threw) is a failure the run reports, never
        // an unhandled rejection that takes the simulator down.
        const node = this.node(action.node);
        const keepId = action.keepId === true;
        const wipe = action.wipe && (this.wipeAllowed?.(action.node, keepId) ?? true);
        if (action.wipe && !wipe) this.faultLog.push(`${this.kernel.now().toFixed(3)} (wipe of ${action.node} refused: the fault model keeps it)`);
        const takenOver = this.restartTakenOver?.(action.node, wipe, keepId) ?? false;
        if (takenOver !== false) {
          this.faultLog.push(`${this.kernel.now().toFixed(3)} (${action.node} stays down: ${typeof takenOver === "string" ? takenOver : wipe ? "its disk is wiped; a new member replaces it" : "it left the coordinator quorum for good"})`);
          // A restart of a running node (its crash step found nobody) stops it first: never wipe under a live process.
          if (node.status !== "down") {
            node.crash();
            this.onCrash?.(action.node);
          }
          if (wipe) node.fs.wipe();
          return;
        }
        node.restart({ wipe }).catch((error: unknown) => node.fail({ actor: "boot", node: action.node, event: "restart", error }));
        return;
      }
      case "pause":
        return this.node(action.node).pause();
      case "resume":
        return this.node(action.node).resume();
      case "isolate":
        return this.network.isolate(action.node);
      case "partition":
        return this.network.partition(action.left, action.right, action.symmetric);
      case "clog":
        return this.network.clog(action.from, action.to, action.durationMs);
      case "heal":
        return this.network.heal();
      case "rot":
      case "zero-sector":
        return this.damage(action.node, action);
      case "disk-full": {
        const fs = this.node(action.node).fs;
        return fs.setCapacityBytes(fs.totalBytes() + action.roomBytes);
      }
      case "disk-free":
        return this.node(action.node).fs.setCapacityBytes(this.node(action.node).fs.options.capacityBytes);
      case "join": {
        const node = this.node(action.node);
        node.start().catch((error: unknown) => node.fail({ actor: "boot", node: action.node, event: "join", error }));
        return;
      }
      case "decommission":
        if (this.onDecommission === undefined) this.faultLog.push(`${this.kernel.now().toFixed(3)}   (no workload here can decommission ${action.node})`);
        else this.onDecommission(action.node);
        return;
      case "coordinator-add":
      case "coordinator-remove":
        if (this.onCoordinatorChange === undefined) this.faultLog.push(`${this.kernel.now().toFixed(3)}   (no coordinator quorum here to change)`);
        else this.onCoordinatorChange(action);
        return;
    }
  }

  private damage(id: NodeId, action: Parameters<typeof diskDamage>[0]): void {
    const { kind, target } = diskDamage(action);
    const report = this.node(id).fs.damageAtRest(kind, target);
    if (report === undefined) {
      this.faultLog.push(`${this.kernel.now().toFixed(3)}   nothing on ${id}'s disk to damage`);
      return;
    }
    this.damageAtRest.push({ node: id, ...report });
    this.faultLog.push(`${this.kernel.now().toFixed(3)}   ${kind} in ${report.path} at byte ${report.position} (${report.length} bytes, ${report.bytesChanged} changed)`);
  }

  /** End of the safety phase: a clean network, every node resumed and running. */
  healAll(): void {
    this.faultLog.push(`${this.kernel.now().toFixed(3)} heal all`);
    this.kernel.recorder?.healedAll(this.kernel.now());
    this.network.heal();
    this.network.profile = NO_NETWORK_FAULTS;
    for (const node of this.nodes.values()) {
      node.fs.setCapacityBytes(node.fs.options.capacityBytes);
      if (node.status === "paused") node.resume();
      if (node.status === "down" && (this.restartTakenOver?.(node.id, false, false) ?? false) === false) void node.start();
    }
    this.kernel.markAsync();
  }
}
