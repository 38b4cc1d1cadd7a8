/**
 * The coordinator state as a Raft snapshot's payload: UTF-8 JSON with maps and sets tagged
 * (`{"$map": [[key, value], ...]}`, `{"$set": [...]}`), in their iteration order — which `apply`
 * makes a function of the command sequence alone, so equal states encode to equal bytes and a
 * decoded state has the same digest (digest.ts) as the one encoded.
 *
 * Decoding is a trust boundary like codec.ts: bytes that passed the snapshot file's CRC or came
 * from the leader but do not parse are a typed error (the replica fail-stops rather than serve a
 * state it cannot read).
 */
import type { CoordinatorState } from "../state.ts";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export class StateSnapshotError extends Error {
  override readonly name = "StateSnapshotError";
}

export function encodeStateSnapshot(state: CoordinatorState): Uint8Array {
  return utf8Encoder.encode(
    JSON.stringify(state, (_key, value: unknown) => {
      if (value instanceof Map) return { $map: [...(value as Map<unknown, unknown>).entries()] };
      if (value instanceof Set) return { $set: [...(value as Set<unknown>).values()] };
      return value;
    }),
  );
}

export function decodeStateSnapshot(bytes: Uint8Array): CoordinatorState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8Decoder.decode(bytes), (_key, value: unknown) => {
      if (typeof value !== "object" || value === null || Array.isArray(value)) return value;
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === "$map" && Array.isArray((value as { $map: unknown }).$map)) return new Map((value as { $map: [unknown, unknown][] }).$map);
      if (keys.length === 1 && keys[0] === "$set" && Array.isArray((value as { $set: unknown }).$set)) return new Set((value as { $set: unknown[] }).$set);
      return value;
    });
  } catch (error) {
    throw new StateSnapshotError("coordinator snapshot is not the JSON of a state", { cause: error });
  }
  const state = parsed as Partial<CoordinatorState> | null;
  if (state === null || typeof state !== "object" || !(state.topics instanceof Map) || !Array.isArray(state.brokers) || typeof state.nextProducerId !== "number" || typeof state.commandsApplied !== "number") {
    throw new StateSnapshotError("coordinator snapshot lacks the fields of a state");
  }
  return state as CoordinatorState;
}
