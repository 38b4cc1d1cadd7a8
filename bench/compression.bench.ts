/**
 * npm run bench:compression — what each codec costs and saves, for compressible JSON messages
 * (orders of about 250 bytes, as applications send them).
 *
 * 1. Codecs alone: the batch path's speed (MB/s of uncompressed batch) — encode + compress + CRC
 *    as a producer does, CRC check + decompress + record check as a consumer does — and the
 *    ratio, on one 1 MiB batch (what the producer's default batchBytesMax fills).
 * 2. End to end, in this process: a coordinator and one broker on gRPC over loopback, data under
 *    os.tmpdir(). Per codec, one producer sends MESSAGES messages in sends of SEND_SIZE (acks -1,
 *    idempotent: fsynced on the broker before each answer), then a consumer reads them all.
 *    Printed: produce msgs/s and MB/s (uncompressed), bytes of the topic's .log files on disk, and
 *    the ratio of each to "none". Each codec runs on its own topic in the same cluster, in turn,
 *    after a warm-up round (uncompressed, a tenth of the messages) so "none" is not the cold one.
 *
 * Prints figures; asserts nothing (the box is shared and noisy). ZHUMQ_BENCH_SCALE=0.1 shrinks
 * the message count for a quick look.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { encodeBatch, type RecordInput } from "../src/disk/batch-encode.ts";
import { decodeBatch } from "../src/disk/batch-view.ts";
import { COMPRESSION_TYPES, type CompressionType } from "../src/disk/compression.ts";
import { startCluster } from "../src/host/real-node.ts";
import { GrpcTransport } from "../src/net/index.ts";
import { loadCompressionCodecs } from "../src/native/compression.ts";
import { ZhuMQ, type Consumer } from "../src/index.ts";
import { logBytes } from "../test/support/log-bytes.ts";

const SCALE = Number(process.env.ZHUMQ_BENCH_SCALE ?? "1");
const MESSAGES = Math.max(1_000, Math.round(200_000 * SCALE));
const SEND_SIZE = 1_000;
const utf8 = new TextEncoder();

function order(index: number): string {
  return JSON.stringify({
    orderId: `ord-${index.toString().padStart(9, "0")}`,
    customer: { id: `cust-${index % 997}`, tier: index % 5 === 0 ? "gold" : "standard", country: ["DE", "FR", "NL", "PL"][index % 4] },
    items: [{ sku: `SKU-${1000 + (index % 50)}`, quantity: 1 + (index % 3), priceCents: 1999 + (index % 7) * 100 }],
    status: "created",
    createdAt: new Date(1_700_000_000_000 + index * 1000).toISOString(),
  });
}

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

function codecsAlone(): void {
  const records: RecordInput[] = [];
  let bytes = 0;
  for (let i = 0; bytes < 1024 * 1024 - 400; i++) {
    const value = utf8.encode(order(i));
    records.push({ key: utf8.encode(`cust-${i % 997}`), value, timestampMs: 1_700_000_000_000 + i });
    bytes += value.length + 30;
  }
  const plain = encodeBatch(records);
  console.log(`\n1. codecs alone: one batch of ${records.length} records, ${mb(plain.length)} MB uncompressed`);
  console.log("codec    ratio   encode MB/s   decode MB/s");
  for (const type of COMPRESSION_TYPES) {
    const rounds = 20;
    let packed = encodeBatch(records, { compression: type });
    let start = performance.now();
    for (let r = 0; r < rounds; r++) packed = encodeBatch(records, { compression: type });
    const compressSeconds = (performance.now() - start) / 1000;
    start = performance.now();
    for (let r = 0; r < rounds; r++) decodeBatch(packed).recordBytes();
    const decompressSeconds = (performance.now() - start) / 1000;
    console.log(`${type.padEnd(8)} ${(plain.length / packed.length).toFixed(1).padStart(5)}x ${((rounds * plain.length) / 1e6 / compressSeconds).toFixed(0).padStart(13)} ${((rounds * plain.length) / 1e6 / decompressSeconds).toFixed(0).padStart(13)}`);
  }
}

async function readAll(consumer: Consumer, count: number): Promise<void> {
  let seen = 0;
  for await (const _message of consumer.messages({ signal: AbortSignal.timeout(600_000) })) {
    if (++seen === count) break;
  }
}

async function endToEnd(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-bench-compression-"));
  const cluster = await startCluster({ dataDir, network: GrpcTransport, brokers: 1 });
  try {
    const zhumq = new ZhuMQ({ bootstrap: `${cluster.coordinatorEndpoint.id}@${cluster.coordinatorEndpoint.address}` });
    const admin = zhumq.admin();
    await admin.connect();
    const values = Array.from({ length: SEND_SIZE }, (_, i) => order(i));
    const payloadBytes = values.reduce((sum, value) => sum + value.length, 0) * (MESSAGES / SEND_SIZE);
    console.log(`\n2. end to end: ${MESSAGES} messages of about ${Math.round(payloadBytes / MESSAGES)} bytes (${mb(payloadBytes)} MB of values), sends of ${SEND_SIZE}, acks -1, one broker`);
    console.log("codec    produce msgs/s   produce MB/s   consume msgs/s   on disk MB   disk vs none   produce vs none");
    let baseline: { rate: number; disk: number } | undefined;
    for (const type of ["warm-up", ...COMPRESSION_TYPES] as const) {
      const warmUp = type === "warm-up";
      const count = warmUp ? MESSAGES / 10 : MESSAGES;
      const topic = `bench-${type}`;
      await admin.createTopic({ topic, partitions: 4 });
      const producer = zhumq.producer({ compression: warmUp ? "none" : (type as CompressionType) });
      await producer.connect();
      const start = performance.now();
      const inFlight: Promise<unknown>[] = [];
      for (let sent = 0; sent < count; sent += SEND_SIZE) {
        inFlight.push(producer.send({ topic, messages: values.map((value, i) => ({ key: `k${(sent + i) % 64}`, value })) }));
        if (inFlight.length >= 8) await inFlight.shift();
      }
      await Promise.all(inFlight);
      const seconds = (performance.now() - start) / 1000;
      await producer.disconnect();
      const consumer = zhumq.consumer({ from: "earliest" });
      await consumer.connect();
      await consumer.subscribe({ topic });
      const readStart = performance.now();
      await readAll(consumer, count);
      const readSeconds = (performance.now() - readStart) / 1000;
      await consumer.disconnect();
      if (warmUp) continue;
      const disk = logBytes(dataDir, topic);
      const rate = MESSAGES / seconds;
      baseline ??= { rate, disk };
      console.log(
        `${type.padEnd(8)} ${rate.toFixed(0).padStart(14)} ${(payloadBytes / 1e6 / seconds).toFixed(1).padStart(14)} ${(MESSAGES / readSeconds).toFixed(0).padStart(16)} ${mb(disk).padStart(12)} ${(disk / baseline.disk).toFixed(2).padStart(14)} ${(rate / baseline.rate).toFixed(2).padStart(17)}`,
      );
    }
    await admin.disconnect();
  } finally {
    await cluster.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await loadCompressionCodecs();
console.log(`load average at start: ${loadavg().map((load) => load.toFixed(1)).join(" ")}`);
codecsAlone();
await endToEnd();
