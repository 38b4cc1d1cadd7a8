/**
 * The send queues' memory. A queue lets go of frames once they leave: a broker that served a backlog must not keep
 * the replies it sent alive (issue 14 item 7: RSS grew with the data read and stayed there after
 * every consumer left, the sent fetch replies still referenced from the queue's array); and all
 * queues of a transport together hold at most queueBytesTotalMax.
 */
import { Buffer } from "node:buffer";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { QueueBudget, SendQueue } from "./send-queue.ts";
import { resolveLimits } from "./limits.ts";

setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

/** Weak references to frames that went through `queue`, taken one by one (coalesced or not). */
function sendThrough(queue: SendQueue, sizes: readonly number[]): WeakRef<Buffer>[] {
  const refs: WeakRef<Buffer>[] = [];
  for (const size of sizes) {
    const frame = Buffer.alloc(size, 1);
    refs.push(new WeakRef(frame));
    expect(queue.offer(frame)).toBe(true);
  }
  while (queue.take(64 * 1024) !== undefined);
  return refs;
}

async function collected(refs: readonly WeakRef<Buffer>[]): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve)); // WeakRefs hold until the job ends
  collectGarbage();
  return refs.filter((ref) => ref.deref() === undefined).length;
}

describe("send queue memory", () => {
  it("keeps no frame alive once taken: large ones, and small ones merged into one message", async () => {
    const queue = new SendQueue(10_000, 1 << 30);
    const large = sendThrough(queue, Array.from({ length: 200 }, () => 256 * 1024));
    const small = sendThrough(queue, Array.from({ length: 200 }, () => 100));
    expect(queue.length).toBe(0);
    expect(await collected(large)).toBe(200);
    expect(await collected(small)).toBe(200);
  });

  it("keeps no frame alive when the queue stays busy (taken from the middle of a long queue)", async () => {
    const queue = new SendQueue(10_000, 1 << 30);
    const refs: WeakRef<Buffer>[] = [];
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 20; i++) {
        const frame = Buffer.alloc(64 * 1024, 2);
        refs.push(new WeakRef(frame));
        queue.offer(frame);
      }
      for (let i = 0; i < 19; i++) queue.take(64 * 1024); // one more left behind each round
    }
    expect(queue.length).toBe(50);
    expect(await collected(refs)).toBe(refs.length - 50);
  });

  it("bounds all queues of a transport together (queueBytesTotalMax), never refusing a frame with a receipt", () => {
    const budget = new QueueBudget(1_000);
    const peers = [new SendQueue(100, 800, budget), new SendQueue(100, 800, budget), new SendQueue(100, 800, budget)];
    expect(peers.map((queue) => queue.offer(Buffer.alloc(400)))).toEqual([true, true, false]); // each under its own 800
    expect(budget.bytes).toBe(800);
    expect(peers[2]!.offer(Buffer.alloc(400), () => undefined)).toBe(true); // a receipt: the sender holds its own bound
    expect(budget.bytes).toBe(1_200);
    peers[0]!.take(64 * 1024);
    peers[2]!.clear();
    expect(budget.bytes).toBe(400);
    expect(peers[2]!.offer(Buffer.alloc(600))).toBe(true);
    expect(peers[1]!.offer(Buffer.alloc(1))).toBe(false);
    peers[1]!.take(64 * 1024);
    peers[2]!.take(64 * 1024);
    expect(budget.bytes).toBe(0);
  });

  it("queueBytesTotalMax defaults to 64 MiB and must hold one frame", () => {
    expect(resolveLimits().queueBytesTotalMax).toBe(64 * 1024 * 1024);
    expect(() => resolveLimits({ queueBytesTotalMax: 1024 * 1024 })).toThrow(/queueBytesTotalMax/);
  });
});
