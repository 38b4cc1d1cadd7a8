import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Kernel } from "./kernel.ts";
import { SimNetwork, NO_NETWORK_FAULTS, drawNetworkProfile, type NetworkProfile } from "./network.ts";
import { SeededRandom } from "./random.ts";

const up = { admit: (deliver: () => void) => deliver() };

interface Received {
  from: string;
  to: string;
  id: number;
}

/** Three nodes, each sending numbered messages to the others at random times. */
async function exchange(seed: number, profile: NetworkProfile, sends: readonly { from: number; to: number; atMs: number }[], setup?: (network: SimNetwork) => void) {
  const kernel = new Kernel(seed);
  const network = new SimNetwork(kernel, profile);
  const names = ["n0", "n1", "n2"];
  const received: Received[] = [];
  const transports = names.map((name) => network.attach(name, up));
  transports.forEach((transport, index) => transport.onMessage((from, message) => received.push({ from, to: names[index]!, id: message as number })));
  setup?.(network);
  // Messages are numbered in the order they are actually sent, so a larger id was sent later.
  let sent = 0;
  sends.forEach((send) => kernel.schedule(send.atMs, () => transports[send.from]!.send(names[send.to]!, sent++)));
  await kernel.run();
  return { received, network, names };
}

const sendsArbitrary = fc.array(
  fc.record({ from: fc.integer({ min: 0, max: 2 }), to: fc.integer({ min: 0, max: 2 }), atMs: fc.integer({ min: 0, max: 100 }) }),
  { maxLength: 120 },
);

describe("SimNetwork", () => {
  it("without faults delivers every message exactly once, in per-link FIFO order", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), sendsArbitrary, async (seed, sends) => {
        const { received } = await exchange(seed, NO_NETWORK_FAULTS, sends);
        expect(received.map((message) => message.id).sort((a, b) => a - b)).toEqual(sends.map((_, id) => id));
        const lastByLink = new Map<string, number>();
        for (const message of received) {
          const link = `${message.from}->${message.to}`;
          expect(message.id).toBeGreaterThan(lastByLink.get(link) ?? -1);
          lastByLink.set(link, message.id);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("during a partition nothing crosses it, in either blocked direction", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), sendsArbitrary, fc.boolean(), async (seed, sends, symmetric) => {
        const { received } = await exchange(seed, drawNetworkProfile(new SeededRandom(String(seed))), sends, (network) =>
          network.partition(["n0"], ["n1", "n2"], symmetric),
        );
        for (const message of received) {
          expect(message.from === "n0" && message.to !== "n0").toBe(false);
          if (symmetric) expect(message.to === "n0" && message.from !== "n0").toBe(false);
        }
      }),
      { numRuns: 60 },
    );
  });

  it("duplicates appear only when duplication is on", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer(), sendsArbitrary, fc.double({ min: 0, max: 0.3, noNaN: true }), async (seed, sends, lossRate) => {
        const profile = { ...NO_NETWORK_FAULTS, lossRate, reorderRate: 0.2, latencyMs: { min: 0.1, max: 10, tailMean: 3 } };
        const { received } = await exchange(seed, profile, sends);
        expect(new Set(received.map((message) => message.id)).size).toBe(received.length);
      }),
      { numRuns: 60 },
    );
    const sends = Array.from({ length: 400 }, (_, index) => ({ from: 0, to: 1, atMs: index }));
    const { received } = await exchange(1, { ...NO_NETWORK_FAULTS, duplicateRate: 0.2 }, sends);
    expect(received.length).toBeGreaterThan(sends.length);
  });

  it("clogging holds a link's messages until the clog ends, then releases them in order", async () => {
    const sends = Array.from({ length: 10 }, (_, index) => ({ from: 0, to: 1, atMs: index }));
    const kernel = new Kernel(3);
    const network = new SimNetwork(kernel, NO_NETWORK_FAULTS);
    const a = network.attach("a", up);
    const b = network.attach("b", up);
    const arrivals: { id: number; atMs: number }[] = [];
    b.onMessage((_from, message) => arrivals.push({ id: message as number, atMs: kernel.now() }));
    network.clog("a", "b", 500);
    sends.forEach((send, id) => kernel.schedule(send.atMs, () => a.send("b", id)));
    await kernel.run();
    expect(arrivals.map((arrival) => arrival.id)).toEqual(sends.map((_, id) => id));
    expect(Math.min(...arrivals.map((arrival) => arrival.atMs))).toBeGreaterThanOrEqual(500);
  });

  it("isolate cuts a node off and heal restores it", async () => {
    const kernel = new Kernel(4);
    const network = new SimNetwork(kernel, NO_NETWORK_FAULTS);
    const [a, b] = [network.attach("a", up), network.attach("b", up)];
    const got: number[] = [];
    b.onMessage((_from, message) => got.push(message as number));
    network.isolate("b");
    a.send("b", 1);
    await kernel.run();
    network.heal();
    a.send("b", 2);
    await kernel.run();
    expect(got).toEqual([2]);
    expect(network.stats.dropped.partition).toBe(1);
  });
});

// ---------------------------------------------------------------- the port's conformance suite
import { transportConformance } from "../ports/transport.conformance.ts";

transportConformance("SimNetwork (no faults)", async () => {
  const kernel = new Kernel(99);
  const network = new SimNetwork(kernel, NO_NETWORK_FAULTS);
  return {
    endpoint: async (node) => network.attach(node, up),
    quiesce: () => kernel.run(),
    cleanup: async () => undefined,
  };
});
