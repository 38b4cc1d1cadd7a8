/**
 * The gRPC transport's limits and timings: named, with units, validated once at start-up
 * (STYLE §7). Every queue, buffer, frame and connection count of the real network is bounded
 * here.
 */
import type { CodecLimits } from "./codec.ts";
import { validateCodecLimits } from "./codec.ts";
import { TransportConfigError } from "./errors.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

export interface TransportLimits {
  /**
   * Largest gRPC message (one frame, header included), both ways: gRPC's
   * max_send/max_receive_message_length. A message that cannot fit is dropped and counted on
   * send; a bigger frame received closes its stream with RESOURCE_EXHAUSTED.
   */
  readonly frameBytesMax: number;
  readonly nodeIdBytesMax: number;
  /** Message codec limits (messageBytesMax is frameBytesMax). */
  readonly depthMax: number;
  readonly stringBytesMax: number;
  readonly bytesLengthMax: number;
  readonly entriesMax: number;
  /** Per peer (and per incoming stream that replies go back on): frames waiting for the stream. */
  readonly queueMessagesMax: number;
  readonly queueBytesMax: number;
  /**
   * All send queues of the node together (frames without a receipt): a frame that would pass it
   * is dropped like one for a full queue. Bounds what replies to many slow peers hold.
   */
  readonly queueBytesTotalMax: number;
  /** Small frames are merged into one gRPC message up to this many bytes. */
  readonly coalesceBytesMax: number;
  /** Received messages not yet handed to the handler; above this, streams stop reading. */
  readonly inboxBytesMax: number;
  /** Reconnect delay: exponential from base to max, with jitter (backoff.ts). */
  readonly reconnectBaseMs: number;
  readonly reconnectMaxMs: number;
  /** A stream whose peer has not answered within this is abandoned and retried. */
  readonly connectTimeoutMs: number;
  /** HTTP/2 keepalive pings on outgoing connections, to notice a peer that vanished silently. */
  readonly keepaliveMs: number;
  /** Client-side HTTP/2 flow-control window (grpc-node.flow_control_window). */
  readonly flowControlWindowBytes: number;
  /** Incoming TCP connections at once; more are closed at once. */
  readonly connectionsMax: number;
  /** Concurrent gRPC streams on one incoming connection (a peer needs one). */
  readonly streamsPerConnectionMax: number;
  /** An incoming connection must send the HTTP/2 preface within this. */
  readonly prefaceTimeoutMs: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  frameBytesMax: 16 * MiB,
  nodeIdBytesMax: 255,
  depthMax: 32,
  stringBytesMax: 1 * MiB,
  bytesLengthMax: 16 * MiB,
  entriesMax: 1 << 20,
  queueMessagesMax: 10_000,
  queueBytesMax: 64 * MiB,
  queueBytesTotalMax: 64 * MiB,
  coalesceBytesMax: 64 * KiB,
  inboxBytesMax: 64 * MiB,
  reconnectBaseMs: 50,
  reconnectMaxMs: 5_000,
  connectTimeoutMs: 5_000,
  keepaliveMs: 20_000,
  flowControlWindowBytes: 4 * MiB,
  connectionsMax: 1_024,
  streamsPerConnectionMax: 16,
  prefaceTimeoutMs: 5_000,
};

/** [minimum, maximum] of each limit. */
const RANGES: Readonly<Record<keyof TransportLimits, readonly [number, number]>> = {
  frameBytesMax: [1 * KiB, 1024 * MiB],
  nodeIdBytesMax: [1, 64 * KiB],
  depthMax: [1, 256],
  stringBytesMax: [1, 1024 * MiB],
  bytesLengthMax: [1, 1024 * MiB],
  entriesMax: [1, 1 << 28],
  queueMessagesMax: [1, 1 << 24],
  queueBytesMax: [1 * KiB, 64 * 1024 * MiB],
  queueBytesTotalMax: [1 * KiB, 64 * 1024 * MiB],
  coalesceBytesMax: [1, 1024 * MiB],
  inboxBytesMax: [1 * KiB, 64 * 1024 * MiB],
  reconnectBaseMs: [1, 60_000],
  reconnectMaxMs: [1, 3_600_000],
  connectTimeoutMs: [1, 3_600_000],
  keepaliveMs: [1_000, 3_600_000],
  flowControlWindowBytes: [64 * KiB, 1024 * MiB],
  connectionsMax: [1, 1 << 20],
  streamsPerConnectionMax: [1, 1 << 16],
  prefaceTimeoutMs: [1, 3_600_000],
};

/** Fills in defaults and validates; throws TransportConfigError naming the first bad option. */
export function resolveLimits(overrides: Partial<TransportLimits> = {}): TransportLimits {
  const limits: TransportLimits = { ...DEFAULT_TRANSPORT_LIMITS, ...overrides };
  for (const key of Object.keys(RANGES) as (keyof TransportLimits)[]) {
    const value = limits[key];
    const [minimum, maximum] = RANGES[key];
    if (!Number.isSafeInteger(value) || value < minimum || value > maximum) {
      throw new TransportConfigError(`limits.${key}`, value, `must be an integer in [${minimum}, ${maximum}]`);
    }
  }
  if (limits.reconnectMaxMs < limits.reconnectBaseMs) throw new TransportConfigError("limits.reconnectMaxMs", limits.reconnectMaxMs, "must be at least reconnectBaseMs");
  if (limits.coalesceBytesMax > limits.frameBytesMax) throw new TransportConfigError("limits.coalesceBytesMax", limits.coalesceBytesMax, "must not exceed frameBytesMax");
  if (limits.queueBytesMax < limits.frameBytesMax) throw new TransportConfigError("limits.queueBytesMax", limits.queueBytesMax, "must hold at least one frame of frameBytesMax");
  if (limits.queueBytesTotalMax < limits.frameBytesMax) throw new TransportConfigError("limits.queueBytesTotalMax", limits.queueBytesTotalMax, "must hold at least one frame of frameBytesMax");
  validateCodecLimits(codecLimits(limits), "limits.");
  return limits;
}

export function codecLimits(limits: TransportLimits): CodecLimits {
  return {
    messageBytesMax: limits.frameBytesMax,
    depthMax: limits.depthMax,
    stringBytesMax: limits.stringBytesMax,
    bytesLengthMax: limits.bytesLengthMax,
    entriesMax: limits.entriesMax,
  };
}
