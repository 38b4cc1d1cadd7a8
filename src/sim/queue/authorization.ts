/**
 * The queue run with the authorizer on (`zhumq sim --authorizer on`, docs/simulator.md
 * "Authorization"): who each simulated node is, and the rules that let the workload do its work.
 *
 * The simulated network authenticates every node by its name, as mutual TLS would by its
 * certificate: the host of each coordinator replica and broker attaches the sender's principal to
 * every message it delivers (actorBoot's `principalOf`), so the actors' authorizers decide on it.
 * - clients are application users, shared by every process of a role: producers `User:producer`,
 *   plain consumers `User:consumer`, group members `User:group-consumer`, the mode-switching
 *   operator `User:operator`;
 * - the admin node is `User:admin`, a super user: it bootstraps the rules (and, with a quorum,
 *   `User:coordinator-admin`, which replaces wiped replicas);
 * - brokers and coordinator replicas are their node identities (`User:broker-0`); their traffic
 *   (heartbeats, replication, Raft) is node traffic, which no ACL governs;
 * - the intruder (intruder.ts) is `User:intruder`: no rule lets it produce, delete topics or
 *   grant itself rules.
 *
 * The rules travel the normal admin path: the admin sends them in an `acl.add` request to the
 * coordinator before it creates the topic, so they are committed in the coordinator's log (its
 * quorum's, with several replicas) and reach the brokers in heartbeat replies — the replication
 * of ACLs is exercised by every run. A rule per role and operation, literal and prefixed patterns
 * both.
 */
import type { AclRule } from "../../actors/shared/acl.ts";
import type { Principal } from "../../actors/shared/principal.ts";
import type { NodeId } from "../../ports/transport.ts";
import { ADMIN } from "./admin.ts";
import { COORDINATOR_ADMIN } from "./coordinator-operator.ts";
import { INTRUDER_PRINCIPAL } from "./intruder.ts";
import { OPERATOR } from "./mode-switches.ts";
import { TOPIC } from "./run-options.ts";

/** The admin node's principal, a super user: it creates the rules and the topic. */
export const SIM_SUPER_USER: Principal = `User:${ADMIN}`;

/**
 * The authorizer settings every coordinator replica and broker of the run gets: the admin and,
 * with a quorum, the node that replaces wiped replicas (coordinator-boot.ts) are super users.
 */
export const SIM_AUTHORIZER = { enabled: true, superUsers: [SIM_SUPER_USER, `User:${COORDINATOR_ADMIN}`] };

/** The principal the simulated network authenticated for messages from `from`. */
export function simPrincipal(from: NodeId): Principal {
  if (/^producer-\d+$/.test(from)) return "User:producer";
  if (/^consumer-\d+$/.test(from)) return "User:consumer";
  if (/^g\d+-member-\d+$/.test(from)) return "User:group-consumer";
  return `User:${from}`;
}

const topicRule = (principal: Principal, operation: AclRule["operation"], name = TOPIC, patternType: AclRule["patternType"] = "literal"): AclRule => ({ principal, resourceType: "topic", patternType, name, operation });

/**
 * What the workload needs, and no more: producers produce to the topic, consumers consume every
 * topic whose name starts like it (a prefixed rule), group members read their groups (prefixed)
 * and consume the topic, the operator alters it. The intruder gets one rule that names another
 * topic, so it is a principal the rules know of, not only a stranger.
 */
export function workloadAcls(): AclRule[] {
  return [
    topicRule("User:producer", "produce"),
    topicRule("User:consumer", "consume", TOPIC.slice(0, 3), "prefixed"),
    topicRule("User:group-consumer", "consume"),
    { principal: "User:group-consumer", resourceType: "group", patternType: "prefixed", name: "group-", operation: "read" },
    topicRule(`User:${OPERATOR}`, "alter"),
    topicRule(INTRUDER_PRINCIPAL, "consume", `not-${TOPIC}`),
  ];
}

/** What a run with the authorizer on counts: refusals the nodes reported, and what the intruder tried. */
export class AuthorizationWatch {
  /** `authorization.refused` outputs of coordinator replicas and brokers. */
  refused = 0;
  /** Of those, refusals of anyone but the intruder: the workload's own requests (0 when its rules are right). */
  refusedOthers = 0;

  /** Hooks for actorBoot on coordinator replicas and brokers: the sender's principal on every message. */
  readonly hooks = { principalOf: (from: NodeId): Principal => simPrincipal(from) };

  observe(output: unknown): void {
    const refused = output as { type?: unknown; principal?: unknown };
    if (refused.type !== "authorization.refused") return;
    this.refused++;
    if (refused.principal !== INTRUDER_PRINCIPAL) this.refusedOthers++;
  }
}
