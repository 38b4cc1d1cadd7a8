/**
 * The admin node of a queue run (src/sim/queue/cluster.ts): it creates the topic, retrying until
 * the coordinator (or, with a quorum, its leader) answers, and decommissions brokers when a
 * schedule step says so. With the authorizer on it is the super user and first adds the
 * workload's ACLs (authorization.ts), also retried until the coordinator answers.
 */
import type { AclRule } from "../../actors/shared/acl.ts";
import type { ZhumqMessage } from "../../actors/shared/messages.ts";
import type { NodeId } from "../../ports/transport.ts";
import type { SimNodePorts } from "../node.ts";
import { TOPIC, type Settings } from "./run-options.ts";

export const ADMIN = "admin";
const ADMIN_RETRY_MS = 200;
/** The admin's decommission requests take ids from here (the topic creation is request 1). */
const DECOMMISSION_REQUEST_ID_BASE = 1_000;
/** The request id of the ACLs' `acl.add` (with the authorizer on). */
const ACL_REQUEST_ID = 2;

/** What the admin can be asked to do mid-run (set once it has booted). */
export interface AdminRequests {
  decommission?: (broker: NodeId) => void;
}

/**
 * The admin: add `acls` (when given) and then create the topic, each retried with the same request
 * id until the coordinator answers; and decommission brokers when a schedule step says so, each
 * retried until answered.
 */
export function adminBoot(settings: Settings, coordinators: readonly NodeId[], onReady: () => void, requests: AdminRequests, acls?: { readonly rules: readonly AclRule[]; readonly onAdded: () => void }) {
  return async (ports: SimNodePorts) => {
    let done = false;
    let aclsAdded = acls === undefined;
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
      if (!aclsAdded) {
        ports.transport.send(coordinator(), { type: "acl.add", requestId: ACL_REQUEST_ID, rules: acls!.rules } satisfies ZhumqMessage);
        target++;
        ports.clock.setTimeout(attempt, ADMIN_RETRY_MS);
        return;
      }
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
      if (reply.type === "acl.add.reply" && reply.error === undefined && !aclsAdded) {
        aclsAdded = true; // the next attempt creates the topic
        acls!.onAdded();
      }
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
