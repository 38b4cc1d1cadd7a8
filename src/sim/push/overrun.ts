/**
 * The overrun rule (issue 11, `push-overrun`): a broker never sends a member more than the member
 * granted. Within one open of a push session (member, broker, sessionId, requestId, openSeq), every time the
 * broker sends a push.batch, its totals for that open — record bytes and batches, counted here from
 * what it sent — must stay within the largest credit the member had SENT before that moment:
 *     sentBytes <= max(doneBytes + windowBytes)  and  sentBatches <= max(doneBatches + windowBatches)
 * over the member's credits (push.open, push.credit) for that open sent strictly earlier (a message
 * takes time to travel, so a credit sent at the same instant cannot have arrived). This bound is
 * sound whatever the network did: a broker can only have heard less than the member sent. Bytes
 * or batches beyond it are the overrun, and the rule holds brokers to 0 (the plant
 * `ignore-credits` breaks it). A restarted broker counts from 0 again (its sends are totalled per
 * incarnation), as a broker that forgot its sessions would.
 *
 * Plain data in (traffic.ts), violations and figures out; one walk, a map lookup per op.
 */
import { partitionKey } from "../../actors/shared/ids.ts";
import type { PushBatchOp, PushCreditOp, PushTrafficData, PushTrafficOp } from "./traffic.ts";

export interface PushViolation {
  readonly rule: "push-overrun";
  readonly atMs: number;
  readonly message: string;
  /** The batch that went past the credit, and the largest credit the member had sent before it (absent: none). */
  readonly ops: readonly PushTrafficOp[];
}

export interface PushFigures {
  /** push.batch messages brokers sent, and their record bytes. */
  readonly pushedBatches: number;
  readonly pushedBytes: number;
  /** Distinct sessions (member, broker, sessionId, requestId) that saw an open, and their opens beyond the first. */
  readonly sessions: number;
  readonly reopens: number;
  /** Credit messages members sent (opens included). */
  readonly credits: number;
  /** Bytes and batches sent beyond the credit: per open, the largest excess, summed. Always 0 for a correct broker. */
  readonly overrunBytes: number;
  readonly overrunBatches: number;
}

export interface PushCheckResult {
  readonly ok: boolean;
  readonly violations: readonly PushViolation[];
  /** Violations found, including those left out of the list. */
  readonly violationCount: number;
  readonly figures: PushFigures;
}

interface Grant {
  bytes: number;
  batches: number;
  /** The credit that set `bytes` (for the evidence). */
  largest: PushCreditOp | undefined;
}

interface Sent {
  bytes: number;
  batches: number;
  excessBytes: number;
  excessBatches: number;
}

const VIOLATIONS_MAX_DEFAULT = 100;

export function checkPushOverrun(traffic: PushTrafficData, options: { readonly violationsMax?: number } = {}): PushCheckResult {
  const violationsMax = options.violationsMax ?? VIOLATIONS_MAX_DEFAULT;
  const grants = new Map<string, Grant>();
  const sent = new Map<string, Sent>();
  const sessions = new Set<string>();
  const opens = new Set<string>();
  const violations: PushViolation[] = [];
  let violationCount = 0;
  let pushedBatches = 0;
  let pushedBytes = 0;
  let credits = 0;
  // Credits sent at the current instant: they count only for batches sent later.
  let pending: PushCreditOp[] = [];
  let now = -Infinity;
  for (const op of inTimeOrder(traffic.ops)) {
    if (op.atMs > now) {
      for (const credit of pending) grant(grants, credit);
      pending = [];
      now = op.atMs;
    }
    if (op.type === "credit") {
      credits++;
      pending.push(op);
      if (op.open) {
        sessions.add(sessionKey(op));
        opens.add(openKey(op));
      }
      continue;
    }
    pushedBatches++;
    pushedBytes += op.bytes;
    const granted = grants.get(openKey(op)) ?? { bytes: 0, batches: 0, largest: undefined };
    const totals = sendOf(sent, op);
    totals.bytes += op.bytes;
    totals.batches += 1;
    const excessBytes = totals.bytes - granted.bytes;
    const excessBatches = totals.batches - granted.batches;
    if (excessBytes <= 0 && excessBatches <= 0) continue;
    totals.excessBytes = Math.max(totals.excessBytes, excessBytes);
    totals.excessBatches = Math.max(totals.excessBatches, excessBatches);
    violationCount++;
    if (violations.length < violationsMax) violations.push(describe(op, totals, granted));
  }
  let overrunBytes = 0;
  let overrunBatches = 0;
  for (const totals of sent.values()) {
    overrunBytes += totals.excessBytes;
    overrunBatches += totals.excessBatches;
  }
  const figures: PushFigures = { pushedBatches, pushedBytes, sessions: sessions.size, reopens: opens.size - sessions.size, credits, overrunBytes, overrunBatches };
  return { ok: violationCount === 0, violations, violationCount, figures };
}

/** The ops sorted by time, ties kept in array order (a history recorded as it happened is already in order). */
function inTimeOrder(ops: readonly PushTrafficOp[]): readonly PushTrafficOp[] {
  for (let index = 1; index < ops.length; index++) {
    if (ops[index]!.atMs < ops[index - 1]!.atMs) return [...ops].sort((a, b) => a.atMs - b.atMs);
  }
  return ops;
}

function grant(grants: Map<string, Grant>, credit: PushCreditOp): void {
  const key = openKey(credit);
  let granted = grants.get(key);
  if (granted === undefined) grants.set(key, (granted = { bytes: 0, batches: 0, largest: undefined }));
  const bytes = credit.doneBytes + credit.windowBytes;
  if (bytes > granted.bytes || granted.largest === undefined) {
    granted.bytes = Math.max(granted.bytes, bytes);
    granted.largest = credit;
  }
  granted.batches = Math.max(granted.batches, credit.doneBatches + credit.windowBatches);
}

function sendOf(sent: Map<string, Sent>, batch: PushBatchOp): Sent {
  const key = `${openKey(batch)}\u0000${batch.incarnation}`;
  let totals = sent.get(key);
  if (totals === undefined) sent.set(key, (totals = { bytes: 0, batches: 0, excessBytes: 0, excessBatches: 0 }));
  return totals;
}

function sessionKey(op: { readonly member: string; readonly broker: string; readonly sessionId: string; readonly requestId: number }): string {
  return `${op.member}\u0000${op.broker}\u0000${op.sessionId}\u0000${op.requestId}`;
}

function openKey(op: PushTrafficOp): string {
  return `${sessionKey(op)}\u0000${op.openSeq}`;
}

function describe(batch: PushBatchOp, totals: Sent, granted: Grant): PushViolation {
  const credit = granted.largest === undefined ? "no credit at all before it" : `credit ${granted.bytes} bytes / ${granted.batches} batches (done + window) sent by ${batch.member} before it`;
  const message =
    `${batch.broker} pushed ${partitionKey(batch.topic, batch.partition)}@${batch.offset} (${batch.bytes} bytes) to ${batch.member} at ${batch.atMs} ms ` +
    `in session ${batch.sessionId} open ${batch.openSeq}: ${totals.bytes} bytes / ${totals.batches} batches sent, ${credit} ` +
    `— ${Math.max(0, totals.bytes - granted.bytes)} bytes and ${Math.max(0, totals.batches - granted.batches)} batches beyond the credit`;
  return { rule: "push-overrun", atMs: batch.atMs, message, ops: granted.largest === undefined ? [batch] : [batch, granted.largest] };
}
