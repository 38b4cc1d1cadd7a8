/**
 * A full disk on a real file system: the broker actor, its store and NodeFileSystem on a 2 MiB
 * tmpfs, under the real host (RealClock), with this test playing coordinator and client over an
 * in-memory transport. Produce gets STORAGE_FULL once the tmpfs is full, reads keep working, and
 * writes resume by themselves once space is freed.
 *
 * Mounting needs root (`mount -t tmpfs`); where it cannot mount, the test is skipped and says why.
 * It unmounts what it mounted, pass or fail.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { decodeBatches } from "../../disk/batch-view.ts";
import { NodeFileSystem } from "../../disk/node-fs.ts";
import type { FetchReply, ProduceReply, ZhumqMessage } from "../../actors/shared/messages.ts";
import type { MessageHandler, Transport } from "../../ports/transport.ts";
import { STORAGE_FULL_BACKOFF_MS } from "../../actors/broker/index.ts";
import { ActorHost, type HostCrash } from "../host.ts";
import { RealClock, RealRandom } from "../real.ts";
import { brokerDefinition } from "./broker-store.ts";

const TOPIC = "full";
const TMPFS_BYTES = 2 * 1024 * 1024;

function tryMount(dir: string): string | undefined {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "not root (mount -t tmpfs needs it)";
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${TMPFS_BYTES}`, "tmpfs", dir], { stdio: "pipe" });
    return undefined;
  } catch (error) {
    return `mount -t tmpfs failed: ${String(error)}`;
  }
}

/** Delivers in a later macrotask, like a network would; the test is every other node. */
class Wire {
  private handlers = new Map<string, MessageHandler<unknown>>();
  transport(self: string): Transport<ZhumqMessage> {
    return {
      self,
      send: (to, message) => setImmediate(() => this.handlers.get(to)?.(self, message)),
      onMessage: (handler) => void this.handlers.set(self, handler as MessageHandler<unknown>),
    };
  }
}

const base = mkdtempSync(path.join(tmpdir(), "zhumq-full-"));
const mountDir = path.join(base, "mnt");
let skipReason: string | undefined;

beforeAll(() => {
  execFileSync("mkdir", ["-p", mountDir]);
  skipReason = tryMount(mountDir);
  if (skipReason !== undefined) console.warn(`skipping the real full-disk test: ${skipReason}`);
});

afterAll(() => {
  if (skipReason === undefined) execFileSync("umount", [mountDir]);
  rmSync(base, { recursive: true, force: true });
});

describe("broker on a real full disk (2 MiB tmpfs)", () => {
  it("answers STORAGE_FULL, keeps serving reads, and takes writes again once space is freed", async (context) => {
    if (skipReason !== undefined) return context.skip();
    const wire = new Wire();
    const coordinator = wire.transport("coordinator");
    const client = wire.transport("client");
    const replies = new Map<number, ZhumqMessage>();
    const waiters = new Map<number, () => void>();
    coordinator.onMessage((from, message) => {
      const heartbeat = message as { type: string; requestId: number };
      if (heartbeat.type !== "broker.heartbeat") return;
      coordinator.send(from, { type: "broker.heartbeat.reply", requestId: heartbeat.requestId, leaseMs: 60_000, assignments: [{ topic: TOPIC, partition: 0, leaderEpoch: 1 }] } as ZhumqMessage);
    });
    client.onMessage((_from, message) => {
      const reply = message as { requestId: number };
      replies.set(reply.requestId, message as ZhumqMessage);
      waiters.get(reply.requestId)?.();
    });
    let nextId = 1;
    const ask = (message: Record<string, unknown>): Promise<ZhumqMessage> => {
      const requestId = nextId++;
      const answered = new Promise<ZhumqMessage>((resolve) => waiters.set(requestId, () => resolve(replies.get(requestId)!)));
      client.send("broker", { ...message, requestId, topic: TOPIC, partition: 0, leaderEpoch: 1 } as unknown as ZhumqMessage);
      return answered;
    };
    const value = new Uint8Array(64 * 1024).fill(7);
    const produce = async (sequence: number): Promise<ProduceReply> =>
      (await ask({ type: "produce.request", acks: -1, batch: encodeBatch([{ value, timestampMs: sequence }], { producerId: 1, producerEpoch: 0, baseSequence: sequence }) })) as ProduceReply;
    const fetch = async (offset: number): Promise<FetchReply> => (await ask({ type: "fetch.request", offset, maxBytes: 1 << 20, maxWaitMs: 0 })) as FetchReply;

    const crashes: HostCrash[] = [];
    const definition = brokerDefinition({ coordinator: "coordinator", heartbeatIntervalMs: 50, log: { segmentBytes: 512 * 1024 } });
    const host = await ActorHost.start(definition, { clock: new RealClock(), random: new RealRandom("disk-full"), transport: wire.transport("broker"), fs: new NodeFileSystem(mountDir) }, { onCrash: (crash) => crashes.push(crash) });
    try {
      let first: ProduceReply;
      for (;;) {
        first = await produce(0); // until the heartbeat made this broker the partition's leader
        if (first.error?.code !== "UNKNOWN_TOPIC_OR_PARTITION" && first.error?.code !== "NOT_LEADER") break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(first.error).toBeUndefined();
      let sequence = 1;
      let full: ProduceReply | undefined;
      while (full === undefined && sequence < 100) {
        const reply = await produce(sequence);
        if (reply.error === undefined) sequence++;
        else full = reply;
      }
      expect(full?.error?.code, "a 2 MiB tmpfs fills within 100 batches of 64 KiB").toBe("STORAGE_FULL");
      const written = sequence;
      // Reads go on: every acknowledged batch comes back.
      let offset = 0;
      while (offset < written) {
        const reply = await fetch(offset);
        expect(reply.error).toBeUndefined();
        const batches = decodeBatches(reply.records);
        expect(batches.length).toBeGreaterThan(0);
        offset = batches[batches.length - 1]!.nextOffset;
      }
      expect(offset).toBe(written);
      expect((await produce(sequence)).error?.code).toBe("STORAGE_FULL");
      // Space returns: the broker probes again after its backoff, without being told.
      unlinkSync(path.join(mountDir, "ballast"));
      const deadline = Date.now() + STORAGE_FULL_BACKOFF_MS + 30_000;
      let resumed: ProduceReply | undefined;
      while (Date.now() < deadline) {
        const reply = await produce(sequence);
        if (reply.error === undefined) {
          resumed = reply;
          break;
        }
        expect(reply.error.code).toBe("STORAGE_FULL");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(resumed).toMatchObject({ baseOffset: written, duplicate: false });
      expect(crashes).toEqual([]);
    } finally {
      await host.stop({ drain: true }); // closes every file, so the tmpfs can be unmounted
    }
  }, 120_000);
});

// Leave room for the log's small files, then take the rest with a ballast file freed later.
beforeAll(() => {
  if (skipReason !== undefined) return;
  writeFileSync(path.join(mountDir, "ballast"), new Uint8Array(TMPFS_BYTES / 2).fill(1));
});
