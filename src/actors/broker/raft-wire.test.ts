/**
 * The shape check of Raft messages from the network (raft-wire.ts), for the InstallSnapshot
 * chunk and its answer: a well-formed one passes, a bundle with one field missing or of the
 * wrong kind is dropped whole.
 */
import { describe, expect, it } from "vitest";
import { parseRaftBundle } from "./raft-wire.ts";

const CHUNK = { type: "raft.snapshot", group: "t/0", term: 3, index: 41, snapshotTerm: 2, voters: ["b1", "b2", "b3"], totalBytes: 20, offset: 8, data: new Uint8Array(8), done: false };
const REPLY = { type: "raft.snapshot.reply", group: "t/0", term: 3, index: 41, received: 16 };

describe("raft-wire: InstallSnapshot chunks", () => {
  it("passes a chunk and its answer as they are", () => {
    expect(parseRaftBundle({ messages: [CHUNK, REPLY] })).toEqual([CHUNK, REPLY]);
  });

  it("drops the bundle when a chunk lacks its offset, size or done flag, or an answer its count of bytes", () => {
    const broken: Record<string, unknown>[] = [
      { ...CHUNK, offset: undefined },
      { ...CHUNK, offset: -1 },
      { ...CHUNK, totalBytes: 1.5 },
      { ...CHUNK, done: "no" },
      { ...CHUNK, data: [1, 2] },
      { ...REPLY, received: -8 },
      { ...REPLY, index: -1 },
    ];
    for (const message of broken) expect(parseRaftBundle({ messages: [REPLY, message] })).toBeUndefined();
  });
});
