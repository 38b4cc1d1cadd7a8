/**
 * The network layer's errors, in one place (STYLE §8).
 *
 * - `FrameDecodeError`: bytes from the wire are not a valid frame or message. Decoding never
 *   throws anything else, whatever the input; the transport counts it and closes the stream.
 * - `FrameTooLargeError`: a message is over a size limit (frame bytes, string or byte length,
 *   entries). On send it is counted and the message dropped, like a network that refuses it.
 * - `FrameEncodeError`: the value is not plain data (a function, a Map, NaN, a cycle, an
 *   `undefined` array item, nesting deeper than the limit). That is a bug of the sender, so
 *   `send` throws it instead of dropping the message quietly.
 * - `TransportConfigError`: a limit or an address is invalid; raised at start-up (STYLE §7).
 */
export abstract class NetError extends Error {
  abstract readonly retriable: boolean;
}

export class FrameDecodeError extends NetError {
  override readonly name = "FrameDecodeError";
  readonly retriable = false;
  constructor(
    readonly reason: string,
    /** Byte position in the frame or message where decoding failed. */
    readonly position: number,
  ) {
    super(`malformed frame at byte ${position}: ${reason}`);
  }
}

export class FrameTooLargeError extends NetError {
  override readonly name = "FrameTooLargeError";
  readonly retriable = false;
  constructor(
    /** Which limit: "frame bytes", "string bytes", "bytes length" or "entries". */
    readonly what: string,
    readonly actual: number,
    readonly limit: number,
  ) {
    super(`message exceeds the ${what} limit: ${actual} > ${limit}`);
  }
}

export class FrameEncodeError extends NetError {
  override readonly name = "FrameEncodeError";
  readonly retriable = false;
  constructor(
    readonly reason: string,
    /** Where in the value, e.g. "$.topics[2].name". */
    readonly path: string,
  ) {
    super(`cannot encode message: ${reason} at ${path}`);
  }
}

export class TransportConfigError extends NetError {
  override readonly name = "TransportConfigError";
  readonly retriable = false;
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly rule: string,
  ) {
    super(`invalid transport option ${option}=${String(value)}: ${rule}`);
  }
}
