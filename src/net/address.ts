/**
 * Addresses ("host:port", IPv6 hosts in brackets) and the address book of a node's peers.
 */
import type { NodeId } from "../ports/transport.ts";
import { TransportConfigError } from "./errors.ts";

/** Where each peer listens ("host:port"): a map, a record, or a function asked at each connect. */
export type PeerDirectory = ReadonlyMap<NodeId, string> | Readonly<Record<NodeId, string>> | ((node: NodeId) => string | undefined);

const ADDRESS_PATTERN = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/;

export function parseAddress(address: string): { host: string; port: number } {
  const match = ADDRESS_PATTERN.exec(address);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port > 65_535) {
    throw new TransportConfigError("address", address, "must be host:port with a port in [0, 65535] (an IPv6 host in brackets)");
  }
  return { host, port };
}

export function formatAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** One lookup function over the three shapes an address book may take. */
export function directoryLookup(peers: PeerDirectory | undefined): (node: NodeId) => string | undefined {
  if (peers === undefined) return () => undefined;
  if (typeof peers === "function") return peers;
  if (peers instanceof Map) return (node) => peers.get(node);
  const record = peers as Readonly<Record<NodeId, string>>;
  return (node) => (Object.hasOwn(record, node) ? record[node] : undefined);
}
