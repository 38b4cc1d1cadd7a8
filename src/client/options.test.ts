/**
 * Options are honoured or refused, never ignored: the rules of every options object (options.ts),
 * the docs' table of KafkaJS options, and the public calls that apply them — all without a cluster
 * (every check runs before anything is sent).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ZhuMQ, ZhumqError } from "../index.ts";
import { allRules, checkOptions, compressionOption, knownNames, PRODUCER_RULES, type OptionRules } from "./options.ts";
import { toProducerSends } from "./produce-input.ts";
import { configEntrySettings } from "./topic-config.ts";

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    if (error instanceof ZhumqError) return error.message; // "CODE: message"
    throw error;
  }
  return undefined;
}

async function rejection(promise: Promise<unknown>): Promise<ZhumqError> {
  const error = await promise.then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(ZhumqError);
  return error as ZhumqError;
}

describe("option rules", () => {
  it("every KafkaJS option of every object is known, mapped, tolerated or refused — none falls through as a typo", () => {
    for (const rules of allRules()) {
      const handled = new Set([...knownNames(rules), ...Object.keys(rules.refused ?? {})]);
      for (const name of rules.kafkajs) expect(handled.has(name), `${rules.what}: ${name}`).toBe(true);
      // A name has one fate only.
      const fates = [rules.known, Object.keys(rules.mapped ?? {}), Object.keys(rules.tolerated ?? {}), Object.keys(rules.refused ?? {})].flat();
      expect(new Set(fates).size, rules.what).toBe(fates.length);
    }
  });

  it("docs/client.md's KafkaJS table has a row naming every KafkaJS option", () => {
    const docs = readFileSync(new URL("../../docs/client.md", import.meta.url), "utf8");
    const table = docs.slice(docs.indexOf("## KafkaJS options"), docs.indexOf("## Errors"));
    for (const rules of allRules()) {
      for (const name of rules.kafkajs) expect(table, `${rules.what}: ${name}`).toContain(`\`${name}\``);
    }
  });

  const rules: OptionRules = {
    what: "thing",
    known: ["alpha", "beta"],
    mapped: { alphaMs: "alpha" },
    tolerated: { autoCreate: { value: false, why: "never" } },
    refused: { transactional: "no transactions" },
    kafkajs: [],
  };

  it("keeps known options, maps KafkaJS names, drops tolerated values", () => {
    expect(checkOptions({ alpha: 1, beta: undefined }, rules)).toEqual({ alpha: 1, beta: undefined });
    expect(checkOptions({ alphaMs: 5, autoCreate: false } as object, rules)).toEqual({ alpha: 5 });
    expect(checkOptions({ transactional: undefined } as object, rules)).toEqual({});
  });

  it("refuses: a typo with UNKNOWN_OPTION listing the known names, an unimplemented option with UNSUPPORTED_OPTION naming it", () => {
    expect(codeOf(() => checkOptions({ alpah: 1 } as object, rules))).toBe("UNKNOWN_OPTION: thing: unknown option 'alpah'; known: alpha, beta, alphaMs, autoCreate");
    expect(codeOf(() => checkOptions({ transactional: "tx-1" } as object, rules))).toBe("UNSUPPORTED_OPTION: thing: 'transactional' is not supported: no transactions");
    expect(codeOf(() => checkOptions({ autoCreate: true } as object, rules))).toBe("UNSUPPORTED_OPTION: thing: 'autoCreate: true' is not supported: never");
    expect(codeOf(() => checkOptions({ alpha: 1, alphaMs: 2 } as object, rules))).toMatch(/^INVALID_REQUEST: thing: give 'alpha' or its KafkaJS name 'alphaMs', not both/);
    expect(codeOf(() => checkOptions([] as object, rules))).toMatch(/^INVALID_REQUEST/);
  });

  it("a name that belongs to another object says where it belongs", () => {
    expect(codeOf(() => new ZhuMQ().consumer({ fromBeginning: true } as object))).toMatch(/UNKNOWN_OPTION: consumer options: unknown option 'fromBeginning' \('fromBeginning' is an option of subscribe\)/);
  });

  it("compression: names and KafkaJS CompressionTypes numbers; anything else is UNSUPPORTED_OPTION", () => {
    expect(["none", "gzip", "snappy", "lz4", "zstd", 0, 1, 2, 3, 4].map((value) => compressionOption(value, "send"))).toEqual(["none", "gzip", "snappy", "lz4", "zstd", "none", "gzip", "snappy", "lz4", "zstd"]);
    for (const value of ["brotli", "GZIP", 5, -1, 1.5, null, {}]) expect(codeOf(() => compressionOption(value, "send"))).toMatch(/^UNSUPPORTED_OPTION: send: 'compression: /);
  });
});

describe("the public calls apply them", () => {
  const zhumq = new ZhuMQ();

  it("new ZhuMQ: tls must be { ca, cert, key } of PEM contents, each named when wrong", () => {
    expect(codeOf(() => new ZhuMQ({ tls: "yes" } as object))).toMatch(/^INVALID_REQUEST.*tls must be \{ ca, cert, key \}/);
    expect(codeOf(() => new ZhuMQ({ tls: { ca: "x", cert: "y", key: "z", passphrase: "p" } } as object))).toMatch(/unknown key 'passphrase'/);
    expect(codeOf(() => new ZhuMQ({ tls: { ca: "x", cert: "", key: "z" } }))).toMatch(/tls\.cert must be the PEM contents.*mutual TLS/);
    expect(codeOf(() => new ZhuMQ({ tls: { ca: "not pem", cert: "y", key: "z" } }))).toMatch(/^INVALID_REQUEST.*tls\.ca.*not a PEM certificate/);
  });

  it("new ZhuMQ: tls may instead name the files (watched for rotation), never both forms", () => {
    expect(codeOf(() => new ZhuMQ({ tls: { ca: "x", certFile: "y", keyFile: "z" } } as object))).toMatch(/either \{ ca, cert, key \}.*or \{ caFile, certFile, keyFile \}/);
    expect(codeOf(() => new ZhuMQ({ tls: { ca: "x", cert: "y", key: "z", refreshMs: 100 } } as object))).toMatch(/refreshMs applies to file paths only/);
    expect(codeOf(() => new ZhuMQ({ tls: { caFile: "/nonexistent/ca.pem", certFile: "", keyFile: "k" } }))).toMatch(/tls\.certFile must be the path/);
    expect(codeOf(() => new ZhuMQ({ tls: { caFile: "/nonexistent/ca.pem", certFile: "/nonexistent/c.pem", keyFile: "/nonexistent/k.pem" } }))).toMatch(/^INVALID_REQUEST.*tls\.caFile: cannot read \/nonexistent\/ca\.pem/);
    const here = fileURLToPath(import.meta.url);
    expect(codeOf(() => new ZhuMQ({ tls: { caFile: here, certFile: here, keyFile: here } }))).toMatch(/^INVALID_REQUEST.*tls\.caFile \(.*options\.test\.ts\).*not a PEM certificate/);
    expect(codeOf(() => new ZhuMQ({ tls: { caFile: here, certFile: here, keyFile: here, refreshMs: 1 } }))).toMatch(/tls\.refreshMs must be an integer from 50/);
  });

  it("new ZhuMQ: KafkaJS's brokers, ssl and sasl are refused; connectionTimeout is connectTimeoutMs", () => {
    expect(codeOf(() => new ZhuMQ({ brokers: ["localhost:9092"] } as object))).toMatch(/^UNSUPPORTED_OPTION: new ZhuMQ options: 'brokers' is not supported: .*bootstrap/);
    expect(codeOf(() => new ZhuMQ({ ssl: true } as object))).toMatch(/^UNSUPPORTED_OPTION.*'ssl'/);
    expect(codeOf(() => new ZhuMQ({ sasl: { mechanism: "plain" } } as object))).toMatch(/^UNSUPPORTED_OPTION.*'sasl'/);
    expect(codeOf(() => new ZhuMQ({ connectionTimeout: 3_000 }))).toBeUndefined();
    expect(codeOf(() => new ZhuMQ({ connectionTimeout: -3 }))).toMatch(/^INVALID_REQUEST: connectTimeoutMs/);
    expect(codeOf(() => new ZhuMQ({ bootstarp: "x:1" } as object))).toMatch(/^UNKNOWN_OPTION.*known: bootstrap, clientId/);
  });

  it("producer: transactionalId and friends are refused at the call that passed them", () => {
    expect(codeOf(() => zhumq.producer({ transactionalId: "tx" } as object))).toMatch(/^UNSUPPORTED_OPTION: producer options: 'transactionalId' is not supported: zhumq has no transactions/);
    expect(codeOf(() => zhumq.producer({ createPartitioner: () => () => 0 } as object))).toMatch(/^UNSUPPORTED_OPTION.*createPartitioner/);
    // KafkaJS's maxInFlightRequests is the per-partition limit (1-5); past 5 the producer refuses it.
    expect(codeOf(() => zhumq.producer({ maxInFlightRequests: 5 } as object))).toBeUndefined();
    expect(codeOf(() => zhumq.producer({ maxInFlightRequests: 6 } as object))).toMatch(/maxInFlightPerPartition/);
    expect(codeOf(() => zhumq.producer({ maxInFlightPerPartition: 2, allowAutoTopicCreation: false, idempotent: true } as object))).toBeUndefined();
    expect(codeOf(() => zhumq.producer({ lingerMS: 5 } as object))).toMatch(/^UNKNOWN_OPTION.*'lingerMS'.*lingerMs/);
    expect(codeOf(() => zhumq.producer({ compression: "brotli" as "gzip" }))).toMatch(/^UNSUPPORTED_OPTION/);
    expect(PRODUCER_RULES.known).toContain("compression");
  });

  it("send and message: timeout refused, unknown keys refused, timestamps checked", () => {
    const send = (record: object): string | undefined => codeOf(() => toProducerSends(record as Parameters<typeof toProducerSends>[0], -1));
    expect(send({ topic: "t", messages: [{ value: "v" }], timeout: 30_000 })).toMatch(/^UNSUPPORTED_OPTION: send: 'timeout'/);
    expect(send({ topic: "t", messages: [{ value: "v", partiton: 1 }] })).toMatch(/^UNKNOWN_OPTION: messages\[0\]: unknown option 'partiton'/);
    expect(send({ topic: "t", messages: [{ value: "v", timestamp: "1700000000000" }] })).toBeUndefined();
    expect(send({ topic: "t", messages: [{ value: "v", timestamp: "1.5e12" }] })).toMatch(/^INVALID_REQUEST: messages\[0\]\.timestamp/);
    expect(send({ topic: "t", messages: [{ value: "v", timestamp: new Date(Number.NaN) }] })).toMatch(/^INVALID_REQUEST/);
    expect(send({ topic: "t", messages: [{ value: "v", timestamp: 1.5 }] })).toMatch(/^INVALID_REQUEST/);
    const { sends, compression } = toProducerSends({ topic: "t", messages: [{ value: "v", timestamp: new Date(1_700_000_000_000) }], compression: 4 }, -1);
    expect(sends[0]!.timestampMs).toBe(1_700_000_000_000);
    expect(compression).toBe("zstd");
  });

  it("consumer, run, messages: KafkaJS names mapped, unimplemented ones refused", async () => {
    expect(codeOf(() => zhumq.consumer({ groupId: "g", sessionTimeout: 20_000, maxWaitTimeInMs: 100 }))).toBeUndefined();
    expect(codeOf(() => zhumq.consumer({ groupId: "g", sessionTimeout: 1 }))).toMatch(/^INVALID_REQUEST: consumer options: .*sessionTimeoutMs/);
    expect(codeOf(() => zhumq.consumer({ groupId: "g", partitionAssigners: [] } as object))).toMatch(/^UNSUPPORTED_OPTION.*partitionAssigners.*assignor/);
    expect(codeOf(() => zhumq.consumer({ readUncommitted: true } as object))).toMatch(/^UNSUPPORTED_OPTION.*readUncommitted: true/);
    expect(codeOf(() => zhumq.consumer({ readUncommitted: false, allowAutoTopicCreation: false } as object))).toBeUndefined();
    const consumer = zhumq.consumer();
    expect((await rejection(consumer.run({ eachMessage: async () => {}, autoCommitInterval: 1_000 } as object))).code).toBe("UNSUPPORTED_OPTION");
    expect((await rejection(consumer.run({ eachMessage: async () => {}, eachBatchAutoResolve: false } as object))).code).toBe("UNSUPPORTED_OPTION");
    expect(codeOf(() => consumer.messages({ signl: AbortSignal.timeout(1) } as object))).toMatch(/^UNKNOWN_OPTION: messages/);
    expect((await rejection(consumer.subscribe({ topic: "t", fromBegining: true } as object))).code).toBe("UNKNOWN_OPTION");
  });

  it("admin and createTopic: KafkaJS names mapped, unknown ones refused before any request", async () => {
    expect(codeOf(() => zhumq.admin({ retry: { retries: 3 } } as object))).toMatch(/^UNSUPPORTED_OPTION: admin options: 'retry'/);
    const admin = zhumq.admin();
    expect((await rejection(admin.createTopic({ topic: "t", partitons: 3 } as object as { topic: string }))).code).toBe("UNKNOWN_OPTION");
    expect((await rejection(admin.createTopic({ topic: "t", replicaAssignment: [] } as object as { topic: string }))).code).toBe("UNSUPPORTED_OPTION");
    expect((await rejection(admin.createTopic({ topic: "t", numPartitions: 2, partitions: 2 }))).code).toBe("INVALID_REQUEST");
    expect((await rejection(admin.fetchOffsets({ groupId: "g", resolveOffsets: true } as object as { groupId: string }))).message).toMatch(/UNSUPPORTED_OPTION: fetchOffsets: 'resolveOffsets'/);
    expect((await rejection(admin.resetOffsets({ groupId: "g", topic: "t", earliest: true, to: "latest" }))).message).toMatch(/INVALID_REQUEST: resetOffsets takes `to` or KafkaJS's `earliest`/);
    expect((await rejection(admin.resetOffsets({ groupId: "g", topic: "t" }))).message).toMatch(/INVALID_REQUEST: resetOffsets needs `to`/);
    expect((await rejection(admin.listGroups({ signall: undefined } as object))).code).toBe("UNKNOWN_OPTION");
  });

  it("seek and commitOffsets take KafkaJS's string offsets; their objects are checked too", async () => {
    const consumer = zhumq.consumer({ groupId: "g" });
    expect((await rejection(consumer.seek({ topic: "t", partition: 0, offset: "12x" }))).message).toMatch(/INVALID_REQUEST: offset must be a non-negative integer \(or a string of digits\), got "12x"/);
    expect((await rejection(consumer.seek({ topic: "t", partition: 0, offset: "12", metadata: "m" } as object as { topic: string; partition: number; offset: string }))).code).toBe("UNKNOWN_OPTION");
    // Valid: refused only because nothing is being consumed.
    expect((await rejection(consumer.seek({ topic: "t", partition: 0, offset: "12" }))).code).toBe("UNKNOWN_TOPIC_OR_PARTITION");
    expect(codeOf(() => consumer.pause([{ topic: "t", partition: 0 } as object as { topic: string }]))).toMatch(/^UNKNOWN_OPTION: pause\/resume target: unknown option 'partition'/);
  });
});

describe("configEntries", () => {
  it("Kafka names and zhumq names set the same settings; strings are parsed strictly", () => {
    expect(configEntrySettings([
      { name: "retention.ms", value: "604800000" },
      { name: "retention.bytes", value: 1_000_000 },
      { name: "min.insync.replicas", value: "2" },
      { name: "unclean.leader.election.enable", value: "true" },
      { name: "cleanup.policy", value: "delete" },
    ])).toEqual({ retentionMs: 604_800_000, retentionBytes: 1_000_000, minInSync: 2, uncleanLeaderElection: true });
    expect(configEntrySettings([{ name: "retentionMs", value: 5 }, { name: "uncleanLeaderElection", value: false }])).toEqual({ retentionMs: 5, uncleanLeaderElection: false });
  });

  it("refuses what zhumq lacks by name, bad values, and a setting given twice", () => {
    expect(codeOf(() => configEntrySettings([{ name: "segment.bytes", value: "1" }]))).toMatch(/^UNSUPPORTED_OPTION: createTopic configEntries: 'segment\.bytes' is not a topic setting zhumq has; it takes retention\.ms/);
    expect(codeOf(() => configEntrySettings([{ name: "cleanup.policy", value: "compact,delete" }]))).toMatch(/^UNSUPPORTED_OPTION/);
    expect(codeOf(() => configEntrySettings([{ name: "retention.ms", value: "1e9" }]))).toMatch(/^INVALID_REQUEST/);
    expect(codeOf(() => configEntrySettings([{ name: "unclean.leader.election.enable", value: "yes" }]))).toMatch(/^INVALID_REQUEST/);
    expect(codeOf(() => configEntrySettings([{ name: "retention.ms", value: "1" }, { name: "retentionMs", value: 2 }]))).toMatch(/^INVALID_REQUEST: configEntries: retentionMs sets retentionMs, which retention\.ms already set/);
    expect(codeOf(() => configEntrySettings({ name: "retention.ms" }))).toMatch(/^INVALID_REQUEST/);
    expect(codeOf(() => configEntrySettings([{ name: "retention.ms" }]))).toMatch(/^INVALID_REQUEST/);
  });
});
