/**
 * Prometheus metrics of real nodes (prom-client), built from the outside of the actors: a
 * `HostObserver` counts what the host sees pass (messages in and out, group commits, reads), and
 * at scrape time gauges are read from the actor's snapshot and its store. Actors stay pure and the
 * simulator pays nothing: it passes no observer.
 *
 * One `ZhumqMetrics` is one registry: `zhumq coordinator`/`broker` make one for their node, and
 * `zhumq dev` one for all its nodes. Every series carries a `node` label (the node id), so a dev
 * cluster's nodes are told apart on one endpoint; process metrics (prom-client's defaults:
 * event-loop lag, heap, GC, CPU) describe the process and carry none.
 *
 * Cardinality is bounded: labels are node ids, result codes (a closed set), topic/partition — and
 * per-partition series stop at `partitionsMax` per node (default 10,000, in the order the broker
 * holds them); `zhumq_broker_partitions` still counts them all and
 * `zhumq_metrics_partitions_not_exported` says how many were left out. No label ever names a
 * producer or a client.
 *
 * Latency: produce from the request's arrival to its reply leaving (after the fsync for acks 1/-1;
 * acks 0 has no reply and is not timed); fetch likewise, so a long poll's wait is included. The
 * request → arrival map is bounded (`IN_FLIGHT_TIMED_MAX`): past it the oldest are forgotten.
 */
import { forEachPart } from "../actors/shared/bundles.ts";
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from "prom-client";
import type { NodeId } from "../ports/transport.ts";
import type { BrokerContext, BrokerOperation } from "../actors/broker/index.ts";
import { groupStateOf, liveBrokers, topicMetadata, type CoordinatorContext } from "../actors/coordinator/index.ts";
import type { CommitObserved, HostObserver } from "./host.ts";

/** Per node, partitions exported with their own series at most (documented in docs/operations.md). */
export const PARTITIONS_EXPORTED_MAX_DEFAULT = 10_000;
/** Requests whose arrival time is remembered for latency at once, per node and kind. */
export const IN_FLIGHT_TIMED_MAX = 100_000;

const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FSYNC_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const GROUP_COMMIT_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

export interface MetricsOptions {
  readonly partitionsMax?: number;
  /** prom-client's process metrics (default true). */
  readonly processMetrics?: boolean;
}

/** What the metrics read at scrape time: the running host's snapshot and store. */
export interface ObservedHost {
  readonly snapshot: { readonly context?: unknown } | undefined;
  readonly durableStore: unknown;
}

interface NodeSource {
  readonly node: NodeId;
  readonly role: "broker" | "coordinator";
  host: ObservedHost | undefined;
  /** Last values of counters read from durable state, so the counters move by the difference. */
  commandsApplied: number;
  leaderEpoch: number;
}

export class ZhumqMetrics {
  readonly registry = new Registry();
  private readonly partitionsMax: number;
  private readonly sources = new Map<NodeId, NodeSource>();
  private readonly m: ReturnType<typeof defineMetrics>;

  constructor(options: MetricsOptions = {}) {
    this.partitionsMax = options.partitionsMax ?? PARTITIONS_EXPORTED_MAX_DEFAULT;
    if (!Number.isSafeInteger(this.partitionsMax) || this.partitionsMax < 0) throw new RangeError(`partitionsMax must be an integer >= 0, got ${this.partitionsMax}`);
    this.m = defineMetrics(this.registry);
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** The observer to give a node's host; `attach` it to the host once started. */
  node(node: NodeId, role: "broker" | "coordinator"): NodeMetrics {
    const source: NodeSource = { node, role, host: undefined, commandsApplied: -1, leaderEpoch: -1 };
    this.sources.set(node, source);
    this.m.nodeInfo.set({ node, role }, 1);
    return new NodeMetrics(this.m, source, () => this.sources.get(node) === source && this.sources.delete(node));
  }

  /** The Prometheus text exposition of every node attached, read fresh. */
  async render(): Promise<{ readonly contentType: string; readonly body: string }> {
    this.refresh();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Gauges read from snapshots and stores; series of stopped nodes and vanished partitions go. */
  private refresh(): void {
    const { partition, broker, coordinator } = this.m;
    for (const gauge of [...Object.values(partition), ...Object.values(broker), ...Object.values(coordinator)]) gauge.reset();
    for (const source of this.sources.values()) {
      if (source.host === undefined) continue;
      const context = source.host.snapshot?.context;
      if (context === undefined) continue;
      if (source.role === "broker") this.refreshBroker(source, context as BrokerContext, source.host.durableStore);
      else {
        const coordinator = coordinatorContextOf(context);
        if (coordinator !== undefined) this.refreshCoordinator(source, coordinator);
      }
    }
  }

  private refreshBroker(source: NodeSource, context: BrokerContext, store: unknown): void {
    const { partition: p, broker: b } = this.m;
    const node = source.node;
    const figures = hasFigures(store) ? store.partitionFigures() : new Map<string, { sizeBytes: number; segments: number }>();
    let exported = 0;
    let leading = 0;
    for (const [key, state] of context.partitions) {
      if (state.leaderEpoch !== undefined) leading++;
      if (exported >= this.partitionsMax) continue;
      exported++;
      const labels = { node, topic: state.topic, partition: String(state.partition) };
      p.endOffset.set(labels, state.endOffset);
      p.highWatermark.set(labels, state.highWatermark);
      p.logStartOffset.set(labels, state.logStartOffset);
      p.damagedRanges.set(labels, state.damaged.length);
      if (state.leader !== undefined) p.isrSize.set(labels, state.leader.isr.length);
      else p.isrSize.remove(labels);
      const figure = figures.get(key);
      if (figure !== undefined) p.sizeBytes.set(labels, figure.sizeBytes);
    }
    let segments = 0;
    for (const figure of figures.values()) segments += figure.segments;
    b.partitions.set({ node }, context.partitions.size);
    b.leaderPartitions.set({ node }, leading);
    b.notExported.set({ node }, context.partitions.size - exported);
    b.openSegments.set({ node }, segments);
    b.pendingFetches.set({ node }, context.parked.size + context.reading.size);
    let open = 0;
    for (const session of context.push.sessions.values()) if (session.binding !== undefined) open++;
    b.pushSessions.set({ node, state: "open" }, open);
    b.pushSessions.set({ node, state: "prepared" }, context.push.sessions.size - open);
  }

  private refreshCoordinator(source: NodeSource, context: CoordinatorContext): void {
    const { coordinator: c, counters } = this.m;
    const node = source.node;
    const nowMs = context.clock.now();
    let partitions = 0;
    let leaderless = 0;
    for (const topic of context.state.topics.values()) {
      for (const partition of topicMetadata(context, topic, nowMs).partitions) {
        partitions++;
        if (partition.leader === null) leaderless++;
      }
    }
    c.brokersLive.set({ node }, liveBrokers(context, nowMs).length);
    c.brokersRegistered.set({ node }, context.state.brokers.length);
    c.topics.set({ node }, context.state.topics.size);
    c.partitions.set({ node }, partitions);
    c.partitionsWithoutLeader.set({ node }, leaderless);
    const groupStates = new Map<string, number>([["empty", 0], ["reconciling", 0], ["stable", 0]]);
    let members = 0;
    for (const group of context.state.groups.groups.values()) {
      const state = groupStateOf(group);
      groupStates.set(state, (groupStates.get(state) ?? 0) + 1);
      members += group.members.size;
    }
    for (const [state, count] of groupStates) c.groups.set({ node, state }, count);
    c.groupMembers.set({ node }, members);
    // Counters kept in the durable state: they move by what changed since the last scrape.
    const applied = context.state.commandsApplied;
    if (source.commandsApplied >= 0 && applied > source.commandsApplied) counters.commandsApplied.inc({ node }, applied - source.commandsApplied);
    else if (source.commandsApplied < 0) counters.commandsApplied.inc({ node }, applied);
    source.commandsApplied = applied;
    const epoch = context.state.lastLeaderEpoch;
    if (source.leaderEpoch >= 0 && epoch > source.leaderEpoch) counters.leaderEpochs.inc({ node }, epoch - source.leaderEpoch);
    else if (source.leaderEpoch < 0) counters.leaderEpochs.inc({ node }, epoch);
    source.leaderEpoch = epoch;
  }
}

/**
 * A coordinator's context: the single coordinator's own, or a quorum replica's serving context
 * (src/actors/coordinator/replicated: `{ replica }`) — undefined while the replica does not serve,
 * so a follower exports none of the gauges read from it.
 */
function coordinatorContextOf(context: unknown): CoordinatorContext | undefined {
  const replica = (context as { replica?: { serving?: CoordinatorContext } }).replica;
  return replica === undefined ? (context as CoordinatorContext) : replica.serving;
}

function hasFigures(store: unknown): store is { partitionFigures(): Map<string, { sizeBytes: number; segments: number }> } {
  return typeof store === "object" && store !== null && typeof (store as { partitionFigures?: unknown }).partitionFigures === "function";
}

/**
 * One node's side: its HostObserver (counters and histograms, updated as things pass) and the
 * hooks the node calls itself (storage events, coordinator outputs, leadership changes).
 */
export class NodeMetrics {
  readonly observer: HostObserver;
  private readonly produceStarts = new Map<string, number>();
  private readonly fetchStarts = new Map<string, number>();
  private readonly labels: { readonly node: NodeId };

  constructor(
    private readonly m: ReturnType<typeof defineMetrics>,
    private readonly source: NodeSource,
    private readonly forget: () => void,
  ) {
    this.labels = { node: source.node };
    this.observer = source.role === "broker" ? this.brokerObserver() : this.coordinatorObserver();
  }

  /** Read gauges from this host from now on. */
  attach(host: ObservedHost): void {
    this.source.host = host;
  }

  /** The node stopped: its series leave the registry at the next scrape. */
  detach(): void {
    this.source.host = undefined;
    this.forget();
    this.m.nodeInfo.remove({ node: this.source.node, role: this.source.role });
  }

  storageEvent(kind: string): void {
    this.m.counters.storageEvents.inc({ ...this.labels, kind });
  }

  leaderChange(change: "gained" | "lost", count: number): void {
    if (count > 0) this.m.counters.leaderChanges.inc({ ...this.labels, change }, count);
  }

  coordinatorOutput(output: unknown): void {
    const type = (output as { type?: unknown } | undefined)?.type;
    if (type === "coordinator.broker.up") this.m.counters.brokerTransitions.inc({ ...this.labels, change: "up" });
    else if (type === "coordinator.broker.down") this.m.counters.brokerTransitions.inc({ ...this.labels, change: "down" });
    else if (type === "coordinator.message.ignored") this.m.counters.ignoredMessages.inc(this.labels);
    else if (type === "coordinator.leader.elected") this.m.counters.elections.inc({ ...this.labels, kind: (output as { unclean?: unknown }).unclean === true ? "unclean" : "clean" });
    else if (type === "coordinator.leader.withdrawn") this.m.counters.elections.inc({ ...this.labels, kind: "withdrawn" });
    else if (type === "coordinator.isr.changed") this.m.counters.isrChanges.inc(this.labels);
    else if (type === "coordinator.quorum.groups.applied") {
      // A quorum replica persists Raft entries, not commands: it says what the entries it applied as leader did.
      const applied = output as { rebalances?: unknown; offsetCommits?: unknown };
      if (typeof applied.rebalances === "number" && applied.rebalances > 0) this.m.counters.rebalances.inc(this.labels, applied.rebalances);
      if (typeof applied.offsetCommits === "number" && applied.offsetCommits > 0) this.m.counters.offsetCommits.inc(this.labels, applied.offsetCommits);
    }
    else if (type === "authorization.refused") {
      const refused = output as { operation?: unknown; resource?: { type?: unknown } };
      // Operations and resource types are closed sets (src/actors/shared/acl.ts): bounded labels.
      this.m.counters.authorizationRefused.inc({ ...this.labels, operation: String(refused.operation), resource: String(refused.resource?.type) });
    }
  }

  private coordinatorObserver(): HostObserver {
    const { counters } = this.m;
    const node = this.source.node;
    const heartbeats = { full: counters.heartbeats.labels({ node, report: "full" }), same: counters.heartbeats.labels({ node, report: "same" }), follows: counters.heartbeats.labels({ node, report: "follows" }), wanted: counters.heartbeats.labels({ node, report: "wanted" }) };
    const rebalances = counters.rebalances.labels({ node });
    const offsetCommits = counters.offsetCommits.labels({ node });
    const messages = messageCounters(counters, node);
    return {
      now: () => performance.now(),
      received: (_from, message) => {
        messages.in.inc();
        const request = message as { type?: unknown; sameReport?: unknown; reportFollows?: unknown };
        if (request.type === "broker.heartbeat") (request.sameReport === true ? heartbeats.same : request.reportFollows === true ? heartbeats.follows : heartbeats.full).inc();
      },
      sent: (_to, message) => {
        messages.out(message);
        const reply = message as { type?: unknown; reportWanted?: unknown };
        if (reply.type === "broker.heartbeat.reply" && reply.reportWanted === true) heartbeats.wanted.inc();
      },
      // Commands the coordinator made durable (src/actors/coordinator/state.ts): a new target
      // assignment is a group rebalance; each committed partition offset is one offset commit.
      committed: (commit: CommitObserved<unknown>) => {
        for (const operation of commit.operations) {
          const command = operation as { type?: unknown; offsets?: unknown };
          if (command.type === "group.target.computed") rebalances.inc();
          else if (command.type === "group.offsets.committed" && Array.isArray(command.offsets)) offsetCommits.inc(command.offsets.length);
        }
      },
    };
  }

  private brokerObserver(): HostObserver {
    const { counters, histograms } = this.m;
    const node = this.source.node;
    // Children bound to their labels once: no label object to build and hash per request.
    const produceResults = boundByResult(counters.produce, node);
    const fetchResults = boundByResult(counters.fetch, node);
    const bytesIn = counters.bytesIn.child({ node });
    const bytesOut = counters.bytesOut.child({ node });
    const produceLatency = histograms.produceLatency.child(node);
    const fetchLatency = histograms.fetchLatency.child(node);
    const fsync = histograms.fsync.child(node);
    const groupCommit = histograms.groupCommit.child(node);
    const now = (): number => performance.now();
    const requestReceived = (from: string, message: unknown): void => {
      const request = message as { type?: string; requestId?: unknown; acks?: unknown; batch?: unknown };
      if (request.type === "produce.request") {
        if (request.batch instanceof Uint8Array) bytesIn.inc(request.batch.length);
        if (request.acks === 0) produceResults("acks0").inc();
        else remember(this.produceStarts, `${from}\n${String(request.requestId)}`, now());
      } else if (request.type === "fetch.request") {
        remember(this.fetchStarts, `${from}\n${String(request.requestId)}`, now());
      }
    };
    const replySent = (to: string, message: unknown): void => {
      const reply = message as { type?: string; requestId?: unknown; error?: { code?: string }; records?: unknown };
      if (reply.type === "produce.reply") {
        produceResults(reply.error?.code ?? "ok").inc();
        timed(this.produceStarts, `${to}\n${String(reply.requestId)}`, now(), produceLatency);
      } else if (reply.type === "fetch.reply") {
        fetchResults(reply.error?.code ?? "ok").inc();
        if (reply.records instanceof Uint8Array) bytesOut.inc(reply.records.length);
        timed(this.fetchStarts, `${to}\n${String(reply.requestId)}`, now(), fetchLatency);
      } else if (reply.type === "push.batch") {
        if (reply.records instanceof Uint8Array) bytesOut.inc(reply.records.length);
      }
    };
    const messages = messageCounters(counters, node);
    return {
      now,
      received: (from, message) => {
        messages.in.inc();
        forEachPart(message, (part) => requestReceived(from, part));
      },
      sent: (to, message) => {
        messages.out(message);
        forEachPart(message, (part) => replySent(to, part));
      },
      committed: (commit: CommitObserved<unknown>) => {
        if (!commit.synced) return;
        let appends = 0;
        for (const operation of commit.operations) if ((operation as BrokerOperation).kind === "append") appends++;
        fsync.observe(commit.syncMs / 1000);
        groupCommit.observe(appends);
      },
    };
  }
}

/**
 * Messages in (one series per node: a peer may send any type, so received types are not labels)
 * and out by type (the types this code sends: a closed set).
 */
function messageCounters(counters: { messagesIn: FastCounter; messagesOut: FastCounter }, node: NodeId): { in: CounterChild; out: (message: unknown) => void } {
  const byType = boundBy(counters.messagesOut, node, "type");
  return {
    in: counters.messagesIn.child({ node }),
    out: (message) => byType(String((message as { type?: unknown }).type)).inc(),
  };
}

/** `result` → the counter's child for (node, result), made on first use (results are a closed set of codes). */
function boundByResult(counter: FastCounter, node: NodeId): (result: string) => CounterChild {
  return boundBy(counter, node, "result");
}

/** `value` → the counter's child for (node, label = value), made on first use (the values are a closed set). */
function boundBy(counter: FastCounter, node: NodeId, label: string): (value: string) => CounterChild {
  const children = new Map<string, CounterChild>();
  return (value) => {
    let child = children.get(value);
    if (child === undefined) children.set(value, (child = counter.child({ node, [label]: value })));
    return child;
  };
}

// ---------------------------------------------------------------- request-path metrics

/*
 * prom-client hashes a label set on every inc/observe, even through a bound child: about a
 * microsecond each, several per produce request. The series updated per request are kept here as
 * plain numbers instead, and handed to the registry as custom metrics (`get()` in prom-client's
 * shape) when it renders.
 */

interface CounterChild {
  value: number;
  inc(by?: number): void;
}

interface MetricValue {
  readonly value: number;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly metricName?: string;
}

class FastCounter {
  readonly type = "counter";
  readonly aggregator = "sum";
  private readonly series = new Map<string, { labels: Record<string, string>; child: CounterChild }>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  child(labels: Record<string, string>): CounterChild {
    const key = Object.values(labels).join("\n");
    const existing = this.series.get(key);
    if (existing !== undefined) return existing.child;
    const child: CounterChild = {
      value: 0,
      inc(by = 1) {
        child.value += by;
      },
    };
    this.series.set(key, { labels, child });
    return child;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values = [...this.series.values()].map(({ labels, child }) => ({ value: child.value, labels }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let index = 0;
    while (index < this.bounds.length && value > this.bounds[index]!) index++;
    this.counts[index]!++;
    this.sum += value;
    this.count++;
  }
}

class FastHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly series = new Map<NodeId, HistogramChild>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {}

  child(node: NodeId): HistogramChild {
    let child = this.series.get(node);
    if (child === undefined) this.series.set(node, (child = new HistogramChild(this.bounds)));
    return child;
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: MetricValue[] } {
    const values: MetricValue[] = [];
    for (const [node, child] of this.series) {
      let cumulative = 0;
      this.bounds.forEach((bound, index) => {
        cumulative += child.counts[index]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { node, le: bound }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { node, le: "+Inf" }, value: child.count });
      values.push({ metricName: `${this.name}_sum`, labels: { node }, value: child.sum });
      values.push({ metricName: `${this.name}_count`, labels: { node }, value: child.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

function remember(starts: Map<string, number>, key: string, atMs: number): void {
  if (starts.size >= IN_FLIGHT_TIMED_MAX) starts.delete(starts.keys().next().value!);
  starts.set(key, atMs);
}

function timed(starts: Map<string, number>, key: string, nowMs: number, histogram: { observe(value: number): void }): void {
  const startedAt = starts.get(key);
  if (startedAt === undefined) return;
  starts.delete(key);
  histogram.observe((nowMs - startedAt) / 1000);
}

function defineMetrics(registry: Registry) {
  const registers = [registry];
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Gauge<L>({ name, help, labelNames, registers });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Counter<L>({ name, help, labelNames, registers });
  const register = <M extends FastCounter | FastHistogram>(metric: M): M => {
    registry.registerMetric(metric as unknown as Metric);
    return metric;
  };
  const fastCounter = (name: string, help: string) => register(new FastCounter(name, help));
  const histogram = (name: string, help: string, buckets: number[]) => register(new FastHistogram(name, help, buckets));
  const partitionLabels = ["node", "topic", "partition"] as const;
  return {
    nodeInfo: gauge("zhumq_node_info", "1 for each node served here, labelled with its role", ["node", "role"]),
    partition: {
      endOffset: gauge("zhumq_partition_end_offset", "Offset the partition's next record gets (written, synced or not)", partitionLabels),
      highWatermark: gauge("zhumq_partition_high_watermark", "Offset below which records are durable and readable by consumers", partitionLabels),
      logStartOffset: gauge("zhumq_partition_log_start_offset", "First offset the partition's log still holds", partitionLabels),
      sizeBytes: gauge("zhumq_partition_size_bytes", "Bytes of the partition's segment files on disk", partitionLabels),
      damagedRanges: gauge("zhumq_partition_damaged_ranges", "Damaged offset ranges known in the partition's log", partitionLabels),
      isrSize: gauge("zhumq_partition_isr_size", "In-sync replicas of a partition this broker leads (itself included); no series where it does not lead", partitionLabels),
    },
    broker: {
      partitions: gauge("zhumq_broker_partitions", "Partitions this broker holds a log for (all of them, exported or not)", ["node"]),
      leaderPartitions: gauge("zhumq_broker_leader_partitions", "Partitions this broker serves as leader", ["node"]),
      notExported: gauge("zhumq_metrics_partitions_not_exported", "Partitions past the per-node cap, with no zhumq_partition_* series", ["node"]),
      openSegments: gauge("zhumq_broker_open_segments", "Segment files open over all partition logs", ["node"]),
      pendingFetches: gauge("zhumq_broker_pending_fetches", "Fetches accepted and not yet answered (long polls waiting, reads running)", ["node"]),
      pushSessions: gauge("zhumq_broker_push_sessions", "Push sessions held: opened by their member, or prepared and not opened yet", ["node", "state"]),
    },
    coordinator: {
      brokersLive: gauge("zhumq_coordinator_brokers_live", "Registered brokers whose lease holds", ["node"]),
      brokersRegistered: gauge("zhumq_coordinator_brokers_registered", "Brokers ever registered", ["node"]),
      topics: gauge("zhumq_coordinator_topics", "Topics", ["node"]),
      partitions: gauge("zhumq_coordinator_partitions", "Partitions over all topics", ["node"]),
      partitionsWithoutLeader: gauge("zhumq_coordinator_partitions_without_leader", "Partitions whose leader is down or has not confirmed it serves", ["node"]),
      groups: gauge("zhumq_coordinator_groups", "Consumer groups by state: empty (no members), reconciling (a member short of its target), stable", ["node", "state"]),
      groupMembers: gauge("zhumq_coordinator_group_members", "Members over all consumer groups", ["node"]),
    },
    counters: {
      produce: fastCounter("zhumq_broker_produce_requests_total", "Produce requests by result: ok, an error code, or acks0 (no reply asked for)"),
      fetch: fastCounter("zhumq_broker_fetch_requests_total", "Fetch requests answered, by result: ok or an error code"),
      bytesIn: fastCounter("zhumq_broker_received_bytes_total", "Record-batch bytes received in produce requests"),
      bytesOut: fastCounter("zhumq_broker_sent_bytes_total", "Record-batch bytes sent in fetch replies"),
      leaderChanges: counter("zhumq_broker_leader_changes_total", "Partitions this broker started (gained) or stopped (lost) leading", ["node", "change"]),
      storageEvents: counter("zhumq_broker_storage_events_total", "Storage recovery events and damaged ranges found, by kind", ["node", "kind"]),
      commandsApplied: counter("zhumq_coordinator_commands_applied_total", "Commands applied to the coordinator's state (replayed ones included)", ["node"]),
      leaderEpochs: counter("zhumq_coordinator_leader_epochs_total", "Leader epochs handed out (the highest so far): a topic creation or a leader election raises it", ["node"]),
      brokerTransitions: counter("zhumq_coordinator_broker_transitions_total", "Brokers seen coming up or going down (lease expired)", ["node", "change"]),
      ignoredMessages: counter("zhumq_coordinator_ignored_messages_total", "Messages the coordinator could not parse and ignored", ["node"]),
      elections: counter("zhumq_coordinator_elections_total", "Fetch-mode leader elections: clean (an in-sync replica), unclean (outside the ISR), withdrawn (no leader until an in-sync one returns)", ["node", "kind"]),
      isrChanges: counter("zhumq_coordinator_isr_changes_total", "In-sync replica set changes committed", ["node"]),
      rebalances: counter("zhumq_coordinator_group_rebalances_total", "Consumer-group rebalances: new target assignments (a new group epoch) made durable", ["node"]),
      offsetCommits: counter("zhumq_coordinator_offset_commits_total", "Partition offsets committed by consumer groups (one per partition in a commit)", ["node"]),
      heartbeats: counter("zhumq_coordinator_broker_heartbeats_total", "Broker heartbeats by report: full, same (left out, the held one stands), follows (changed, the full one still in flight: the held one stands meanwhile), wanted (left out but not held: asked again)", ["node", "report"]),
      messagesIn: fastCounter("zhumq_node_messages_received_total", "Messages the node's actor received (a bundle counts once)"),
      messagesOut: fastCounter("zhumq_node_messages_sent_total", "Messages the node's actor sent, by type (a bundle counts once, as type bundle)"),
      authorizationRefused: counter("zhumq_authorization_refused_total", "Requests refused AUTHORIZATION_FAILED (no ACL allows them), by operation and resource type", ["node", "operation", "resource"]),
    },
    histograms: {
      produceLatency: histogram("zhumq_broker_produce_latency_seconds", "Produce request arrival to reply (acks 1/-1), fsync included", LATENCY_BUCKETS_SECONDS),
      fetchLatency: histogram("zhumq_broker_fetch_latency_seconds", "Fetch request arrival to reply, long-poll wait included", LATENCY_BUCKETS_SECONDS),
      fsync: histogram("zhumq_broker_fsync_duration_seconds", "Duration of one group commit's sync of every log written", FSYNC_BUCKETS_SECONDS),
      groupCommit: histogram("zhumq_broker_group_commit_batches", "Record batches made durable by one sync", GROUP_COMMIT_BUCKETS),
    },
  };
}
