/**
 * Replica fetch sessions (fetch-session.ts): the pure rules — session epochs and reply numbers,
 * refusal of a stale session, forgetting partitions — and a property that a poll answered "ok"
 * proves no message of the session went missing either way, whatever the network lost,
 * duplicated or reordered.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { admit, emptyFollowerSessions, idleSessions, pollAnswer, pollOf, stampFetch, stampReply, takePollReply, takeReply, withForgotten, withoutSession, withReceived, type FollowerSessions, type LeaderSessions, type Received } from "./fetch-session.ts";

const L = "leader";
const F = "follower";
const P0 = { topic: "t", partition: 0 };
const P1 = { topic: "t", partition: 1 };

describe("fetch sessions: the follower's side", () => {
  it("opens a session with epoch 0 on the first fetch to a leader, then counts up; one session per leader", () => {
    let sessions = emptyFollowerSessions(100);
    const first = stampFetch(sessions, L, P0);
    expect(first).toMatchObject({ stamp: { id: 100, epoch: 0 }, opened: true });
    const second = stampFetch(first.sessions, L, P1);
    expect(second).toMatchObject({ stamp: { id: 100, epoch: 1 }, opened: false });
    const other = stampFetch(second.sessions, "other-leader", P0);
    expect(other).toMatchObject({ stamp: { id: 101, epoch: 0 }, opened: true });
    sessions = other.sessions;
    expect(sessions.byLeader.size).toBe(2);
  });

  it("a poll takes the next epoch and carries the partitions to forget; one poll at a time", () => {
    let sessions = stampFetch(emptyFollowerSessions(1), L, P0).sessions;
    sessions = withForgotten(withForgotten(sessions, L, P1), L, P1);
    const poll = pollOf(sessions, L)!;
    expect(poll.stamp).toEqual({ id: 1, epoch: 1 });
    expect(poll.forget).toEqual([P1]);
    expect(pollOf(poll.sessions, L)).toBeUndefined(); // in flight
    expect(poll.sessions.byLeader.get(L)!.forget).toEqual([]);
  });

  it("a partition fetched again is no longer to be forgotten (the poll would drop its new fetch)", () => {
    let sessions = stampFetch(emptyFollowerSessions(1), L, P0).sessions;
    sessions = withForgotten(sessions, L, P1);
    sessions = stampFetch(sessions, L, P1).sessions;
    expect(pollOf(sessions, L)!.forget).toEqual([]);
    expect(withForgotten(emptyFollowerSessions(1), L, P0)).toEqual(emptyFollowerSessions(1)); // no session: nothing to say
  });

  it("keeps the partitions to forget as a list would: in the order forgotten, once each, dropped when fetched again or polled", () => {
    const op = fc.oneof(fc.record({ forget: fc.nat(12) }), fc.record({ fetch: fc.nat(12) }), fc.constant({ poll: true as const }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        let sessions = stampFetch(emptyFollowerSessions(1), L, P0).sessions;
        let model: { topic: string; partition: number }[] = [];
        for (const action of ops) {
          if ("forget" in action) {
            const ref = { topic: "t", partition: action.forget };
            sessions = withForgotten(sessions, L, ref);
            if (!model.some((entry) => entry.partition === ref.partition)) model = [...model, ref];
          } else if ("fetch" in action) {
            sessions = stampFetch(sessions, L, { topic: "t", partition: action.fetch }).sessions;
            model = model.filter((entry) => entry.partition !== action.fetch);
          } else {
            const poll = pollOf(sessions, L);
            if (poll === undefined) continue;
            expect(poll.forget).toEqual(model);
            sessions = takePollReply(poll.sessions, L, { requestId: poll.requestId, sessionId: 1, received: 0, replied: 0, refused: false }).sessions;
            model = [];
          }
          const session = sessions.byLeader.get(L)!;
          expect(session.forget).toEqual(model);
          for (let partition = 0; partition <= 12; partition++) expect(session.forgetting.has(`t/${partition}`)).toBe(model.some((entry) => entry.partition === partition));
        }
      }),
    );
  });

  it("takes replies in any order, recognises a duplicate, and leaves another session's reply to its request id", () => {
    const sessions = stampFetch(emptyFollowerSessions(7), L, P0).sessions;
    const two = takeReply(sessions, L, { id: 7, seq: 2 }); // overtook seq 1
    expect(two.verdict).toBe("ok");
    expect(two.sessions.byLeader.get(L)!.replies).toEqual({ next: 1, above: [2] });
    const one = takeReply(two.sessions, L, { id: 7, seq: 1 });
    expect(one.sessions.byLeader.get(L)!.replies).toEqual({ next: 3, above: [] });
    expect(takeReply(one.sessions, L, { id: 7, seq: 2 }).verdict).toBe("duplicate");
    expect(takeReply(one.sessions, L, { id: 6, seq: 3 }).verdict).toBe("other");
    expect(takeReply(one.sessions, L, undefined).verdict).toBe("other");
    expect(takeReply(one.sessions, "someone-else", { id: 7, seq: 3 }).verdict).toBe("other");
  });

  it("a poll answer resets the session when the leader refused it, or when what was sent before the poll before the previous one is still missing either way", () => {
    // Session 7: fetch (epoch 0), reply 1 taken in, poll (epoch 1) answered.
    let sessions = stampFetch(emptyFollowerSessions(7), L, P0).sessions;
    sessions = takeReply(sessions, L, { id: 7, seq: 1 }).sessions;
    const first = pollOf(sessions, L)!;
    const answered = takePollReply(first.sessions, L, { requestId: first.requestId, sessionId: 7, received: 0, replied: 2, refused: false });
    expect(answered.verdict).toBe("ok"); // nothing was settled before: nothing can be missing yet
    expect(answered.sessions.byLeader.get(L)).toMatchObject({ polling: undefined, settled: [{ sentBefore: 0, replied: 0 }, { sentBefore: 1, replied: 2 }] });
    // The second poll: what the first poll settled may still be on its way (held behind a slow fsync).
    const second = pollOf(answered.sessions, L)!; // epoch 2
    const reply = { requestId: second.requestId, sessionId: 7, received: 0, replied: 2, refused: false };
    const late = takePollReply(second.sessions, L, reply);
    expect(late.verdict).toBe("ok");
    // The third: epoch 0 and reply 2 were sent before the first poll was answered; now they are lost.
    const third = pollOf(late.sessions, L)!;
    const again = { requestId: third.requestId, sessionId: 7, received: 1, replied: 2, refused: false };
    expect(takePollReply(third.sessions, L, { ...again, received: 0 }).verdict).toBe("reset"); // epoch 0 never arrived
    expect(takePollReply(third.sessions, L, again).verdict).toBe("reset"); // reply 2 never came
    const whole = takeReply(third.sessions, L, { id: 7, seq: 2 }).sessions;
    expect(takePollReply(whole, L, again).verdict).toBe("ok");
    expect(takePollReply(whole, L, { ...again, received: -1, replied: -1, refused: true }).verdict).toBe("reset"); // the leader does not hold the session
    expect(takePollReply(whole, L, { ...again, requestId: third.requestId + 1 }).verdict).toBe("ignore");
    expect(takePollReply(answered.sessions, L, { requestId: first.requestId, sessionId: 7, received: 2, replied: 1, refused: false }).verdict).toBe("ignore"); // a duplicate of the answered poll
    expect(withoutSession(answered.sessions, L).byLeader.has(L)).toBe(false);
  });

  it("records received numbers as a set: in order, out of order, duplicates", () => {
    let received: Received = { next: 0, above: [] };
    for (const n of [0, 2, 3, 5]) received = withReceived(received, n)!;
    expect(received).toEqual({ next: 1, above: [2, 3, 5] });
    expect(withReceived(received, 3)).toBeUndefined();
    expect(withReceived(received, 0)).toBeUndefined();
    expect(withReceived(received, 1)).toEqual({ next: 4, above: [5] });
  });
});

describe("fetch sessions: the leader's side", () => {
  it("epoch 0 opens a session (replacing the follower's other one); its messages are then taken in any order, once each", () => {
    let sessions: LeaderSessions = new Map();
    const opened = admit(sessions, F, { id: 5, epoch: 0 }, 1_000, false);
    expect(opened.verdict).toEqual({ kind: "opened", replaced: undefined });
    sessions = opened.sessions;
    const two = admit(sessions, F, { id: 5, epoch: 2 }, 1_100, false); // overtook epoch 1
    expect(two.verdict).toEqual({ kind: "ok" });
    expect(pollAnswer(two.sessions.get(F)!)).toEqual({ received: 1, replied: 0 });
    const one = admit(two.sessions, F, { id: 5, epoch: 1 }, 1_150, true);
    expect(one.verdict).toEqual({ kind: "ok" });
    expect(one.sessions.get(F)).toMatchObject({ heardAtMs: 1_150 });
    expect(pollAnswer(one.sessions.get(F)!)).toEqual({ received: 3, replied: 0 });
    expect(admit(one.sessions, F, { id: 5, epoch: 2 }, 1_200, false).verdict).toEqual({ kind: "duplicate" });
    expect(admit(one.sessions, F, { id: 5, epoch: 0 }, 1_200, false).verdict).toEqual({ kind: "duplicate" }); // the opening message, twice
    // A restarted follower opens again: the old session is replaced, and named so its held fetches go.
    expect(admit(one.sessions, F, { id: 9, epoch: 0 }, 1_200, false).verdict).toEqual({ kind: "opened", replaced: 5 });
  });

  it("refuses a message of a session it does not hold, and a poll that would open one — changing nothing", () => {
    const sessions = admit(new Map(), F, { id: 5, epoch: 0 }, 0, false).sessions;
    for (const [stamp, isPoll] of [
      [{ id: 6, epoch: 0 }, true], // polls never open
      [{ id: 4, epoch: 1 }, false], // an older session's message
      [{ id: 4, epoch: 3 }, true],
    ] as const) {
      const result = admit(sessions, F, stamp, 10, isPoll);
      expect(result.verdict.kind).toBe("refused");
      expect(result.sessions).toBe(sessions);
    }
    expect(admit(new Map(), F, { id: 5, epoch: 3 }, 0, true).verdict.kind).toBe("refused"); // a leader that restarted
  });

  it("numbers the replies of the current session only; another session's reply goes unstamped", () => {
    let sessions = admit(new Map(), F, { id: 5, epoch: 0 }, 0, false).sessions;
    const first = stampReply(sessions, F, 5);
    expect(first.stamp).toEqual({ id: 5, seq: 1 });
    sessions = first.sessions;
    expect(stampReply(sessions, F, 5).stamp).toEqual({ id: 5, seq: 2 });
    expect(stampReply(sessions, F, 4)).toEqual({ sessions, stamp: undefined });
  });

  it("finds the sessions not heard from for longer than the idle limit", () => {
    let sessions = admit(new Map(), F, { id: 5, epoch: 0 }, 0, false).sessions;
    sessions = admit(sessions, "f2", { id: 1, epoch: 0 }, 1_500, false).sessions;
    expect(idleSessions(sessions, 2_000, 2_000)).toEqual([]);
    expect(idleSessions(sessions, 2_001, 2_000).map((idle) => idle.follower)).toEqual([F]);
  });
});

/**
 * A follower and a leader exchanging fetches, replies and polls over a network that may lose,
 * duplicate and reorder messages. The leader answers every fetch it admits (as if at once). The
 * claim: whenever a poll is answered "ok", the leader had admitted every fetch the follower sent
 * before the ok poll before the previous one, and the follower has taken in every reply the
 * leader had sent when it answered that poll — so a lost message is noticed within three polls,
 * and no partition waits for ever for an answer that will not come.
 */
describe("fetch sessions over a faulty network (property)", () => {
  type Message =
    | { to: "leader"; kind: "fetch" | "poll"; id: number; epoch: number; requestId: number; sentBefore: number }
    | { to: "follower"; kind: "reply"; id: number; seq: number }
    | { to: "follower"; kind: "pollReply"; requestId: number; sessionId: number; received: number; replied: number; refused: boolean; sentBefore: number };

  it("an ok poll means nothing sent before the ok poll before the previous one was lost", () => {
    let okPolls = 0;
    const deliver = fc.record({ deliver: fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.nat(), weight: 1 }), fate: fc.oneof({ arbitrary: fc.constant("deliver" as const), weight: 18 }, { arbitrary: fc.constantFrom("drop" as const, "duplicate" as const), weight: 1 }) });
    const action = fc.oneof({ arbitrary: fc.constant("fetch" as const), weight: 4 }, { arbitrary: fc.constant("poll" as const), weight: 2 }, { arbitrary: fc.constant("timeout" as const), weight: 1 }, { arbitrary: deliver, weight: 14 });
    fc.assert(
      fc.property(fc.array(action, { minLength: 40, maxLength: 160 }), (actions) => {
        let follower: FollowerSessions = emptyFollowerSessions(1);
        let leader: LeaderSessions = new Map();
        const wire: Message[] = [];
        /** Per session id: epochs the leader admitted, seqs the follower took in, and the previous ok poll. */
        const admitted = new Map<number, Set<number>>();
        const taken = new Map<number, Set<number>>();
        const previous = new Map<number, { sentBefore: number; replied: number }[]>();
        const add = (map: Map<number, Set<number>>, id: number, n: number): void => void map.set(id, (map.get(id) ?? new Set()).add(n));
        const all = (set: Set<number> | undefined, from: number, to: number): boolean => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i).every((n) => set?.has(n) === true);
        for (const step of actions) {
          if (step === "fetch") {
            const stamped = stampFetch(follower, L, P0);
            follower = stamped.sessions;
            wire.push({ to: "leader", kind: "fetch", ...stamped.stamp, requestId: 0, sentBefore: 0 });
          } else if (step === "timeout") {
            // The poll timer fired with a poll still in flight: the follower resets the session.
            if (follower.byLeader.get(L)?.polling !== undefined) follower = withoutSession(follower, L);
          } else if (step === "poll") {
            const poll = pollOf(follower, L);
            if (poll === undefined) continue;
            follower = poll.sessions;
            wire.push({ to: "leader", kind: "poll", ...poll.stamp, requestId: poll.requestId, sentBefore: poll.stamp.epoch });
          } else {
            if (wire.length === 0) continue;
            const [message] = wire.splice(step.deliver % wire.length, 1); // any order: reordering
            if (step.fate === "drop") continue;
            if (step.fate === "duplicate") wire.push(message!);
            if (message!.to === "leader") {
              const result = admit(leader, F, { id: message!.id, epoch: message!.epoch }, 0, message!.kind === "poll");
              if (result.verdict.kind === "duplicate") continue;
              leader = result.sessions;
              if (result.verdict.kind !== "refused") add(admitted, message!.id, message!.epoch);
              if (message!.kind === "poll") {
                const answer = result.verdict.kind === "refused" ? { received: -1, replied: -1 } : pollAnswer(leader.get(F)!);
                wire.push({ to: "follower", kind: "pollReply", requestId: message!.requestId, sessionId: message!.id, ...answer, refused: result.verdict.kind === "refused", sentBefore: message!.sentBefore });
              } else if (result.verdict.kind !== "refused") {
                const stamped = stampReply(leader, F, message!.id);
                leader = stamped.sessions;
                wire.push({ to: "follower", kind: "reply", ...stamped.stamp! });
              }
            } else if (message!.kind === "reply") {
              const result = takeReply(follower, L, { id: message!.id, seq: message!.seq });
              follower = result.sessions;
              if (result.verdict === "ok") add(taken, message!.id, message!.seq);
            } else {
              const result = takePollReply(follower, L, message!);
              if (result.verdict === "reset") follower = withoutSession(result.sessions, L);
              else if (result.verdict === "ok") {
                follower = result.sessions;
                const id = message!.sessionId;
                const settled = previous.get(id) ?? [];
                const before = settled.at(-2) ?? { sentBefore: 0, replied: 0 }; // the ok poll before the previous one
                okPolls++;
                expect(all(admitted.get(id), 0, before.sentBefore)).toBe(true);
                expect(all(taken.get(id), 1, before.replied + 1)).toBe(true);
                previous.set(id, [...settled, { sentBefore: message!.sentBefore, replied: message!.replied }]);
              }
            }
          }
        }
      }),
      { numRuns: 500 },
    );
    expect(okPolls).toBeGreaterThan(100); // the claim was put to the test
  });
});
