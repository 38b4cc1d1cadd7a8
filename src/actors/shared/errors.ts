/**
 * Operating errors, in one place. Every error a request can meet has a code; the code says whether
 * a retry can help. Bugs are not errors: they are assertions (see assert.ts) and crash the node.
 */
export type ErrorCode =
  | "UNKNOWN_TOPIC_OR_PARTITION"
  | "TOPIC_ALREADY_EXISTS"
  | "INVALID_TOPIC"
  | "INVALID_REQUEST"
  | "INVALID_REPLICATION"
  | "NOT_LEADER"
  | "STALE_EPOCH"
  | "BROKER_NOT_AVAILABLE"
  | "COORDINATOR_NOT_AVAILABLE"
  | "OFFSET_OUT_OF_RANGE"
  | "MESSAGE_TOO_LARGE"
  | "CORRUPT_BATCH"
  /** The broker's stored copy of these offsets is damaged (rot at rest); the reply names the range. */
  | "CORRUPT_DATA"
  | "OUT_OF_ORDER_SEQUENCE"
  | "INVALID_PRODUCER_EPOCH"
  | "REQUEST_TIMED_OUT"
  | "STORAGE_ERROR"
  /** The broker's disk is full: nothing was written; it takes writes again once space returns. */
  | "STORAGE_FULL"
  /** A client's own bound on buffered messages or bytes: raised before anything is sent. */
  | "BUFFER_FULL"
  /** acks -1 with fewer in-sync replicas than the topic's minInSync: nothing was acknowledged. */
  | "NOT_ENOUGH_REPLICAS"
  /** A replica fetch from a broker that is not a replica of the partition. */
  | "NOT_REPLICA"
  | "FETCH_SESSION_INVALID"
  /** A group id that is empty, too long or has control characters. */
  | "INVALID_GROUP_ID"
  /** The coordinator knows no such group (never used, or deleted). */
  | "GROUP_ID_NOT_FOUND"
  /** The member is not (or no longer) in the group: drop every partition uncommitted and join again. */
  | "UNKNOWN_MEMBER_ID"
  /** The member was removed or the partition is no longer its: its commit is refused; rejoin. */
  | "FENCED_MEMBER_EPOCH"
  /** The member is alive but its epoch is behind: heartbeat for the new one, then commit again. */
  | "STALE_MEMBER_EPOCH"
  /** A commit below the group's committed offset: only an operator's reset moves offsets back. */
  | "OFFSET_BEHIND_COMMITTED"
  /** Reset or delete of a group that still has live members (the message names them). */
  | "NON_EMPTY_GROUP"
  /** StartGet for a partition the member does not own now (not assigned, or being revoked). */
  | "PARTITION_NOT_ASSIGNED"
  /** A push open or credit for a session the broker never prepared, has forgotten, or closed: StartGet again. */
  | "UNKNOWN_PUSH_SESSION"
  /** The broker holds as many push sessions (or the session as many partitions) as its limits allow. */
  | "PUSH_SESSION_LIMIT"
  /** A record batch larger than the push session's whole credit window: it could never be sent. */
  | "CREDIT_WINDOW_TOO_SMALL"
  /** Record batches compressed with a codec this process has not installed: they cannot be read here. */
  | "UNSUPPORTED_COMPRESSION_TYPE"
  /** A client option zhumq knows (often a KafkaJS one) but does not implement: refused, never ignored. */
  | "UNSUPPORTED_OPTION"
  /** A client option nobody knows (a typo?): the error lists the known ones. */
  | "UNKNOWN_OPTION"
  /** The authorizer is on and no ACL lets this principal do this operation on this resource (the message names both). */
  | "AUTHORIZATION_FAILED"
  | "AUTHENTICATION_FAILED"
  /** `coordinator remove` of an id that is not a voter of the coordinator quorum (or `add` of one that is). */
  | "UNKNOWN_COORDINATOR"
  /** A coordinator membership change while another is not committed yet: one change at a time. */
  | "COORDINATOR_CHANGE_PENDING"
  /** The change would leave the coordinator quorum without a majority of reachable voters. */
  | "WOULD_LOSE_QUORUM"
  /** A coordinator being added did not catch up with the leader's log in time (unreachable?). */
  | "COORDINATOR_NOT_CAUGHT_UP";

/** Whether a client should retry (after refreshing metadata where the code says the cache is stale). */
export const RETRIABLE: Readonly<Record<ErrorCode, boolean>> = {
  UNKNOWN_TOPIC_OR_PARTITION: true, // may be a metadata race right after creation
  TOPIC_ALREADY_EXISTS: false,
  INVALID_TOPIC: false,
  INVALID_REQUEST: false,
  INVALID_REPLICATION: false,
  NOT_LEADER: true,
  STALE_EPOCH: true,
  BROKER_NOT_AVAILABLE: true,
  COORDINATOR_NOT_AVAILABLE: true,
  OFFSET_OUT_OF_RANGE: false,
  MESSAGE_TOO_LARGE: false,
  CORRUPT_BATCH: true, // corrupted in transit: resend the same bytes
  CORRUPT_DATA: false, // the same read fails again until a replica repairs it: the consumer decides
  OUT_OF_ORDER_SEQUENCE: false,
  INVALID_PRODUCER_EPOCH: false,
  REQUEST_TIMED_OUT: true,
  STORAGE_ERROR: true,
  STORAGE_FULL: true, // after a backoff: the broker probes the disk again with the next produce
  BUFFER_FULL: true, // send again once earlier messages have completed
  NOT_ENOUGH_REPLICAS: true, // once replicas catch up (an idempotent retry never appends twice)
  NOT_REPLICA: false,
  FETCH_SESSION_INVALID: true, // in a new fetch session (broker/fetch-session.ts)
  INVALID_GROUP_ID: false,
  GROUP_ID_NOT_FOUND: false,
  UNKNOWN_MEMBER_ID: false, // not as the same member: the member rejoins under a new id
  FENCED_MEMBER_EPOCH: false, // likewise
  STALE_MEMBER_EPOCH: true,
  OFFSET_BEHIND_COMMITTED: false,
  NON_EMPTY_GROUP: false,
  PARTITION_NOT_ASSIGNED: false, // not by asking again: heartbeat for the assignment first
  UNKNOWN_PUSH_SESSION: true, // after asking the coordinator again (StartGet)
  PUSH_SESSION_LIMIT: true, // after a backoff: sessions end and free their places
  CREDIT_WINDOW_TOO_SMALL: false,
  UNSUPPORTED_COMPRESSION_TYPE: false, // the same bytes need the same codec: install it
  UNSUPPORTED_OPTION: false,
  UNKNOWN_OPTION: false,
  AUTHORIZATION_FAILED: false, // not until an operator grants it (zhumq acl add)
  AUTHENTICATION_FAILED: false, // not with the same user name and password (docs/security.md)
  UNKNOWN_COORDINATOR: false,
  COORDINATOR_CHANGE_PENDING: true, // once the change in progress commits
  WOULD_LOSE_QUORUM: false, // not until the unreachable replicas answer again
  COORDINATOR_NOT_CAUGHT_UP: false, // not until the new replica runs (with --join) and is reachable
};

/** Codes after which a client refreshes its leader cache before retrying (the seed's rule). */
export const REFRESHES_METADATA: ReadonlySet<ErrorCode> = new Set<ErrorCode>(["UNKNOWN_TOPIC_OR_PARTITION", "NOT_LEADER", "STALE_EPOCH", "BROKER_NOT_AVAILABLE"]);

/** An error as it travels in a message: plain data. */
export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
  /** COORDINATOR_NOT_AVAILABLE from a coordinator replica that is not the leader: the leader it knows (docs/coordinator-quorum.md). */
  readonly leader?: string;
  /** With `leader`: where it listens, when the replica knows (a member added since the client's bootstrap list was written). */
  readonly leaderAddress?: string;
}

export function wireError(code: ErrorCode, message: string): WireError {
  return { code, message };
}

/** The typed error clients surface to applications. */
export class ZhumqError extends Error {
  override readonly name = "ZhumqError";
  readonly retriable: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${message}`, options);
    this.retriable = RETRIABLE[code];
  }

  static from(error: WireError): ZhumqError {
    return new ZhumqError(error.code, error.message);
  }
}
