/**
 * Quiesced Raft groups: an idle group costs its broker nothing per tick and its link nothing per
 * heartbeat (issue 12 item 3), in the manner of CockroachDB's quiesced ranges.
 *
 * A leader whose group is idle — every entry committed, applied and durable, every follower
 * matched, nothing waiting — *quiesces* it: at a beat tick it sends one last heartbeat (carrying
 * the commit index) and names the group in that tick's **beat** to each follower as a *join*
 * (group, term). From then on the host no longer ticks the group's core, so the core sends no
 * heartbeats. Instead the host sends each peer one beat per heartbeat period: "every leadership I
 * announced to you in this stream is still alive". The follower's host notes the joins it can
 * verify — its core, having just handled that heartbeat, follows exactly that leader in exactly
 * that term — and stops ticking those groups too; each beat from the leader's host then stands
 * for a heartbeat of every group quiesced under it.
 *
 * Any event a core must handle wakes the group first or checks it after: a proposal, a persist,
 * a read, a message other than an acknowledgement (a vote request, say). A leader group that is
 * no longer idle after an event wakes: it ticks again, and its departure is a *leave* that rides
 * every beat to the followers until they acknowledge it. A follower group wakes when its core no
 * longer follows that leader in that term, or when the leader's beats stop for an election
 * timeout (then it campaigns after the rest of a randomized timeout, as if it had been ticking).
 *
 * Safety: a follower resets an election clock only for a group whose term and leader it verified
 * itself (the join is accepted only right after its core handled the leader's heartbeat of that
 * term), and only on beats of the same leader process (incarnation) and stream. Leaves are
 * numbered in the stream: a beat carries every leave the follower has not acknowledged, so a
 * follower that accepts beat n knows every leave up to n; a join rides a beat and carries that
 * beat's number, so a later leave of the group always outnumbers it. A beat older than one
 * already applied is ignored; a new leader incarnation (restart) or stream wakes everything of
 * the old one. The leader, for its part, quiesces a group only while every follower's host has
 * acknowledged a beat within a heartbeat period or two, and wakes every group of a peer whose
 * acknowledgements stop for an election timeout (its check-quorum then runs as usual, each
 * follower counted active only if its host acknowledged recently).
 *
 * Nothing here changes a Raft message or the Raft actor's rules: a quiesced core simply is not
 * ticked, and the clocks it would have counted are set on waking (a follower's election clock to
 * the ticks since its leader's last beat, so its lease — ignoring vote requests — is exact).
 */
import type { NodeId } from "../shared/ids.ts";
import type { RaftMessage } from "../raft/types.ts";
import { bcastHeartbeat } from "../raft/replication.ts";
import { serving, type RaftReplica } from "./raft-replica.ts";

/** One leave in a beat: the group stopped being quiesced under this leader at `seq`. */
export interface BeatLeave {
  readonly group: string;
  readonly seq: number;
}

/** One join in a beat: the group is quiesced under this leader at `term`. */
export interface BeatJoin {
  readonly group: string;
  readonly term: number;
}

/** The leader host's beat to one follower host: rides its `broker.raft` bundle. */
export interface RaftBeat {
  /** The leader process (BrokerContext.incarnation). */
  readonly incarnation: number;
  /** Restarted whenever the follower's acknowledgements stopped or its process changed. */
  readonly stream: number;
  /** Leaves numbered so far in the stream. */
  readonly seq: number;
  readonly leaves: readonly BeatLeave[];
  readonly joins: readonly BeatJoin[];
}

/** The follower host's acknowledgement of a beat: rides its bundle back. */
export interface RaftBeatAck {
  /** The follower process. */
  readonly incarnation: number;
  /** The beat acknowledged: its leader incarnation, stream and number. */
  readonly leader: number;
  readonly stream: number;
  readonly seq: number;
}

/** Beats and acknowledgements travel in at most this many entries (joins or leaves) per beat. */
export const BEAT_ENTRIES_MAX = 20_000;

/** Leader side, per follower peer. */
interface PeerOut {
  stream: number;
  seq: number;
  /** Leaves not yet acknowledged, oldest first. */
  leaves: BeatLeave[];
  /** Joins to announce in the next beat. */
  joins: BeatJoin[];
  /** Host tick of the last acknowledgement of the current stream (-Infinity: none). */
  lastAckTick: number;
  /** The follower process that acknowledged last. */
  incarnation: number | undefined;
  /** Groups quiesced here with this peer as a follower. */
  readonly groups: Set<string>;
}

/** Follower side, per leader peer. */
interface PeerIn {
  incarnation: number;
  stream: number;
  /** Highest beat number applied. */
  seq: number;
  lastBeatTick: number;
  /** Groups quiesced here under this peer. */
  readonly groups: Set<string>;
  /**
   * Groups woken because this peer's beats stopped, with the records they had: a late beat of the
   * same leader process and stream quiesces again each that still follows as recorded and was not
   * left in the meantime (`onBeatFields`). A slow leader host then costs its followers one
   * election timeout of ticking, not an election for every group it leads.
   */
  lapsed: Map<string, Following>;
  /** An acknowledgement to send with the next flush. */
  ack: RaftBeatAck | undefined;
}

interface Following {
  readonly leader: NodeId;
  readonly term: number;
  readonly incarnation: number;
  readonly stream: number;
  readonly joinSeq: number;
}

export interface QuiesceState {
  /** Host ticks so far. */
  ticks: number;
  /** Leader side: groups quiesced here as leader → the term and their followers. */
  readonly leading: Map<string, { readonly term: number; readonly peers: readonly NodeId[] }>;
  readonly toPeer: Map<NodeId, PeerOut>;
  /** Follower side: groups quiesced here as follower. */
  readonly following: Map<string, Following>;
  readonly fromPeer: Map<NodeId, PeerIn>;
  /** Peers owed a beat at this flush (a beat tick). */
  beatDue: boolean;
}

export function emptyQuiesce(): QuiesceState {
  return { ticks: 0, leading: new Map(), toPeer: new Map(), following: new Map(), fromPeer: new Map(), beatDue: false };
}

/** Whether the host skips this group's tick. */
export function isQuiesced(state: QuiesceState, group: string): boolean {
  return state.leading.has(group) || state.following.has(group);
}

/** The view of the host this module needs (raft-host.ts passes its state). */
export interface QuiesceHost {
  readonly groups: ReadonlyMap<string, RaftReplica>;
  readonly parked: ReadonlySet<string>;
  /** The groups the host ticks (raft-host.ts): a group woken here enters it. */
  readonly awake: Set<string>;
  readonly settings: { readonly heartbeatTicks: number; readonly electionTicks: number };
  readonly quiesce: QuiesceState;
}

// ---------------------------------------------------------------- the idle test

/** Whether a leader's group is idle: nothing for its core to do until something happens to it. */
export function idleLeader(replica: RaftReplica): boolean {
  const core = replica.core;
  if (core.role !== "leader" || !serving(replica) || core.transferee !== null) return false;
  const last = core.log.lastIndex;
  if (core.commitIndex !== last || core.appliedIndex !== last || core.syncedIndex !== last || core.writtenIndex !== last) return false;
  if (core.pendingConfigIndex > core.commitIndex || core.uncommittedBytes !== 0) return false;
  if (core.applyReading || core.applyStalled || core.voteWriteDelayTicks !== 0 || core.readPurposes.size !== 0) return false;
  if (core.reads.waiting.length !== 0 || core.reads.pending.length !== 0 || core.reads.ready.length !== 0) return false;
  if (replica.waiting.size !== 0 || replica.speculative === undefined) return false;
  for (const voter of core.voters) {
    if (voter === core.self) continue;
    const progress = core.progress.get(voter);
    if (progress === undefined || progress.match !== last || progress.state !== "replicate" || progress.inflightCount !== 0 || progress.reading !== undefined) return false;
  }
  return true;
}

/** Whether a follower's core still follows as recorded and needs no tick for anything of its own. */
function stillFollowing(replica: RaftReplica, record: Following): boolean {
  const core = replica.core;
  return core.role === "follower" && core.term === record.term && core.leader === record.leader && !core.applyStalled && core.voteWriteDelayTicks === 0;
}

// ---------------------------------------------------------------- waking

function peerOut(state: QuiesceState, peer: NodeId): PeerOut {
  let out = state.toPeer.get(peer);
  if (out === undefined) {
    out = { stream: 0, seq: 0, leaves: [], joins: [], lastAckTick: -Infinity, incarnation: undefined, groups: new Set() };
    state.toPeer.set(peer, out);
  }
  return out;
}

function ackedRecently(host: QuiesceHost, out: PeerOut | undefined, within: number): boolean {
  return out !== undefined && host.quiesce.ticks - out.lastAckTick <= within;
}

/** A leader's group leaves quiescence: it ticks again; each follower hears a leave. */
export function wakeLeader(host: QuiesceHost, group: string): void {
  const state = host.quiesce;
  const entry = state.leading.get(group);
  if (entry === undefined) return;
  state.leading.delete(group);
  host.awake.add(group);
  for (const peer of entry.peers) {
    const out = state.toPeer.get(peer);
    if (out === undefined || !out.groups.delete(group)) continue;
    out.joins = out.joins.filter((join) => join.group !== group);
    out.leaves.push({ group, seq: ++out.seq });
  }
  const replica = host.groups.get(group);
  if (replica === undefined || replica.core.role !== "leader") return;
  // Check-quorum resumes from now; a follower counts as heard from if its host acknowledged a beat within an election timeout.
  replica.core.electionElapsed = 0;
  for (const [peer, progress] of replica.core.progress) progress.recentActive = ackedRecently(host, state.toPeer.get(peer), host.settings.electionTicks);
}

/** A follower's group leaves quiescence with its election clock at `elapsed` ticks. */
function wakeFollower(host: QuiesceHost, group: string, elapsed: number): void {
  const state = host.quiesce;
  const record = state.following.get(group);
  if (record === undefined) return;
  state.following.delete(group);
  host.awake.add(group);
  state.fromPeer.get(record.leader)?.groups.delete(group);
  const replica = host.groups.get(group);
  if (replica !== undefined && replica.core.role === "follower") replica.core.electionElapsed = Math.max(replica.core.electionElapsed, elapsed);
}

/** Ticks since the beat that last vouched for this follower record (Infinity when none did). */
function sinceBeat(state: QuiesceState, record: Following): number {
  const peer = state.fromPeer.get(record.leader);
  if (peer === undefined || peer.incarnation !== record.incarnation || peer.stream !== record.stream) return Infinity;
  return state.ticks - peer.lastBeatTick;
}

/**
 * A Raft message is about to reach a group's core. A quiesced follower's election clock is set to
 * the ticks since its leader's last beat (so a vote request meets the exact lease); a quiesced
 * leader wakes for anything but an acknowledgement.
 */
export function beforeMessage(host: QuiesceHost, replica: RaftReplica, message: RaftMessage): void {
  const state = host.quiesce;
  const record = state.following.get(replica.group);
  if (record !== undefined) {
    const since = sinceBeat(state, record);
    replica.core.electionElapsed = Math.min(since, host.settings.electionTicks * 2);
    return;
  }
  if (!state.leading.has(replica.group)) return;
  if (message.type === "raft.heartbeat.reply" || (message.type === "raft.append.reply" && message.success)) return;
  wakeLeader(host, replica.group);
}

/** After any event a group's core handled: a quiesced group that is no longer idle wakes. */
export function afterEvent(host: QuiesceHost, replica: RaftReplica): void {
  const state = host.quiesce;
  const leading = state.leading.get(replica.group);
  if (leading !== undefined && (replica.core.term !== leading.term || !idleLeader(replica))) wakeLeader(host, replica.group);
  const record = state.following.get(replica.group);
  if (record !== undefined && !stillFollowing(replica, record)) wakeFollower(host, replica.group, 0);
}

// ---------------------------------------------------------------- the host tick

/**
 * Once per host tick (after the active groups ticked): every heartbeat period, quiesce the idle
 * leaders (their last heartbeat goes out through `flush`, which the caller passes: raft-host's
 * afterCore), wake the groups of followers whose acknowledgements stopped, and owe every
 * follower peer a beat; every tick, wake followers whose leader's beats stopped.
 */
export function quiesceTick(host: QuiesceHost, flush: (replica: RaftReplica) => void): void {
  const state = host.quiesce;
  state.ticks++;
  const { heartbeatTicks, electionTicks } = host.settings;
  for (const incoming of state.fromPeer.values()) {
    if (incoming.groups.size === 0 || state.ticks - incoming.lastBeatTick < electionTicks) continue;
    for (const group of [...incoming.groups]) {
      const record = state.following.get(group);
      if (record !== undefined) incoming.lapsed.set(group, record);
      wakeFollower(host, group, electionTicks);
    }
  }
  if (state.ticks % heartbeatTicks !== 0) return;
  // Quiesced groups gone or parked since wake (rare: collected first, without copying the maps).
  const gone = (group: string): boolean => !host.groups.has(group) || host.parked.has(group);
  let leadersGone: string[] | undefined;
  for (const group of state.leading.keys()) if (gone(group)) (leadersGone ??= []).push(group);
  for (const group of leadersGone ?? []) wakeLeader(host, group);
  let followersGone: string[] | undefined;
  for (const group of state.following.keys()) if (gone(group)) (followersGone ??= []).push(group);
  for (const group of followersGone ?? []) wakeFollower(host, group, 0);
  for (const [peer, out] of state.toPeer) {
    if (ackedRecently(host, out, electionTicks)) continue;
    // The peer's host stopped answering: its groups tick again, and a new stream starts (so
    // nothing it may have missed is ever assumed).
    for (const group of [...out.groups]) wakeLeader(host, group);
    if (out.lastAckTick !== -Infinity || out.seq > 0) state.toPeer.set(peer, { stream: out.stream + 1, seq: 0, leaves: [], joins: [], lastAckTick: -Infinity, incarnation: out.incarnation, groups: new Set() });
  }
  // Only awake groups can quiesce: with a thousand quiesced groups this walk costs nothing for them.
  for (const group of host.awake) {
    const replica = host.groups.get(group);
    if (replica === undefined) continue;
    const core = replica.core;
    if (core.role !== "leader" || state.leading.has(group) || host.parked.has(group)) continue;
    const peers = core.voters.filter((voter) => voter !== core.self);
    for (const peer of peers) peerOut(state, peer);
    if (!idleLeader(replica)) continue;
    if (!peers.every((peer) => ackedRecently(host, state.toPeer.get(peer), 2 * heartbeatTicks))) continue;
    bcastHeartbeat(core, core.reads.context); // the last heartbeat: it carries the commit index
    flush(replica);
    state.leading.set(group, { term: core.term, peers });
    for (const peer of peers) {
      const out = state.toPeer.get(peer)!;
      out.groups.add(group);
      out.joins.push({ group, term: core.term });
    }
  }
  state.beatDue = true;
}

// ---------------------------------------------------------------- the wire

/** The beat (when one is due) and acknowledgement for each peer, to ride this flush's bundles. */
export function takeBeats(state: QuiesceState, incarnation: number): Map<NodeId, { beat?: RaftBeat; beatAck?: RaftBeatAck }> {
  const extras = new Map<NodeId, { beat?: RaftBeat; beatAck?: RaftBeatAck }>();
  if (state.beatDue) {
    state.beatDue = false;
    for (const [peer, out] of state.toPeer) {
      const joins = out.joins.slice(0, BEAT_ENTRIES_MAX);
      out.joins = out.joins.slice(joins.length);
      // A beat numbered n carries every unacknowledged leave up to n: when they do not all fit,
      // the beat is numbered by the last one it carries.
      const leaves = out.leaves.slice(0, BEAT_ENTRIES_MAX);
      const seq = leaves.length < out.leaves.length ? leaves[leaves.length - 1]!.seq : out.seq;
      extras.set(peer, { beat: { incarnation, stream: out.stream, seq, leaves, joins } });
    }
  }
  for (const [peer, incoming] of state.fromPeer) {
    if (incoming.ack === undefined) continue;
    extras.set(peer, { ...extras.get(peer), beatAck: incoming.ack });
    incoming.ack = undefined;
  }
  return extras;
}

type Fields = Readonly<Record<string, unknown>>;

const isCount = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
const isGroup = (value: unknown): value is string => typeof value === "string" && value.length <= 512;
const isRecord = (value: unknown): value is Fields => typeof value === "object" && value !== null && !Array.isArray(value);

/** The beat of a bundle, when it has a well-formed one (a malformed beat is ignored: the next one comes). */
export function parseBeat(value: unknown): RaftBeat | undefined {
  if (!isRecord(value) || !isCount(value.incarnation) || !isCount(value.stream) || !isCount(value.seq)) return undefined;
  const { leaves, joins } = value;
  if (!Array.isArray(leaves) || !Array.isArray(joins) || leaves.length > BEAT_ENTRIES_MAX || joins.length > BEAT_ENTRIES_MAX) return undefined;
  if (!leaves.every((leave) => isRecord(leave) && isGroup(leave.group) && isCount(leave.seq) && leave.seq <= (value.seq as number))) return undefined;
  if (!joins.every((join) => isRecord(join) && isGroup(join.group) && isCount(join.term))) return undefined;
  return value as unknown as RaftBeat;
}

export function parseBeatAck(value: unknown): RaftBeatAck | undefined {
  if (!isRecord(value) || !isCount(value.incarnation) || !isCount(value.leader) || !isCount(value.stream) || !isCount(value.seq)) return undefined;
  return value as unknown as RaftBeatAck;
}

/**
 * A bundle's beat and acknowledgement, before its Raft messages reach the cores: the beat's
 * leaves wake followers, the beat refreshes every group quiesced under it; an acknowledgement
 * keeps the leader's groups quiesced. Returns the joins to check once the messages were handled.
 */
export function onBeatFields(host: QuiesceHost, from: NodeId, incarnation: number, message: Fields): { beat: RaftBeat; joins: readonly BeatJoin[] } | undefined {
  const state = host.quiesce;
  const ack = message.beatAck === undefined ? undefined : parseBeatAck(message.beatAck);
  if (ack !== undefined && ack.leader === incarnation) {
    const out = state.toPeer.get(from);
    if (out !== undefined && ack.stream === out.stream && ack.seq <= out.seq) {
      if (out.incarnation !== undefined && out.incarnation !== ack.incarnation) {
        // The follower's process restarted: it remembers no quiesced group; wake ours.
        for (const group of [...out.groups]) wakeLeader(host, group);
      }
      out.incarnation = ack.incarnation;
      out.lastAckTick = state.ticks;
      out.leaves = out.leaves.filter((leave) => leave.seq > ack.seq);
    }
  }
  const beat = message.beat === undefined ? undefined : parseBeat(message.beat);
  if (beat === undefined) return undefined;
  let incoming = state.fromPeer.get(from);
  if (incoming !== undefined && incoming.incarnation === beat.incarnation && (beat.stream < incoming.stream || (beat.stream === incoming.stream && beat.seq < incoming.seq))) return undefined; // older than one applied
  if (incoming === undefined || incoming.incarnation !== beat.incarnation || incoming.stream !== beat.stream) {
    // Another leader process or stream: nothing announced before stands.
    if (incoming !== undefined) for (const group of [...incoming.groups]) wakeFollower(host, group, state.ticks - incoming.lastBeatTick);
    incoming = { incarnation: beat.incarnation, stream: beat.stream, seq: 0, lastBeatTick: state.ticks, groups: new Set(), lapsed: new Map(), ack: undefined };
    state.fromPeer.set(from, incoming);
  }
  for (const leave of beat.leaves) {
    const lapsed = incoming.lapsed.get(leave.group);
    if (lapsed !== undefined && leave.seq > lapsed.joinSeq) incoming.lapsed.delete(leave.group);
    const record = state.following.get(leave.group);
    if (record !== undefined && record.leader === from && record.incarnation === beat.incarnation && record.stream === beat.stream && leave.seq > record.joinSeq) wakeFollower(host, leave.group, 0);
  }
  if (incoming.lapsed.size > 0) requiesceLapsed(host, from, incoming);
  incoming.seq = beat.seq;
  incoming.lastBeatTick = state.ticks;
  incoming.ack = { incarnation, leader: beat.incarnation, stream: beat.stream, seq: beat.seq };
  return { beat, joins: beat.joins };
}

/**
 * A late beat of the stream whose silence woke these groups: it stands for every group quiesced
 * under it that it does not name as left (the leaves up to its number were just applied), so
 * each lapsed group whose core still follows as recorded — it has not campaigned, voted or moved
 * to another term — is quiesced again, as if the beat had come in time.
 */
function requiesceLapsed(host: QuiesceHost, from: NodeId, incoming: PeerIn): void {
  const state = host.quiesce;
  for (const [group, record] of incoming.lapsed) {
    const replica = host.groups.get(group);
    if (replica === undefined || host.parked.has(group) || state.leading.has(group) || state.following.has(group)) continue;
    if (record.leader !== from || record.incarnation !== incoming.incarnation || record.stream !== incoming.stream || !stillFollowing(replica, record)) continue;
    replica.core.electionElapsed = 0; // the beat vouches for its leader now, as its heartbeat would
    state.following.set(group, record);
    incoming.groups.add(group);
  }
  incoming.lapsed.clear();
}

/**
 * The joins of a beat, after the bundle's messages (among them each group's last heartbeat) were
 * handled: a group is quiesced here only when its core now follows `from` in exactly the join's
 * term — verified by this broker, never taken on the leader's word.
 */
export function acceptJoins(host: QuiesceHost, from: NodeId, beat: RaftBeat, joins: readonly BeatJoin[]): void {
  const state = host.quiesce;
  const incoming = state.fromPeer.get(from);
  if (incoming === undefined || incoming.incarnation !== beat.incarnation || incoming.stream !== beat.stream || incoming.seq !== beat.seq) return;
  for (const join of joins) {
    const replica = host.groups.get(join.group);
    if (replica === undefined || host.parked.has(join.group) || state.leading.has(join.group)) continue;
    const record: Following = { leader: from, term: join.term, incarnation: beat.incarnation, stream: beat.stream, joinSeq: beat.seq };
    if (!stillFollowing(replica, record) || replica.core.electionElapsed !== 0) continue;
    const previous = state.following.get(join.group);
    if (previous !== undefined) state.fromPeer.get(previous.leader)?.groups.delete(join.group);
    state.following.set(join.group, record);
    incoming.groups.add(join.group);
  }
}
