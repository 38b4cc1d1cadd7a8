import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SimFileSystem } from "../sim/fs.ts";
import { Kernel } from "../sim/kernel.ts";
import { CorruptStateFileError } from "./errors.ts";
import {
  decodeLeaderEpochs,
  decodeProducerState,
  decodeRaftState,
  encodeLeaderEpochs,
  encodeProducerState,
  encodeRaftState,
  frameStateFile,
  loadLeaderEpochs,
  loadRaftState,
  saveRaftState,
  STATE_FILE_KIND,
  unframeStateFile,
} from "./state-file.ts";

const offsetArb = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

describe("state file codecs", () => {
  it("round-trip Raft state, leader epochs and producer state", () => {
    fc.assert(
      fc.property(
        fc.record({ term: offsetArb, votedFor: fc.option(fc.string({ unit: "grapheme", maxLength: 20 }), { nil: null }) }),
        fc.array(fc.record({ epoch: fc.integer({ min: 0, max: 2 ** 31 - 1 }), startOffset: offsetArb }), { maxLength: 10 }),
        fc.record({
          offset: offsetArb,
          producers: fc.array(
            fc.record({
              producerId: fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
              producerEpoch: fc.integer({ min: -1, max: 0x7fff }),
              lastSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
              lastOffset: offsetArb,
              lastTimestampMs: fc.integer({ min: -1, max: 2 ** 50 }),
            }),
            { maxLength: 10 },
          ),
        }),
        (raft, epochs, producers) => {
          expect(decodeRaftState("f", encodeRaftState(raft))).toEqual(raft);
          expect(decodeLeaderEpochs("f", encodeLeaderEpochs(epochs))).toEqual(epochs);
          expect(decodeProducerState("f", encodeProducerState(producers))).toEqual(producers);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("votelessness rides in a trailer only when asked for (the coordinator quorum's store); without it the bytes are the older format", () => {
    const plain = { term: 7, votedFor: "c1" };
    const guarded = { term: 7, votedFor: "c1", votelessUntil: Number.MAX_SAFE_INTEGER };
    const bounded = { term: 7, votedFor: null, votelessUntil: 41, votelessTerm: 6 };
    expect(encodeRaftState(guarded)).toEqual(encodeRaftState(plain)); // the broker's per-folder file never carries it
    expect(encodeRaftState(plain, true)).toEqual(encodeRaftState(plain));
    expect(decodeRaftState("f", encodeRaftState(guarded, true))).toEqual(guarded);
    expect(decodeRaftState("f", encodeRaftState(bounded, true))).toEqual(bounded);
    expect(encodeRaftState(bounded, true).length).toBe(encodeRaftState(bounded).length + 16);
  });

  it("every flipped bit and every truncation of a framed file is a CorruptStateFileError", () => {
    const framed = frameStateFile(STATE_FILE_KIND.raftState, encodeRaftState({ term: 9, votedFor: "broker-2" }));
    for (let bit = 0; bit < framed.length * 8; bit++) {
      const copy = framed.slice();
      copy[bit >> 3]! ^= 1 << (bit & 7);
      expect(() => unframeStateFile("f", STATE_FILE_KIND.raftState, copy)).toThrow(CorruptStateFileError);
    }
    for (let length = 0; length < framed.length; length++) {
      expect(() => unframeStateFile("f", STATE_FILE_KIND.raftState, framed.subarray(0, length))).toThrow(CorruptStateFileError);
    }
    expect(() => unframeStateFile("f", STATE_FILE_KIND.leaderEpochs, framed)).toThrow(/kind/);
  });

  it("payload decoders reject garbage with CorruptStateFileError only", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        for (const decode of [decodeRaftState, decodeLeaderEpochs, decodeProducerState]) {
          try {
            decode("f", bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(CorruptStateFileError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("state files on a crashing disk", () => {
  it("a crash at any point of a replace leaves the old state or the new, never a mix", async () => {
    for (let seed = 0; seed < 40; seed++) {
      for (let events = 0; events < 4; events++) {
        const kernel = new Kernel(seed);
        const fs = new SimFileSystem(kernel, kernel.random.derive("disk"), { tornWrites: true });
        await kernel.settle(fs.mkdir("raft"));
        await kernel.settle(fs.syncDir("."));
        await kernel.settle(saveRaftState(fs, "raft/state", { term: 4, votedFor: "a" }));
        void saveRaftState(fs, "raft/state", { term: 5, votedFor: "bb" }).catch(() => undefined);
        await kernel.run({ maxEvents: events });
        fs.crash();
        const loaded = await kernel.settle(loadRaftState(fs, "raft/state"));
        expect([{ term: 4, votedFor: "a" }, { term: 5, votedFor: "bb" }]).toContainEqual(loaded);
        if (events >= 2) expect(loaded).toEqual({ term: 5, votedFor: "bb" }); // rename's directory sync completed
      }
    }
  });

  it("a missing file reads as undefined", async () => {
    const kernel = new Kernel(1);
    const fs = new SimFileSystem(kernel, kernel.random.derive("disk"));
    expect(await kernel.settle(loadLeaderEpochs(fs, "nothing-here"))).toBeUndefined();
  });
});
