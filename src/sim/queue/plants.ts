/**
 * Planted bugs wrapped around the real actors' definitions (the list and what each must make the
 * checker find is QUEUE_PLANTS in run-options.ts): the disk-side plants of the broker
 * (`fsync-lies`, `no-recovery-point`), and which plants the coordinator and the brokers carry
 * themselves. The producer-side `reuse-producer-id` lives in producer-plant.ts.
 */
import type { ZhumqMessage } from "../../actors/shared/messages.ts";
import type { FileSystem } from "../../ports/filesystem.ts";
import type { ActorDefinition, ActorStore } from "../../host/host.ts";
import type { AnyStateMachine } from "xstate";
import { RECOVERY_POINT_FILE } from "../../disk/recovery-point.ts";
import type { QueuePlant } from "./run-options.ts";
import type { FaultStep } from "../nemesis.ts";
import type { RaftPlant } from "../../actors/raft/types.ts";
import { sparesFor } from "./coordinator-operator.ts";

/** The plants the coordinator carries itself (coordinatorDefinition's `plant`). */
export function coordinatorPlantOf(plant: QueuePlant | undefined) {
  return plant === "elect-outside-isr" || plant === "assign-before-revoke" || plant === "accept-fenced-commit" || plant === "switch-before-commit" || plant === "ack-commit-before-raft" || plant === "coordinator-never-promotes" ? { plant } : {};
}

/**
 * A coordinator quorum's spare replicas: one per wipe of a replica's disk (a wiped replica is
 * replaced by a new member: coordinator-boot.ts) and per `coordinator-add` in the schedule; the
 * plant that lets a wiped replica return under its old id instead; the Raft plant of the quorum.
 */
export function quorumReplacements(schedule: readonly FaultStep[], plant: QueuePlant | undefined): { spares: number; keepWipedIds: boolean; raftPlant?: RaftPlant } {
  return { spares: sparesFor(schedule), keepWipedIds: plant === "wiped-coordinator-keeps-id", ...(plant === "removed-coordinator-counts" ? { raftPlant: "count-non-members" as const } : {}) };
}

/** The plants the brokers carry themselves (brokerDefinition's `plant`). */
export function brokerPlantOf(plant: QueuePlant | undefined) {
  return plant === "hw-leader-only" || plant === "no-truncation" || plant === "early-ack" || plant === "ignore-credits" || plant === "no-lease-margin" || plant === "accept-gap" || plant === "raft-read-past-commit" || plant === "skip-authorize" ? { plant } : {};
}

/** The Raft plant every raft-mode group of the brokers carries (brokerDefinition's `raftPlant`). */
export function brokerRaftPlantOf(plant: QueuePlant | undefined) {
  if (plant === "raft-compact-past-commit") return { raftPlant: "compact-past-commit" as const };
  return plant === "raft-reply-before-persist-vote" ? { raftPlant: "reply-before-persist-vote" as const } : {};
}

/** The broker's definition with its disk-side plant wrapped around it, if the run has one. */
export function withDiskPlant<D extends ActorDefinition<AnyStateMachine, ZhumqMessage, Operation, Input>, Operation, Input>(definition: D, plant: QueuePlant | undefined): D {
  return plant === "fsync-lies" ? withLyingSync(definition) : plant === "no-recovery-point" ? withoutRecoveryPoint(definition) : definition;
}

/**
 * The `no-recovery-point` plant: the broker's disk silently drops every write to a recovery-point
 * file, as a log written before the recovery point existed would behave.
 */
function withoutRecoveryPoint<D extends ActorDefinition<AnyStateMachine, ZhumqMessage, Operation, Input>, Operation, Input>(definition: D): D {
  return { ...definition, open: (fs: FileSystem) => definition.open(droppingRecoveryPoints(fs)) };
}

function droppingRecoveryPoints(fs: FileSystem): FileSystem {
  return new Proxy(fs, {
    get(target, property, receiver) {
      if (property !== "open") return Reflect.get(target, property, receiver) as unknown;
      return async (path: string, mode: Parameters<FileSystem["open"]>[1]) => {
        const handle = await target.open(path, mode);
        if (!path.endsWith(`/${RECOVERY_POINT_FILE}`)) return handle;
        return { ...handle, path: handle.path, size: () => handle.size(), read: (at: number, length: number) => handle.read(at, length), write: async () => undefined, truncate: (size: number) => handle.truncate(size), sync: () => handle.sync(), close: () => handle.close() };
      };
    },
  });
}

/** The `fsync-lies` plant: the store's sync resolves at once and syncs nothing. */
function withLyingSync<D extends ActorDefinition<AnyStateMachine, ZhumqMessage, Operation, Input>, Operation, Input>(definition: D): D {
  return {
    ...definition,
    open: async (fs: FileSystem) => {
      const { recovered, store } = await definition.open(fs);
      const lying: ActorStore<Operation> = {
        persist: (operations) => store.persist(operations),
        sync: async () => undefined,
        ...(store.persistDuringSync === undefined ? {} : { persistDuringSync: (operations: readonly Operation[]) => store.persistDuringSync!(operations) }),
        close: () => store.close(),
        ...(store.read === undefined ? {} : { read: (request: unknown) => store.read!(request) }),
      };
      return { recovered, store: lying };
    },
  };
}
