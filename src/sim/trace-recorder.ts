/**
 * The trace recorder: what `zhumq sim --trace FILE` writes and the trace viewer draws. It
 * watches a run from outside — every delivered or dropped message, every timer that fired,
 * every persist/sync a host carried out, every process and network fault, and (for the queue)
 * every client operation of the history and the checker's anomalies — with its virtual time and
 * its node, and turns them into one versioned JSON document (the format is specified in
 * docs/simulator.md, "Trace files").
 *
 * Two promises:
 * - It never changes the run. It only reads: it draws no randomness, schedules nothing, folds
 *   nothing into the trace hash, and the hooks that feed it only call it. A run with a recorder
 *   has the same trace hash as one without (trace-recorder.test.ts).
 * - It costs nothing when off. The simulated components reach it through `Kernel.recorder`,
 *   which is undefined unless a trace was asked for: one property check per hook.
 *
 * Bounded: message payloads are summarised (type, request id, topic/partition, term or epoch,
 * error code, total byte size), never copied, and the events and client operations are each
 * capped; what passes a cap is counted, not kept, and the document says so (`truncated`).
 */
import type { NodeId } from "../ports/transport.ts";
import type { HostObserver } from "../host/host.ts";
import type { FaultAction } from "./nemesis.ts";

export const TRACE_FORMAT = "zhumq-trace";
export const TRACE_VERSION = 1;
/** Events kept by default: a standard queue run records a few thousand; 100,000 is about 15 MB. */
export const TRACE_EVENTS_MAX_DEFAULT = 100_000;
/** Client operations kept by default (the standard queue run has about 2,000). */
export const TRACE_OPERATIONS_MAX_DEFAULT = 100_000;
/** A message's byte size is summed over at most this many nested values (a bounded walk). */
const SUMMARY_VALUES_MAX = 512;
const SUMMARY_DEPTH_MAX = 6;
/** Scalar message fields a summary keeps when present: enough to follow a request, never a payload. */
const SUMMARY_FIELDS = ["requestId", "topic", "partition", "leaderEpoch", "epoch", "term", "offset", "fetchOffset", "producerId", "index", "id"] as const;
/** An anomaly links the operations of at most this many of its values (unseen can name hundreds). */
const ANOMALY_VALUES_MAX = 20;
/** Distinct operation types a commit event names (the rest are only counted). */
const COMMIT_TYPES_MAX = 4;

export type MessageSummary = { readonly type: string; readonly bytes?: number; readonly error?: string } & Readonly<Record<string, string | number | boolean>>;

export type DropReason = "loss" | "partition" | "node-down" | "unknown-node";

export type NodeChange = "node.started" | "node.crashed" | "node.paused" | "node.resumed";

export type TraceEvent =
  | { readonly atMs: number; readonly kind: "message.delivered"; readonly from: NodeId; readonly to: NodeId; readonly sentAtMs: number; readonly message: MessageSummary; readonly duplicate?: true }
  | { readonly atMs: number; readonly kind: "message.dropped"; readonly from: NodeId; readonly to: NodeId; readonly sentAtMs: number; readonly reason: DropReason; readonly message: MessageSummary }
  | { readonly atMs: number; readonly kind: "timer.fired"; readonly node: NodeId; readonly delayMs: number }
  | {
      readonly atMs: number;
      readonly kind: "store.committed";
      readonly node: NodeId;
      readonly operations: number;
      readonly types: readonly string[];
      readonly synced: boolean;
      readonly persistMs: number;
      readonly syncMs: number;
    }
  | { readonly atMs: number; readonly kind: NodeChange; readonly node: NodeId; readonly incarnation: number }
  | { readonly atMs: number; readonly kind: "fault"; readonly fault: FaultAction["kind"] | "heal-all"; readonly action: string; readonly nodes: readonly NodeId[]; readonly durationMs?: number; readonly skipped?: boolean };

/** A client operation as the history has it: time, process, type, and the operation's own fields. */
export interface TraceOperation {
  readonly atMs: number;
  readonly process: NodeId;
  readonly type: string;
  readonly [field: string]: unknown;
}

export interface TraceAnomaly {
  readonly kind: string;
  readonly detail: string;
  /** Indexes into the document's `operations`: the operations the checker names. */
  readonly operations: readonly number[];
  /** Evidence that is not a client operation (a final log entry, a leader change), summarised. */
  readonly evidence: readonly Readonly<Record<string, unknown>>[];
}

export interface TraceRun {
  readonly workload: string;
  readonly seed: number;
  readonly ok: boolean;
  readonly traceHash: string;
  readonly virtualMs: number;
  readonly kernelEvents: number;
  /** The command that replays the run. */
  readonly replay: string;
}

export interface TraceDocument {
  readonly format: typeof TRACE_FORMAT;
  readonly version: typeof TRACE_VERSION;
  readonly run: TraceRun;
  /** One lane per node, in the order the run added them. */
  readonly nodes: readonly NodeId[];
  readonly limits: { readonly eventsMax: number; readonly operationsMax: number };
  /** Absent when nothing was cut; else how much of each list passed its cap (dropped from the end). */
  readonly truncated?: { readonly events: number; readonly operations: number; readonly fromMs: number };
  /** Every event seen, per kind, kept or not. */
  readonly counts: Readonly<Record<string, number>>;
  readonly events: readonly TraceEvent[];
  readonly operations: readonly TraceOperation[];
  readonly anomalies: readonly TraceAnomaly[];
}

export interface TraceLimits {
  readonly eventsMax?: number;
  readonly operationsMax?: number;
}

/** Virtual times to the microsecond: the seeded latencies have more digits than a reader needs. */
function round(ms: number): number {
  return Math.round(ms * 1_000) / 1_000;
}

export class TraceRecorder {
  readonly nodes: NodeId[] = [];
  private readonly events: TraceEvent[] = [];
  private readonly operations: TraceOperation[] = [];
  private readonly anomalies: TraceAnomaly[] = [];
  private readonly counts: Record<string, number> = {};
  private readonly eventsMax: number;
  private readonly operationsMax: number;
  private eventsCut = 0;
  private operationsCut = 0;
  private cutFromMs: number | undefined;
  private readonly operationIndex = new Map<object, number>();
  /** Operation indexes by value, built on the first anomaly that needs it. */
  private byValue: Map<string, number[]> | undefined;

  constructor(limits: TraceLimits = {}) {
    this.eventsMax = limits.eventsMax ?? TRACE_EVENTS_MAX_DEFAULT;
    this.operationsMax = limits.operationsMax ?? TRACE_OPERATIONS_MAX_DEFAULT;
    if (!(Number.isSafeInteger(this.eventsMax) && this.eventsMax >= 0)) throw new Error(`trace: eventsMax must be an integer >= 0, not ${this.eventsMax}`);
    if (!(Number.isSafeInteger(this.operationsMax) && this.operationsMax >= 0)) throw new Error(`trace: operationsMax must be an integer >= 0, not ${this.operationsMax}`);
  }

  nodeAdded(node: NodeId): void {
    if (!this.nodes.includes(node)) this.nodes.push(node);
  }

  /** `duplicate`: the network's second copy of a message (its fault model duplicates some). */
  delivered(atMs: number, from: NodeId, to: NodeId, sentAtMs: number, message: unknown, duplicate = false): void {
    this.push({ atMs: round(atMs), kind: "message.delivered", from, to, sentAtMs: round(sentAtMs), message: summarizeMessage(message), ...(duplicate ? { duplicate } : {}) });
  }

  dropped(atMs: number, from: NodeId, to: NodeId, sentAtMs: number, reason: DropReason, message: unknown): void {
    this.push({ atMs: round(atMs), kind: "message.dropped", from, to, sentAtMs: round(sentAtMs), reason, message: summarizeMessage(message) });
  }

  timerFired(atMs: number, node: NodeId, delayMs: number): void {
    this.push({ atMs: round(atMs), kind: "timer.fired", node, delayMs: round(delayMs) });
  }

  nodeChanged(atMs: number, kind: NodeChange, node: NodeId, incarnation: number): void {
    this.push({ atMs: round(atMs), kind, node, incarnation });
  }

  fault(atMs: number, action: FaultAction, text: string, skipped: boolean): void {
    const duration = action.kind === "clog" ? { durationMs: action.durationMs } : {};
    this.push({ atMs: round(atMs), kind: "fault", fault: action.kind, action: text, nodes: faultNodes(action), ...duration, ...(skipped ? { skipped } : {}) });
  }

  healedAll(atMs: number): void {
    this.push({ atMs: round(atMs), kind: "fault", fault: "heal-all", action: "heal all (liveness phase)", nodes: [] });
  }

  /** A host observer that records each persist/sync of `node`'s host; `now` is virtual time. */
  hostObserver(node: NodeId, now: () => number): HostObserver {
    return {
      now,
      committed: (commit) => {
        this.push({
          atMs: round(now()),
          kind: "store.committed",
          node,
          operations: commit.operations.length,
          types: operationTypes(commit.operations),
          synced: commit.synced,
          persistMs: round(commit.persistMs),
          syncMs: round(commit.syncMs),
        });
      },
    };
  }

  /** The history's client operations, in history order (the array order is the truth). */
  recordOperations(operations: readonly { readonly atMs: number; readonly process: NodeId; readonly type: string }[]): void {
    for (const operation of operations) {
      if (this.operations.length >= this.operationsMax) {
        this.operationsCut++;
        this.cutFromMs = Math.min(this.cutFromMs ?? Infinity, operation.atMs);
        continue;
      }
      this.operationIndex.set(operation, this.operations.length);
      this.operations.push({ ...operation, atMs: round(operation.atMs) });
    }
  }

  /** The run's anomalies; evidence that is one of the recorded operations becomes its index. */
  recordAnomalies(anomalies: readonly { readonly kind: string; readonly detail: string; readonly ops?: readonly unknown[]; readonly values?: readonly string[] }[]): void {
    for (const anomaly of anomalies) {
      const operations = new Set<number>();
      const evidence: Record<string, unknown>[] = [];
      for (const item of anomaly.ops ?? []) {
        const index = typeof item === "object" && item !== null ? this.operationIndex.get(item) : undefined;
        if (index !== undefined) operations.add(index);
        else if (typeof item === "object" && item !== null) evidence.push(summarizeEvidence(item as Record<string, unknown>));
      }
      // Evidence from the final logs has no time: the operations on the same values do.
      for (const value of (anomaly.values ?? []).slice(0, ANOMALY_VALUES_MAX)) for (const index of this.operationsWithValue(value)) operations.add(index);
      this.anomalies.push({ kind: anomaly.kind, detail: anomaly.detail, operations: [...operations].sort((a, b) => a - b), evidence });
    }
  }

  private operationsWithValue(value: string): readonly number[] {
    if (this.byValue === undefined) {
      this.byValue = new Map();
      this.operations.forEach((operation, index) => {
        if (typeof operation.value !== "string") return;
        const indexes = this.byValue!.get(operation.value) ?? [];
        indexes.push(index);
        this.byValue!.set(operation.value, indexes);
      });
    }
    return this.byValue.get(value) ?? [];
  }

  document(run: TraceRun): TraceDocument {
    const cut = this.eventsCut + this.operationsCut > 0 ? { truncated: { events: this.eventsCut, operations: this.operationsCut, fromMs: round(this.cutFromMs ?? 0) } } : {};
    return {
      format: TRACE_FORMAT,
      version: TRACE_VERSION,
      run,
      nodes: [...this.nodes],
      limits: { eventsMax: this.eventsMax, operationsMax: this.operationsMax },
      ...cut,
      counts: { ...this.counts },
      events: this.events,
      operations: this.operations,
      anomalies: this.anomalies,
    };
  }

  private push(event: TraceEvent): void {
    this.counts[event.kind] = (this.counts[event.kind] ?? 0) + 1;
    if (this.events.length >= this.eventsMax) {
      this.eventsCut++;
      this.cutFromMs = Math.min(this.cutFromMs ?? Infinity, event.atMs);
      return;
    }
    this.events.push(event);
  }
}

/** The nodes a fault names directly (a heal names none: it ends every cut and clog). */
function faultNodes(action: FaultAction): NodeId[] {
  switch (action.kind) {
    case "partition":
      return [...action.left, ...action.right];
    case "clog":
      return [action.from, action.to];
    case "heal":
    case "coordinator-add":
      return [];
    default:
      return [action.node];
  }
}

/**
 * A message as the trace keeps it: its type, the scalar fields that identify a request or a
 * partition, an error code, and the total size of the byte arrays it carries. Never its bytes.
 */
export function summarizeMessage(message: unknown): MessageSummary {
  if (typeof message !== "object" || message === null) return { type: typeof message };
  const fields = message as Record<string, unknown>;
  const summary: Record<string, string | number | boolean> = { type: typeof fields.type === "string" ? fields.type : "?" };
  for (const name of SUMMARY_FIELDS) {
    const value = fields[name];
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") summary[name] = value;
  }
  const error = fields.error;
  if (typeof error === "object" && error !== null && typeof (error as { code?: unknown }).code === "string") summary.error = (error as { code: string }).code;
  const bytes = byteSize(message);
  if (bytes > 0) summary.bytes = bytes;
  return summary as MessageSummary;
}

/** Total length of the byte arrays in a value, walking at most SUMMARY_VALUES_MAX values, no deeper than SUMMARY_DEPTH_MAX. */
function byteSize(root: unknown): number {
  let bytes = 0;
  let visited = 0;
  const stack: { value: unknown; depth: number }[] = [{ value: root, depth: 0 }];
  while (stack.length > 0 && visited < SUMMARY_VALUES_MAX) {
    const { value, depth } = stack.pop()!;
    visited++;
    if (value instanceof Uint8Array) {
      bytes += value.length;
      continue;
    }
    if (typeof value !== "object" || value === null || depth >= SUMMARY_DEPTH_MAX) continue;
    const children = Array.isArray(value) ? (value as unknown[]) : value instanceof Map ? [...(value as Map<unknown, unknown>).values()] : Object.values(value);
    for (const child of children) if (typeof child === "object" && child !== null) stack.push({ value: child, depth: depth + 1 });
  }
  return bytes;
}

function operationTypes(operations: readonly unknown[]): string[] {
  const types: string[] = [];
  for (const operation of operations) {
    const type = typeof operation === "object" && operation !== null ? (operation as { type?: unknown }).type : undefined;
    if (typeof type === "string" && !types.includes(type)) types.push(type);
    if (types.length >= COMMIT_TYPES_MAX) break;
  }
  return types;
}

/** Evidence other than a client operation: its scalar fields only (a final log entry, a leader change). */
function summarizeEvidence(item: Record<string, unknown>): Record<string, unknown> {
  const summary: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item)) {
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") summary[name] = value;
  }
  return summary;
}
