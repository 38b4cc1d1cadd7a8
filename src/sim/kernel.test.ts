import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { EventHeap } from "./heap.ts";
import { Kernel } from "./kernel.ts";
import { SeededRandom } from "./random.ts";

describe("EventHeap", () => {
  it("pops in (time, seq) order for any pushes", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 300 }), (times) => {
        const heap = new EventHeap<number>();
        times.forEach((time, seq) => heap.push(time, seq, seq));
        const popped: { time: number; seq: number }[] = [];
        while (heap.size > 0) popped.push(heap.pop());
        const expected = times.map((time, seq) => ({ time, seq })).sort((a, b) => a.time - b.time || a.seq - b.seq);
        expect(popped.map(({ time, seq }) => ({ time, seq }))).toEqual(expected);
      }),
    );
  });
});

describe("Kernel", () => {
  it("runs events at equal deadlines in scheduling order and advances virtual time", async () => {
    const kernel = new Kernel(1);
    const order: string[] = [];
    kernel.schedule(10, () => order.push(`b@${kernel.now()}`));
    kernel.schedule(5, () => order.push(`a@${kernel.now()}`));
    kernel.schedule(10, () => order.push(`c@${kernel.now()}`));
    const cancelled = kernel.schedule(7, () => order.push("never"));
    kernel.cancel(cancelled);
    await kernel.run();
    expect(order).toEqual(["a@5", "b@10", "c@10"]);
    expect(kernel.now()).toBe(10);
  });

  it("stops at untilMs and advances the clock to it", async () => {
    const kernel = new Kernel(1);
    const seen: number[] = [];
    kernel.schedule(5, () => seen.push(5));
    kernel.schedule(50, () => seen.push(50));
    await kernel.run({ untilMs: 20 });
    expect(seen).toEqual([5]);
    expect(kernel.now()).toBe(20);
  });

  it("settles a promise that needs simulated time, draining continuations between events", async () => {
    const kernel = new Kernel(1);
    const sleep = (ms: number) =>
      new Promise<void>((resolve) =>
        kernel.schedule(ms, () => {
          kernel.markAsync();
          resolve();
        }),
      );
    const steps: number[] = [];
    const work = (async () => {
      await sleep(10);
      steps.push(kernel.now());
      await sleep(10);
      steps.push(kernel.now());
      return "done";
    })();
    await expect(kernel.settle(work)).resolves.toBe("done");
    expect(steps).toEqual([10, 20]);
  });

  it("replaces Date and Math.random during a run, counts the calls, and restores them", async () => {
    const kernel = new Kernel(9);
    const realNow = Date.now;
    const seen: number[] = [];
    kernel.schedule(1234, () => {
      seen.push(Date.now(), new Date().getTime(), Math.random());
    });
    await kernel.run();
    expect(seen[0]).toBe(seen[1]);
    expect(seen[0]! - Date.UTC(2026, 0, 1)).toBe(1234);
    expect(kernel.stray).toEqual({ dateNow: 2, mathRandom: 1 });
    expect(Date.now).toBe(realNow);
    const again = new Kernel(9);
    let second = 0;
    again.schedule(1, () => (second = Math.random()));
    await again.run();
    expect(second).toBe(seen[2]);
  });
});

describe("SeededRandom", () => {
  it("derives streams from the path, not from the parent's position", () => {
    const a = new SeededRandom("7");
    const b = new SeededRandom("7");
    a.next();
    a.next();
    expect(a.derive("node:1").next()).toBe(b.derive("node:1").next());
    expect(a.derive("node:1").next()).not.toBe(a.derive("node:2").next());
  });

  it("int stays within its bound and rejects bad bounds", () => {
    const random = new SeededRandom("x");
    for (let index = 0; index < 1000; index++) {
      const value = random.int(7);
      expect(value >= 0 && value < 7 && Number.isInteger(value)).toBe(true);
    }
    expect(() => random.int(0)).toThrow(RangeError);
  });
});
