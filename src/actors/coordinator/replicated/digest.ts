/**
 * A digest of the coordinator state, for the checker's state-machine-safety rule: two replicas
 * that applied the same commands hold equal states, and so equal digests. Maps and sets are taken
 * in their iteration order, which `apply` makes a function of the command sequence alone. Costs
 * O(state) per call: the simulator asks for it (`reportDigests`), a real replica does not.
 */
import type { CoordinatorState } from "../state.ts";
import { murmur3 } from "../ring.ts";

const utf8Encoder = new TextEncoder();

/** The state as canonical JSON (maps as entry lists, sets as value lists). */
export function canonicalState(state: CoordinatorState): string {
  return JSON.stringify(state, (_key, value: unknown) => {
    if (value instanceof Map) return { map: [...(value as Map<unknown, unknown>).entries()] };
    if (value instanceof Set) return { set: [...(value as Set<unknown>).values()] };
    return value;
  });
}

/** Two 32-bit murmur3 hashes of the canonical state and its length, as hex. */
export function stateDigest(state: CoordinatorState): string {
  const bytes = utf8Encoder.encode(canonicalState(state));
  const hex = (value: number): string => (value >>> 0).toString(16).padStart(8, "0");
  return `${hex(murmur3(bytes, 0))}${hex(murmur3(bytes, 0x9747b28c))}-${bytes.length}`;
}
