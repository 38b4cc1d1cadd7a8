/**
 * The coordinator's side of authorization (docs/security.md, "Authorization"; the rules themselves
 * are ../shared/acl.ts):
 *
 * - Durable state: the ACLs are part of the command log — `acl.added` / `acl.removed` commands
 *   carry exactly the rules that changed (decisions, not requests), and every one bumps the
 *   version brokers compare in their heartbeats (`aclsForBroker`).
 * - Admin requests: `acl.add`, `acl.remove`, `acl.list` (`handleAclRequest`).
 * - Enforcement: `requestRefusal` says what each coordinator request needs and refuses it before
 *   any handler runs, so a refused request changes nothing; `filterMetadata` and `filterGroupList`
 *   hide what a principal may not describe. Broker heartbeats are node traffic: they are not
 *   checked against ACLs (node identity is the transport's: certificates).
 */
import { assert } from "../shared/assert.ts";
import { persist, send } from "../shared/effects.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import {
  ACL_RULES_MAX,
  ANY_RESOURCE,
  AUTHORIZER_OFF,
  CLUSTER_RESOURCE,
  EMPTY_ACLS,
  aclRuleProblem,
  allowsSomewhere,
  authorizationFailed,
  compareRules,
  copyRule,
  groupResource,
  isAllowed,
  sameRule,
  topicResource,
  type AclOperation,
  type AclResource,
  type AclRule,
  type AclSnapshot,
  type Authorizer,
} from "../shared/acl.ts";
import { ACL_RULES_PER_REQUEST_MAX, type AclAdd, type AclList, type AclRemove, type AclReplyMessage, type AclRequestMessage } from "../shared/acl-messages.ts";
import type { GroupListReply } from "../shared/group-messages.ts";
import type { NodeId } from "../shared/ids.ts";
import type { CoordinatorRequestMessage, MetadataReply, MetadataRequest } from "../shared/messages.ts";
import { principalProblem, type Principal } from "../shared/principal.ts";
import type { CoordinatorContext, Outcome } from "./handlers.ts";
import type { CoordinatorState } from "./state.ts";
import { apply } from "./state.ts";

// ---------------------------------------------------------------- commands

export interface AclAdded {
  readonly type: "acl.added";
  /** Rules that were not there before, sorted. */
  readonly rules: readonly AclRule[];
}

export interface AclRemoved {
  readonly type: "acl.removed";
  /** Rules that were there, sorted. */
  readonly rules: readonly AclRule[];
}

export type AclCommand = AclAdded | AclRemoved;

export function isAclCommand(command: { readonly type: string }): command is AclCommand {
  return command.type === "acl.added" || command.type === "acl.removed";
}

/** The ACLs after `command`: a new snapshot one version on. */
export function applyAclCommand(acls: AclSnapshot, command: AclCommand): AclSnapshot {
  assert(command.rules.length > 0, `${command.type} without rules`);
  if (command.type === "acl.added") {
    for (const rule of command.rules) assert(!acls.rules.some((held) => sameRule(held, rule)), `acl.added of a rule already held: ${JSON.stringify(rule)}`);
    const rules = [...acls.rules, ...command.rules].sort(compareRules);
    assert(rules.length <= ACL_RULES_MAX, `acl.added past ${ACL_RULES_MAX} rules`);
    return { ...acls, version: acls.version + 1, rules };
  }
  for (const rule of command.rules) assert(acls.rules.some((held) => sameRule(held, rule)), `acl.removed of a rule not held: ${JSON.stringify(rule)}`);
  return { ...acls, version: acls.version + 1, rules: acls.rules.filter((held) => !command.rules.some((rule) => sameRule(held, rule))) };
}

/** Why an acl command read back from the log is malformed, or undefined (command-decode.ts). */
export function aclCommandProblem(command: Record<string, unknown>): string | undefined {
  const rules = command["rules"];
  if (!Array.isArray(rules) || rules.length === 0) return `${String(command["type"])} needs rules`;
  for (const rule of rules as unknown[]) {
    const problem = aclRuleProblem(rule);
    if (problem !== undefined) return `${String(command["type"])}: ${problem}`;
  }
  return undefined;
}

export function aclsOf(state: CoordinatorState): AclSnapshot {
  return state.acls ?? EMPTY_ACLS;
}

// ---------------------------------------------------------------- the authorizer

/** The node's own authorizer settings (`--authorizer`, `--super-users`). */
export interface AuthorizerSettings {
  readonly enabled: boolean;
  readonly superUsers: readonly Principal[];
}

export function authorizerOf(context: Pick<CoordinatorContext, "authorizer" | "state">): Authorizer {
  const settings = context.authorizer;
  if (settings === undefined || !settings.enabled) return AUTHORIZER_OFF;
  return { enabled: true, superUsers: new Set(settings.superUsers), acls: aclsOf(context.state) };
}

/** The new ACLs for a broker that heartbeated holding `held` (absent: it has the newest, or sent no version). */
export function aclsForBroker(state: CoordinatorState, held: number | undefined): AclSnapshot | undefined {
  if (held === undefined) return undefined;
  const acls = aclsOf(state);
  return held === acls.version ? undefined : acls;
}

// ---------------------------------------------------------------- enforcement

/** One permission a request needs. */
export interface Needed {
  readonly operation: AclOperation;
  readonly resource: AclResource;
}

/**
 * What a coordinator request needs, every item of it: undefined for requests that are not
 * checked here (broker heartbeats: node traffic; metadata and group lists: filtered instead;
 * producer ids: produce on some topic, whichever, see `requestRefusal`).
 */
export function neededFor(request: CoordinatorRequestMessage): readonly Needed[] | undefined {
  const topics = (names: readonly string[], operation: AclOperation): Needed[] => [...new Set(names)].map((name) => ({ operation, resource: topicResource(name) }));
  switch (request.type) {
    case "broker.heartbeat":
    case "metadata.request":
    case "group.list":
    case "producer.id.request":
      return undefined;
    case "topic.create":
      return [{ operation: "create", resource: topicResource(request.topic) }];
    case "topic.delete":
      return [{ operation: "delete", resource: topicResource(request.topic) }];
    case "topic.alter":
      return [{ operation: "alter", resource: topicResource(request.topic) }];
    case "broker.decommission":
    case "acl.add":
    case "acl.remove":
    case "acl.list":
    case "user.upsert":
    case "user.delete":
    case "user.list":
      return [{ operation: "admin", resource: CLUSTER_RESOURCE }];
    case "group.heartbeat":
      return [{ operation: "read", resource: groupResource(request.groupId) }, ...topics(request.topics ?? [], "consume")];
    case "offsets.commit":
    case "offsets.reset":
      return [{ operation: "read", resource: groupResource(request.groupId) }, ...topics(request.offsets.map((entry) => entry.topic), "consume")];
    case "offsets.fetch":
    case "group.describe":
      return [{ operation: "describe", resource: groupResource(request.groupId) }];
    case "group.delete":
      return [{ operation: "delete", resource: groupResource(request.groupId) }];
    case "startget.request":
      return [{ operation: "read", resource: groupResource(request.groupId) }, ...topics([...(request.topics ?? []), ...(request.partitions ?? []).map((entry) => entry.topic)], "consume")];
  }
}

/**
 * Why `request` from `principal` is refused (the error, and the first permission it lacks), or
 * undefined when it may go on. A producer id needs produce on at least one topic (any name a rule
 * allows, existing or not): ids are a shared, durable counter, and a principal that may write
 * nowhere has no use for one (every write it is used for is checked again at the leader).
 */
export function requestRefusal(authorizer: Authorizer, principal: Principal, request: CoordinatorRequestMessage): { readonly error: WireError; readonly needed: Needed } | undefined {
  if (!authorizer.enabled) return undefined;
  if (request.type === "producer.id.request") {
    if (allowsSomewhere(authorizer, principal, "produce", "topic")) return undefined;
    const error = wireError("AUTHORIZATION_FAILED", `${principal} may not take a producer id: that needs produce on at least one topic (no ACL allows it: zhumq acl add)`);
    return { error, needed: { operation: "produce", resource: topicResource(ANY_RESOURCE) } };
  }
  for (const needed of neededFor(request) ?? []) {
    if (!isAllowed(authorizer, principal, needed.operation, needed.resource)) return { error: authorizationFailed(principal, needed.operation, needed.resource), needed };
  }
  return undefined;
}

/**
 * Metadata lists only the topics the principal may describe. A topic asked for by name that it
 * may not describe is answered AUTHORIZATION_FAILED whether or not it exists (its existence is
 * not told either).
 */
export function filterMetadata(authorizer: Authorizer, principal: Principal, request: MetadataRequest, reply: MetadataReply): MetadataReply {
  if (!authorizer.enabled || reply.error !== undefined) return reply;
  const may = (topic: string): boolean => isAllowed(authorizer, principal, "describe", topicResource(topic));
  const topics = reply.topics.filter((topic) => may(topic.topic));
  if (request.topics === null) return { ...reply, topics };
  const refused = request.topics.filter((topic, index) => !may(topic) && request.topics!.indexOf(topic) === index);
  const topicErrors = [...reply.topicErrors.filter((entry) => may(entry.topic)), ...refused.map((topic) => ({ topic, error: authorizationFailed(principal, "describe", topicResource(topic)) }))];
  return { ...reply, topics, topicErrors };
}

/** A group list shows only the groups the principal may describe. */
export function filterGroupList(authorizer: Authorizer, principal: Principal, reply: GroupListReply): GroupListReply {
  if (!authorizer.enabled || reply.error !== undefined) return reply;
  return { ...reply, groups: reply.groups.filter((group) => isAllowed(authorizer, principal, "describe", groupResource(group.groupId))) };
}

// ---------------------------------------------------------------- admin requests

export function aclErrorReply(type: AclRequestMessage["type"], requestId: number, error: WireError): AclReplyMessage {
  switch (type) {
    case "acl.add":
      return { type: "acl.add.reply", requestId, error, added: 0 };
    case "acl.remove":
      return { type: "acl.remove.reply", requestId, error, removed: 0 };
    case "acl.list":
      return { type: "acl.list.reply", requestId, error, rules: [], enforced: false, version: 0 };
  }
}

/** Why an acl request's fields are wrong (validate.ts), or undefined. */
export function aclRequestProblem(type: AclRequestMessage["type"], fields: Record<string, unknown>): WireError | undefined {
  if (type === "acl.list") {
    const principal = fields["principal"];
    if (principal === undefined) return undefined;
    const problem = principal === "*" ? undefined : principalProblem(principal);
    return problem === undefined ? undefined : wireError("INVALID_REQUEST", `principal: ${problem}`);
  }
  const rules = fields["rules"];
  if (!Array.isArray(rules) || rules.length === 0 || rules.length > ACL_RULES_PER_REQUEST_MAX) return wireError("INVALID_REQUEST", `rules must be a list of 1 to ${ACL_RULES_PER_REQUEST_MAX} rules`);
  for (const [index, rule] of (rules as unknown[]).entries()) {
    const problem = aclRuleProblem(rule);
    if (problem !== undefined) return wireError("INVALID_REQUEST", `rules[${index}]: ${problem}`);
  }
  return undefined;
}

/** A checked acl request, copied. */
export function copyAclRequest(type: AclRequestMessage["type"], requestId: number, fields: Record<string, unknown>): AclRequestMessage {
  if (type === "acl.list") return { type, requestId, ...(fields["principal"] === undefined ? {} : { principal: fields["principal"] as string }) };
  return { type, requestId, rules: (fields["rules"] as AclRule[]).map(copyRule) };
}

export function handleAclRequest(context: CoordinatorContext, from: NodeId, request: AclAdd | AclRemove | AclList): Outcome {
  const acls = aclsOf(context.state);
  switch (request.type) {
    case "acl.list": {
      const rules = request.principal === undefined ? acls.rules : acls.rules.filter((rule) => rule.principal === request.principal);
      return { changes: {}, effects: [send(from, { type: "acl.list.reply", requestId: request.requestId, rules, enforced: context.authorizer?.enabled === true, version: acls.version })] };
    }
    case "acl.add": {
      const fresh = unique(request.rules).filter((rule) => !acls.rules.some((held) => sameRule(held, rule)));
      if (acls.rules.length + fresh.length > ACL_RULES_MAX) {
        return { changes: {}, effects: [send(from, aclErrorReply(request.type, request.requestId, wireError("INVALID_REQUEST", `the cluster holds at most ${ACL_RULES_MAX} ACL rules (${acls.rules.length} now, ${fresh.length} more asked for)`)))] };
      }
      return change(context, from, { type: "acl.added", rules: fresh.sort(compareRules) }, { type: "acl.add.reply", requestId: request.requestId, added: fresh.length });
    }
    case "acl.remove": {
      const held = unique(request.rules).filter((rule) => acls.rules.some((existing) => sameRule(existing, rule)));
      return change(context, from, { type: "acl.removed", rules: held.sort(compareRules) }, { type: "acl.remove.reply", requestId: request.requestId, removed: held.length });
    }
  }
}

function change(context: CoordinatorContext, from: NodeId, command: AclCommand, reply: AclReplyMessage): Outcome {
  if (command.rules.length === 0) return { changes: {}, effects: [send(from, reply)] };
  return { changes: { state: apply(context.state, command) }, effects: [persist(command, true), send(from, reply)] };
}

function unique(rules: readonly AclRule[]): AclRule[] {
  const out: AclRule[] = [];
  for (const rule of rules) if (!out.some((seen) => sameRule(seen, rule))) out.push(rule);
  return out;
}
