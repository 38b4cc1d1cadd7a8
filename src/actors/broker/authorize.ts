/**
 * The broker's side of authorization (docs/security.md, "Authorization"; the rules are
 * ../shared/acl.ts): produce needs topic produce, fetch needs topic consume, offsets need topic
 * describe. The rules come with heartbeat replies (`acls`, newer versions only); until the first
 * arrives a broker whose authorizer is on refuses everyone but its super users (deny by default).
 * A refused request is answered AUTHORIZATION_FAILED (an acks-0 produce gets no answer, as for any
 * error) before it touches a partition, and told to the host (`authorization.refused`) for
 * metrics and the log. Replication, Raft and push traffic are not checked here: replication and
 * Raft are node traffic (node identity is the transport's), and a push session exists only once
 * the coordinator granted its StartGet, which needs group read and topic consume.
 */
import { notify } from "../shared/effects.ts";
import { authorizationFailed, isAllowed, topicResource, AUTHORIZER_OFF, type AclOperation, type AclSnapshot, type AuthorizationRefused, type Authorizer } from "../shared/acl.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import type { NodeId } from "../shared/ids.ts";
import { principalOf, type Principal } from "../shared/principal.ts";
import type { Step } from "./core.ts";
import type { BrokerOutput } from "./types.ts";

/** This broker's authorizer: its settings and the newest rules it heard. */
export function brokerAuthorizer(step: Step): Authorizer {
  const settings = step.context.input.authorizer;
  if (settings === undefined || !settings.enabled) return AUTHORIZER_OFF;
  return { enabled: true, superUsers: new Set(settings.superUsers), acls: step.context.acls };
}

/**
 * The version a heartbeat reports: absent while the authorizer is off and users are not wanted
 * (`learnUsers`; then nothing changes on the wire).
 */
export function heldAclVersion(step: Step): { aclVersion: number } | Record<string, never> {
  const input = step.context.input;
  return input.authorizer?.enabled === true || input.learnUsers === true ? { aclVersion: step.context.acls?.version ?? -1 } : {};
}

/** Keep the ACLs a heartbeat reply carried when they are newer than those held. */
export function noteAcls(step: Step, acls: AclSnapshot | undefined): void {
  if (acls === undefined) return;
  const held = step.context.acls;
  if (held !== undefined && held.version >= acls.version) return;
  step.update({ acls });
}

/**
 * The error refusing `operation` on `topic` for whoever sent `envelope`, or undefined (allowed).
 * A broker that has not heard the rules yet (it just started: they come with its first heartbeat
 * reply, with its partitions) does not know the answer: it allows nothing but answers
 * BROKER_NOT_AVAILABLE, which clients retry, rather than AUTHORIZATION_FAILED, which they take as
 * final (a consumer would stop the partition for good because a broker restarted).
 */
export function topicRefusal(step: Step, envelope: { readonly from: NodeId; readonly principal?: Principal }, request: string, operation: AclOperation, topic: string): WireError | undefined {
  const authorizer = brokerAuthorizer(step);
  if (!authorizer.enabled || step.context.input.plant === "skip-authorize") return undefined;
  const principal = principalOf(envelope);
  const resource = topicResource(topic);
  if (isAllowed(authorizer, principal, operation, resource)) return undefined;
  if (authorizer.acls === undefined) return wireError("BROKER_NOT_AVAILABLE", `this broker has not heard the cluster's ACLs from the coordinator yet (it just started); try again shortly`);
  const refused: AuthorizationRefused = { type: "authorization.refused", from: envelope.from, principal, operation, resource, request };
  step.emit(notify<BrokerOutput>(refused));
  return authorizationFailed(principal, operation, resource);
}
