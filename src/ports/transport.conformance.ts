/**
 * The Transport port's conformance suite: the simulated network (without faults) and every real
 * transport must pass it, so the protocols tested in the simulator meet the same contract on real
 * hosts (STYLE §3).
 *
 * The factory builds endpoints for named nodes. `quiesce()` runs whatever drives the
 * implementation until every message sent so far has been delivered or dropped: the simulator
 * runs its kernel; a real transport waits until the wire has been quiet for a moment. Receipts
 * are settled by then too.
 */
// Test code imported only by *.test.ts files (see filesystem.conformance.ts).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { NodeId, SendOutcome, Transport } from "./transport.ts";

export interface TransportUnderTest {
  endpoint(node: NodeId): Promise<Transport>;
  quiesce(): Promise<void>;
  cleanup(): Promise<void>;
}

interface Received {
  readonly to: NodeId;
  readonly from: NodeId;
  readonly message: unknown;
}

export function transportConformance(name: string, make: () => Promise<TransportUnderTest>): void {
  describe(`Transport conformance: ${name}`, () => {
    let subject: TransportUnderTest;
    let received: Received[];
    const listen = async (node: NodeId): Promise<Transport> => {
      const transport = await subject.endpoint(node);
      transport.onMessage((from, message) => received.push({ to: node, from, message }));
      return transport;
    };

    beforeEach(async () => {
      subject = await make();
      received = [];
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it("delivers a message whole, from the right sender, with bytes intact", async () => {
      const a = await listen("a");
      await listen("b");
      const payload = { type: "probe", n: 42, text: "héllo", flag: true, none: null, list: [1, "two", { three: 3 }], bytes: Uint8Array.from([0, 1, 254, 255]) };
      a.send("b", payload);
      await subject.quiesce();
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({ to: "b", from: "a" });
      expect(received[0]!.message).toEqual(payload);
      expect((received[0]!.message as { bytes: unknown }).bytes).toBeInstanceOf(Uint8Array);
    });

    it("delivers many messages on one link exactly once and in order", async () => {
      const a = await listen("a");
      await listen("b");
      for (let index = 0; index < 500; index++) a.send("b", { type: "seq", index });
      await subject.quiesce();
      expect(received.map((entry) => (entry.message as { index: number }).index)).toEqual(Array.from({ length: 500 }, (_, index) => index));
    });

    it("delivers to every peer and to oneself", async () => {
      const a = await listen("a");
      await listen("b");
      await listen("c");
      a.send("a", { type: "self" });
      a.send("b", { type: "to-b" });
      a.send("c", { type: "to-c" });
      await subject.quiesce();
      expect(received.map((entry) => `${entry.from}->${entry.to}`).sort()).toEqual(["a->a", "a->b", "a->c"]);
    });

    it("carries a large binary payload", async () => {
      const a = await listen("a");
      await listen("b");
      const big = new Uint8Array(1024 * 1024);
      for (let index = 0; index < big.length; index++) big[index] = (index * 31) & 0xff;
      a.send("b", { type: "big", big });
      await subject.quiesce();
      const got = (received[0]?.message as { big: Uint8Array } | undefined)?.big;
      expect(got?.length).toBe(big.length);
      let same = true;
      for (let index = 0; index < big.length && same; index++) same = got![index] === big[index];
      expect(same).toBe(true);
    });

    it("never delivers from inside send, and a handler may send in reply", async () => {
      const a = await subject.endpoint("a");
      const b = await subject.endpoint("b");
      let sending = false;
      const log: string[] = [];
      b.onMessage((from, message) => {
        expect(sending).toBe(false);
        log.push(`b got ${(message as { type: string }).type}`);
        b.send(from, { type: "pong" });
      });
      a.onMessage((_from, message) => log.push(`a got ${(message as { type: string }).type}`));
      sending = true;
      a.send("b", { type: "ping" });
      sending = false;
      await subject.quiesce();
      expect(log).toEqual(["b got ping", "a got pong"]);
    });

    it("routes to the latest handler only", async () => {
      const a = await listen("a");
      const b = await subject.endpoint("b");
      const first: unknown[] = [];
      const second: unknown[] = [];
      b.onMessage((_from, message) => first.push(message));
      b.onMessage((_from, message) => second.push(message));
      a.send("b", { type: "x" });
      await subject.quiesce();
      expect(first).toEqual([]);
      expect(second).toEqual([{ type: "x" }]);
    });

    it("settles a receipt once, after send returns, with 'left' for a message that was delivered", async () => {
      const a = await listen("a");
      await listen("b");
      const outcomes: SendOutcome[] = [];
      let sending = true;
      a.send("b", { type: "tracked" }, (outcome) => {
        expect(sending).toBe(false);
        outcomes.push(outcome);
      });
      a.send("a", { type: "tracked-self" }, (outcome) => outcomes.push(outcome));
      sending = false;
      await subject.quiesce();
      expect(outcomes).toEqual(["left", "left"]);
      expect(received.map((entry) => (entry.message as { type: string }).type).sort()).toEqual(["tracked", "tracked-self"]);
    });

    it("settles a receipt with 'unsent' for a node it has no route to", async () => {
      const a = await listen("a");
      const outcomes: SendOutcome[] = [];
      a.send("nobody", { type: "lost" }, (outcome) => outcomes.push(outcome));
      expect(outcomes).toEqual([]);
      await subject.quiesce();
      expect(outcomes).toEqual(["unsent"]);
    });

    it("never drops a message with a receipt, even far beyond any send queue's bound", async () => {
      const a = await listen("a");
      await listen("b");
      // More than the real transport's default queue holds (10,000 messages): plain sends would drop.
      const count = 12_000;
      const outcomes = new Map<SendOutcome, number>();
      for (let index = 0; index < count; index++) {
        a.send("b", { type: "seq", index }, (outcome) => outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1));
      }
      // Every receipt comes before its delivery ends the wait (a busy machine may need a few rounds).
      for (let round = 0; round < 5 && (received.length < count || (outcomes.get("left") ?? 0) < count); round++) await subject.quiesce();
      expect(received.map((entry) => (entry.message as { index: number }).index)).toEqual(Array.from({ length: count }, (_, index) => index));
      expect([...outcomes]).toEqual([["left", count]]);
    });

    it("does not throw when the peer is unknown or unreachable", async () => {
      const a = await listen("a");
      expect(() => a.send("nobody", { type: "lost" })).not.toThrow();
      await subject.quiesce();
      expect(received).toEqual([]);
    });
  });
}
