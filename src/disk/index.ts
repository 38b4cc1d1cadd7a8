/**
 * The storage engine's public surface (DESIGN §4): the record batch codec, the partition log,
 * small state files, and their typed errors. Everything here works through the FileSystem port;
 * the real file system (`NodeFileSystem`) lives in node-fs.ts and is wired by hosts and tests.
 */
export { crc32c, crc32cTypeScript, installCrc32c, type Crc32cFunction } from "./crc32c.ts";
export { BATCH_HEADER_BYTES, FORMAT_MAGIC, ATTRIBUTE_CONTROL, ATTRIBUTE_TRANSACTIONAL, type BatchLimits } from "./batch.ts";
export { checkBatch, type CheckedBatch } from "./batch-check.ts";
export { encodeBatch, type BatchOptions, type RecordHeaderInput, type RecordInput } from "./batch-encode.ts";
export { decodeBatch, decodeBatches, RecordBatch, RecordView, type DecodedRecord, type RecordHeader } from "./batch-view.ts";
export { PartitionLog, type AppendResult, type ReadOptions, type ReadResult, type RetentionPolicy, type RetentionResult } from "./log.ts";
export { DEFAULT_LOG_OPTIONS, LIMITS, resolveLogOptions, type LogOptions } from "./options.ts";
export { describeRecoveryEvent, type RecoveryEvent, type RecoveryEventKind, type RecoveryReport } from "./recovery.ts";
export type { DamagedRange } from "./damage.ts";
export {
  loadLeaderEpochs,
  loadProducerState,
  loadRaftState,
  readStateFile,
  saveLeaderEpochs,
  saveProducerState,
  saveRaftState,
  STATE_FILE_KIND,
  writeStateFile,
  type LeaderEpochEntry,
  type ProducerStateEntry,
  type ProducerStateSnapshot,
  type RaftHardState,
  type StateFileKind,
} from "./state-file.ts";
export {
  BatchTooLargeError,
  CorruptBatchError,
  CorruptStateFileError,
  DamagedRangeError,
  DiskFullError,
  InvalidConfigError,
  LogClosedError,
  LogFailedError,
  OffsetMismatchError,
  OffsetOutOfRangeError,
  StorageAssertionError,
  StorageError,
  TooManyOpenFilesError,
  TooManyRecordsError,
} from "./errors.ts";
export { FILE_POOL_MIN, FilePool, type FilePoolStats } from "./file-pool.ts";
