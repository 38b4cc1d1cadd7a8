/** The consumer-group member actor (issue 10): see machine.ts for its events and effects. */
export { memberMachine, memberStart, memberStep, createMemberState, type MemberContext } from "./machine.ts";
export {
  memberInputProblems,
  resolveMemberConfig,
  type MemberConfig,
  type MemberInput,
  type MemberPlant,
  AUTO_COMMIT_INTERVAL_MS_DEFAULT,
  AUTO_COMMIT_INTERVAL_MS_MAX,
  AUTO_COMMIT_INTERVAL_MS_MIN,
  COMMIT_STALE_RETRIES_MAX,
  HEARTBEAT_INTERVAL_MS_MIN,
  MEMBER_REQUEST_TIMEOUT_MS_MAX,
  MEMBER_TOPICS_MAX,
} from "./config.ts";
export type {
  AssignedPartition,
  MemberAssigned,
  MemberCommit,
  MemberCommitDone,
  MemberCommitted,
  MemberEpochChanged,
  MemberErrorOutput,
  MemberEvent,
  MemberFetched,
  MemberJoined,
  MemberSession,
  MemberLeave,
  MemberLeft,
  MemberLost,
  MemberOutput,
  MemberProcessed,
  MemberRevoke,
  MemberRevoked,
} from "./events.ts";
export type { MemberEffect, MemberState } from "./state.ts";
export { MEMBER_TIMER } from "./state.ts";
