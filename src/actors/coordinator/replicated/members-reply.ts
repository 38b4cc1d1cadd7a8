/**
 * The quorum's voters on the serving leader's replies (docs/coordinator-quorum.md, "Clients learn
 * the members" and "Brokers, members and pushers learn the members"):
 *
 * - a metadata reply carries the voters now (`coordinators`), for clients;
 * - a broker heartbeat, group heartbeat or StartGet reply carries the voters of the newest
 *   **committed** configuration with its config entry's index (messages.ts `CoordinatorsLearned`)
 *   — only when the request echoed another index, so an unchanged quorum costs nothing per
 *   heartbeat. Committed only: a later serving leader holds every committed entry, so the index
 *   never goes back across leaders, and a requester that keeps the highest index it saw can never
 *   be sent back to an older list by a deposed leader's late reply.
 *
 * Both only when every voter's address is known (a partial list would strand a node that took
 * it; the simulator's bootstrap voters have none, so its messages are unchanged).
 */
import type { NodeId } from "../../shared/ids.ts";
import type { CoordinatorMember } from "../../shared/messages.ts";
import type { ConfigRecord } from "../../raft/state.ts";
import type { CoordinatorEffect } from "../handlers.ts";
import { addressedVoters, coordinatorMembers } from "./membership.ts";
import type { QuorumReplica } from "./replica.ts";

/** Requests whose reply may carry the voters, and that reply's type. */
const REPLY_OF: Readonly<Record<string, string>> = { "broker.heartbeat": "broker.heartbeat.reply", "group.heartbeat": "group.heartbeat.reply", "startget.request": "startget.reply" };

/** What a request said it holds: its sender, the reply type it waits for and the index it echoed (undefined: none). */
export interface MembersEcho {
  readonly to: NodeId;
  readonly replyType: string;
  readonly index: number | undefined;
}

/** The echo of a request whose reply may carry the voters (undefined for any other). */
export function membersEcho(from: NodeId, message: unknown): MembersEcho | undefined {
  if (typeof message !== "object" || message === null) return undefined;
  const { type, coordinatorsIndex } = message as { type?: unknown; coordinatorsIndex?: unknown };
  const replyType = typeof type === "string" ? REPLY_OF[type] : undefined;
  if (replyType === undefined) return undefined;
  return { to: from, replyType, index: typeof coordinatorsIndex === "number" ? coordinatorsIndex : undefined };
}

/** The newest committed configuration: its entry's index and its voters with their addresses (undefined while one is unknown). */
export function committedMembers(replica: QuorumReplica): { readonly index: number; readonly members: CoordinatorMember[] } | undefined {
  const { configs, commitIndex } = replica.core;
  let config: ConfigRecord = configs[0]!;
  for (const record of configs) if (record.index <= commitIndex) config = record;
  const members = addressedVoters(config.voters, { ...replica.bootstrapAddresses, ...config.addresses });
  return members === undefined ? undefined : { index: config.index, members };
}

type HeldEffect = Exclude<CoordinatorEffect, { readonly type: "effect.persist" }>;

/** A held effect as it leaves: a metadata reply with the voters now, a reply to `echo`'s request with the committed voters when the echo differs. */
export function withMembers(replica: QuorumReplica, effect: HeldEffect, echo: MembersEcho | undefined): HeldEffect {
  if (effect.type !== "effect.send" || (effect.message as { error?: unknown }).error !== undefined) return effect;
  if (effect.message.type === "metadata.reply") {
    const coordinators = coordinatorMembers(replica);
    return coordinators === undefined ? effect : { ...effect, message: { ...effect.message, coordinators } };
  }
  if (echo === undefined || effect.to !== echo.to || effect.message.type !== echo.replyType) return effect;
  const committed = committedMembers(replica);
  if (committed === undefined || committed.index === echo.index) return effect;
  return { ...effect, message: { ...effect.message, coordinators: committed.members, coordinatorsIndex: committed.index } as typeof effect.message };
}
