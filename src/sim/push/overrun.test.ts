import { describe, expect, it } from "vitest";
import { checkPushOverrun } from "./overrun.ts";
import { PushTraffic, type PushBatchOp, type PushCreditOp, type PushTrafficOp } from "./traffic.ts";

const session = { member: "m1", broker: "b1", sessionId: "s1", requestId: 7 };

function credit(atMs: number, openSeq: number, done: [bytes: number, batches: number], window: [bytes: number, batches: number], open = false): PushCreditOp {
  return { type: "credit", atMs, ...session, openSeq, open, doneBytes: done[0], doneBatches: done[1], windowBytes: window[0], windowBatches: window[1] };
}

function batch(atMs: number, openSeq: number, offset: number, bytes: number, incarnation = 1): PushBatchOp {
  return { type: "batch", atMs, broker: session.broker, incarnation, member: session.member, sessionId: session.sessionId, requestId: session.requestId, openSeq, topic: "t", partition: 0, offset, bytes };
}

describe("push-overrun", () => {
  it("passes a broker that stops at the window and resumes as credit comes", () => {
    const ops: PushTrafficOp[] = [
      credit(0, 1, [0, 0], [100, 2], true),
      batch(1, 1, 0, 60),
      batch(2, 1, 3, 40), // 100 bytes, 2 batches: exactly the window
      credit(5, 1, [60, 1], [100, 2]),
      batch(6, 1, 5, 60), // 160 <= 160, 3 <= 3
      credit(9, 1, [160, 3], [100, 2]),
      batch(10, 1, 8, 100),
    ];
    const result = checkPushOverrun({ ops });
    expect(result.ok).toBe(true);
    expect(result.violations).toEqual([]);
    expect(result.figures).toEqual({ pushedBatches: 4, pushedBytes: 260, sessions: 1, reopens: 0, credits: 3, overrunBytes: 0, overrunBatches: 0 });
  });

  it("fails a batch sent past the byte window, naming the session, open and amounts", () => {
    const ops: PushTrafficOp[] = [credit(0, 1, [0, 0], [100, 10], true), batch(1, 1, 0, 80), batch(2, 1, 4, 50)];
    const result = checkPushOverrun({ ops });
    expect(result.ok).toBe(false);
    expect(result.violations).toHaveLength(1);
    const [violation] = result.violations;
    expect(violation?.rule).toBe("push-overrun");
    expect(violation?.message).toContain("session s1 open 1");
    expect(violation?.message).toContain("30 bytes and 0 batches beyond the credit");
    expect(violation?.ops).toEqual([ops[2], ops[0]]);
    expect(result.figures.overrunBytes).toBe(30);
    expect(result.figures.overrunBatches).toBe(0);
  });

  it("fails a batch sent past the batch window", () => {
    const ops: PushTrafficOp[] = [credit(0, 1, [0, 0], [1_000, 1], true), batch(1, 1, 0, 10), batch(2, 1, 1, 10)];
    const result = checkPushOverrun({ ops });
    expect(result.ok).toBe(false);
    expect(result.figures.overrunBatches).toBe(1);
    expect(result.figures.overrunBytes).toBe(0);
  });

  it("fails a batch pushed with no credit at all (no open seen)", () => {
    const result = checkPushOverrun({ ops: [batch(1, 1, 0, 10)] });
    expect(result.ok).toBe(false);
    expect(result.violations[0]?.message).toContain("no credit at all");
  });

  it("does not count a credit sent at the same instant as the batch, nor one sent after it", () => {
    const early = credit(0, 1, [0, 0], [10, 1], true);
    const same: PushTrafficOp[] = [early, credit(5, 1, [10, 1], [10, 1]), batch(1, 1, 0, 10), batch(5, 1, 1, 10)];
    expect(checkPushOverrun({ ops: same }).ok).toBe(false);
    // The same credit one instant earlier makes the second batch legal.
    const earlier: PushTrafficOp[] = [early, batch(1, 1, 0, 10), credit(4, 1, [10, 1], [10, 1]), batch(5, 1, 1, 10)];
    expect(checkPushOverrun({ ops: earlier }).ok).toBe(true);
  });

  it("counts each open on its own: a re-open's credit starts again from 0, and an old open's credit does not carry over", () => {
    const ops: PushTrafficOp[] = [
      credit(0, 1, [0, 0], [100, 5], true),
      batch(1, 1, 0, 100),
      credit(2, 2, [0, 0], [100, 5], true),
      batch(3, 2, 0, 100), // open 2's own window
    ];
    const result = checkPushOverrun({ ops });
    expect(result.ok).toBe(true);
    expect(result.figures.reopens).toBe(1);
    // A batch of open 2 sent before open 2's credit was sent: open 1's credit does not cover it.
    const stale: PushTrafficOp[] = [credit(0, 1, [0, 0], [100, 5], true), batch(1, 2, 0, 10)];
    expect(checkPushOverrun({ ops: stale }).ok).toBe(false);
  });

  it("takes the largest credit sent: a late, smaller (reordered or re-sent) credit does not shrink it", () => {
    const ops: PushTrafficOp[] = [credit(0, 1, [0, 0], [100, 5], true), credit(1, 1, [100, 1], [100, 5]), credit(2, 1, [0, 0], [100, 5], true), batch(3, 1, 0, 200)];
    expect(checkPushOverrun({ ops }).ok).toBe(true);
  });

  it("totals a restarted broker's sends afresh (it forgot the session and counts from 0)", () => {
    const ops: PushTrafficOp[] = [credit(0, 1, [0, 0], [100, 5], true), batch(1, 1, 0, 100, 1), batch(5, 1, 0, 100, 2)];
    expect(checkPushOverrun({ ops }).ok).toBe(true);
  });

  it("keeps sessions apart by member and broker, and sorts a history recorded out of order", () => {
    const other: PushCreditOp = { ...credit(0, 1, [0, 0], [1_000, 50], true), member: "m2" };
    const ops: PushTrafficOp[] = [batch(2, 1, 0, 50), other, credit(1, 1, [0, 0], [10, 5], true)];
    const result = checkPushOverrun({ ops });
    expect(result.ok).toBe(false);
    expect(result.figures.sessions).toBe(2);
  });

  it("keeps a session id used again under another request id apart: the old session's credit does not cover the new one", () => {
    const old = credit(0, 1, [1_000, 10], [100, 5], true);
    const reused: PushBatchOp = { ...batch(2, 1, 0, 200), requestId: 8 };
    const reusedOpen: PushCreditOp = { ...credit(1, 1, [0, 0], [100, 5], true), requestId: 8 };
    const result = checkPushOverrun({ ops: [old, reusedOpen, reused] });
    expect(result.ok).toBe(false);
    expect(result.figures.sessions).toBe(2);
  });

  it("caps the list, not the count", () => {
    const ops: PushTrafficOp[] = Array.from({ length: 5 }, (_, index) => batch(index + 1, 1, index, 1));
    const result = checkPushOverrun({ ops }, { violationsMax: 2 });
    expect(result.violations).toHaveLength(2);
    expect(result.violationCount).toBe(5);
  });
});

describe("PushTraffic", () => {
  it("records members' opens and credits and brokers' batches as sent, and ignores everything else", () => {
    const traffic = new PushTraffic();
    const credit = { doneBytes: 0, doneBatches: 0, windowBytes: 64, windowBatches: 4 };
    traffic.observe(1, "m1", "b1", { type: "push.open", requestId: 7, sessionId: "s1", memberEpoch: 3, openSeq: 1, credit }, () => 1);
    traffic.observe(2, "b1", "m1", { type: "push.batch", requestId: 7, sessionId: "s1", openSeq: 1, topic: "t", partition: 2, offset: 5, nextOffset: 9, highWatermark: 9, logStartOffset: 0, records: new Uint8Array(40), sentBytes: 40, sentBatches: 1 }, () => 4);
    traffic.observe(3, "m1", "b1", { type: "push.credit", requestId: 7, sessionId: "s1", memberEpoch: 3, openSeq: 1, credit: { ...credit, doneBytes: 40, doneBatches: 1 }, probe: true }, () => 1);
    traffic.observe(4, "b1", "m1", { type: "push.status", requestId: 7, sessionId: "s1", openSeq: 1, partitions: [], sentBytes: 40, sentBatches: 1 }, () => 1);
    traffic.observe(5, "m1", "c", { type: "fetch.request" }, () => 1);
    traffic.observe(6, "m1", "c", null, () => 1);
    expect(traffic.ops).toEqual([
      { type: "credit", atMs: 1, member: "m1", broker: "b1", sessionId: "s1", requestId: 7, openSeq: 1, open: true, doneBytes: 0, doneBatches: 0, windowBytes: 64, windowBatches: 4 },
      { type: "batch", atMs: 2, broker: "b1", incarnation: 4, member: "m1", sessionId: "s1", requestId: 7, openSeq: 1, topic: "t", partition: 2, offset: 5, bytes: 40 },
      { type: "credit", atMs: 3, member: "m1", broker: "b1", sessionId: "s1", requestId: 7, openSeq: 1, open: false, doneBytes: 40, doneBatches: 1, windowBytes: 64, windowBatches: 4 },
    ]);
    expect(checkPushOverrun(traffic).ok).toBe(true);
  });
});
