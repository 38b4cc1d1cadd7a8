/**
 * Addresses (see real-node.ts, "Addresses"): where the coordinator is by default, and the
 * AddressBook a node or client keeps of where brokers listen. In a module of its own so that the
 * client library and the client commands reach it without loading the node hosts, their stores
 * and the actors behind them.
 */
import type { NodeId, Transport } from "../ports/transport.ts";
import { brokerAddressProblem } from "../actors/coordinator/limits.ts";

/** The coordinator's node id in a `zhumq dev` cluster, and what clients assume by default. */
export const DEFAULT_COORDINATOR_ID = "coordinator";
/** Where `zhumq dev` puts the coordinator by default, and where clients look by default. */
export const DEFAULT_COORDINATOR_ADDRESS = "127.0.0.1:9090";

/** Learned addresses kept at most (the coordinator registers at most 1,024 brokers by default). */
export const ADDRESS_BOOK_ENTRIES_MAX = 100_000;
/** Coordinator replicas learned from refusals, at most (a quorum has at most 7). */
const NAMED_LEADERS_MAX = 16;

export interface AddressBookOptions {
  /** Fixed entries (the coordinator's address): never replaced by anything learned. */
  readonly pinned?: ReadonlyMap<NodeId, string> | Readonly<Record<NodeId, string>>;
  /** Whose metadata replies to believe; by default every pinned node's (the coordinator's). */
  readonly trust?: (from: NodeId) => boolean;
}

/**
 * NodeId → "host:port": pinned entries plus what trusted `metadata.reply` messages said about
 * brokers. Pass `book.lookup` as a transport's `peers`, and wrap the transport with
 * `learnAddresses(transport, book)` so replies keep the book current.
 */
/**
 * The coordinator replies that name brokers with their addresses (`brokers: BrokerInfo[]`) or the
 * quorum's voters with theirs (`coordinators`: a metadata reply's, and those of CoordinatorsLearned).
 */
const LEARNED_FROM: ReadonlySet<string> = new Set(["metadata.reply", "broker.heartbeat.reply", "startget.reply", "group.heartbeat.reply"]);

export class AddressBook {
  private readonly pinned = new Map<NodeId, string>();
  private readonly learned = new Map<NodeId, string>();
  private readonly trust: (from: NodeId) => boolean;
  /** Coordinator replicas a trusted refusal named as the leader (and gave the address of). */
  private readonly namedLeaders = new Set<NodeId>();
  /** The quorum's voters as the latest trusted metadata reply (or newest CoordinatorsLearned) listed them. */
  private members: readonly NodeId[] | undefined;
  /** The configuration index of the newest CoordinatorsLearned list taken into `members`. */
  private membersIndex: number | undefined;

  constructor(options: AddressBookOptions = {}) {
    const pinned = options.pinned ?? {};
    const entries = pinned instanceof Map ? [...pinned] : Object.entries(pinned as Readonly<Record<NodeId, string>>);
    for (const [node, address] of entries) this.pinned.set(node, address);
    this.trust = options.trust ?? ((from) => this.pinned.has(from));
  }

  /** Where `node` listens, if known. A bound function: pass it as a transport's `peers`. */
  readonly lookup = (node: NodeId): string | undefined => this.pinned.get(node) ?? this.learned.get(node);

  /** Record an address by hand (a pinned entry still wins). */
  set(node: NodeId, address: string): void {
    if (this.learned.size >= ADDRESS_BOOK_ENTRIES_MAX && !this.learned.has(node)) return;
    this.learned.set(node, address);
  }

  /**
   * Learn from one received message: a trusted `metadata.reply` names brokers and their
   * addresses, and so do a `broker.heartbeat.reply` (the leaders a broker follows, so that its
   * replica fetches reach them) and a `startget.reply` (the brokers a push consumer must open its
   * sessions on). Anything else, and any entry that is not a usable address, is
   * ignored (the message came from the network). Returns how many entries changed.
   */
  learn(from: NodeId, message: unknown): number {
    if (!this.trusted(from) || !isRecord(message)) return 0;
    if (this.learnLeader(message)) return 1;
    if (!LEARNED_FROM.has(message["type"] as string)) return 0;
    const index = message["coordinatorsIndex"];
    let changed = message["type"] === "metadata.reply" || typeof index === "number" ? this.learnMembers(message["coordinators"], typeof index === "number" ? index : undefined) : 0;
    const brokers = message["brokers"];
    if (!Array.isArray(brokers)) return changed;
    for (const broker of brokers as unknown[]) {
      if (!isRecord(broker)) continue;
      const { id, address } = broker;
      if (typeof id !== "string" || this.pinned.has(id) || brokerAddressProblem(address) !== undefined || this.learned.get(id) === address) continue;
      this.set(id, address as string);
      changed++;
    }
    return changed;
  }

  /**
   * A quorum's metadata reply lists its voters with their addresses (MetadataReply.coordinators),
   * and so does a heartbeat or StartGet reply with the index of their configuration
   * (CoordinatorsLearned): each address is learned (a pinned one still wins) and each voter's
   * answers are trusted from then on, as a named leader's are. A list with an index older than
   * one taken before (a deposed leader's late reply) does not replace `members`. Returns how many
   * entries changed.
   */
  private learnMembers(members: unknown, index?: number): number {
    if (!Array.isArray(members)) return 0;
    let changed = 0;
    const listed: NodeId[] = [];
    for (const member of members as unknown[]) {
      if (!isRecord(member)) continue;
      const { id, address } = member;
      if (typeof id !== "string" || id.length === 0 || brokerAddressProblem(address) !== undefined) continue;
      if (this.namedLeaders.size < NAMED_LEADERS_MAX || this.namedLeaders.has(id)) this.namedLeaders.add(id);
      if (listed.length < NAMED_LEADERS_MAX) listed.push(id);
      if (this.pinned.has(id) || this.learned.get(id) === address) continue;
      this.set(id, address as string);
      changed++;
    }
    if (listed.length === 0 || (index !== undefined && this.membersIndex !== undefined && index < this.membersIndex)) return changed;
    this.members = listed;
    if (index !== undefined) this.membersIndex = index;
    return changed;
  }

  /** The quorum's voters as the latest trusted metadata reply listed them (undefined before any did). */
  coordinatorMembers(): readonly NodeId[] | undefined {
    return this.members;
  }

  /** Trusted: a configured coordinator, or a coordinator replica one of them named as its leader (or listed as a voter). */
  private trusted(from: NodeId): boolean {
    return this.trust(from) || this.namedLeaders.has(from);
  }

  /**
   * A quorum replica's NOT_COORDINATOR refusal naming a leader and its address (a replica added
   * since this node's list was written: docs/coordinator-quorum.md, "Membership"): the leader's
   * address is learned and its own answers are trusted from then on.
   */
  private learnLeader(message: Record<string, unknown>): boolean {
    const error = message["error"];
    if (!isRecord(error) || error["code"] !== "COORDINATOR_NOT_AVAILABLE") return false;
    const { leader, leaderAddress } = error;
    if (typeof leader !== "string" || leader.length === 0 || this.pinned.has(leader) || brokerAddressProblem(leaderAddress) !== undefined) return false;
    if (this.namedLeaders.size >= NAMED_LEADERS_MAX && !this.namedLeaders.has(leader)) return false;
    this.namedLeaders.add(leader);
    if (this.learned.get(leader) === leaderAddress) return false;
    this.set(leader, leaderAddress as string);
    return true;
  }

  /** Every known entry, pinned ones first. */
  entries(): [NodeId, string][] {
    return [...this.pinned, ...[...this.learned].filter(([node]) => !this.pinned.has(node))];
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/**
 * `transport`, with every received message shown to `book` before the handler sees it, so an
 * actor that learns a broker's leadership from a metadata reply finds its address already there.
 */
export function learnAddresses<M>(transport: Transport<M>, book: AddressBook): Transport<M> {
  return {
    get self() {
      return transport.self;
    },
    send: (to, message, receipt) => transport.send(to, message, receipt),
    onMessage: (handler) =>
      transport.onMessage((from, message) => {
        book.learn(from, message);
        handler(from, message);
      }),
  };
}
