/**
 * Bundles: many partition requests (or their replies) to one node in one message (issue 18 item 2).
 *
 * Why: a producer writing 100 partitions led by one broker used to send 100 produce requests, and
 * the broker handled each as its own actor event (a transition, its effects, its host batch) and
 * answered each with its own reply: 100 partitions cost 100× the messages of one. Now whatever
 * one step of an actor sends to one node of the kinds below leaves as one `bundle`: a producer
 * whose replies for many partitions arrive together sends the next batches of all of them in one
 * request; the broker takes it in as one event, its appends share one host batch (one sync), and
 * the replies one step gives to one node leave as one bundle too.
 *
 * Followers' replica fetches travel the same way: a leader answers the fetches of one follower
 * that expired together (serving.ts, a 100 ms grid) in one step, so their replies leave as one
 * bundle, the follower takes them in as one event and sends its next fetches as one bundle too.
 * An idle follower of 600 partitions led by one broker sends a few bundles a second instead of
 * ~1,200 fetches. A fetch session's polls and their replies (broker/fetch-session.ts) are bundled
 * kinds too, so that what one step sends a node of a session leaves in the order it was sent.
 *
 * Contract:
 * - A bundle carries whole messages, each exactly what would have been sent alone; the receiver
 *   handles them in order, as if they had arrived one after the other from the same sender. So
 *   nothing a protocol guarantees changes: a bundle is lost, delayed or duplicated as a whole,
 *   which is one of the things its parts could meet anyway.
 * - Only the kinds in BUNDLED are bundled (partition requests of clients and followers, and their
 *   replies), and
 *   a bundle is never nested. Reordering sends within one step's effects is safe: the host runs
 *   every persist and sync of a step before any of its sends (effects.ts), and the bundled kinds
 *   are independent requests.
 * - Bounds: at most BUNDLE_MESSAGES_MAX messages and about BUNDLE_BYTES_MAX payload bytes each
 *   (a message bigger than that travels alone), far below a frame's 16 MiB.
 * - A send that asked for a receipt: the bundle asks for the first one's; `receipts` says which
 *   receipts that one stands for (the sender settles each of them with the bundle's outcome).
 */
import { send, type Effect, type SendEffect } from "./effects.ts";
import type { NodeId } from "./ids.ts";
import type { ZhumqMessage } from "./messages.ts";

export interface Bundle {
  readonly type: "bundle";
  /** Messages of the kinds in BUNDLED, in the order they were sent. */
  readonly messages: readonly BundledMessage[];
}

export type BundledMessage = Extract<ZhumqMessage, { type: "produce.request" | "fetch.request" | "produce.reply" | "fetch.reply" | "replica.fetch" | "replica.fetch.reply" | "replica.session" | "replica.session.reply" }>;

/** The kinds of message that travel in bundles. */
export const BUNDLED: ReadonlySet<string> = new Set(["produce.request", "fetch.request", "produce.reply", "fetch.reply", "replica.fetch", "replica.fetch.reply", "replica.session", "replica.session.reply"]);

/** Most messages in one bundle (a receiver refuses more). */
export const BUNDLE_MESSAGES_MAX = 4_096;
/** Payload bytes (batches, records) a bundle collects at most before a new one starts. */
export const BUNDLE_BYTES_MAX = 1024 * 1024;

/** The byte payload a bundled message carries. */
function payloadBytes(message: BundledMessage): number {
  if (message.type === "produce.request") return message.batch.length;
  if (message.type === "fetch.reply" || message.type === "replica.fetch.reply") return message.records.length;
  return 0;
}

interface Open {
  readonly to: NodeId;
  readonly messages: BundledMessage[];
  readonly receipts: number[];
  bytes: number;
}

/**
 * The step's effects with every run of bundled-kind sends to one node merged into bundles.
 * `onReceipts(receipt, receipts)` is told, for each bundle whose parts asked for receipts, the
 * receipt it asks for and the receipts of its parts (in order). Effects that need no merging are
 * returned as they are (the same array when nothing merges).
 */
export function bundleSends<E extends Effect<ZhumqMessage | Bundle, unknown, unknown, unknown>>(effects: E[], onReceipts?: (receipt: number, receipts: readonly number[]) => void): E[] {
  let candidates = 0;
  for (const effect of effects) if (effect.type === "effect.send" && BUNDLED.has((effect.message as { type: string }).type)) candidates++;
  if (candidates < 2) return effects;
  const open = new Map<NodeId, Open>();
  const out: (E | Open)[] = [];
  let merges = 0;
  for (const effect of effects) {
    if (effect.type !== "effect.send" || !BUNDLED.has((effect.message as { type: string }).type)) {
      out.push(effect);
      continue;
    }
    const message = effect.message as BundledMessage;
    const bytes = payloadBytes(message);
    let bundle = open.get(effect.to);
    if (bundle === undefined || bundle.messages.length >= BUNDLE_MESSAGES_MAX || bundle.bytes + bytes > BUNDLE_BYTES_MAX) {
      bundle = { to: effect.to, messages: [], receipts: [], bytes: 0 };
      open.set(effect.to, bundle);
      out.push(bundle);
    }
    if (bundle.messages.length > 0) merges++;
    bundle.messages.push(message);
    bundle.bytes += bytes;
    if (effect.receipt !== undefined) bundle.receipts.push(effect.receipt);
  }
  if (merges === 0) return effects;
  const result: E[] = [];
  for (const item of out) {
    if (!("receipts" in item)) {
      result.push(item);
      continue;
    }
    result.push(bundleEffect(item, onReceipts) as E);
  }
  return result;
}

function bundleEffect(open: Open, onReceipts: ((receipt: number, receipts: readonly number[]) => void) | undefined): SendEffect<ZhumqMessage | Bundle> {
  const { to } = open;
  const first = open.receipts[0];
  if (open.messages.length === 1) return send(to, open.messages[0]!, first);
  if (first !== undefined) onReceipts?.(first, open.receipts);
  return send(to, { type: "bundle", messages: open.messages }, first);
}

/** The messages of a bundle as received, or undefined when it is malformed (ignored, as any message a node cannot read). */
export function bundledMessages(message: Readonly<Record<string, unknown>>): readonly Readonly<Record<string, unknown>>[] | undefined {
  const messages = message.messages;
  if (!Array.isArray(messages) || messages.length > BUNDLE_MESSAGES_MAX) return undefined;
  for (const item of messages) {
    if (typeof item !== "object" || item === null || !BUNDLED.has((item as { type?: unknown }).type as string)) return undefined;
  }
  return messages as readonly Readonly<Record<string, unknown>>[];
}

/** Calls `visit` with `message`, or with each message it bundles: for observers that count requests and replies. */
export function forEachPart(message: unknown, visit: (part: unknown) => void): void {
  const fields = message as { type?: unknown; messages?: unknown } | null;
  if (fields !== null && typeof fields === "object" && fields.type === "bundle" && Array.isArray(fields.messages)) for (const part of fields.messages) visit(part);
  else visit(message);
}
