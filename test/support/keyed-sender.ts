/**
 * Test support: single-message keyed sends (`order-<n>` values, `customer-<n % keys>` keys) at a
 * steady rate until `stop()`, at most `inFlightMax` awaiting their answer; every acknowledgement
 * is kept for the group checker (`AckedSend`), every SendError as a failure line. The real-process
 * group tests (kill9-groups, kill9-push) write through it.
 */
import { SendError, type Producer } from "../../src/index.ts";
import type { AckedSend } from "../../src/sim/groups/checker.ts";
import { sleep } from "./replicated-cluster.ts";

export interface KeyedSendOptions {
  readonly topic: string;
  /** Messages per second. */
  readonly rate: number;
  readonly inFlightMax: number;
  readonly keys: number;
}

export class KeyedSender {
  readonly acked: AckedSend[] = [];
  readonly failures: string[] = [];
  private stopping = false;
  private readonly running: Promise<void>;

  constructor(
    private readonly producer: Producer,
    private readonly options: KeyedSendOptions,
  ) {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private async loop(): Promise<void> {
    const outstanding = new Set<Promise<void>>();
    const startedAt = Date.now();
    for (let id = 0; !this.stopping; id++) {
      const dueAt = startedAt + (id * 1_000) / this.options.rate;
      if (dueAt > Date.now() + 2) await sleep(dueAt - Date.now());
      while (outstanding.size >= this.options.inFlightMax) await Promise.race(outstanding);
      const tracked = this.send(id).finally(() => outstanding.delete(tracked));
      outstanding.add(tracked);
    }
    await Promise.all(outstanding);
  }

  private async send(id: number): Promise<void> {
    const value = `order-${id}`;
    const { topic } = this.options;
    try {
      const [result] = await this.producer.send({ topic, messages: [{ key: `customer-${id % this.options.keys}`, value }] });
      this.acked.push({ atMs: Date.now(), value, topic, partition: result!.partition, offset: result!.offset });
    } catch (error) {
      if (!(error instanceof SendError)) throw error;
      this.failures.push(`${value}: ${error.outcomes[0]?.status} ${error.message}`);
    }
  }
}
