/**
 * A sealed voter's report as the coordinator accepts it from the wire (validate.ts): `lost`, the
 * bound of what a voteless voter's log lost (raft/voteless.ts), comes only with `voteless` and in
 * one shape; anything else is INVALID_REQUEST, and the copy keeps nothing it was not sent.
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_COORDINATOR_LIMITS } from "./limits.ts";
import { parseMessage } from "./validate.ts";

const heartbeat = (sealed: unknown): unknown => ({
  type: "broker.heartbeat",
  requestId: 1,
  broker: "b1",
  address: "127.0.0.1:9001",
  raft: [{ topic: "t", partition: 0, term: 3, leader: null, serving: false, committedEnd: 0, sealed }],
});

const parse = (sealed: unknown) => parseMessage("b1", heartbeat(sealed), DEFAULT_COORDINATOR_LIMITS);

describe("a sealed voter's report on the wire", () => {
  it("carries the lost log's bound with voteless, copied field by field", () => {
    const parsed = parse({ lastTerm: 2, endOffset: 43, voteless: true, lost: { lastTerm: 2, endOffset: 109 } });
    expect(parsed.kind).toBe("request");
    const request = (parsed as unknown as { request: { raft: { sealed: unknown }[] } }).request;
    expect(request.raft[0]!.sealed).toEqual({ lastTerm: 2, endOffset: 43, voteless: true, lost: { lastTerm: 2, endOffset: 109 } });
    expect(parse({ lastTerm: 2, endOffset: 43, voteless: true }).kind).toBe("request");
  });

  it("refuses a bound without voteless, a malformed bound, or extra fields in it", () => {
    for (const sealed of [
      { lastTerm: 2, endOffset: 43, lost: { lastTerm: 2, endOffset: 109 } },
      { lastTerm: 2, endOffset: 43, voteless: true, lost: { lastTerm: -1, endOffset: 109 } },
      { lastTerm: 2, endOffset: 43, voteless: true, lost: { lastTerm: 2 } },
      { lastTerm: 2, endOffset: 43, voteless: true, lost: { lastTerm: 2, endOffset: 109, voteless: true } },
      { lastTerm: 2, endOffset: 43, voteless: true, lost: "everything" },
    ]) {
      const parsed = parse(sealed);
      expect(parsed.kind, JSON.stringify(sealed)).toBe("invalid");
    }
  });
});
