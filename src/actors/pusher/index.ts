/** The pusher actor (issue 11): the member side of push sessions. See machine.ts. */
export { pusherMachine, pusherStep, createPusherState, type PusherContext } from "./machine.ts";
export {
  pusherInputProblems,
  resolvePusherConfig,
  type PusherConfig,
  type PusherDamagedDataPolicy,
  type PusherInput,
  PUSHER_BEYOND_END_RETRIES_MAX,
  PUSHER_IDLE_TIMEOUT_MS_MIN,
  PUSHER_PARTITIONS_MAX,
  PUSHER_REOPENS_WITHOUT_PROGRESS_MAX,
  PUSHER_REQUEST_TIMEOUT_MS_MAX,
  PUSHER_WINDOW_BATCHES_MAX,
  PUSHER_WINDOW_BYTES_MAX,
  PUSHER_WINDOW_BYTES_MIN,
} from "./config.ts";
export type { PusherAdd, PusherDone, PusherErrorOutput, PusherEvent, PusherMember, PusherOutput, PusherPartitionStart, PusherPositioned, PusherRecords, PusherRemove, PusherReset, PusherStop } from "./events.ts";
export type { PusherEffect, PusherState } from "./state.ts";
export { PUSHER_TIMER } from "./state.ts";
