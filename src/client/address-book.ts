/**
 * Where a client finds the nodes it talks to (the book itself is src/host/addresses.ts's
 * AddressBook, shared with the brokers):
 *
 * - Coordinators come from `bootstrap`: "host:port" names the coordinator whose node id is
 *   "coordinator" (the id `zhumq dev` and the simulator give it); "id@host:port" names any other.
 *   A list (an array, or one string "c1@h:p,c2@h:p") names the replicas of a coordinator
 *   quorum, each with its id.
 * - Brokers are learned from the coordinators' metadata replies (`brokers[].address`, which
 *   brokers advertise in their heartbeats). Every metadata reply the client receives, whichever
 *   of its actors asked, updates the book before that actor sees the reply — so by the time a
 *   producer sends to a leader it just heard of, the leader's address is known. A push consumer's
 *   StartGet replies (`startget.reply.brokers`) teach it the same way: the brokers it must open
 *   its push sessions on.
 * - `addresses` given by the application are pinned: they win over anything learned (a broker
 *   behind NAT, whose advertised address the client cannot reach).
 * The transport asks the book on every (re)connect, so a broker that moved is found again.
 */
import type { NodeId } from "../ports/transport.ts";
import { parseAddress } from "../net/address.ts";
import { AddressBook, DEFAULT_COORDINATOR_ADDRESS, DEFAULT_COORDINATOR_ID } from "../host/addresses.ts";
import { invalidRequest } from "./errors.ts";

export { DEFAULT_COORDINATOR_ADDRESS, DEFAULT_COORDINATOR_ID };

export interface Bootstrap {
  readonly coordinators: readonly NodeId[];
  readonly addresses: ReadonlyMap<NodeId, string>;
}

function addressProblem(address: string): string | undefined {
  try {
    parseAddress(address);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export function parseBootstrap(bootstrap: string | readonly string[]): Bootstrap {
  // "c1@h:p,c2@h:p" (a flag, an environment variable) lists a quorum's replicas like an array does.
  const entries = typeof bootstrap === "string" ? bootstrap.split(",").map((entry) => entry.trim()) : [...bootstrap];
  if (entries.length === 0 || entries.some((entry) => typeof entry !== "string")) throw invalidRequest(`bootstrap must be "host:port" or a list of "id@host:port", got ${JSON.stringify(bootstrap)}`);
  const addresses = new Map<NodeId, string>();
  for (const entry of entries) {
    const at = entry.lastIndexOf("@");
    if (at < 0 && entries.length > 1) throw invalidRequest(`bootstrap lists several coordinators: name each as "id@host:port" (got "${entry}")`);
    const id = at < 0 ? DEFAULT_COORDINATOR_ID : entry.slice(0, at);
    const address = entry.slice(at + 1);
    const problem = id.length === 0 ? "the node id before '@' is empty" : addressProblem(address);
    if (problem !== undefined) throw invalidRequest(`bootstrap "${entry}": ${problem}`);
    if (addresses.has(id)) throw invalidRequest(`bootstrap names coordinator "${id}" twice`);
    addresses.set(id, address);
  }
  return { coordinators: [...addresses.keys()], addresses };
}

/** The client's book: bootstrap and `addresses` pinned; broker addresses believed only from coordinators. */
export function clientAddressBook(bootstrap: Bootstrap, addresses: Readonly<Record<NodeId, string>> = {}): AddressBook {
  const pinned = new Map(bootstrap.addresses);
  for (const [id, address] of Object.entries(addresses)) {
    const problem = typeof address === "string" ? addressProblem(address) : "must be a \"host:port\" string";
    if (problem !== undefined) throw invalidRequest(`addresses["${id}"]: ${problem}`);
    pinned.set(id, address);
  }
  const coordinators = new Set(bootstrap.coordinators);
  return new AddressBook({ pinned, trust: (from) => coordinators.has(from) });
}
