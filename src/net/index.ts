/**
 * src/net: the real network. The wire contract is zhumq.proto; GrpcTransport implements the
 * Transport port over it; the message codec is usable on its own (e.g. by tools that record
 * traffic).
 */
export { GrpcTransport } from "./grpc-transport.ts";
export type { GrpcListenOptions, GrpcTransportOptions, ListeningGrpcTransport } from "./grpc-transport.ts";
export type { PeerDirectory } from "./address.ts";
export { formatAddress, parseAddress } from "./address.ts";
export type { TransportStats } from "./link-context.ts";
export type { LinkInfo, LinkState } from "./outgoing-link.ts";
export { DEFAULT_TRANSPORT_LIMITS, resolveLimits } from "./limits.ts";
export type { TransportLimits } from "./limits.ts";
export { DEFAULT_CODEC_LIMITS, MESSAGE_FORMAT_VERSION, decodeMessage, encodeMessage, prepareMessage } from "./codec.ts";
export type { CodecLimits, PreparedMessage } from "./codec.ts";
export { decodeFrame, encodeFrame, frameHeader } from "./frame.ts";
export type { Frame, FrameLimits } from "./frame.ts";
export { FrameDecodeError, FrameEncodeError, FrameTooLargeError, NetError, TransportConfigError } from "./errors.ts";
export { reconnectDelayMs } from "./backoff.ts";
export type { JitterSource } from "./backoff.ts";
export { PEER_LINK_PATH } from "./peer-service.ts";
