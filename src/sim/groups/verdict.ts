/**
 * What the group checker says: the rules it judges, one violation per finding, and the collector
 * that keeps them (a broken run can find thousands: at most a fixed number per rule is kept, the
 * rest only counted, and the verdict never depends on that cap).
 */
import type { SendOkOp } from "../queue/history.ts";
import type { PushTrafficOp } from "../push/traffic.ts";
import type { GroupOp } from "./history.ts";

export type GroupRule = "group-exclusivity" | "commit-monotonic" | "commit-beyond-processed" | "at-least-once-per-group" | "pub-sub-completeness" | "malformed-history" | "push-overrun";

/** An acknowledged send, as the queue history records it (`send.ok`); only these fields are read. */
export type AckedSend = Pick<SendOkOp, "atMs" | "value" | "topic" | "partition" | "offset">;

/** A record of a final committed log (merged over replicas). */
export interface LoggedRecord {
  readonly type: "log";
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly value: string;
}

export type GroupEvidence = GroupOp | AckedSend | LoggedRecord | PushTrafficOp;

export interface GroupViolation {
  readonly rule: GroupRule;
  /** When the rule broke (virtual ms); for the end-of-run rules, the first evidence's time. */
  readonly atMs: number;
  /** One line for a human: names the group, member, partition, offsets and times. */
  readonly message: string;
  /** The offending operations (a few, when there are many). */
  readonly ops: readonly GroupEvidence[];
}

export const VIOLATIONS_PER_RULE_MAX = 100;
/** How many evidence entries a violation carries when there are many (missing records). */
export const EVIDENCE_MAX = 20;
/** How many values a message names before it says how many more there are. */
const VALUES_NAMED_MAX = 5;

export class Findings {
  readonly violations: GroupViolation[] = [];
  readonly counts: Partial<Record<GroupRule, number>> = {};
  total = 0;
  leftOut = 0;

  constructor(private readonly perRuleMax: number) {}

  add(violation: GroupViolation): void {
    const count = (this.counts[violation.rule] ?? 0) + 1;
    this.counts[violation.rule] = count;
    this.total++;
    if (count > this.perRuleMax) this.leftOut++;
    else this.violations.push(violation);
  }
}

/** "3, 5..9" for sorted offsets; at most a handful of runs, then a count. */
export function describeOffsets(sorted: readonly number[]): string {
  const runs: [number, number][] = [];
  for (const offset of sorted) {
    const last = runs[runs.length - 1];
    if (last !== undefined && offset === last[1] + 1) last[1] = offset;
    else runs.push([offset, offset]);
  }
  const shown = runs.slice(0, VALUES_NAMED_MAX).map(([from, to]) => (from === to ? `${from}` : `${from}..${to}`));
  const more = runs.length > VALUES_NAMED_MAX ? `, … (${sorted.length} offsets)` : "";
  return shown.join(", ") + more;
}

/** "a1, a2, a3" for the first few values, then how many more. */
export function describeValues(values: readonly string[]): string {
  const shown = values.slice(0, VALUES_NAMED_MAX).join(", ");
  return values.length > VALUES_NAMED_MAX ? `${shown} and ${values.length - VALUES_NAMED_MAX} more` : shown;
}
