/**
 * The host's persist → sync → send pipeline, with group commit that overlaps.
 *
 * Batches (everything one actor event produced) are carried out in order: persist the
 * operations, sync if any asked for it, then hand the batch back (`deliver`: the host sends its
 * messages and tells the actor what was persisted). Rules:
 *
 * - Persists run one at a time, in batch order. Commits (a sync, then `deliver`) run one at a
 *   time, in batch order, each after its own persist. So a send never leaves before every
 *   persist and sync emitted before it (effects.ts's ordering rule).
 * - Overlap: while a commit's sync is in flight, batches that arrive are persisted at once when
 *   the store says it can take them during a sync (`persistDuringSync`): the fsync already
 *   running does not wait for them, nor they for it. They form the next group; when the running
 *   commit ends, ONE sync covers the whole group (it is called after every one of them was
 *   persisted), and their sends wait for that sync — never just for the one that was already
 *   running when they were appended. A store that cannot (or batches it refuses) waits for the
 *   running commit first, as without overlap.
 * - Group commit without overlap too: batches queued while a persist runs are merged into one
 *   persist, and every batch persisted while a commit runs joins the next sync.
 *
 * A thrown persist or sync stops the pipeline (`fail`: the host crashes the actor).
 */

export interface Committable<Operation> {
  readonly operations: readonly Operation[];
  readonly sync: boolean;
}

/** What the store must offer; `persistDuringSync` is optional (absent: never overlap). */
export interface PipelineStore<Operation> {
  persist(operations: readonly Operation[]): Promise<readonly unknown[] | void>;
  sync(): Promise<readonly unknown[] | void>;
  /**
   * Whether these operations may be persisted while a sync is running. If so the store must keep
   * its own state consistent (a sync that fails meanwhile, say), and that sync need not cover them.
   */
  persistDuringSync?(operations: readonly Operation[]): boolean;
}

/** One completed commit: the merged batch, what the store refused, and time spent (observer's clock). */
export interface Commit<Batch> {
  readonly batch: Batch;
  readonly rejected: readonly unknown[];
  readonly persistMs: number;
  readonly syncMs: number;
}

export interface PipelineHooks<Batch> {
  /** Merge batches in order into one (operations concatenated, sync if any asked). */
  merge(batches: Batch[]): Batch;
  /** The group's persist (and sync) is done: send, tell the actor. May push new batches. */
  deliver(commit: Commit<Batch>): void;
  fail(error: unknown): void;
  stopped(): boolean;
  /** The simulator drains promise continuations when told that promise work started. */
  notePendingWork?(): void;
  /** A clock for the durations in `Commit` (real nodes' observers); without it they are 0. */
  now?(): number;
}

interface Group<Batch> {
  batches: Batch[];
  rejected: unknown[];
  persistMs: number;
}

export class CommitPipeline<Operation, Batch extends Committable<Operation>> {
  private readonly queue: Batch[] = [];
  /** Persisted, waiting for its sync (the next commit). */
  private group: Group<Batch> | undefined;
  private running = false;
  private committing = false;
  private waiting: (() => void) | undefined;
  /** How many persists ran while a sync was in flight (for tests and benches). */
  overlapped = 0;

  constructor(
    private readonly store: PipelineStore<Operation>,
    private readonly hooks: PipelineHooks<Batch>,
  ) {}

  /** True while batches are queued, persisting or committing. */
  get busy(): boolean {
    return this.running || this.queue.length > 0;
  }

  /** The batches not delivered yet (queued, or persisted and waiting for a sync), oldest first. */
  pending(): Batch[] {
    return [...(this.group?.batches ?? []), ...this.queue];
  }

  push(batch: Batch): void {
    this.queue.push(batch);
    if (this.running) return this.wake();
    void this.run();
  }

  private wake(): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (waiting === undefined) return;
    this.hooks.notePendingWork?.();
    waiting();
  }

  private mayPersistNow(): boolean {
    if (this.queue.length === 0) return false;
    if (!this.committing) return true;
    const during = this.store.persistDuringSync;
    if (during === undefined) return false;
    return this.queue.every((batch) => batch.operations.length === 0 || during.call(this.store, batch.operations));
  }

  private async run(): Promise<void> {
    this.running = true;
    this.hooks.notePendingWork?.();
    try {
      while (!this.hooks.stopped()) {
        // A persisted group starts its sync as soon as none runs: it never waits for later arrivals.
        if (this.group !== undefined && !this.committing) {
          const group = this.group;
          this.group = undefined;
          void this.commit(group);
          continue;
        }
        if (this.mayPersistNow()) {
          if (this.committing) this.overlapped++;
          await this.persistQueued();
          continue;
        }
        if (!this.committing && this.queue.length === 0) return;
        await new Promise<void>((resolve) => (this.waiting = resolve));
      }
    } catch (error) {
      this.hooks.fail(error);
    } finally {
      this.running = false;
      this.waiting = undefined;
    }
  }

  private async persistQueued(): Promise<void> {
    const batches = this.queue.splice(0, this.queue.length);
    const merged = this.hooks.merge(batches);
    const startedAt = this.hooks.now?.() ?? 0;
    const rejected = merged.operations.length > 0 ? ((await this.store.persist(merged.operations)) ?? []) : [];
    const persistMs = (this.hooks.now?.() ?? 0) - startedAt;
    const group = (this.group ??= { batches: [], rejected: [], persistMs: 0 });
    group.batches.push(merged);
    group.rejected.push(...rejected);
    group.persistMs += persistMs;
  }

  private async commit(group: Group<Batch>): Promise<void> {
    this.committing = true;
    try {
      const batch = this.hooks.merge(group.batches);
      const startedAt = this.hooks.now?.() ?? 0;
      const rejected = group.rejected;
      if (batch.sync) rejected.push(...((await this.store.sync()) ?? []));
      const syncMs = (this.hooks.now?.() ?? 0) - startedAt;
      if (this.hooks.stopped()) return;
      this.hooks.deliver({ batch, rejected, persistMs: group.persistMs, syncMs });
    } catch (error) {
      this.hooks.fail(error);
    } finally {
      this.committing = false;
      this.wake();
    }
  }
}
