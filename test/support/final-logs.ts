/**
 * Test support: every partition replica a (dead) broker holds, read from its data folder through
 * the storage engine's recovery, as the history's final logs (src/sim/queue/history.ts). Values
 * are decoded as UTF-8: the tests that use this send unique string values.
 */
import path from "node:path";
import { ATTRIBUTE_CONTROL } from "../../src/disk/batch.ts";
import { NodeFileSystem } from "../../src/disk/node-fs.ts";
import { PartitionLog } from "../../src/disk/log.ts";
import { parseTopicFolder, PARTITIONS_DIR } from "../../src/host/stores/broker-store.ts";
import type { FinalLog, LogRecord } from "../../src/sim/queue/history.ts";

const READ_BYTES_MAX = 1 << 20;
const PARTITION_FOLDER = /^(0|[1-9]\d{0,8})$/;

export async function readFinalLogs(dataDir: string, broker: string): Promise<FinalLog[]> {
  const fs = new NodeFileSystem(path.join(dataDir, broker));
  const logs: FinalLog[] = [];
  if ((await fs.stat(PARTITIONS_DIR)) === undefined) return logs; // it never hosted a partition
  for (const folder of await fs.list(PARTITIONS_DIR)) {
    const topic = parseTopicFolder(folder)?.topic; // partitions/<topic>@<topic id>/<partition>
    if (topic === undefined) continue;
    for (const name of await fs.list(`${PARTITIONS_DIR}/${folder}`)) {
      if (!PARTITION_FOLDER.test(name)) continue; // e.g. a removal a crash interrupted
      logs.push({ topic, partition: Number(name), replica: broker, records: await readRecords(fs, `${PARTITIONS_DIR}/${folder}/${name}`) });
    }
  }
  return logs;
}

async function readRecords(fs: NodeFileSystem, dir: string): Promise<LogRecord[]> {
  const decoder = new TextDecoder();
  const log = await PartitionLog.open(fs, dir);
  const records: LogRecord[] = [];
  try {
    for (let offset = log.startOffset; offset < log.endOffset; ) {
      const read = await log.read(offset, { maxBytes: READ_BYTES_MAX });
      if (read.batches.length === 0) break;
      for (const batch of read.batches) {
        if ((batch.attributes & ATTRIBUTE_CONTROL) !== 0) continue; // a raft-mode partition's own entry (a term's no-op): no application records
        batch.forEachRecord((record) => void records.push({ offset: record.offset, value: decoder.decode(record.value() ?? new Uint8Array()) }));
      }
      offset = read.nextOffset;
    }
  } finally {
    await log.close();
  }
  return records;
}
