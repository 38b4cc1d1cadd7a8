/**
 * Raft as a pure actor (issue #6): the machine, its input and outputs, and the pieces other
 * actors reuse. See docs/raft.md.
 */
export { raftMachine, TICK_TIMER } from "./machine.ts";
export { controlEntry, decodeEntry, metaOf, stampProposal } from "./entries.ts";
export { RaftLog } from "./log.ts";
export { majority, quorumIndex, voteResult } from "./quorum.ts";
export * from "./types.ts";
