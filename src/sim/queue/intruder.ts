/**
 * The intruder of a queue run with the authorizer on (authorization.ts): a node whose principal,
 * `User:intruder`, no rule lets produce to the topic, delete it, grant rules or take a producer
 * id. A few times over the safety phase it tries all of that, aimed well: it produces straight to
 * the leader of every partition in the leader's current epoch (it knows them from the run, as an
 * attacker who watched the traffic would), so only the authorizer stands in its way.
 *
 * What must hold:
 * - every value it produces is recorded as a denied write (history.ts `deniedWrites`): the
 *   checker's rule denied-write fails the run if one appears in any log or is polled;
 * - no coordinator request of its succeeds (`denied-request-allowed`); a refusal says
 *   AUTHORIZATION_FAILED (other errors — no leader, the coordinator unavailable — come before the
 *   question is asked and prove nothing either way, and lost requests are not retried).
 *
 * Its sends go through the simulated network like everyone's, under the same faults.
 */
import { encodeBatch } from "../../disk/batch-encode.ts";
import type { ZhumqMessage } from "../../actors/shared/messages.ts";
import type { NodeId } from "../../ports/transport.ts";
import type { RunAnomaly } from "../run.ts";
import type { BootFunction } from "../node.ts";
import type { SimWorld } from "../world.ts";
import type { QueueHistory } from "./history.ts";
import type { FinalLeadership } from "./final-state.ts";
import { TOPIC } from "./run-options.ts";

export const INTRUDER = "intruder";
export const INTRUDER_PRINCIPAL = `User:${INTRUDER}`;

/** Rounds of attempts, evenly over the safety phase. */
const INTRUDER_ROUNDS = 6;

/** What the intruder tried and what it got. */
export interface IntruderFigures {
  /** Produce requests sent (one value each), and those answered AUTHORIZATION_FAILED. */
  readonly produces: number;
  readonly producesRefused: number;
  /** Coordinator requests sent, and those answered AUTHORIZATION_FAILED. */
  readonly requests: number;
  readonly requestsRefused: number;
}

export class Intruder {
  private produces = 0;
  private producesRefused = 0;
  private requests = 0;
  private requestsRefused = 0;
  private readonly allowed: RunAnomaly[] = [];
  /** Coordinator requests waiting for an answer, by request id (a follower's answer naming the leader sends it there, once). */
  private readonly waiting = new Map<number, { readonly request: ZhumqMessage; redirected: boolean }>();
  private readonly producing = new Set<number>();
  private send: ((to: NodeId, message: ZhumqMessage) => void) | undefined;

  constructor(
    private readonly world: SimWorld,
    private readonly history: QueueHistory,
    private readonly options: {
      readonly safetyMs: number;
      readonly coordinators: readonly NodeId[];
      /** Each partition's leader and epoch now ("topic/partition" →). */
      readonly leaders: () => ReadonlyMap<string, FinalLeadership>;
      /** The topic exists (before, a produce would prove nothing). */
      readonly ready: () => boolean;
    },
  ) {}

  boot(): BootFunction {
    return async (ports) => {
      let stopped = false;
      let requestId = 0;
      let round = 0;
      const encoder = new TextEncoder();
      const coordinatorRequests = [
        (id: number): ZhumqMessage => ({ type: "topic.delete", requestId: id, topic: TOPIC }),
        (id: number): ZhumqMessage => ({ type: "acl.add", requestId: id, rules: [{ principal: INTRUDER_PRINCIPAL, resourceType: "topic", patternType: "literal", name: TOPIC, operation: "produce" }] }),
        (id: number): ZhumqMessage => ({ type: "producer.id.request", requestId: id }),
      ];
      const attempt = (): void => {
        if (stopped || !this.options.ready()) return;
        for (const [key, leadership] of this.options.leaders()) {
          const partition = Number(key.slice(key.lastIndexOf("/") + 1));
          const value = `${INTRUDER}-${round}-${partition}`;
          const id = ++requestId;
          this.history.deniedWrites.push({ atMs: this.world.kernel.now(), process: INTRUDER, principal: INTRUDER_PRINCIPAL, topic: TOPIC, partition, value });
          this.produces++;
          this.producing.add(id);
          ports.transport.send(leadership.leader, { type: "produce.request", requestId: id, topic: TOPIC, partition, leaderEpoch: leadership.epoch, acks: 1, batch: encodeBatch([{ value: encoder.encode(value), timestampMs: Math.floor(ports.clock.now()) }]) } satisfies ZhumqMessage);
        }
        const id = ++requestId;
        const request = coordinatorRequests[round % coordinatorRequests.length]!(id);
        this.requests++;
        this.waiting.set(id, { request, redirected: false });
        ports.transport.send(this.options.coordinators[round % this.options.coordinators.length]!, request);
      };
      this.send = (to, message) => ports.transport.send(to, message);
      ports.transport.onMessage((from, received) => this.onReply(from, received as ZhumqMessage));
      const nowMs = ports.clock.now();
      for (let index = 1; index <= INTRUDER_ROUNDS; index++) {
        const atMs = (this.options.safetyMs * index) / (INTRUDER_ROUNDS + 1);
        if (atMs > nowMs) {
          ports.clock.setTimeout(() => {
            round = index;
            attempt();
          }, atMs - nowMs);
        }
      }
      return { stop: () => void (stopped = true) };
    };
  }

  private onReply(from: NodeId, reply: ZhumqMessage): void {
    if (!("requestId" in reply) || typeof reply.requestId !== "number") return;
    const error = "error" in reply ? reply.error : undefined;
    const refused = error?.code === "AUTHORIZATION_FAILED";
    if (this.producing.delete(reply.requestId)) {
      if (refused) this.producesRefused++;
      return; // a produce that got through is the denied-write rule's to judge, from the logs
    }
    const sent = this.waiting.get(reply.requestId);
    if (sent === undefined) return;
    const leader = error?.leader;
    if (error?.code === "COORDINATOR_NOT_AVAILABLE" && leader !== undefined && this.options.coordinators.includes(leader) && !sent.redirected) {
      sent.redirected = true;
      return this.send?.(leader, sent.request);
    }
    this.waiting.delete(reply.requestId);
    if (refused) this.requestsRefused++;
    else if (error === undefined) this.allowed.push({ kind: "denied-request-allowed", detail: `${from} granted ${INTRUDER_PRINCIPAL}'s ${sent.request.type} (${reply.type} without an error), though no ACL allows it` });
  }

  anomalies(): RunAnomaly[] {
    return this.allowed;
  }

  figures(): IntruderFigures {
    return { produces: this.produces, producesRefused: this.producesRefused, requests: this.requests, requestsRefused: this.requestsRefused };
  }
}
