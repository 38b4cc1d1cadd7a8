/**
 * The committed truth of a queue run: a broker's partition logs read back from its disk through
 * the storage engine's recovery (cluster.ts crashes each broker first), every record with its
 * offset, every batch's digest, and the ranges found damaged (named, never silently skipped).
 */
import type { FileSystem } from "../../ports/filesystem.ts";
import type { NodeId } from "../../ports/transport.ts";
import { parseTopicFolder, PARTITIONS_DIR } from "../../host/stores/broker-store.ts";
import { PartitionLog } from "../../disk/log.ts";
import { DamagedRangeError } from "../../disk/errors.ts";
import { ATTRIBUTE_CONTROL } from "../../disk/batch.ts";
import type { BatchDigest, FinalLog, OffsetRange } from "./history.ts";

export async function readBrokerLogs(fs: FileSystem, broker: NodeId): Promise<FinalLog[]> {
  const logs: FinalLog[] = [];
  const decoder = new TextDecoder();
  const topics = (await fs.stat(PARTITIONS_DIR)) === undefined ? [] : await fs.list(PARTITIONS_DIR);
  for (const folder of topics) {
    const topic = parseTopicFolder(folder)?.topic;
    if (topic === undefined) continue;
    for (const name of await fs.list(`${PARTITIONS_DIR}/${folder}`)) {
      const partition = Number(name);
      if (!/^\d+$/.test(name)) continue;
      const log = await PartitionLog.open(fs, `${PARTITIONS_DIR}/${folder}/${name}`);
      const records: { offset: number; value: string }[] = [];
      const batches: BatchDigest[] = [];
      const damaged: OffsetRange[] = [];
      for (let offset = log.startOffset; offset < log.endOffset; ) {
        let result;
        try {
          result = await log.read(offset, { maxBytes: 1 << 20 });
        } catch (error) {
          if (!(error instanceof DamagedRangeError)) throw error;
          damaged.push({ fromOffset: error.fromOffset, toOffset: error.toOffset });
          offset = error.toOffset;
          continue;
        }
        if (result.batches.length === 0) break;
        for (const batch of result.batches) {
          // The stored CRC covers every byte of the batch, offsets and epoch included.
          batches.push({ baseOffset: batch.baseOffset, lastOffset: batch.lastOffset, digest: `${batch.crc.toString(16)}/${batch.sizeBytes}` });
          if ((batch.attributes & ATTRIBUTE_CONTROL) !== 0) continue; // a raft-mode partition's own entry: no application records
          batch.forEachRecord((record) => {
            const value = record.value();
            records.push({ offset: record.offset, value: value === null ? "<null>" : decoder.decode(value) });
          });
        }
        offset = result.nextOffset;
      }
      const startOffset = log.startOffset;
      await log.close();
      logs.push({ topic, partition, replica: broker, records, batches, ...(damaged.length === 0 ? {} : { damaged }), ...(startOffset === 0 ? {} : { startOffset }) });
    }
  }
  return logs;
}
