/**
 * The storage engine's operating errors, all in one place (STYLE §8).
 *
 * Every class carries `retriable` (would the same request succeed later, unchanged?) and the
 * standard `cause`. Bugs are not errors: they are assertions (`StorageAssertionError`) and should
 * crash the node.
 */
export abstract class StorageError extends Error {
  abstract readonly retriable: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Bytes that should be a record batch are not one: bad length, magic, CRC, offsets or records.
 * `file` is the log file (or "input" for bytes that came from a producer or a peer), `position`
 * the byte position of the batch in it. Never retriable: the same bytes stay bad (a transient
 * bit flip on read is indistinguishable, and the caller re-reads or re-fetches from a replica).
 */
export class CorruptBatchError extends StorageError {
  override readonly name: string = "CorruptBatchError";
  readonly retriable = false;
  constructor(
    readonly file: string,
    readonly position: number,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`corrupt record batch in ${file} at byte ${position}: ${reason}`, options);
  }
}

/**
 * A read of offsets that lie in a damaged range of the log: durable data that failed its checks
 * every time it was read (rot at rest, not a torn tail). The offsets before `fromOffset` and from
 * `toOffset` on are still readable; a replica, or an operator's decision to skip, must fill the gap.
 */
export class DamagedRangeError extends CorruptBatchError {
  override readonly name = "DamagedRangeError";
  constructor(
    file: string,
    position: number,
    reason: string,
    readonly fromOffset: number,
    readonly toOffset: number,
  ) {
    super(file, position, `offsets [${fromOffset}, ${toOffset}) are damaged: ${reason}`);
  }
}

/** A batch larger than the log accepts (`batchBytesMax`). */
export class BatchTooLargeError extends StorageError {
  override readonly name = "BatchTooLargeError";
  readonly retriable = false;
  constructor(
    readonly bytes: number,
    readonly limitBytes: number,
  ) {
    super(`record batch of ${bytes} bytes exceeds the limit of ${limitBytes} bytes`);
  }
}

/** A batch with more records than the log accepts (`batchRecordsMax`). */
export class TooManyRecordsError extends StorageError {
  override readonly name = "TooManyRecordsError";
  readonly retriable = false;
  constructor(
    readonly records: number,
    readonly limitRecords: number,
  ) {
    super(`record batch of ${records} records exceeds the limit of ${limitRecords} records`);
  }
}

/**
 * The system refused a file descriptor (EMFILE/ENFILE) and the file pool had none of its own to
 * give up: descriptors outside the pool (sockets) fill the process's limit. Retriable: the same
 * request succeeds once some are closed.
 */
export class TooManyOpenFilesError extends StorageError {
  override readonly name = "TooManyOpenFilesError";
  readonly retriable = true;
  constructor(
    readonly path: string,
    readonly poolOpenFiles: number,
    options?: { cause?: unknown },
  ) {
    super(`too many open files opening ${path} (the file pool holds ${poolOpenFiles}, none idle); raise ulimit -n or lower openFilesMax`, options);
  }
}

/** An offset outside [startOffset, endOffset] of the log. */
export class OffsetOutOfRangeError extends StorageError {
  override readonly name = "OffsetOutOfRangeError";
  readonly retriable = false;
  constructor(
    readonly offset: number,
    readonly startOffset: number,
    readonly endOffset: number,
  ) {
    super(`offset ${offset} is outside the log's range [${startOffset}, ${endOffset}]`);
  }
}

/** A replicated batch whose base offset is not the log's end offset (a gap or an overlap). */
export class OffsetMismatchError extends StorageError {
  override readonly name = "OffsetMismatchError";
  readonly retriable = false;
  constructor(
    readonly expectedOffset: number,
    readonly actualOffset: number,
  ) {
    super(`replicated batch starts at offset ${actualOffset}, the log ends at ${expectedOffset}`);
  }
}

/** The disk is full; nothing was changed. Retriable once space is freed (retention, operator). */
export class DiskFullError extends StorageError {
  override readonly name = "DiskFullError";
  readonly retriable = true;
  constructor(
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(`disk full while writing ${path}`, options);
  }
}

/**
 * A sync failed or a write failed half-way: what is on the disk is no longer known (the
 * "fsyncgate" lesson), so the log refuses all further work. The node must restart and recover.
 */
export class LogFailedError extends StorageError {
  override readonly name = "LogFailedError";
  readonly retriable = false;
  constructor(
    readonly dir: string,
    options?: { cause?: unknown },
  ) {
    super(`log ${dir} failed and must be reopened`, options);
  }
}

/** The log was closed. */
export class LogClosedError extends StorageError {
  override readonly name = "LogClosedError";
  readonly retriable = false;
  constructor(readonly dir: string) {
    super(`log ${dir} is closed`);
  }
}

/** An option is outside its allowed range; raised at start-up (STYLE §7). */
export class InvalidConfigError extends StorageError {
  override readonly name = "InvalidConfigError";
  readonly retriable = false;
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly rule: string,
  ) {
    super(`invalid storage option ${option}=${String(value)}: ${rule}`);
  }
}

/** A small state file (term/vote, epochs, producer state) failed its checksum or framing. */
export class CorruptStateFileError extends StorageError {
  override readonly name = "CorruptStateFileError";
  readonly retriable = false;
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`corrupt state file ${file}: ${reason}`);
  }
}

/** A broken invariant: a bug in zhumq, not a fault of the disk or of the input. */
export class StorageAssertionError extends Error {
  override readonly name = "StorageAssertionError";
}

export function assertStorage(condition: boolean, message: string): asserts condition {
  if (!condition) throw new StorageAssertionError(message);
}
