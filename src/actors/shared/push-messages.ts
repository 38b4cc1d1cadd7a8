/**
 * Push consumption on the wire (issue 11, DESIGN §1 and §6): a group member asks the coordinator
 * to StartGet the partitions it owns; the coordinator prepares a push session on each of their
 * leaders and answers with those sessions; the member opens each session on its broker (the
 * member dials, the broker never does — it works through NAT), and the broker pushes record
 * batches to it, only within the credits the member grants.
 *
 * The protocol in one paragraph. `startget.request` names the partitions (each with a start
 * position, or none: the group's committed offset, else `from`). The coordinator checks that the
 * member is live at `memberEpoch` and owns each partition (assigned, not being revoked), sends
 * `push.prepare` to each partition's leader — fire and forget — and replies with one session per
 * leader: its `sessionId`, the broker, and the partitions with their resolved start positions.
 * The member sends `push.open` to the broker (the open may arrive before the prepare: the broker
 * parks it for up to `PUSH_PREPARE_WAIT_MS`). From then on the broker sends `push.batch` messages
 * — whole record batches, from each partition's position up to its high watermark, as soon as the
 * watermark moves — while the session's credit allows, and the member sends `push.credit` as the
 * application finishes batches (and at least every `keepaliveMs` while idle). A partition stops
 * with `push.end` (the broker no longer leads it, the member's epoch was fenced, retention deleted
 * the position, the data is damaged); the member asks the coordinator again for those partitions
 * (StartGet), starting where it stopped. `push.close` ends partitions (or the whole session) from
 * the member's side; a session that hears nothing from its member for `idleTimeoutMs` is forgotten.
 *
 * Credits (flow control, like HTTP/2 WINDOW_UPDATE or Reactive Streams `request(n)`, but stated
 * as absolute totals so that a lost, duplicated or reordered credit message is harmless): within
 * one open of a session (`openSeq`), the broker counts what it sent (`sentBytes`, `sentBatches`:
 * record bytes and push.batch messages). The member's credit says how much it has *finished*
 * (`doneBytes`, `doneBatches`, totals since the open) and its window (`windowBytes`,
 * `windowBatches`). The broker may send a batch only while
 *     sentBatches + 1 <= doneBatches + windowBatches  and  sentBytes + size <= doneBytes + windowBytes,
 * taking the largest totals it has heard (they only grow within an open). Overrun — bytes sent
 * beyond the credit the member granted — is therefore always 0; the simulator's checker holds
 * brokers to that. A batch larger than `windowBytes` could never be sent: the partition ends with
 * CREDIT_WINDOW_TOO_SMALL (the member's window must exceed the topic's largest batch). So a slow
 * handler makes the broker stop at the window instead of buffering: the broker holds at most one
 * read (≤ the window) per session, the member at most one window per session.
 *
 * Order and loss. Messages may be lost, duplicated or reordered (the transport contract); every
 * push.batch says where it starts (`offset`) and where its partition continues (`nextOffset`). The
 * member accepts a batch only when `offset` is exactly its next position for that partition (a
 * duplicate or a stale batch is dropped; the first record of a batch may lie below `offset`, and
 * is skipped like a fetch's). On a gap it re-opens the session (`openSeq` + 1) with its exact
 * positions: the broker then forgets its counters and cursors and starts again from there, and
 * batches of older opens are ignored. An open whose `openSeq` is not above the broker's current
 * one is a duplicate or stale, and ignored: every (re)open has a fresh `openSeq`. A lost open or a
 * lost last batch is found by the member's probes (push.status). Nothing is skipped, nothing is handed out twice by one
 * member; across members the group's at-least-once rules apply unchanged (commits after
 * processing, fenced by member epoch — push changes how records arrive, not who may handle them).
 *
 * Fencing. A session is bound to (group, member, memberEpoch) by its prepare. An open or credit
 * carrying a lower epoch than prepared is refused (FENCED_MEMBER_EPOCH); a prepare for the same
 * member with a higher epoch raises the session's epoch (the member was given more partitions).
 * The coordinator sends `push.revoke` to the leaders of partitions it takes from a member (or of
 * every partition of a member it removes), so brokers stop pushing them at once; the member also
 * closes revoked partitions itself, and its client never hands out records of a partition it no
 * longer owns. After a coordinator restart, revokes of sessions it prepared before are not sent
 * (it keeps no record of them): those sessions end by the member's close, by fencing, or by the
 * idle timeout.
 *
 * Request ids: every message from the member to the broker within one session carries the
 * session's `requestId` (the one its first push.open used), and so does everything the broker
 * sends on it, so a client's reply routing delivers pushes to the session that opened them.
 */
import type { WireError } from "./errors.ts";
import type { BrokerInfo, CoordinatorsLearned } from "./messages.ts";
import type { NodeId, PartitionIndex, TopicName } from "./ids.ts";

export type PushFrom = "earliest" | "latest";

/** Bytes a member may let a broker send ahead of what it finished, by default (per session). */
export const PUSH_WINDOW_BYTES_DEFAULT = 4 * 1024 * 1024;
/** push.batch messages a member may let a broker send ahead, by default (per session). */
export const PUSH_WINDOW_BATCHES_DEFAULT = 32;
/** A member probes each of its sessions this often (a credit with `probe`), idle or not. */
export const PUSH_PROBE_INTERVAL_MS = 1_000;
/** A session that hears nothing from its member this long is forgotten (by default; the open may say less). */
export const PUSH_IDLE_TIMEOUT_MS_DEFAULT = 15_000;
export const PUSH_IDLE_TIMEOUT_MS_MIN = 1_000;
export const PUSH_IDLE_TIMEOUT_MS_MAX = 5 * 60_000;
/** An open that arrives before its prepare waits this long for it; then UNKNOWN_PUSH_SESSION. */
export const PUSH_PREPARE_WAIT_MS = 2_000;
/** A prepared session never opened is forgotten after this long. */
export const PUSH_PREPARED_TTL_MS = 30_000;
/**
 * Session ids: at most this many characters. The coordinator's ids are
 * `${memberId}/${requestId}/${broker}`: a member id (100), a request id (16 digits), a node id (200).
 */
export const PUSH_SESSION_ID_CHARS_MAX = 320;

/** A partition with where to start: `offset`, or (absent) the group's committed offset, else the request's `from`. */
export interface PushPosition {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly offset?: number;
}

// ------------------------------------------------------------------ member → coordinator

export interface StartGetRequest {
  readonly type: "startget.request";
  readonly requestId: number;
  readonly groupId: string;
  readonly memberId: string;
  readonly memberEpoch: number;
  /** Exactly one of `partitions` and `topics`: explicit partitions, or every partition the member owns of these topics. */
  readonly partitions?: readonly PushPosition[];
  readonly topics?: readonly TopicName[];
  /** Where partitions without an offset and without a committed offset start. */
  readonly from: PushFrom;
  /** The configuration index of the quorum's voters this pusher learned (CoordinatorsLearned); absent before any. */
  readonly coordinatorsIndex?: number;
}

/** One partition of a prepared session, with its leader epoch and resolved start. */
export interface PushPartition {
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  readonly leaderEpoch: number;
  /** The start offset, or `from` when neither the request nor the group had one (the broker resolves it). */
  readonly offset: number | PushFrom;
}

export interface PushSessionGrant {
  readonly sessionId: string;
  readonly broker: NodeId;
  readonly partitions: readonly PushPartition[];
}

export interface StartGetReply extends CoordinatorsLearned {
  readonly type: "startget.reply";
  readonly requestId: number;
  /**
   * The whole request failed: INVALID_REQUEST, INVALID_GROUP_ID, GROUP_ID_NOT_FOUND,
   * UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH (rejoin), STALE_MEMBER_EPOCH (heartbeat first).
   */
  readonly error?: WireError;
  readonly sessions: readonly PushSessionGrant[];
  /**
   * Partitions asked for and not prepared: PARTITION_NOT_ASSIGNED (not this member's now: heartbeat
   * for the assignment), UNKNOWN_TOPIC_OR_PARTITION, BROKER_NOT_AVAILABLE (no live leader now: ask
   * again shortly).
   */
  readonly failed: readonly { readonly topic: TopicName; readonly partition: PartitionIndex; readonly error: WireError }[];
  /** The brokers named in `sessions`, with their addresses (the client's address book learns them as from metadata). */
  readonly brokers: readonly BrokerInfo[];
}

// ------------------------------------------------------------------ coordinator → broker

/** Authorise a session (fire and forget; the same prepare again is harmless). */
export interface PushPrepare {
  readonly type: "push.prepare";
  readonly sessionId: string;
  readonly groupId: string;
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly partitions: readonly PushPartition[];
}

/** Stop pushing these partitions to this member (they were revoked), or everything (`partitions` absent: the member was removed). */
export interface PushRevoke {
  readonly type: "push.revoke";
  readonly groupId: string;
  readonly memberId: string;
  readonly partitions?: readonly { readonly topic: TopicName; readonly partition: PartitionIndex }[];
}

// ------------------------------------------------------------------ member → broker

/** The member's credit: totals it finished since this open, and its window beyond them. */
export interface PushCredit {
  readonly doneBytes: number;
  readonly doneBatches: number;
  readonly windowBytes: number;
  readonly windowBatches: number;
}

export interface PushOpen {
  readonly type: "push.open";
  /** The session's request id: every later message of the session, both ways, carries it. */
  readonly requestId: number;
  readonly sessionId: string;
  readonly memberEpoch: number;
  /** 1 for the first open; each re-open (after a gap, or to move positions) counts up. */
  readonly openSeq: number;
  /** Where each partition starts now; absent: the prepared positions (first open only). */
  readonly positions?: readonly { readonly topic: TopicName; readonly partition: PartitionIndex; readonly offset: number }[];
  /** The first credit of this open (done totals 0). */
  readonly credit: PushCredit;
  /** Forget the session after hearing nothing this long (PUSH_IDLE_TIMEOUT_MS_DEFAULT when absent). */
  readonly idleTimeoutMs?: number;
}

/**
 * More credit, and a keepalive: a member sends one at least every PUSH_PROBE_INTERVAL_MS with
 * `probe: true`, which the broker answers with push.status (so a member learns of a lost open or a
 * lost last batch: see the file comment).
 */
export interface PushCreditMessage {
  readonly type: "push.credit";
  readonly requestId: number;
  readonly sessionId: string;
  readonly memberEpoch: number;
  readonly openSeq: number;
  readonly credit: PushCredit;
  readonly probe?: boolean;
}

/** End some partitions of the session (revoked, paused for good), or the whole session (`partitions` absent). */
export interface PushClose {
  readonly type: "push.close";
  readonly requestId: number;
  readonly sessionId: string;
  readonly partitions?: readonly { readonly topic: TopicName; readonly partition: PartitionIndex }[];
}

// ------------------------------------------------------------------ broker → member

export interface PushBatch {
  readonly type: "push.batch";
  readonly requestId: number;
  readonly sessionId: string;
  readonly openSeq: number;
  readonly topic: TopicName;
  readonly partition: PartitionIndex;
  /** The position this batch was read from (its first record may lie below it). */
  readonly offset: number;
  /** Where the partition continues: the next push of it starts here. */
  readonly nextOffset: number;
  readonly highWatermark: number;
  readonly logStartOffset: number;
  /** Whole record batches as stored, as in a fetch reply. Counted against the credit by `records.length`. */
  readonly records: Uint8Array;
  /** The broker's totals for this open after this batch (diagnostics; credits are counted by each side itself). */
  readonly sentBytes: number;
  readonly sentBatches: number;
}

/**
 * The answer to a probe: the open the broker is serving and where each partition of it continues.
 * A member whose position of a partition is below `nextOffset` missed a batch (lost on the way, or
 * still on its way: either way a re-open from its exact position is safe); a member whose own open
 * is newer than `openSeq` after a probe interval re-sends its open (the open was lost).
 */
export interface PushStatus {
  readonly type: "push.status";
  readonly requestId: number;
  readonly sessionId: string;
  readonly openSeq: number;
  readonly partitions: readonly { readonly topic: TopicName; readonly partition: PartitionIndex; readonly nextOffset: number; readonly highWatermark: number }[];
  readonly sentBytes: number;
  readonly sentBatches: number;
}

/**
 * Partitions of the session stop (`partitions` absent: the whole session). The member asks the
 * coordinator again (NOT_LEADER, STALE_EPOCH), rejoins (FENCED_MEMBER_EPOCH), resets per its
 * policy (OFFSET_OUT_OF_RANGE, with `logStartOffset`), or reports (CORRUPT_DATA with `damaged`,
 * CREDIT_WINDOW_TOO_SMALL). An open or credit the broker cannot take is answered with push.end
 * too: UNKNOWN_PUSH_SESSION (never prepared, expired, or closed: StartGet again),
 * PUSH_SESSION_LIMIT, INVALID_REQUEST.
 */
export interface PushEnd {
  readonly type: "push.end";
  readonly requestId: number;
  readonly sessionId: string;
  readonly openSeq: number;
  readonly partitions?: readonly { readonly topic: TopicName; readonly partition: PartitionIndex }[];
  readonly error: WireError;
  readonly logStartOffset?: number;
  readonly damaged?: { readonly fromOffset: number; readonly toOffset: number };
}

export type PushCoordinatorRequest = StartGetRequest;
export type PushCoordinatorReply = StartGetReply;
export type PushBrokerMessage = PushPrepare | PushRevoke | PushOpen | PushCreditMessage | PushClose;
export type PushMemberMessage = PushBatch | PushStatus | PushEnd;
export type PushMessage = StartGetRequest | StartGetReply | PushBrokerMessage | PushMemberMessage;
