/**
 * The permission rules (docs/security.md, "Authorization"): pure data and pure functions, shared by
 * the coordinator (which holds the rules in its command log and enforces them on its requests) and
 * the brokers (which receive them with heartbeat replies and enforce them on produce, fetch and
 * offsets).
 *
 * A rule allows one principal (or `*`: everyone, anonymous included) one operation on the
 * resources one pattern names:
 * - resources: a topic or a group by name, or the cluster (its one name is `cluster`);
 * - patterns: `literal` (the name itself; the literal name `*` means every resource of the type)
 *   or `prefixed` (every name that starts with a non-empty prefix);
 * - operations: topic produce, consume, describe, create, delete, alter; group read, describe,
 *   delete; cluster admin.
 *
 * Decisions, when the authorizer is on: a super user (a node setting) may do anything; a principal
 * with cluster admin may do anything; otherwise a request is allowed only when a rule allows it
 * (deny by default). Describe comes with every other operation on the same resource (whoever may
 * produce to a topic may look it up). There are no deny rules. When the authorizer is off every
 * request is allowed, as before ACLs existed.
 */
import { wireError, type WireError } from "./errors.ts";
import { ANY_PRINCIPAL, principalProblem, type Principal } from "./principal.ts";
import type { ScramUser } from "./scram-users.ts";

export const TOPIC_OPERATIONS = ["produce", "consume", "describe", "create", "delete", "alter"] as const;
export const GROUP_OPERATIONS = ["read", "describe", "delete"] as const;
export const CLUSTER_OPERATIONS = ["admin"] as const;

export type TopicOperation = (typeof TOPIC_OPERATIONS)[number];
export type GroupOperation = (typeof GROUP_OPERATIONS)[number];
export type ClusterOperation = (typeof CLUSTER_OPERATIONS)[number];
export type AclOperation = TopicOperation | GroupOperation | ClusterOperation;

export type AclResourceType = "topic" | "group" | "cluster";
export type AclPatternType = "literal" | "prefixed";

/** The cluster resource's only name. */
export const CLUSTER_RESOURCE_NAME = "cluster";
/** A literal rule name that matches every resource of its type. */
export const ANY_RESOURCE = "*";

export const OPERATIONS_BY_RESOURCE: Readonly<Record<AclResourceType, readonly AclOperation[]>> = {
  topic: TOPIC_OPERATIONS,
  group: GROUP_OPERATIONS,
  cluster: CLUSTER_OPERATIONS,
};

/** Rules the coordinator holds at most: every heartbeat reply that carries them stays small. */
export const ACL_RULES_MAX = 1000;
/** Longest resource name or prefix in a rule (topic and group names are shorter still). */
export const ACL_NAME_CHARS_MAX = 256;

export interface AclRule {
  /** `Type:name`, or `*` for every principal. */
  readonly principal: string;
  readonly resourceType: AclResourceType;
  readonly patternType: AclPatternType;
  /** A name, a prefix, `*` (literal: every one), or `cluster` for the cluster. */
  readonly name: string;
  readonly operation: AclOperation;
}

/** What a request touches. */
export interface AclResource {
  readonly type: AclResourceType;
  readonly name: string;
}

/**
 * A refused request, as an actor tells its host (`effect.notify`): the host counts it in metrics
 * and logs it (rate-limited). Nothing else happened: a refused request changes nothing.
 */
export interface AuthorizationRefused {
  readonly type: "authorization.refused";
  readonly from: string;
  readonly principal: Principal;
  readonly operation: AclOperation;
  readonly resource: AclResource;
  /** The request's type ("produce.request"). */
  readonly request: string;
}

export const CLUSTER_RESOURCE: AclResource = { type: "cluster", name: CLUSTER_RESOURCE_NAME };

/** The rules as the coordinator last committed them; `version` counts committed changes (brokers keep the newest). */
export interface AclSnapshot {
  readonly version: number;
  readonly rules: readonly AclRule[];
  /** Password users' SCRAM credentials (scram-users.ts), sorted by name; absent: none. Same version as the rules. */
  readonly users?: readonly ScramUser[];
  /**
   * The cluster's login secret (base64 of 32 bytes), set by the first user created and never
   * changed: every node derives an unknown user's mock salt from it (src/net/scram-link.ts), so
   * the salt is the same on every node and across restarts and does not tell a probing client
   * that the user does not exist. Absent: no user was created since it existed (each node then
   * uses a per-process secret).
   */
  readonly loginSecret?: string;
}

export const EMPTY_ACLS: AclSnapshot = { version: 0, rules: [] };

/** How a node decides: its own setting (`--authorizer`, `--super-users`) and the rules it holds. */
export interface Authorizer {
  readonly enabled: boolean;
  readonly superUsers: ReadonlySet<Principal>;
  /** Undefined on a broker that has not heard the rules yet: it refuses everyone but super users. */
  readonly acls: AclSnapshot | undefined;
}

export const AUTHORIZER_OFF: Authorizer = { enabled: false, superUsers: new Set(), acls: EMPTY_ACLS };

export function topicResource(name: string): AclResource {
  return { type: "topic", name };
}

export function groupResource(name: string): AclResource {
  return { type: "group", name };
}

function principalMatches(rule: AclRule, principal: Principal): boolean {
  return rule.principal === ANY_PRINCIPAL || rule.principal === principal;
}

function nameMatches(rule: AclRule, name: string): boolean {
  if (rule.patternType === "prefixed") return name.startsWith(rule.name);
  return rule.name === ANY_RESOURCE || rule.name === name;
}

/** Whether a rule's operation grants `operation` on its own resource type (describe comes with the rest). */
function operationGrants(ruleOperation: AclOperation, operation: AclOperation): boolean {
  return ruleOperation === operation || operation === "describe";
}

/** Whether `rules` (and nothing else) let `principal` do `operation` on `resource`. */
export function rulesAllow(rules: readonly AclRule[], principal: Principal, operation: AclOperation, resource: AclResource): boolean {
  for (const rule of rules) {
    if (!principalMatches(rule, principal)) continue;
    if (rule.resourceType === "cluster" && rule.operation === "admin") return true;
    if (rule.resourceType === resource.type && nameMatches(rule, resource.name) && operationGrants(rule.operation, operation)) return true;
  }
  return false;
}

/** The decision for one request: always allowed when the authorizer is off. */
export function isAllowed(authorizer: Authorizer, principal: Principal, operation: AclOperation, resource: AclResource): boolean {
  if (!authorizer.enabled || authorizer.superUsers.has(principal)) return true;
  return authorizer.acls !== undefined && rulesAllow(authorizer.acls.rules, principal, operation, resource);
}

/**
 * Whether `principal` may do `operation` on at least one resource of `type`, whatever its name
 * (whether or not such a resource exists): a super user, cluster admin, or a rule of that type
 * that grants the operation. A producer id needs produce on some topic (Kafka asks IdempotentWrite
 * on the cluster or Write on any topic): an id is only of use to someone who may write somewhere.
 */
export function allowsSomewhere(authorizer: Authorizer, principal: Principal, operation: AclOperation, type: "topic" | "group"): boolean {
  if (!authorizer.enabled || authorizer.superUsers.has(principal)) return true;
  const rules = authorizer.acls?.rules ?? [];
  return rules.some((rule) => principalMatches(rule, principal) && ((rule.resourceType === "cluster" && rule.operation === "admin") || (rule.resourceType === type && operationGrants(rule.operation, operation))));
}

/** The error a refused request gets: names the principal, the operation and the resource. */
export function authorizationFailed(principal: Principal, operation: AclOperation, resource: AclResource): WireError {
  const what = resource.type === "cluster" ? "the cluster" : `${resource.type} '${resource.name}'`;
  return wireError("AUTHORIZATION_FAILED", `${principal} may not ${operation} on ${what} (no ACL allows it: zhumq acl add)`);
}

/** One line per rule, as `zhumq acl list` prints it. */
export function describeRule(rule: AclRule): string {
  const resource = rule.resourceType === "cluster" ? "cluster" : `${rule.resourceType}:${rule.patternType === "prefixed" ? `${rule.name}*` : rule.name}`;
  return `${rule.principal} ${rule.operation} ${resource}${rule.patternType === "prefixed" ? " (prefix)" : ""}`;
}

export function sameRule(a: AclRule, b: AclRule): boolean {
  return a.principal === b.principal && a.resourceType === b.resourceType && a.patternType === b.patternType && a.name === b.name && a.operation === b.operation;
}

/** Rules in one stable order (principal, resource type, pattern, name, operation). */
export function compareRules(a: AclRule, b: AclRule): number {
  const fields = ["principal", "resourceType", "patternType", "name", "operation"] as const;
  for (const field of fields) {
    if (a[field] !== b[field]) return a[field] < b[field] ? -1 : 1;
  }
  return 0;
}

/** Why `value` is not a well-formed rule, or undefined. Checks everything: it comes from the network. */
export function aclRuleProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "a rule must be an object";
  const rule = value as Record<string, unknown>;
  if (rule["principal"] !== ANY_PRINCIPAL) {
    const problem = principalProblem(rule["principal"]);
    if (problem !== undefined) return `principal: ${problem} (or * for everyone)`;
  }
  const type = rule["resourceType"];
  if (type !== "topic" && type !== "group" && type !== "cluster") return `resourceType must be topic, group or cluster, got ${String(type)}`;
  const operations = OPERATIONS_BY_RESOURCE[type];
  if (typeof rule["operation"] !== "string" || !operations.includes(rule["operation"] as AclOperation)) return `a ${type} operation is one of ${operations.join(", ")}; got ${String(rule["operation"])}`;
  const pattern = rule["patternType"];
  if (pattern !== "literal" && pattern !== "prefixed") return `patternType must be literal or prefixed, got ${String(pattern)}`;
  const name = rule["name"];
  if (typeof name !== "string" || name.length === 0 || name.length > ACL_NAME_CHARS_MAX) return `name must be a string of 1 to ${ACL_NAME_CHARS_MAX} characters`;
  if (/[\u0000-\u001f\u007f]/.test(name)) return "name cannot contain control characters";
  if (type === "cluster" && (pattern !== "literal" || name !== CLUSTER_RESOURCE_NAME)) return `a cluster rule names the literal resource '${CLUSTER_RESOURCE_NAME}'`;
  return undefined;
}

/** A checked rule, copied field by field (nothing else a sender put in it travels on). */
export function copyRule(rule: AclRule): AclRule {
  return { principal: rule.principal, resourceType: rule.resourceType, patternType: rule.patternType, name: rule.name, operation: rule.operation };
}
