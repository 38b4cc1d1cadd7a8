/**
 * The coordinator's public surface: the machine and its input, the pure metadata state and its
 * commands (consumer groups' among them), the placement ring, the request boundary, and the
 * defaults. The store and the ActorDefinition live in src/host/stores/coordinator-store.ts (they
 * do I/O).
 */
export { coordinatorMachine, LEASE_CHECK_TIMER, type CoordinatorEvent, type CoordinatorInput, type CoordinatorMessageReceived } from "./machine.ts";
export {
  expireLeases,
  handleRequest,
  isAlive,
  liveBrokers,
  type CoordinatorContext,
  type CoordinatorEffect,
  type CoordinatorOutput,
  type CoordinatorPlant,
  type Lease,
  type Outcome,
} from "./handlers.ts";
export { topicMetadata } from "./metadata.ts";
export {
  apply,
  commandProblem,
  emptyState,
  isRegistered,
  leadersByBroker,
  originKey,
  replay,
  type BrokerRegistered,
  type CoordinatorCommand,
  type CoordinatorState,
  type PartitionPlacement,
  type ProducerIdsAllocated,
  type RecentOutcome,
  type RequestOrigin,
  type TopicCreated,
  type TopicDeleted,
  type TopicState,
} from "./state.ts";
export {
  buildRing,
  DEFAULT_VIRTUAL_NODES,
  loadCap,
  lookup,
  maxOverMean,
  movedFraction,
  movedSetFraction,
  murmur3,
  placeKeys,
  placePartition,
  PLACEMENT_EPSILON,
  placeTopic,
  replicasPerBroker,
  ringHash,
  VIRTUAL_NODES_MAX,
  virtualNodesProblem,
  type HashRing,
  type PlaceTopicOptions,
  type Placement,
  type RingPoint,
} from "./ring.ts";
export {
  BROKER_ADDRESS_LENGTH_MAX,
  brokerAddressProblem,
  coordinatorSettingsProblems,
  DEFAULT_COORDINATOR_LIMITS,
  DEFAULT_COORDINATOR_SETTINGS,
  DEFAULT_LEASE_CHECK_INTERVAL_MS,
  DEFAULT_LEASE_MS,
  LEADER_EPOCH_MAX,
  NODE_ID_LENGTH_MAX,
  nodeIdProblem,
  REPLICATION_FACTOR_MAX,
  type CoordinatorLimits,
  type CoordinatorSettings,
} from "./limits.ts";
export { errorReply, parseMessage, type ParsedMessage } from "./validate.ts";
export type { GroupOutput, MemberRemovedReason, ReleaseReason } from "./groups/batch.ts";
export { HEARTBEAT_INTERVAL_MS_MAX, heartbeatIntervalMs } from "./groups/handlers.ts";
export { groupStateOf, overlaps, type Group, type GroupCommand, type GroupMember, type GroupPlant, type GroupsState } from "./groups/state.ts";
export { advanceMoves, completeMoves, decommissionProblem, moveMetadata, planMoves, releasedPartitions, ringMembers, ringPlacement, type MoveBatch, type MovePlan } from "./moves.ts";
export { type BrokerDecommissioned, type MoveCommand, type MoveCompleted, type MoveStarted } from "./move-commands.ts";
