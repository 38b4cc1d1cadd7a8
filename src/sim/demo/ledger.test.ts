import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { checkLedger, decodeEntries, encodeEntries, runLedger, type LedgerHistory } from "./ledger.ts";

const client = { id: "c", server: "s", total: 3 };
const entry = (seq: number) => ({ client: "c", seq, value: `c:${seq}` });

describe("ledger checker: every rule has a history that must fail it", () => {
  it("accepts a correct history", () => {
    expect(checkLedger({ clients: [{ ...client, acked: [1, 2, 3] }], logs: { s: [entry(1), entry(2), entry(3)] } })).toEqual([]);
  });

  const bad: [string, LedgerHistory][] = [
    ["lost-write", { clients: [{ ...client, acked: [1, 2, 3] }], logs: { s: [entry(1), entry(3)] } }],
    ["duplicate", { clients: [{ ...client, acked: [1, 2, 3] }], logs: { s: [entry(1), entry(2), entry(2), entry(3)] } }],
    ["nonmonotonic", { clients: [{ ...client, acked: [1, 2, 3] }], logs: { s: [entry(2), entry(1), entry(3)] } }],
    ["unfinished", { clients: [{ ...client, acked: [1, 2] }], logs: { s: [entry(1), entry(2)] } }],
  ];
  for (const [kind, history] of bad) {
    it(`reports ${kind}`, () => {
      expect(checkLedger(history).map((anomaly) => anomaly.kind)).toContain(kind);
    });
  }
});

describe("ledger log format", () => {
  it("round-trips and stops at the first torn or corrupt record", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ client: fc.string(), seq: fc.nat(), value: fc.string() }), { maxLength: 20 }), fc.nat(), (entries, cut) => {
        const bytes = encodeEntries(entries);
        expect(decodeEntries(bytes)).toEqual({ entries, validBytes: bytes.length });
        const torn = bytes.subarray(0, bytes.length === 0 ? 0 : cut % bytes.length);
        const decoded = decodeEntries(torn);
        expect(entries.slice(0, decoded.entries.length)).toEqual(decoded.entries);
        if (torn.length > 0) {
          const flipped = Uint8Array.from(bytes);
          flipped[cut % bytes.length]! ^= 0x10;
          expect(decodeEntries(flipped).entries.length).toBeLessThan(entries.length);
        }
      }),
    );
  });
});

describe("ledger in the simulator", () => {
  it("holds its guarantee on fixed seeds under swarm faults", async () => {
    for (let seed = 1; seed <= 12; seed++) {
      const result = await runLedger({ seed, valuesPerClient: 60 });
      expect(result.anomalies, `seed ${seed}\n${result.schedule}`).toEqual([]);
    }
  });

  it("catches the planted ack-before-sync bug", async () => {
    const result = await runLedger({ seed: 5, valuesPerClient: 60, ackBeforeSync: true });
    expect(result.ok).toBe(false);
    expect(result.anomalies.some((anomaly) => anomaly.kind === "lost-write")).toBe(true);
  });
});
