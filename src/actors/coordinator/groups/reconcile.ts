/**
 * One member's walk towards its target assignment (KIP-848), decided on each of its heartbeats:
 *
 * 1. Revoking: while the member still reports owning any partition it was told to give up, nothing
 *    changes — it has not stopped and committed yet.
 * 2. Revoke: if it holds partitions its target took away, its assignment shrinks to
 *    current ∩ target and those partitions become "revoking"; its member epoch stays, so its
 *    commits for them are still accepted. Its next heartbeat without them acknowledges.
 * 3. Take: once it holds nothing outside its target, its epoch moves to the group epoch and it is
 *    given every target partition no other member still holds (assigned or revoking); the rest
 *    come on a later heartbeat, once their old owner has let go.
 *
 * Safety: step 3 never gives a partition another member holds, so no partition is ever in two
 * members' (assigned ∪ revoking) — apply asserts it. The planted bug "assign-before-revoke"
 * skips that check here (and the assertion in apply), giving the partition at once.
 *
 * Why revocation needs a heartbeat after the decision: a heartbeat that merely happens not to list
 * a partition may have been sent before an earlier reply granting it arrived; only a heartbeat
 * answering the reply that said "revoke" proves the member stopped.
 *
 * Echoes: an old heartbeat the network repeats or delays past that reply could pass for the
 * confirmation. A member sends one heartbeat at a time with growing request ids, so the handler
 * takes `owned` only from a heartbeat newer than every one it took from that member
 * (common.ts `isEcho`); an echo is answered and otherwise ignored. That memory is soft: right
 * after a coordinator restart an echo of a heartbeat from before the restart could still pass —
 * the old owner's commits are then refused (FENCED_MEMBER_EPOCH), so offsets stay right and the
 * worst case is a moment of double processing (duplicates, never loss).
 */
import { NO_PARTITIONS, sameKeys, type PartitionKey } from "./keys.ts";
import { heldByOthers, type Group, type GroupPlant } from "./state.ts";

export interface MemberHoldings {
  readonly memberEpoch: number;
  readonly assigned: ReadonlySet<PartitionKey>;
  readonly revoking: ReadonlySet<PartitionKey>;
}

/** The member's holdings after this heartbeat, or undefined when they do not change. */
export function reconcile(group: Group, memberId: string, owned: ReadonlySet<PartitionKey>, plant?: GroupPlant): MemberHoldings | undefined {
  const member = group.members.get(memberId);
  if (member === undefined) return undefined;
  if ([...member.revoking].some((key) => owned.has(key))) return undefined;
  const target = group.target.get(memberId) ?? NO_PARTITIONS;
  const toRevoke = [...member.assigned].filter((key) => !target.has(key));
  const next: MemberHoldings =
    toRevoke.length > 0
      ? { memberEpoch: member.memberEpoch, assigned: new Set([...member.assigned].filter((key) => target.has(key))), revoking: new Set(toRevoke) }
      : { memberEpoch: group.groupEpoch, assigned: taken(group, memberId, member.assigned, target, plant), revoking: NO_PARTITIONS };
  const unchanged = next.memberEpoch === member.memberEpoch && sameKeys(next.assigned, member.assigned) && sameKeys(next.revoking, member.revoking);
  return unchanged ? undefined : next;
}

/** What the member holds plus every target partition nobody else holds. */
function taken(group: Group, memberId: string, assigned: ReadonlySet<PartitionKey>, target: ReadonlySet<PartitionKey>, plant: GroupPlant | undefined): Set<PartitionKey> {
  const next = new Set(assigned);
  const wanted = [...target].filter((key) => !assigned.has(key));
  if (wanted.length === 0) return next; // the common heartbeat: nothing to look up
  const elsewhere = plant === "assign-before-revoke" ? NO_PARTITIONS : heldByOthers(group, memberId);
  for (const key of wanted) if (!elsewhere.has(key)) next.add(key);
  return next;
}
