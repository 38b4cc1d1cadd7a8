/**
 * The admin node of a queue run (src/sim/queue/cluster.ts): it creates the topic, retrying until
 * the coordinator (or, with a quorum, its leader) answers, and decommissions brokers when a
 * schedule step says so.
 */
import type { ZhumqMessage } from "../../actors/shared/messages.ts";
import type { NodeId } from "../../ports/transport.ts";
import type { SimNodePorts } from "../node.ts";
import { TOPIC, type Settings } from "./run-options.ts";

export const ADMIN = "admin";
const ADMIN_RETRY_MS = 200;
/** The admin's decommission requests take ids from here (the topic creation is request 1). */
const DECOMMISSION_REQUEST_ID_BASE = 1_000;

/** What the admin can be asked to do mid-run (set once it has booted). */
export interface AdminRequests {
  decommission?: (broker: NodeId) => void;
}

/**
 * The admin: create the topic, retrying with the same request id until the coordinator answers;
 * and decommission brokers when a schedule step says so, each retried until answered.
 */
export function adminBoot(settings: Settings, coordinators: readonly NodeId[], onReady: () => void, requests: AdminRequests) {
  return async (ports: SimNodePorts) => {
    let done = false;
    // With a quorum: ask the leader a refusal named, else move on to the next replica on each retry.
    let target = 0;
    const coordinator = (): NodeId => coordinators[target % coordinators.length]!;
    const decommissions = new Map<number, NodeId>();
    requests.decommission = (broker) => {
      const requestId = DECOMMISSION_REQUEST_ID_BASE + decommissions.size;
      decommissions.set(requestId, broker);
      const attempt = (): void => {
        if (!decommissions.has(requestId)) return;
        ports.transport.send(coordinator(), { type: "broker.decommission", requestId, broker } satisfies ZhumqMessage);
        ports.clock.setTimeout(attempt, ADMIN_RETRY_MS);
      };
      attempt();
    };
    const attempt = (): void => {
      if (done) return;
      const { partitions, replicationFactor, minInSync } = settings;
      const mode = settings.replicationMode;
      const request: ZhumqMessage = { type: "topic.create", requestId: 1, topic: TOPIC, partitions, replicationFactor, replicationMode: mode, ...(minInSync === undefined || mode === "raft" ? {} : { minInSync }) };
      ports.transport.send(coordinator(), request);
      target++;
      ports.clock.setTimeout(attempt, ADMIN_RETRY_MS);
    };
    ports.transport.onMessage((_from, message) => {
      const reply = message as ZhumqMessage;
      const leader = "error" in reply ? reply.error?.leader : undefined;
      if (leader !== undefined && coordinators.includes(leader)) target = coordinators.indexOf(leader);
      if (reply.type === "broker.decommission.reply" && reply.error?.code !== "COORDINATOR_NOT_AVAILABLE") decommissions.delete(reply.requestId);
      if (reply.type !== "topic.create.reply") return;
      if (reply.error === undefined || reply.error.code === "TOPIC_ALREADY_EXISTS") {
        done = true;
        onReady();
      }
    });
    attempt();
    return { stop: () => (done = true) };
  };
}
