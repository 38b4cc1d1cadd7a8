/**
 * Checking a `broker.raft` bundle from the network before any Raft core sees it: a peer may run
 * other code, and the cores trust the shape of what they receive. A bundle with anything wrong is
 * dropped whole (Raft retries everything it sends); nothing here throws.
 */
import type { RaftMessage } from "../raft/types.ts";
import { isMemberAddresses } from "../raft/entries.ts";

/** Most Raft messages one bundle may carry (a tick of 10,000 groups' heartbeats to one peer fits). */
export const RAFT_BUNDLE_MESSAGES_MAX = 20_000;
/** Most entries one AppendEntries may carry. */
export const RAFT_APPEND_ENTRIES_MAX = 100_000;

type Fields = Readonly<Record<string, unknown>>;

function isRecord(value: unknown): value is Fields {
  return typeof value === "object" && value !== null;
}

function isIndex(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= -1;
}

function isTerm(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && value < 2 ** 31;
}

/** A size or offset in bytes (the core checks it against its own bounds). */
function isByteCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function validMessage(message: unknown): message is RaftMessage {
  if (!isRecord(message) || typeof message.group !== "string" || message.group.length > 512 || !isTerm(message.term)) return false;
  switch (message.type) {
    case "raft.vote":
      return typeof message.preVote === "boolean" && typeof message.transfer === "boolean" && isIndex(message.lastIndex) && isTerm(message.lastTerm);
    case "raft.vote.reply":
      return typeof message.preVote === "boolean" && typeof message.granted === "boolean";
    case "raft.append":
      return (
        isIndex(message.prevIndex) &&
        isTerm(message.prevTerm) &&
        isIndex(message.commitIndex) &&
        Array.isArray(message.entries) &&
        message.entries.length <= RAFT_APPEND_ENTRIES_MAX &&
        message.entries.every((entry) => entry instanceof Uint8Array)
      );
    case "raft.append.reply":
      return typeof message.success === "boolean" && isIndex(message.index) && isIndex(message.hintIndex) && isTerm(message.hintTerm) && (message.lostLog === undefined || typeof message.lostLog === "boolean");
    case "raft.heartbeat":
      return isIndex(message.commitIndex) && typeof message.context === "number" && Number.isSafeInteger(message.context);
    case "raft.heartbeat.reply":
      return typeof message.context === "number" && Number.isSafeInteger(message.context);
    case "raft.timeout-now":
      return true;
    case "raft.snapshot":
      return (
        isIndex(message.index) &&
        message.index >= 0 &&
        isTerm(message.snapshotTerm) &&
        Array.isArray(message.voters) &&
        message.voters.length > 0 &&
        message.voters.every((voter) => typeof voter === "string") &&
        (message.addresses === undefined || isMemberAddresses(message.addresses)) &&
        isByteCount(message.totalBytes) &&
        isByteCount(message.offset) &&
        message.data instanceof Uint8Array &&
        typeof message.done === "boolean"
      );
    case "raft.snapshot.reply":
      return isIndex(message.index) && message.index >= 0 && isByteCount(message.received);
    case "raft.probe":
      return true;
    case "raft.probe.reply":
      return isIndex(message.lastIndex) && isTerm(message.lastTerm) && typeof message.guarded === "boolean";
    default:
      return false;
  }
}

/** The bundle's messages, or undefined when anything in it is malformed. */
export function parseRaftBundle(message: Fields): readonly RaftMessage[] | undefined {
  const messages = message.messages;
  if (!Array.isArray(messages) || messages.length > RAFT_BUNDLE_MESSAGES_MAX) return undefined;
  return messages.every(validMessage) ? (messages as RaftMessage[]) : undefined;
}
