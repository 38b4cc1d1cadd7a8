/**
 * One partition's stream of records: a consumer actor (src/actors/consumer, the simulator's
 * machine) reading exactly that partition, on its own endpoint of the client node.
 *
 * Why one actor per partition: backpressure. The actor fetches back to back and has no pause;
 * the client must not buffer without bound behind a slow handler. So when a partition's undelivered
 * records pass a bound, its feed stops the actor (`pause`) and later starts a new one at the next
 * offset it has not queued (`resume`) — which a per-partition actor can, since its start position
 * (`from: { offset }`) is then that partition's alone. A pause drops nothing: records are queued
 * before the position moves past them, and a fetch answered after the stop is simply not asked
 * for again.
 *
 * Positions, per partition:
 * - `queuedNext`: the offset after the last record handed to the sink (or where a reset moved
 *   to) — where a resumed actor starts;
 * - `handledNext`: the offset after the last record the application finished with — where the
 *   next `run` starts after this one stopped (queued, unhandled records are fetched again).
 * The first actor starts per the consumer's `from`. `positioned` turns true when the actor sends
 * its first fetch: from then on it has a position, so with `from: "latest"` anything produced
 * afterwards will be read.
 */
import type { ActorHost, HostCrash } from "../host/host.ts";
import { ActorHost as Host } from "../host/host.ts";
import { describeCrash } from "../host/real.ts";
import { consumerDefinition, type ConsumerSettings } from "../host/stores/clients.ts";
import type { consumerMachine, StartFrom } from "../actors/consumer/index.ts";
import type { ConsumerOutput } from "../actors/consumer/events.ts";
import { ZhumqError } from "../actors/shared/errors.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import type { ClientNode, Endpoint } from "./client-node.ts";
import type { ClientContext } from "./context.ts";
import { ClientCrashError } from "./errors.ts";
import { FeedBase, recordsBytes } from "./feed.ts";

export type { FeedBatch, FeedSink } from "./feed.ts";

type ConsumerHost = ActorHost<typeof consumerMachine, ZhumqMessage, never, undefined>;

/** The actor settings every feed of a consumer shares; `topic`, `partitions` and `from` are per feed. */
export type FeedSettings = Omit<ConsumerSettings, "topic" | "partitions" | "from">;

export class PartitionFeed extends FeedBase {
  private host: ConsumerHost | undefined;
  /** The actor being started, if it is not up yet: `stop` waits for it. */
  private starting: Promise<void> | undefined;
  private endpoint: Endpoint | undefined;
  private generation = 0;

  constructor(
    topic: string,
    partition: number,
    private readonly from: StartFrom,
    private readonly context: ClientContext,
    private readonly node: ClientNode,
    private readonly settings: FeedSettings,
  ) {
    super(topic, partition);
  }

  /** Start reading at `offset`, or per `from` when there is no position yet. */
  start(offset: number | undefined): void {
    if (this.active) return;
    this.active = true;
    this.queuedNext = offset;
    const generation = ++this.generation;
    const endpoint = this.node.endpoint({ sent: (_to, message) => this.onSent(generation, message) });
    this.endpoint = endpoint;
    const definition = consumerDefinition({
      ...this.settings,
      // The coordinator replicas as this client knows them now, not as when the consumer was made:
      // a feed started after every replica it was made with was replaced must find the new ones.
      coordinator: this.context.coordinators,
      topic: this.topic,
      partitions: [this.partition],
      from: offset === undefined ? this.from : { offset },
    });
    const hooks = {
      onCrash: (crash: HostCrash) => this.onCrash(generation, crash),
      onNotify: (output: unknown) => this.onOutput(generation, output as ConsumerOutput),
    };
    const starting = Host.start(definition, this.context.actorPorts(endpoint, `consumer-${this.topic}-${this.partition}`), hooks).then(
      async (host) => {
        if (generation === this.generation) this.host = host;
        else await stopHost(host);
      },
      (error: unknown) => this.onCrash(generation, { actor: "consumer", node: endpoint.self, event: "start", error }),
    );
    this.starting = starting;
    void starting.finally(() => {
      if (this.starting === starting) this.starting = undefined;
    });
  }

  /** Stop the actor; the positions stay, so `start(queuedNext)` carries on where it left off. */
  async stop(): Promise<void> {
    if (!this.active) return;
    this.active = false;
    this.generation++;
    const host = this.host;
    this.host = undefined;
    this.endpoint?.close();
    this.endpoint = undefined;
    // An actor still starting sees the new generation and stops itself; wait for that too.
    await Promise.all([host === undefined ? undefined : stopHost(host), this.starting]);
  }

  private onSent(generation: number, message: ZhumqMessage): void {
    if (generation !== this.generation || this.positioned || message.type !== "fetch.request") return;
    // The first fetch shows where `from` put us: a later run starts here if nothing was handled.
    this.handled ??= message.offset; // a position, not something handled: no onHandled
    this.queuedNext ??= message.offset;
    this.positioned = true;
    this.sink?.positioned(this);
  }

  private onOutput(generation: number, output: ConsumerOutput): void {
    if (generation !== this.generation) return;
    switch (output.type) {
      case "consumer.records": {
        const last = output.records[output.records.length - 1];
        if (last === undefined) return;
        this.queuedNext = last.offset + 1;
        this.sink?.batch(this, { records: output.records, bytes: recordsBytes(output.records) });
        return;
      }
      case "consumer.reset":
        this.queuedNext = output.offset;
        this.sink?.reset(this, output);
        return;
      case "consumer.error": {
        const error = new ZhumqError(output.error.code, `${this.topic}/${this.partition}: ${output.error.message}`);
        this.sink?.failed(this, error);
        return;
      }
    }
  }

  private onCrash(generation: number, crash: HostCrash): void {
    if (generation !== this.generation) return;
    this.sink?.failed(this, new ClientCrashError(describeCrash(crash), { cause: crash.error }));
  }
}

async function stopHost(host: ConsumerHost): Promise<void> {
  host.send({ type: "consumer.stop" });
  await host.stop({ drain: true });
}
