/**
 * The quorum's state machine against the single coordinator's: the same requests driven through
 * the single coordinator machine (its state changed eagerly, its commands persisted per event)
 * give, when each event's commands travel as one Raft entry (encodeCommandEntry → bytes →
 * decodeCommandEntry) and are applied in order, the very same state — and the same digest.
 */
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { SeededRandom } from "../../../sim/random.ts";
import { encodeBatch } from "../../../disk/batch-encode.ts";
import type { CoordinatorEffect } from "../handlers.ts";
import { DEFAULT_COORDINATOR_LIMITS, DEFAULT_COORDINATOR_SETTINGS } from "../limits.ts";
import { coordinatorMachine, LEASE_CHECK_TIMER, startState } from "../machine.ts";
import { replay, type CoordinatorCommand, type CoordinatorState } from "../state.ts";
import { CommandEntryError, decodeCommandEntry, encodeCommandEntry } from "./codec.ts";
import { canonicalState, stateDigest } from "./digest.ts";
import { decodeStateSnapshot, encodeStateSnapshot, StateSnapshotError } from "./snapshot.ts";

const LEASE_MS = 1_000;
const CHECK_MS = 100;

/** A single coordinator driven through brokers joining, topics, producer ids, a broker dying and a deletion; the commands of each event. */
function singleCoordinatorRun(): { entries: CoordinatorCommand[][]; state: CoordinatorState } {
  let nowMs = 0;
  let requestId = 0;
  const effects: CoordinatorEffect[] = [];
  const actor = createActor(coordinatorMachine, {
    input: { self: "c", leaseMs: LEASE_MS, leaseCheckIntervalMs: CHECK_MS, virtualNodes: 16, limits: DEFAULT_COORDINATOR_LIMITS, commands: [], clock: { now: () => nowMs }, random: new SeededRandom("codec-test") },
  });
  actor.on("*", (effect) => void effects.push(effect as CoordinatorEffect));
  actor.start();
  const entries: CoordinatorCommand[][] = [];
  const event = (run: () => void): void => {
    const from = effects.length;
    run();
    const commands = effects.slice(from).flatMap((effect) => (effect.type === "effect.persist" ? [effect.operation] : []));
    if (commands.length > 0) entries.push(commands);
  };
  const send = (from: string, message: Record<string, unknown>): void => event(() => actor.send({ type: "message.received", from, message: { requestId: ++requestId, ...message } }));
  const heartbeat = (broker: string): void => send(broker, { type: "broker.heartbeat", broker, incarnation: 7 });
  for (const broker of ["b0", "b1", "b2", "b3"]) heartbeat(broker);
  send("admin", { type: "topic.create", topic: "orders", partitions: 6, replicationFactor: 3, replicationMode: "fetch" });
  send("admin", { type: "topic.create", topic: "logs", partitions: 2, replicationFactor: 1, replicationMode: "fetch" });
  send("p0", { type: "producer.id.request" });
  send("p1", { type: "producer.id.request" });
  // b3 goes quiet: its lease runs out, its partitions get new leaders.
  for (let tick = 0; tick < 20; tick++) {
    nowMs += CHECK_MS;
    for (const broker of ["b0", "b1", "b2"]) heartbeat(broker);
    event(() => actor.send({ type: "timer.fired", key: LEASE_CHECK_TIMER }));
  }
  send("admin", { type: "topic.delete", topic: "logs" });
  const state = (actor.getSnapshot().context as { state: CoordinatorState }).state;
  actor.stop();
  return { entries, state };
}

describe("coordinator commands as Raft entries", () => {
  it("applying each event's commands as one decoded entry gives the single coordinator's state, digest included", () => {
    const { entries, state } = singleCoordinatorRun();
    const kinds = new Set(entries.flat().map((command) => command.type));
    // The run exercises the commands that matter: registrations, creations, ids, elections, a deletion.
    for (const kind of ["broker.registered", "topic.created", "producer-ids.allocated", "partition.leader.elected", "topic.deleted"]) expect(kinds, kind).toContain(kind);
    const start = startState(DEFAULT_COORDINATOR_SETTINGS, undefined);
    let applied = start;
    entries.forEach((commands, index) => {
      const decoded = decodeCommandEntry(encodeCommandEntry(commands), index);
      expect(decoded).toEqual(JSON.parse(JSON.stringify(commands)));
      applied = replay(decoded, applied);
    });
    expect(canonicalState(applied)).toBe(canonicalState(state));
    expect(stateDigest(applied)).toBe(stateDigest(state));
    expect(stateDigest(replay(entries.flat(), start))).toBe(stateDigest(state));
  });

  it("different states have different digests", () => {
    const start = startState(DEFAULT_COORDINATOR_SETTINGS, undefined);
    const one = replay([{ type: "producer-ids.allocated", firstProducerId: 0, count: 1 }], start);
    const two = replay([{ type: "producer-ids.allocated", firstProducerId: 0, count: 2 }], start);
    expect(stateDigest(one)).not.toBe(stateDigest(two));
    expect(stateDigest(one)).toBe(stateDigest(replay([{ type: "producer-ids.allocated", firstProducerId: 0, count: 1 }], start)));
  });

  it("refuses, with a typed error, entries that are not commands", () => {
    const json = (text: string): Uint8Array => encodeBatch([{ value: new TextEncoder().encode(text), timestampMs: 0 }]);
    expect(() => decodeCommandEntry(new Uint8Array([1, 2, 3]), 4)).toThrow(CommandEntryError);
    expect(() => decodeCommandEntry(json("{not json"), 5)).toThrow(/entry 5: record 0 is not a JSON command/);
    expect(() => decodeCommandEntry(json(JSON.stringify({ type: "topic.created" })), 6)).toThrow(CommandEntryError);
    expect(() => decodeCommandEntry(json(JSON.stringify({ type: "no.such.command" })), 7)).toThrow(CommandEntryError);
    expect(() => encodeCommandEntry([])).toThrow(RangeError);
  });

  it("a state snapshot decodes to the same state: same canonical form and digest; damage is a typed error", () => {
    const { state } = singleCoordinatorRun();
    const decoded = decodeStateSnapshot(encodeStateSnapshot(state));
    expect(canonicalState(decoded)).toBe(canonicalState(state));
    expect(stateDigest(decoded)).toBe(stateDigest(state));
    expect(encodeStateSnapshot(decoded)).toEqual(encodeStateSnapshot(state));
    expect(() => decodeStateSnapshot(new TextEncoder().encode("{not json"))).toThrow(StateSnapshotError);
    expect(() => decodeStateSnapshot(new TextEncoder().encode("{}"))).toThrow(StateSnapshotError);
  });
});
