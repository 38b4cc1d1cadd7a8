/**
 * Every public options object is checked key by key before it is used: an option is zhumq's own
 * (kept), a KafkaJS name zhumq maps to its own (renamed), a KafkaJS option whose value is what
 * zhumq does anyway (`allowAutoTopicCreation: false`: dropped), a KafkaJS option zhumq does not
 * implement (UNSUPPORTED_OPTION, naming it and what to do instead), or unknown — a typo —
 * (UNKNOWN_OPTION, listing the known ones). Nothing is accepted and silently ignored.
 *
 * The rules below are also the table in docs/client.md ("KafkaJS options"); options.test.ts checks
 * that every KafkaJS option of each object has a rule here and a row there.
 */
import { ZhumqError } from "../actors/shared/errors.ts";
import { COMPRESSION_TYPES, compressionTypeOf, isCompressionType, type CompressionType } from "../disk/compression.ts";

export interface OptionRules {
  /** How the error names the object: "producer options", "send", … */
  readonly what: string;
  /** zhumq's own option names. */
  readonly known: readonly string[];
  /** KafkaJS name → zhumq name, same meaning and unit. */
  readonly mapped?: Readonly<Record<string, string>>;
  /** KafkaJS options whose given value is what zhumq does anyway; any other value is refused. */
  readonly tolerated?: Readonly<Record<string, { readonly value: unknown; readonly why: string }>>;
  /** KafkaJS options zhumq does not implement: why, and what to use instead. */
  readonly refused?: Readonly<Record<string, string>>;
  /** The KafkaJS options of this object (KafkaJS 2.x), for the docs table and its test. */
  readonly kafkajs: readonly string[];
}

export function unsupportedOption(what: string, name: string, why: string): ZhumqError {
  return new ZhumqError("UNSUPPORTED_OPTION", `${what}: '${name}' is not supported: ${why}`);
}

/**
 * `options` with KafkaJS names mapped and tolerated options dropped; throws UNSUPPORTED_OPTION or
 * UNKNOWN_OPTION for the first key that is neither. A key given as `undefined` counts as absent,
 * unless nobody knows it (a typo is a typo).
 */
export function checkOptions<T extends object>(options: T, rules: OptionRules): T {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new ZhumqError("INVALID_REQUEST", `${rules.what} must be an object, got ${Array.isArray(options) ? "an array" : options === null ? "null" : typeof options}`);
  }
  const out: Record<string, unknown> = {};
  const given = options as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    const value = given[key];
    if (rules.known.includes(key)) {
      if (!(key in out)) out[key] = value;
      continue;
    }
    const target = rules.mapped?.[key];
    if (target !== undefined) {
      if (value === undefined) continue;
      if (given[target] !== undefined) throw new ZhumqError("INVALID_REQUEST", `${rules.what}: give '${target}' or its KafkaJS name '${key}', not both`);
      out[target] = value;
      continue;
    }
    const tolerated = rules.tolerated?.[key];
    if (tolerated !== undefined) {
      if (value === undefined || value === tolerated.value) continue;
      throw unsupportedOption(rules.what, `${key}: ${JSON.stringify(value)}`, tolerated.why);
    }
    const refused = rules.refused?.[key];
    if (refused !== undefined) {
      if (value === undefined) continue;
      throw unsupportedOption(rules.what, key, refused);
    }
    const there = allRules().filter((other) => other !== rules && knownNames(other).includes(key)).map((other) => other.what);
    const hint = there.length === 0 ? "" : ` ('${key}' is an option of ${there.join(" and of ")})`;
    throw new ZhumqError("UNKNOWN_OPTION", `${rules.what}: unknown option '${key}'${hint}; known: ${knownNames(rules).join(", ")}`);
  }
  return out as T;
}

/** Every name `checkOptions` accepts without an error, zhumq's first. */
export function knownNames(rules: OptionRules): string[] {
  return [...rules.known, ...Object.keys(rules.mapped ?? {}), ...Object.keys(rules.tolerated ?? {})];
}

const NO_AUTO_CREATE = { value: false, why: "zhumq never creates a topic because it was used: create it with admin.createTopic" };

export const CLIENT_RULES: OptionRules = {
  what: "new ZhuMQ options",
  known: ["bootstrap", "clientId", "addresses", "connectTimeoutMs", "tls", "auth"],
  mapped: { connectionTimeout: "connectTimeoutMs" },
  refused: {
    brokers: "a zhumq client starts from the coordinator, not from brokers: give bootstrap: \"host:port\" (zhumq dev's is 127.0.0.1:9090); brokers are found through it",
    ssl: "give tls: { ca, cert, key } (PEM contents; mutual TLS, docs/security.md)",
    sasl: "give auth: { username, password } (SCRAM-SHA-256; users are made with zhumq user create, docs/security.md)",
    authenticationTimeout: "a login is part of connecting: connectTimeoutMs bounds it",
    reauthenticationThreshold: "a connection logs in once, when it opens",
    requestTimeout: "give requestTimeoutMs to the producer, consumer or admin",
    enforceRequestTimeout: "every request always times out after its requestTimeoutMs",
    retry: "give retries to the admin or consumer; the producer retries until deliveryTimeoutMs",
    logLevel: "the client does not log: every problem is a thrown error, a rejected promise or a consumer event",
    logCreator: "the client does not log: every problem is a thrown error, a rejected promise or a consumer event",
    socketFactory: "the client manages its own gRPC connections",
  },
  kafkajs: ["brokers", "clientId", "ssl", "sasl", "connectionTimeout", "authenticationTimeout", "reauthenticationThreshold", "requestTimeout", "enforceRequestTimeout", "retry", "logLevel", "logCreator", "socketFactory"],
};

export const PRODUCER_RULES: OptionRules = {
  what: "producer options",
  known: ["acks", "idempotent", "lingerMs", "batchBytesMax", "maxInFlightPerPartition", "requestTimeoutMs", "deliveryTimeoutMs", "bufferBytesMax", "bufferMessagesMax", "maxBlockMs", "compression"],
  // KafkaJS's per-connection limit is, for an idempotent producer, the per-partition one (at most 5).
  mapped: { maxInFlightRequests: "maxInFlightPerPartition" },
  tolerated: {
    allowAutoTopicCreation: NO_AUTO_CREATE,
  },
  refused: {
    transactionalId: "zhumq has no transactions (the idempotent producer still never duplicates its retries)",
    transactionTimeout: "zhumq has no transactions",
    createPartitioner: "the partitioner is fixed: `partition` if given, else murmur2 of the key (as KafkaJS's default), else sticky",
    retry: "the producer retries with backoff until deliveryTimeoutMs",
    metadataMaxAge: "the producer refreshes a route on errors and when it is a minute old",
  },
  kafkajs: ["createPartitioner", "retry", "metadataMaxAge", "allowAutoTopicCreation", "transactionTimeout", "idempotent", "maxInFlightRequests", "transactionalId"],
};

export const SEND_RULES: OptionRules = {
  what: "send",
  known: ["topic", "messages", "acks", "compression", "signal"],
  refused: { timeout: "the producer's requestTimeoutMs (per request) and deliveryTimeoutMs (per message) bound a send" },
  kafkajs: ["topic", "messages", "acks", "timeout", "compression"],
};

export const MESSAGE_RULES: OptionRules = {
  what: "message",
  known: ["key", "value", "headers", "partition", "timestamp"],
  kafkajs: ["key", "value", "partition", "timestamp", "headers"],
};

export const CONSUMER_RULES: OptionRules = {
  what: "consumer options",
  known: [
    "groupId", "instanceId", "sessionTimeoutMs", "autoCommitIntervalMs", "assignor", "from", "maxBytesPerPartition", "maxWaitMs",
    "requestTimeoutMs", "retries", "onReset", "onDamagedData", "mode", "pushWindowBytes", "pushWindowBatches",
  ],
  mapped: { sessionTimeout: "sessionTimeoutMs", maxWaitTimeInMs: "maxWaitMs" },
  tolerated: {
    allowAutoTopicCreation: NO_AUTO_CREATE,
    readUncommitted: { value: false, why: "zhumq has no transactions: consumers read committed data only" },
  },
  refused: {
    partitionAssigners: "choose the group's assignor with assignor: \"uniform\" (default) or \"range\"",
    rebalanceTimeout: "the coordinator rebalances incrementally: a member gives up only the partitions that move",
    heartbeatInterval: "the group coordinator sets how often its members heartbeat",
    metadataMaxAge: "the consumer refreshes leaders on errors",
    minBytes: "a fetch answers as soon as anything is there (or after maxWaitMs)",
    maxBytes: "fetches are bounded per partition: maxBytesPerPartition",
    retry: "retriable errors are retried inside; subscribe's topic lookup takes retries",
    maxInFlightRequests: "the consumer keeps one fetch in flight per partition",
    rackId: "zhumq has no racks: consumers read from the leader",
  },
  kafkajs: [
    "groupId", "partitionAssigners", "sessionTimeout", "rebalanceTimeout", "heartbeatInterval", "metadataMaxAge", "allowAutoTopicCreation",
    "maxBytesPerPartition", "minBytes", "maxBytes", "maxWaitTimeInMs", "retry", "readUncommitted", "maxInFlightRequests", "rackId",
  ],
};

export const SUBSCRIBE_RULES: OptionRules = {
  what: "subscribe",
  known: ["topic", "topics", "partitions", "fromBeginning", "signal"],
  kafkajs: ["topic", "topics", "fromBeginning"],
};

export const RUN_RULES: OptionRules = {
  what: "run",
  known: ["eachMessage", "eachBatch", "partitionsConsumedConcurrently", "autoCommit", "signal"],
  tolerated: { eachBatchAutoResolve: { value: true, why: "a batch counts as handled when eachBatch resolves" } },
  refused: {
    autoCommitInterval: "a consumer option in zhumq: zhumq.consumer({ groupId, autoCommitIntervalMs })",
    autoCommitThreshold: "commits are periodic (autoCommitIntervalMs), on revocation and on disconnect; commitOffsets() commits at once",
  },
  kafkajs: ["eachMessage", "eachBatch", "autoCommit", "autoCommitInterval", "autoCommitThreshold", "eachBatchAutoResolve", "partitionsConsumedConcurrently"],
};

export const MESSAGES_RULES: OptionRules = { what: "messages", known: ["signal"], kafkajs: [] };

export const ADMIN_RULES: OptionRules = {
  what: "admin options",
  known: ["requestTimeoutMs", "retries"],
  refused: { retry: "give retries (attempts after the first) and requestTimeoutMs" },
  kafkajs: ["retry"],
};

export const CREATE_TOPIC_RULES: OptionRules = {
  what: "createTopic",
  known: ["topic", "partitions", "replicationFactor", "replicationMode", "minInSync", "uncleanLeaderElection", "retentionMs", "retentionBytes", "configEntries", "waitForLeaders", "waitForLeadersMs", "signal"],
  mapped: { numPartitions: "partitions" },
  refused: { replicaAssignment: "the coordinator places replicas (docs/placement.md)" },
  // One topic of KafkaJS's createTopics({ topics: [...] }).
  kafkajs: ["topic", "numPartitions", "replicationFactor", "replicaAssignment", "configEntries"],
};

export const SEEK_RULES: OptionRules = { what: "seek", known: ["topic", "partition", "offset"], kafkajs: ["topic", "partition", "offset"] };

export const PAUSE_RULES: OptionRules = { what: "pause/resume target", known: ["topic", "partitions"], kafkajs: ["topic", "partitions"] };

export const COMMIT_RULES: OptionRules = { what: "commitOffsets entry", known: ["topic", "partition", "offset"], kafkajs: ["topic", "partition", "offset"] };

export const SIGNAL_RULES: OptionRules = { what: "options", known: ["signal"], kafkajs: [] };

export const FETCH_OFFSETS_RULES: OptionRules = {
  what: "fetchOffsets",
  known: ["groupId", "topics", "signal"],
  refused: { resolveOffsets: "fetchOffsets only reads; move offsets with resetOffsets({ groupId, topic, to })" },
  kafkajs: ["groupId", "topics", "resolveOffsets"],
};

export const RESET_OFFSETS_RULES: OptionRules = {
  what: "resetOffsets",
  // `earliest` is KafkaJS's: true is `to: "earliest"`, false `to: "latest"` (group-admin.ts maps it).
  known: ["groupId", "topic", "to", "partitions", "earliest", "signal"],
  kafkajs: ["groupId", "topic", "earliest"],
};

/** Every options object's rules (a function: the constants are defined below their first use). */
export function allRules(): readonly OptionRules[] {
  return [
    CLIENT_RULES, PRODUCER_RULES, SEND_RULES, MESSAGE_RULES, CONSUMER_RULES, SUBSCRIBE_RULES, RUN_RULES, MESSAGES_RULES, SEEK_RULES, PAUSE_RULES, COMMIT_RULES,
    ADMIN_RULES, CREATE_TOPIC_RULES, FETCH_OFFSETS_RULES, RESET_OFFSETS_RULES,
  ];
}

/** An offset: a non-negative integer, or a string of digits (KafkaJS passes offsets as strings). */
export function offsetOption(value: unknown, what: string): number {
  const offset = typeof value === "string" && /^\d{1,16}$/.test(value) ? Number(value) : value;
  if (!(typeof offset === "number" && Number.isSafeInteger(offset) && offset >= 0)) {
    throw new ZhumqError("INVALID_REQUEST", `${what} must be a non-negative integer (or a string of digits), got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`);
  }
  return offset;
}

/**
 * A `compression` option: "none", "gzip", "snappy", "lz4" or "zstd", or KafkaJS's
 * `CompressionTypes` numbers (None 0, GZIP 1, Snappy 2, LZ4 3, ZSTD 4), which are the batch's
 * attribute bits. Anything else is UNSUPPORTED_OPTION.
 */
export function compressionOption(value: unknown, what: string): CompressionType {
  if (typeof value === "number" && Number.isInteger(value)) {
    const type = compressionTypeOf(value);
    if (type !== undefined) return type;
  }
  if (isCompressionType(value)) return value;
  throw unsupportedOption(what, `compression: ${JSON.stringify(value)}`, `the codecs are ${COMPRESSION_TYPES.map((type) => `"${type}"`).join(", ")} (or KafkaJS's CompressionTypes 0-4)`);
}
