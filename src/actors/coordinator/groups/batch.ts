/**
 * The group commands one event decides, applied as they are added (each decision sees the state
 * the earlier ones left), plus the notices checkers read (`GroupOutput`, part of the coordinator's
 * CoordinatorOutput). Notices come from comparing what each member held before and after each
 * command, so no command kind can forget to report a grant or a release.
 *
 * `effects()` follows the durability rule of ../handlers.ts: every command persisted, the last one
 * synced; a reply that reports them goes after these effects in the same batch.
 */
import { notify, persist } from "../../shared/effects.ts";
import type { TopicName } from "../../shared/ids.ts";
import type { CoordinatorEffect, CoordinatorOutput } from "../handlers.ts";
import { apply, type CoordinatorCommand, type CoordinatorState } from "../state.ts";
import { splitKey, type PartitionKey } from "./keys.ts";
import { applyGroupCommand, draftGroups, sealGroups, type Group, type GroupCommand } from "./state.ts";

export type ReleaseReason = "revoked" | "removed" | "left";
export type MemberRemovedReason = "left" | "expired" | "replaced";

/** What the coordinator reports of groups (hooks.onNotify): for logs and the simulator's checkers. */
export type GroupOutput =
  /** The member may consume the partition from now on (at `memberEpoch`). */
  | { readonly type: "coordinator.group.granted"; readonly groupId: string; readonly memberId: string; readonly memberEpoch: number; readonly topic: TopicName; readonly partition: number; readonly atMs: number }
  /** The member no longer holds the partition: it confirmed revoking it, was removed, or left. */
  | { readonly type: "coordinator.group.released"; readonly groupId: string; readonly memberId: string; readonly topic: TopicName; readonly partition: number; readonly atMs: number; readonly reason: ReleaseReason }
  | { readonly type: "coordinator.group.committed"; readonly groupId: string; readonly memberId: string; readonly topic: TopicName; readonly partition: number; readonly offset: number; readonly atMs: number }
  | { readonly type: "coordinator.group.member.removed"; readonly groupId: string; readonly memberId: string; readonly reason: MemberRemovedReason };

export class GroupBatch {
  readonly commands: CoordinatorCommand[] = [];
  readonly outputs: GroupOutput[] = [];

  constructor(
    public state: CoordinatorState,
    private readonly nowMs: number,
  ) {}

  group(groupId: string): Group | undefined {
    return this.state.groups.groups.get(groupId);
  }

  add(command: GroupCommand): void {
    const before = this.group(command.groupId);
    this.commands.push(command);
    this.state = applyToGroups(this.state, command);
    // Offsets and deletions (of groups without members) change nobody's holdings.
    if (command.type !== "group.offsets.committed" && command.type !== "group.offsets.reset" && command.type !== "group.deleted") this.compare(command.groupId, before, command);
  }

  /** A non-group command (a topic's deletion) that changes groups: its releases are reported too. */
  addTopicCommand(command: CoordinatorCommand, groupIds: readonly string[]): void {
    const before = groupIds.map((groupId) => this.group(groupId));
    this.commands.push(command);
    this.state = apply(this.state, command);
    groupIds.forEach((groupId, index) => this.compare(groupId, before[index], undefined));
  }

  notice(output: GroupOutput): void {
    this.outputs.push(output);
  }

  /** Persists (the last synced), then the notices; empty when nothing was decided or seen. */
  effects(): CoordinatorEffect[] {
    const effects: CoordinatorEffect[] = this.commands.map((command, index) => persist(command, index === this.commands.length - 1));
    for (const output of this.outputs) effects.push(notify<CoordinatorOutput>(output));
    return effects;
  }

  private compare(groupId: string, before: Group | undefined, command: GroupCommand | undefined): void {
    const after = this.group(groupId);
    for (const member of before?.members.values() ?? []) {
      const now = after?.members.get(member.memberId);
      const held = new Set([...(now?.assigned ?? []), ...(now?.revoking ?? [])]);
      const removed = now === undefined;
      const reason: ReleaseReason = !removed ? "revoked" : command?.type === "group.member.left" && command.reason === "left" ? "left" : "removed";
      for (const key of [...member.assigned, ...member.revoking]) if (!held.has(key)) this.released(groupId, member.memberId, key, reason);
      if (removed) this.notice({ type: "coordinator.group.member.removed", groupId, memberId: member.memberId, reason: removedReason(command) });
    }
    for (const member of after?.members.values() ?? []) {
      const was = before?.members.get(member.memberId);
      for (const key of member.assigned) {
        if (was?.assigned.has(key) === true || was?.revoking.has(key) === true) continue;
        const { topic, partition } = splitKey(key);
        this.notice({ type: "coordinator.group.granted", groupId, memberId: member.memberId, memberEpoch: member.memberEpoch, topic, partition, atMs: this.nowMs });
      }
    }
  }

  private released(groupId: string, memberId: string, key: PartitionKey, reason: ReleaseReason): void {
    const { topic, partition } = splitKey(key);
    this.notice({ type: "coordinator.group.released", groupId, memberId, topic, partition, atMs: this.nowMs, reason });
  }
}

/**
 * What state.ts `apply` does with a group command, without copying the parts of the state a group
 * command never touches (topics, brokers): commits are frequent, the topic map can be large.
 */
function applyToGroups(state: CoordinatorState, command: GroupCommand): CoordinatorState {
  const draft = draftGroups(state.groups);
  applyGroupCommand(draft, command, (topic) => state.topics.get(topic)?.partitions.length);
  return { ...state, groups: sealGroups(draft), commandsApplied: state.commandsApplied + 1 };
}

function removedReason(command: GroupCommand | undefined): MemberRemovedReason {
  if (command?.type === "group.member.replaced") return "replaced";
  if (command?.type === "group.member.left") return command.reason;
  return "expired";
}
