/**
 * Push sessions on the broker: the messages (issue 11; protocol in ../shared/push-messages.ts).
 * The coordinator prepares and revokes sessions; the member opens, credits and closes them.
 * Serving (reads, batches, wake-ups, leadership, the sweep) is in push-serve.ts, the state and
 * its pure arithmetic in push-state.ts.
 *
 * - `push.prepare` is taken only from the coordinator this broker heartbeats to. It creates the
 *   session, or — for the same group and member, with a higher member epoch — raises its epoch
 *   and adds partitions; a prepare at the session's epoch or below (the same again, or a late one)
 *   changes nothing, so a duplicate cannot bring back a partition revoked since. Beyond pushSessionsMax it is dropped (the open then hears
 *   PUSH_SESSION_LIMIT). An open parked for it is taken up at once.
 * - `push.open` binds the session to its sender and request id. Unknown session: parked up to
 *   PUSH_PREPARE_WAIT_MS (at most pushParkedOpensMax), then UNKNOWN_PUSH_SESSION. An openSeq not
 *   above the current one is ignored; a member epoch below the prepared one gets
 *   FENCED_MEMBER_EPOCH. A new open resets the counters, takes its positions (else the current
 *   ones, else the prepared ones), ends at once the partitions not led here in the prepared epoch
 *   (NOT_LEADER) or out of the log (OFFSET_OUT_OF_RANGE), and answers push.status.
 * - `push.credit` merges the totals of the current open by max (a window shrinks only by a
 *   re-open); `probe` is answered with push.status; a credit naming a newer open than the broker
 *   has (its open was lost) is answered with push.status carrying the broker's openSeq.
 * - Bad input (a malformed open or credit, windows out of the broker's limits, done totals above
 *   what was sent) gets push.end INVALID_REQUEST naming the field. When it comes from the bound
 *   member (or the session is not bound yet) the whole session is forgotten too — the member is
 *   broken, and a session it cannot drive would only hold memory; from any other node the
 *   session is left alone. Messages with no usable request id or session id are dropped.
 * - Every message from the member refreshes its session's idle timer.
 */
import { partitionKey, type NodeId } from "../shared/ids.ts";
import { isCoordinator } from "./heartbeat.ts";
import { wireError, type WireError } from "../shared/errors.ts";
import { PUSH_PREPARE_WAIT_MS } from "../shared/push-messages.ts";
import { isWireError, type Step } from "./core.ts";
import { dropSession, endMessage, endPart, ensureSweep, pump, pushState, resolvePart, setSession, statusOf, updatePush } from "./push-serve.ts";
import { creditOf, creditProblem, mergeCredit, parseOpen, parsePrepare, parseRefs, preparedSession, routeOf, type ParsedOpen, type PushPart, type PushSession } from "./push-state.ts";

/** Revokes name at most this many partitions (a member's whole assignment fits easily). */
const REVOKED_PARTITIONS_MAX = 1 << 16;

export function onPushMessage(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>): void {
  switch (message.type) {
    case "push.prepare":
      return onPrepare(step, from, message);
    case "push.revoke":
      return onRevoke(step, from, message);
    case "push.open":
      return onOpen(step, from, message);
    case "push.credit":
      return onCredit(step, from, message);
    case "push.close":
      return onClose(step, from, message);
    default:
      return;
  }
}

// ---------------------------------------------------------------- from the coordinator

function onPrepare(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>): void {
  if (!isCoordinator(step.context.input, from, step.context.heartbeat)) return;
  const { limits } = step.context.input;
  const prepare = parsePrepare(message, limits);
  if (prepare === undefined) return;
  const { sessions, parkedOpens } = pushState(step);
  const existing = sessions.get(prepare.sessionId);
  if (existing !== undefined && (existing.groupId !== prepare.groupId || existing.memberId !== prepare.memberId)) return; // not this session's member
  // The same prepare again (or an older one, late) changes nothing: it must not bring back a partition revoked since.
  if (existing !== undefined && prepare.memberEpoch <= existing.memberEpoch) return;
  if (existing === undefined && sessions.size >= limits.pushSessionsMax) {
    // No room: an open already waiting for this prepare hears so now, not after the wait.
    const waiting = parkedOpens.get(prepare.sessionId);
    if (waiting === undefined) return;
    const rest = new Map(parkedOpens);
    rest.delete(prepare.sessionId);
    updatePush(step, { parkedOpens: rest });
    return step.reply(waiting.from, endMessage(waiting.open, waiting.open.openSeq, wireError("PUSH_SESSION_LIMIT", `this broker holds ${sessions.size} push sessions: its limit`)));
  }
  const session = preparedSession(existing, prepare, step.now(), limits);
  setSession(step, session);
  ensureSweep(step);
  const parked = parkedOpens.get(prepare.sessionId);
  if (parked !== undefined) {
    const rest = new Map(parkedOpens);
    rest.delete(prepare.sessionId);
    updatePush(step, { parkedOpens: rest });
    return applyOpen(step, parked.from, parked.open);
  }
  // Partitions added to an open session start at once, from their prepared positions.
  if (session.binding !== undefined && !session.overLimit) {
    let current = session;
    for (const part of session.parts.values()) {
      if (part.next === undefined) current = startPart(step, current, part, part.start);
    }
    pump(step, current.sessionId);
  }
}

function onRevoke(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>): void {
  if (!isCoordinator(step.context.input, from, step.context.heartbeat)) return;
  const { groupId, memberId } = message;
  if (typeof groupId !== "string" || typeof memberId !== "string") return;
  const refs = parseRefs(message.partitions, REVOKED_PARTITIONS_MAX);
  if (refs !== undefined && isWireError(refs)) return;
  const fenced = (what: string): WireError => wireError("FENCED_MEMBER_EPOCH", `${what} of member ${memberId} in group ${groupId} was revoked by the coordinator`);
  for (const original of [...pushState(step).sessions.values()]) {
    if (original.groupId !== groupId || original.memberId !== memberId) continue;
    if (refs === undefined) {
      const binding = original.binding;
      if (binding !== undefined) step.reply(binding.member, endMessage({ requestId: binding.requestId, sessionId: original.sessionId }, binding.openSeq, fenced("every partition")));
      dropSession(step, original.sessionId);
      continue;
    }
    let session = original;
    for (const ref of refs) {
      const part = session.parts.get(partitionKey(ref.topic, ref.partition));
      if (part !== undefined) session = endPart(step, session, part, fenced(`${ref.topic}/${ref.partition}`));
    }
  }
}

// ---------------------------------------------------------------- from the member

function onOpen(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>): void {
  const route = routeOf(message);
  if (route === undefined) return;
  const { limits } = step.context.input;
  const open = parseOpen(message, route, limits);
  if (isWireError(open)) return refuse(step, from, route, typeof message.openSeq === "number" ? message.openSeq : 0, open);
  const { sessions, parkedOpens } = pushState(step);
  if (sessions.has(route.sessionId)) return applyOpen(step, from, open);
  // Not prepared (yet): the prepare may still be on its way.
  const parked = parkedOpens.get(route.sessionId);
  if (parked !== undefined && parked.open.openSeq >= open.openSeq) return;
  if (sessions.size >= limits.pushSessionsMax || (parked === undefined && parkedOpens.size >= limits.pushParkedOpensMax)) {
    return step.reply(from, endMessage(route, open.openSeq, wireError("PUSH_SESSION_LIMIT", `this broker holds ${sessions.size} push sessions and ${parkedOpens.size} opens waiting for their prepare: its limits`)));
  }
  updatePush(step, { parkedOpens: new Map(parkedOpens).set(route.sessionId, { from, open, untilMs: parked?.untilMs ?? step.now() + PUSH_PREPARE_WAIT_MS }) });
  ensureSweep(step);
}

/** Answer bad input with push.end INVALID_REQUEST; the sender's own session goes too (see the file comment). */
function refuse(step: Step, from: NodeId, route: { requestId: number; sessionId: string }, openSeq: number, error: WireError): void {
  step.reply(from, endMessage(route, openSeq, error));
  const session = pushState(step).sessions.get(route.sessionId);
  if (session !== undefined && (session.binding === undefined || session.binding.member === from)) dropSession(step, route.sessionId);
}

function applyOpen(step: Step, from: NodeId, open: ParsedOpen): void {
  const { limits } = step.context.input;
  const session = pushState(step).sessions.get(open.sessionId)!;
  if (session.overLimit) {
    step.reply(from, endMessage(open, open.openSeq, wireError("PUSH_SESSION_LIMIT", `push session ${open.sessionId} names more than ${limits.pushPartitionsPerSessionMax} partitions`)));
    return dropSession(step, open.sessionId);
  }
  const binding = session.binding;
  if (binding !== undefined && open.openSeq <= binding.openSeq) {
    // A duplicate or a stale open: ignored, but the member is alive.
    if (from === binding.member) setSession(step, { ...session, binding: { ...binding, lastHeardMs: step.now() } });
    return;
  }
  if (open.memberEpoch < session.memberEpoch) {
    return step.reply(from, endMessage(open, open.openSeq, wireError("FENCED_MEMBER_EPOCH", `member epoch ${open.memberEpoch} is below the session's ${session.memberEpoch}`)));
  }
  const problem = creditProblem(open.credit, { sentBytes: 0, sentBatches: 0 }, limits);
  if (problem !== undefined) return refuse(step, from, open, open.openSeq, problem);
  let current: PushSession = {
    ...session,
    held: undefined,
    binding: { member: from, requestId: open.requestId, openSeq: open.openSeq, credit: creditOf(open.credit), sentBytes: 0, sentBatches: 0, idleTimeoutMs: open.idleTimeoutMs, lastHeardMs: step.now() },
  };
  setSession(step, current);
  for (const part of session.parts.values()) {
    current = startPart(step, current, part, open.positions?.get(partitionKey(part.topic, part.partition)) ?? part.next ?? part.start);
  }
  step.reply(from, statusOf(step, current, open.requestId));
  pump(step, open.sessionId);
}

/** Resolve where an opened partition starts; one that cannot start here ends at once. */
function startPart(step: Step, session: PushSession, part: PushPart, raw: PushPart["start"]): PushSession {
  const resolved = resolvePart(step, part, raw);
  if ("error" in resolved) return endPart(step, session, part, resolved.error, resolved.logStartOffset === undefined ? {} : { logStartOffset: resolved.logStartOffset });
  const next = { ...session, parts: new Map(session.parts).set(partitionKey(part.topic, part.partition), resolved) };
  setSession(step, next);
  return next;
}

function onCredit(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>): void {
  const route = routeOf(message);
  if (route === undefined) return;
  const { memberEpoch, openSeq } = message;
  if (typeof openSeq !== "number" || !Number.isSafeInteger(openSeq) || openSeq < 1 || typeof memberEpoch !== "number" || !Number.isSafeInteger(memberEpoch)) {
    return refuse(step, from, route, typeof openSeq === "number" ? openSeq : 0, wireError("INVALID_REQUEST", "push.credit needs an integer openSeq >= 1 and memberEpoch"));
  }
  const session = pushState(step).sessions.get(route.sessionId);
  if (session === undefined) return step.reply(from, endMessage(route, openSeq, wireError("UNKNOWN_PUSH_SESSION", `push session ${route.sessionId} is not open on this broker (never prepared, expired or closed): StartGet again`)));
  if (memberEpoch < session.memberEpoch) return step.reply(from, endMessage(route, openSeq, wireError("FENCED_MEMBER_EPOCH", `member epoch ${memberEpoch} is below the session's ${session.memberEpoch}`)));
  const binding = session.binding;
  // The member's open never arrived: the status tells it which open the broker serves.
  if (binding === undefined || openSeq > binding.openSeq) return step.reply(from, statusOf(step, session, route.requestId));
  const heard = { ...binding, lastHeardMs: step.now() };
  if (openSeq < binding.openSeq) return setSession(step, { ...session, binding: heard });
  const problem = creditProblem(message.credit, binding, step.context.input.limits);
  if (problem !== undefined) return refuse(step, from, route, openSeq, problem);
  const next = { ...session, binding: { ...heard, credit: mergeCredit(binding.credit, creditOf(message.credit as Readonly<Record<string, unknown>>)) } };
  setSession(step, next);
  if (message.probe === true) step.reply(from, statusOf(step, next, route.requestId));
  pump(step, route.sessionId);
}

function onClose(step: Step, from: NodeId, message: Readonly<Record<string, unknown>>): void {
  const route = routeOf(message);
  if (route === undefined) return;
  const session = pushState(step).sessions.get(route.sessionId);
  if (session === undefined || (session.binding !== undefined && session.binding.member !== from)) return;
  const refs = parseRefs(message.partitions, step.context.input.limits.pushPartitionsPerSessionMax);
  if (refs !== undefined && isWireError(refs)) return;
  if (refs === undefined) return dropSession(step, route.sessionId);
  const parts = new Map(session.parts);
  for (const ref of refs) parts.delete(partitionKey(ref.topic, ref.partition));
  const heldGone = session.held !== undefined && !parts.has(session.held.key);
  const binding = session.binding === undefined ? undefined : { ...session.binding, lastHeardMs: step.now() };
  setSession(step, { ...session, parts, binding, held: heldGone ? undefined : session.held });
  pump(step, route.sessionId);
}
