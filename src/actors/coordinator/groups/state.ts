/**
 * Consumer groups as the coordinator holds them durably: plain data, changed only by group
 * commands on the coordinator's command log (DESIGN §6; the wire contract is
 * src/actors/shared/group-messages.ts). The coordinator's state.ts delegates every group command,
 * and the deletion of a topic, to `applyGroupCommand` / `stripTopic`; replaying the log rebuilds
 * every group, member, assignment and committed offset.
 *
 * Commands record decisions: `group.target.computed` carries the assignment the assignor chose,
 * `group.member.reconciled` what the member holds afterwards, so replay needs no assignor and
 * gives the same state whatever the code that decided.
 *
 * Invariants (asserted by apply; a failure is a bug or a corrupt log):
 * - exclusivity: a partition is in at most one member's (assigned ∪ revoking) in a group — the
 *   safety rule of incremental rebalancing. Skipped only under the planted bug
 *   "assign-before-revoke", so that the simulator's checker can be shown to catch it;
 * - assigned ∩ revoking = ∅; member epochs never exceed the group epoch and never go down;
 *   group epochs only go up; a target names only members and existing partitions, each once;
 * - committed offsets never move backwards except through `group.offsets.reset`, which (like
 *   `group.deleted`) needs a group without members.
 *
 * Soft state — when each member last heartbeated — is not here (see common.ts GroupSessions).
 *
 * Copying: a draft copies a group the first time a command touches it (copy-on-write per group),
 * so `apply` costs O(one group) and a replay O(commands + groups).
 */
import { assert } from "../../shared/assert.ts";
import type { CommittedOffset, GroupAssignor, GroupState, TopicPartitions } from "../../shared/group-messages.ts";
import { partitionKey, type TopicName } from "../../shared/ids.ts";
import { keysOf, NO_PARTITIONS, splitKey, type PartitionKey } from "./keys.ts";

/** Planted bugs the group modules know (tests only). */
export type GroupPlant = "assign-before-revoke" | "accept-fenced-commit";

export interface GroupMember {
  readonly memberId: string;
  readonly instanceId?: string;
  /** Sorted, no repeats; may name topics that do not exist (yet). */
  readonly topics: readonly TopicName[];
  readonly sessionTimeoutMs: number;
  readonly memberEpoch: number;
  /** What the member may consume now. */
  readonly assigned: ReadonlySet<PartitionKey>;
  /** What it was told to give up and has not yet confirmed giving up: still its, for commits too. */
  readonly revoking: ReadonlySet<PartitionKey>;
}

export interface CommittedEntry {
  readonly offset: number;
  readonly metadata?: string;
}

export interface Group {
  readonly groupId: string;
  readonly assignor: GroupAssignor;
  readonly groupEpoch: number;
  /** In join order. */
  readonly members: ReadonlyMap<string, GroupMember>;
  /** The assignment of the group epoch, per member (members with nothing to own are absent). */
  readonly target: ReadonlyMap<string, ReadonlySet<PartitionKey>>;
  readonly offsets: ReadonlyMap<PartitionKey, CommittedEntry>;
}

export interface GroupsState {
  readonly groups: ReadonlyMap<string, Group>;
  readonly plant?: GroupPlant;
}

// ---------------------------------------------------------------- commands

/** A member joined (creating its group if needed); a group without members takes its `assignor`. */
export interface GroupMemberJoined {
  readonly type: "group.member.joined";
  readonly groupId: string;
  readonly memberId: string;
  readonly instanceId?: string;
  readonly topics: readonly TopicName[];
  readonly sessionTimeoutMs: number;
  readonly assignor: GroupAssignor;
}

/** A member changed its subscription. */
export interface GroupMemberSubscribed {
  readonly type: "group.member.subscribed";
  readonly groupId: string;
  readonly memberId: string;
  readonly topics: readonly TopicName[];
}

/** A member is gone: it left (-1), its session expired, or it was fenced; what it held is free. */
export interface GroupMemberLeft {
  readonly type: "group.member.left";
  readonly groupId: string;
  readonly memberId: string;
  readonly reason: "left" | "expired";
}

/**
 * A static member came back under a new member id: the new one takes the old one's place, member
 * epoch and assigned partitions (what the old one was revoking is released), with no rebalance.
 */
export interface GroupMemberReplaced {
  readonly type: "group.member.replaced";
  readonly groupId: string;
  readonly previousMemberId: string;
  readonly memberId: string;
  readonly sessionTimeoutMs: number;
}

/** A new target assignment for a new group epoch. */
export interface GroupTargetComputed {
  readonly type: "group.target.computed";
  readonly groupId: string;
  readonly groupEpoch: number;
  readonly members: readonly { readonly memberId: string; readonly partitions: readonly TopicPartitions[] }[];
}

/** A member's step towards its target: what it holds afterwards, at which member epoch. */
export interface GroupMemberReconciled {
  readonly type: "group.member.reconciled";
  readonly groupId: string;
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly assigned: readonly TopicPartitions[];
  readonly revoking: readonly TopicPartitions[];
}

export interface GroupOffsetsCommitted {
  readonly type: "group.offsets.committed";
  readonly groupId: string;
  readonly offsets: readonly CommittedOffset[];
}

/** An operator set offsets (backwards too) on a group without members; creates the group if needed. */
export interface GroupOffsetsReset {
  readonly type: "group.offsets.reset";
  readonly groupId: string;
  readonly offsets: readonly CommittedOffset[];
}

export interface GroupDeleted {
  readonly type: "group.deleted";
  readonly groupId: string;
}

export type GroupCommand =
  | GroupMemberJoined
  | GroupMemberSubscribed
  | GroupMemberLeft
  | GroupMemberReplaced
  | GroupTargetComputed
  | GroupMemberReconciled
  | GroupOffsetsCommitted
  | GroupOffsetsReset
  | GroupDeleted;

export const GROUP_COMMAND_TYPES: ReadonlySet<string> = new Set<GroupCommand["type"]>([
  "group.member.joined",
  "group.member.subscribed",
  "group.member.left",
  "group.member.replaced",
  "group.target.computed",
  "group.member.reconciled",
  "group.offsets.committed",
  "group.offsets.reset",
  "group.deleted",
]);

export function emptyGroups(): GroupsState {
  return { groups: new Map() };
}

/** The groups state with a planted bug (tests only); undefined leaves it as it is. */
export function plantedGroups(groups: GroupsState, plant: GroupPlant | undefined): GroupsState {
  return plant === undefined ? groups : { ...groups, plant };
}

// ---------------------------------------------------------------- queries

/** empty: no members; reconciling: a member is behind the group epoch or short of its target; stable otherwise. */
export function groupStateOf(group: Group): GroupState {
  if (group.members.size === 0) return "empty";
  for (const member of group.members.values()) {
    const target = group.target.get(member.memberId) ?? NO_PARTITIONS;
    if (member.memberEpoch !== group.groupEpoch || member.revoking.size > 0 || member.assigned.size !== target.size) return "reconciling";
  }
  return "stable";
}

/** Everything members other than `memberId` hold (assigned or revoking). */
export function heldByOthers(group: Group, memberId: string): Set<PartitionKey> {
  const held = new Set<PartitionKey>();
  for (const other of group.members.values()) {
    if (other.memberId === memberId) continue;
    for (const key of other.assigned) held.add(key);
    for (const key of other.revoking) held.add(key);
  }
  return held;
}

/** Partitions held by two members of one group at once: empty unless something is broken (or planted). */
export function overlaps(group: Group): PartitionKey[] {
  const seen = new Set<PartitionKey>();
  const twice: PartitionKey[] = [];
  for (const member of group.members.values()) {
    for (const key of [...member.assigned, ...member.revoking]) {
      if (seen.has(key)) twice.push(key);
      seen.add(key);
    }
  }
  return twice;
}

// ---------------------------------------------------------------- apply

/** How many partitions a topic has now, or undefined when it does not exist. */
export type PartitionCount = (topic: TopicName) => number | undefined;

interface MutableGroup {
  groupId: string;
  assignor: GroupAssignor;
  groupEpoch: number;
  members: Map<string, GroupMember>;
  target: Map<string, ReadonlySet<PartitionKey>>;
  offsets: Map<PartitionKey, CommittedEntry>;
}

/** A GroupsState being changed: groups copied into it (`copied`) may be changed in place. */
export interface GroupsDraft {
  readonly groups: Map<string, Group>;
  readonly copied: Set<string>;
  readonly plant?: GroupPlant;
}

export function draftGroups(state: GroupsState): GroupsDraft {
  return { groups: new Map(state.groups), copied: new Set(), ...(state.plant === undefined ? {} : { plant: state.plant }) };
}

export function sealGroups(draft: GroupsDraft): GroupsState {
  return { groups: draft.groups, ...(draft.plant === undefined ? {} : { plant: draft.plant }) };
}

function writable(draft: GroupsDraft, groupId: string): MutableGroup | undefined {
  const group = draft.groups.get(groupId);
  if (group === undefined) return undefined;
  if (draft.copied.has(groupId)) return group as MutableGroup;
  const copy: MutableGroup = { ...group, members: new Map(group.members), target: new Map(group.target), offsets: new Map(group.offsets) };
  draft.groups.set(groupId, copy);
  draft.copied.add(groupId);
  return copy;
}

function created(draft: GroupsDraft, groupId: string, assignor: GroupAssignor): MutableGroup {
  const existing = writable(draft, groupId);
  if (existing !== undefined) return existing;
  const group: MutableGroup = { groupId, assignor, groupEpoch: 0, members: new Map(), target: new Map(), offsets: new Map() };
  draft.groups.set(groupId, group);
  draft.copied.add(groupId);
  return group;
}

function existing(draft: GroupsDraft, command: { readonly type: string; readonly groupId: string }): MutableGroup {
  const group = writable(draft, command.groupId);
  assert(group !== undefined, `${command.type} names group '${command.groupId}', which does not exist`);
  return group;
}

function memberOf(group: MutableGroup, memberId: string, what: string): GroupMember {
  const member = group.members.get(memberId);
  assert(member !== undefined, `${what} names member '${memberId}', not in group '${group.groupId}'`);
  return member;
}

/** Apply one group command to `draft` (the coordinator's state.ts calls this for every group command). */
export function applyGroupCommand(draft: GroupsDraft, command: GroupCommand, partitionCount: PartitionCount): void {
  switch (command.type) {
    case "group.member.joined": {
      const group = created(draft, command.groupId, command.assignor);
      assert(!group.members.has(command.memberId), `member '${command.memberId}' joined group '${command.groupId}' twice`);
      if (command.instanceId !== undefined) {
        const taken = [...group.members.values()].find((member) => member.instanceId === command.instanceId);
        assert(taken === undefined, `instance '${command.instanceId}' joined group '${command.groupId}' while member '${taken?.memberId}' has it`);
      }
      const { memberId, instanceId, topics, sessionTimeoutMs } = command;
      // The first member's choice: that of whoever joins a group that has no members.
      if (group.members.size === 0) group.assignor = command.assignor;
      group.members.set(memberId, { memberId, ...(instanceId === undefined ? {} : { instanceId }), topics, sessionTimeoutMs, memberEpoch: 0, assigned: NO_PARTITIONS, revoking: NO_PARTITIONS });
      return;
    }
    case "group.member.subscribed": {
      const group = existing(draft, command);
      const member = memberOf(group, command.memberId, command.type);
      group.members.set(command.memberId, { ...member, topics: command.topics });
      return;
    }
    case "group.member.left": {
      const group = existing(draft, command);
      memberOf(group, command.memberId, command.type);
      group.members.delete(command.memberId);
      group.target.delete(command.memberId);
      return;
    }
    case "group.member.replaced":
      applyReplaced(existing(draft, command), command);
      return;
    case "group.target.computed":
      applyTarget(existing(draft, command), command, partitionCount);
      return;
    case "group.member.reconciled":
      applyReconciled(existing(draft, command), command, draft.plant);
      return;
    case "group.offsets.committed":
      applyOffsets(existing(draft, command), command.offsets, partitionCount, true);
      return;
    case "group.offsets.reset": {
      const group = created(draft, command.groupId, "uniform");
      assert(group.members.size === 0, `offsets of group '${command.groupId}' reset while it has ${group.members.size} members`);
      applyOffsets(group, command.offsets, partitionCount, false);
      return;
    }
    case "group.deleted": {
      const group = existing(draft, command);
      assert(group.members.size === 0, `group '${command.groupId}' deleted while it has ${group.members.size} members`);
      draft.groups.delete(command.groupId);
      draft.copied.delete(command.groupId);
      return;
    }
  }
}

function applyReplaced(group: MutableGroup, command: GroupMemberReplaced): void {
  const previous = memberOf(group, command.previousMemberId, command.type);
  assert(previous.instanceId !== undefined, `member '${previous.memberId}' of group '${group.groupId}' is replaced but is not static`);
  assert(!group.members.has(command.memberId), `member '${command.memberId}' replaces '${previous.memberId}' in group '${group.groupId}' but is already in it`);
  group.members.delete(previous.memberId);
  group.members.set(command.memberId, { ...previous, memberId: command.memberId, sessionTimeoutMs: command.sessionTimeoutMs, revoking: NO_PARTITIONS });
  const target = group.target.get(previous.memberId);
  group.target.delete(previous.memberId);
  if (target !== undefined) group.target.set(command.memberId, target);
}

function applyTarget(group: MutableGroup, command: GroupTargetComputed, partitionCount: PartitionCount): void {
  assert(Number.isSafeInteger(command.groupEpoch) && command.groupEpoch > group.groupEpoch, `group '${group.groupId}': target for epoch ${command.groupEpoch}, not above ${group.groupEpoch}`);
  const seen = new Set<PartitionKey>();
  const target = new Map<string, ReadonlySet<PartitionKey>>();
  for (const { memberId, partitions } of command.members) {
    assert(group.members.has(memberId), `group '${group.groupId}': target names '${memberId}', not a member`);
    const keys = keysOf(partitions);
    for (const key of keys) {
      assertExists(group, key, partitionCount);
      assert(!seen.has(key), `group '${group.groupId}': target gives ${key} to two members`);
      seen.add(key);
    }
    if (keys.size > 0) target.set(memberId, keys);
  }
  group.groupEpoch = command.groupEpoch;
  group.target = target;
}

function applyReconciled(group: MutableGroup, command: GroupMemberReconciled, plant: GroupPlant | undefined): void {
  const member = memberOf(group, command.memberId, command.type);
  const where = `group '${group.groupId}' member '${member.memberId}'`;
  assert(command.memberEpoch >= member.memberEpoch && command.memberEpoch <= group.groupEpoch, `${where}: epoch ${command.memberEpoch} outside [${member.memberEpoch}, ${group.groupEpoch}]`);
  const assigned = keysOf(command.assigned);
  const revoking = keysOf(command.revoking);
  for (const key of revoking) assert(!assigned.has(key), `${where}: ${key} both assigned and revoking`);
  if (plant !== "assign-before-revoke") {
    const others = heldByOthers(group, member.memberId);
    for (const key of [...assigned, ...revoking]) assert(!others.has(key), `${where}: ${key} is still held by another member`);
  }
  group.members.set(member.memberId, { ...member, memberEpoch: command.memberEpoch, assigned, revoking });
}

function applyOffsets(group: MutableGroup, offsets: readonly CommittedOffset[], partitionCount: PartitionCount, forwardOnly: boolean): void {
  for (const { topic, partition, offset, metadata } of offsets) {
    const key = partitionKey(topic, partition);
    assertExists(group, key, partitionCount);
    assert(Number.isSafeInteger(offset) && offset >= 0, `group '${group.groupId}': offset ${offset} for ${key}`);
    const before = group.offsets.get(key);
    if (forwardOnly) assert(before === undefined || offset >= before.offset, `group '${group.groupId}': commit of ${key} moves back from ${before?.offset} to ${offset}`);
    group.offsets.set(key, metadata === undefined ? { offset } : { offset, metadata });
  }
}

function assertExists(group: Group, key: PartitionKey, partitionCount: PartitionCount): void {
  const { topic, partition } = splitKey(key);
  const count = partitionCount(topic);
  assert(count !== undefined && partition < count, `group '${group.groupId}' names ${key}, which does not exist`);
}

/**
 * A topic was deleted: its partitions leave every assignment, target and committed offset (a topic
 * made again under the name is a new incarnation whose offsets start over).
 */
export function stripTopic(draft: GroupsDraft, topic: TopicName): void {
  const prefix = `${topic}/`;
  const mentions = (keys: Iterable<PartitionKey>): boolean => [...keys].some((key) => key.startsWith(prefix));
  const without = (keys: ReadonlySet<PartitionKey>): ReadonlySet<PartitionKey> => (mentions(keys) ? new Set([...keys].filter((key) => !key.startsWith(prefix))) : keys);
  for (const [groupId, group] of [...draft.groups]) {
    const touched = mentions(group.offsets.keys()) || [...group.target.values()].some(mentions) || [...group.members.values()].some((member) => mentions(member.assigned) || mentions(member.revoking));
    if (!touched) continue;
    const copy = writable(draft, groupId)!;
    for (const key of [...copy.offsets.keys()]) if (key.startsWith(prefix)) copy.offsets.delete(key);
    for (const [memberId, keys] of copy.target) copy.target.set(memberId, without(keys));
    for (const [memberId, member] of copy.members) copy.members.set(memberId, { ...member, assigned: without(member.assigned), revoking: without(member.revoking) });
  }
}
