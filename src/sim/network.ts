/**
 * The simulated network.
 *
 * Fault model — what can happen to a message sent from A to B:
 * - Delay: each message waits a latency drawn from the link's distribution (uniform between
 *   `latencyMs.min` and `.max`, plus an exponential tail with mean `latencyMs.tailMean`).
 * - FIFO per link unless reordering is on: without it a message is never delivered before one sent
 *   earlier on the same link; with it (probability `reorderRate` per message) a message ignores
 *   that floor and may overtake.
 * - Loss: dropped with probability `lossRate`.
 * - Duplication: with probability `duplicateRate` a second copy (the same immutable object) is
 *   delivered after its own independently drawn delay.
 * - Clogging: a clogged link holds every message until the clog ends, then releases them in order.
 * - Partitions: a blocked directed link drops every message sent while it is blocked, and every
 *   message in flight on it at delivery time. `partition` blocks both directions (symmetric) or
 *   one (asymmetric); `isolate` cuts one node off from all others; `heal` removes every block and clog.
 * - A message to a node that is down when it arrives is dropped; to a paused node it waits
 *   (the node's gate holds it until resume).
 * Nothing else: messages are never corrupted (gRPC/TCP checksums are out of the model) and never
 * delivered to the wrong node.
 *
 * Receipts (the port's optional send completion): the simulated network has no send queue, so a
 * message leaves the moment it is sent. Its receipt says "left" on the next kernel step, whatever
 * the network then does to it (loss and partitions happen on the wire), and "unsent" only for a
 * node the network has never heard of, where a real transport would have no route.
 *
 * Rates are drawn per seed within bounds (swarm testing: some faults are switched off entirely
 * in a run, so each run explores a different corner). `NO_NETWORK_FAULTS` is the clean profile.
 */
import type { MessageHandler, NodeId, SendReceipt, Transport } from "../ports/transport.ts";
import type { Random } from "../ports/random.ts";
import type { Kernel } from "./kernel.ts";
import { chance, exponential, uniform } from "./random.ts";

export interface NetworkProfile {
  readonly latencyMs: { readonly min: number; readonly max: number; readonly tailMean: number };
  readonly lossRate: number;
  readonly duplicateRate: number;
  readonly reorderRate: number;
}

export const NO_NETWORK_FAULTS: NetworkProfile = {
  latencyMs: { min: 0.2, max: 1, tailMean: 0 },
  lossRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
};

/** Upper bounds for swarm-drawn profiles; each rate is drawn in [0, bound] or switched off. */
export interface NetworkFaultBounds {
  readonly latencyMaxMs: number;
  readonly tailMeanMaxMs: number;
  readonly lossRateMax: number;
  readonly duplicateRateMax: number;
  readonly reorderRateMax: number;
}

export const DEFAULT_NETWORK_FAULT_BOUNDS: NetworkFaultBounds = {
  latencyMaxMs: 20,
  tailMeanMaxMs: 10,
  lossRateMax: 0.1,
  duplicateRateMax: 0.05,
  reorderRateMax: 0.1,
};

/** Swarm testing: every fault kind is on with probability 1/2, at a rate drawn within its bound. */
export function drawNetworkProfile(random: Random, bounds: NetworkFaultBounds = DEFAULT_NETWORK_FAULT_BOUNDS): NetworkProfile {
  const maybe = (bound: number): number => (random.next() < 0.5 ? 0 : uniform(random, 0, bound));
  const max = uniform(random, 0.5, bounds.latencyMaxMs);
  return {
    latencyMs: { min: uniform(random, 0.1, max / 2), max, tailMean: maybe(bounds.tailMeanMaxMs) },
    lossRate: maybe(bounds.lossRateMax),
    duplicateRate: maybe(bounds.duplicateRateMax),
    reorderRate: maybe(bounds.reorderRateMax),
  };
}

/** What the network needs from a simulated node: a gate that runs, holds or drops a delivery. */
export interface NetworkHost {
  /** Run `deliver` now, hold it until resume, or drop it (node down) — the node decides. */
  admit(deliver: () => void): void;
  /** Read only by the trace recorder, to tell a message dropped at a crashed node from one held. */
  readonly status?: "up" | "down" | "paused";
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: { loss: number; partition: number; unknownNode: number };
  duplicated: number;
  reordered: number;
}

interface Link {
  /** Earliest time the next FIFO message may be delivered. */
  fifoFloorMs: number;
  clogUntilMs: number;
  blocked: boolean;
  random: Random;
}

export class SimNetwork {
  readonly stats: NetworkStats = { sent: 0, delivered: 0, dropped: { loss: 0, partition: 0, unknownNode: 0 }, duplicated: 0, reordered: 0 };
  private readonly linksFrom = new Map<NodeId, Map<NodeId, Link>>();
  /** Every link, in the order first used (heal walks them). */
  private readonly links: Link[] = [];
  private readonly hosts = new Map<NodeId, NetworkHost>();
  private readonly handlers = new Map<NodeId, MessageHandler<unknown>>();
  private readonly random: Random;
  profile: NetworkProfile;
  /**
   * Told of every message a node sends, when it sends it, before the network decides its fate
   * (loss, partition): checkers that judge what a node sent, not what arrived (the push overrun
   * rule, src/sim/push/overrun.ts), read it here.
   */
  onSent: ((atMs: number, from: NodeId, to: NodeId, message: unknown) => void) | undefined = undefined;

  constructor(
    private readonly kernel: Kernel,
    profile: NetworkProfile = NO_NETWORK_FAULTS,
  ) {
    this.random = kernel.random.derive("net");
    this.profile = profile;
  }

  /** Attach a node; its endpoint's handler is cleared (a restarted node registers anew). */
  attach(node: NodeId, host: NetworkHost): Transport {
    this.hosts.set(node, host);
    this.handlers.delete(node);
    return {
      self: node,
      send: (to, message, receipt) => this.send(node, to, message, receipt),
      onMessage: (handler) => {
        this.handlers.set(node, handler as MessageHandler<unknown>);
      },
    };
  }

  /** Forget a node's handler (it crashed); messages to it are dropped by its gate until restart. */
  detachHandler(node: NodeId): void {
    this.handlers.delete(node);
  }

  nodes(): NodeId[] {
    return [...this.hosts.keys()];
  }

  send(from: NodeId, to: NodeId, message: unknown, receipt?: SendReceipt): void {
    if (receipt !== undefined) {
      const outcome = this.hosts.has(to) ? "left" : "unsent";
      this.kernel.schedule(0, () => receipt(outcome));
    }
    this.stats.sent++;
    this.onSent?.(this.kernel.now(), from, to, message);
    const link = this.link(from, to);
    if (link.blocked) {
      this.stats.dropped.partition++;
      this.kernel.recorder?.dropped(this.kernel.now(), from, to, this.kernel.now(), "partition", message);
      return;
    }
    if (chance(link.random, this.profile.lossRate)) {
      this.stats.dropped.loss++;
      this.kernel.recorder?.dropped(this.kernel.now(), from, to, this.kernel.now(), "loss", message);
      return;
    }
    const emittedAtMs = this.kernel.heldEmittedAtMs ?? this.kernel.now();
    this.schedule(from, to, link, message, false, emittedAtMs);
    if (chance(link.random, this.profile.duplicateRate)) {
      this.stats.duplicated++;
      this.schedule(from, to, link, message, true, emittedAtMs);
    }
  }

  private schedule(from: NodeId, to: NodeId, link: Link, message: unknown, copy: boolean, emittedAtMs: number): void {
    const now = this.kernel.now();
    const { min, max, tailMean } = this.profile.latencyMs;
    let at = now + uniform(link.random, min, max) + exponential(link.random, tailMean);
    if (chance(link.random, this.profile.reorderRate)) {
      this.stats.reordered++;
    } else {
      at = Math.max(at, link.fifoFloorMs);
      link.fifoFloorMs = at;
    }
    at = Math.max(at, link.clogUntilMs);
    this.kernel.schedule(at - now, () => this.arrive(from, to, message, now, copy, emittedAtMs));
  }

  /** `copy`: this is the network's duplicate of a message (only the trace recorder tells them apart). */
  private arrive(from: NodeId, to: NodeId, message: unknown, sentAtMs: number, copy: boolean, emittedAtMs: number): void {
    const link = this.link(from, to);
    const recorder = this.kernel.recorder;
    if (link.blocked) {
      this.stats.dropped.partition++;
      recorder?.dropped(this.kernel.now(), from, to, sentAtMs, "partition", message);
      return;
    }
    const host = this.hosts.get(to);
    if (host === undefined) {
      this.stats.dropped.unknownNode++;
      recorder?.dropped(this.kernel.now(), from, to, sentAtMs, "unknown-node", message);
      return;
    }
    if (recorder !== undefined && host.status === "down") recorder.dropped(this.kernel.now(), from, to, sentAtMs, "node-down", message);
    host.admit(() => {
      const handler = this.handlers.get(to);
      if (handler === undefined) return;
      this.stats.delivered++;
      this.kernel.recorder?.delivered(this.kernel.now(), from, to, sentAtMs, message, copy);
      const trace = this.kernel.trace;
      trace.foldString(from);
      trace.foldString(to);
      trace.foldValue(message);
      this.kernel.delivering = { emittedAtMs };
      try {
        handler(from, message);
      } finally {
        this.kernel.delivering = undefined;
      }
    });
  }

  /** Block from → to (and to → from when symmetric). */
  partition(groupA: readonly NodeId[], groupB: readonly NodeId[], symmetric = true): void {
    for (const a of groupA) {
      for (const b of groupB) {
        if (a === b) continue;
        this.link(a, b).blocked = true;
        if (symmetric) this.link(b, a).blocked = true;
      }
    }
    this.kernel.trace.foldString(`partition:${groupA.join(",")}|${groupB.join(",")}|${symmetric}`);
  }

  isolate(node: NodeId): void {
    this.partition([node], this.nodes().filter((other) => other !== node), true);
  }

  /** Hold every message on from → to until `durationMs` from now. */
  clog(from: NodeId, to: NodeId, durationMs: number): void {
    const link = this.link(from, to);
    link.clogUntilMs = Math.max(link.clogUntilMs, this.kernel.now() + durationMs);
    this.kernel.trace.foldString(`clog:${from}->${to}:${durationMs}`);
  }

  heal(): void {
    for (const link of this.links) {
      link.blocked = false;
      link.clogUntilMs = Math.min(link.clogUntilMs, this.kernel.now());
    }
    this.kernel.trace.foldString("heal");
  }

  isBlocked(from: NodeId, to: NodeId): boolean {
    return this.link(from, to).blocked;
  }

  /** Looked up twice per message: by sender, then receiver (no key string built per message). */
  private link(from: NodeId, to: NodeId): Link {
    let outgoing = this.linksFrom.get(from);
    if (outgoing === undefined) {
      outgoing = new Map();
      this.linksFrom.set(from, outgoing);
    }
    let link = outgoing.get(to);
    if (link === undefined) {
      link = { fifoFloorMs: 0, clogUntilMs: 0, blocked: false, random: this.random.derive(`link:${from}->${to}`) };
      outgoing.set(to, link);
      this.links.push(link);
    }
    return link;
  }
}
