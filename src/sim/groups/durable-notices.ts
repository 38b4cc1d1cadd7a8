/**
 * The coordinator's group notices as the group history needs them: only once the decision they
 * report is durable. The host hands an actor's `effect.notify` outputs over at once, when the
 * actor decides (the Raft checker relies on seeing decisions that early); but a grant the
 * coordinator decided and then lost in a crash before its sync never happened — its heartbeat
 * reply (which waits for the sync) never left, and the recovered coordinator gives the partition
 * to someone else. Recording it would make the checker see two owners where there was one.
 *
 * So the coordinator's store is wrapped: notices collected before a `persist` call belong to
 * that persist (the host collects a batch's effects, then persists the batch), and are released
 * when a `sync` issued after it resolves — before the host sends the batch's replies. A crash
 * leaves the old incarnation's sync unresolved (the simulated disk never settles it); the next
 * incarnation's `open` then releases the notices of every batch its recovery found in the log (an
 * unsynced write may survive a crash, and then the decision did happen) and forgets the rest.
 * Notices with no persist after them wait for the next one (group notices always come with one).
 */
import type { AnyStateMachine } from "xstate";
import type { FileSystem } from "../../ports/filesystem.ts";
import type { ActorDefinition, ActorStore } from "../../host/host.ts";

export interface DurableNotices<D> {
  /** The definition to boot: its store releases the notices. */
  readonly definition: D;
  /** Give it every output of the actor, as `hooks.onNotify` receives them. */
  readonly notify: (output: unknown) => void;
}

/** Notices waiting for their batch to be durable; `end`: the log length once that batch is in. */
interface Waiting {
  readonly end: number;
  readonly notices: readonly unknown[];
}

/**
 * `logLength(recovered)` says how many persisted operations a recovery found (the coordinator's
 * log keeps a prefix of what was persisted: `commands.length`).
 */
export function noticesWhenDurable<Machine extends AnyStateMachine, Message, Operation, Input>(
  definition: ActorDefinition<Machine, Message, Operation, Input>,
  logLength: (recovered: Input) => number,
  deliver: (output: unknown) => void,
): DurableNotices<ActorDefinition<Machine, Message, Operation, Input>> {
  let incarnation = 0;
  let collected: unknown[] = [];
  /** Persisted batches whose sync has not resolved yet, oldest first. */
  let waiting: Waiting[] = [];
  let length = 0;
  const release = (upTo: number): void => {
    while (waiting.length > 0 && waiting[0]!.end <= upTo) for (const output of waiting.shift()!.notices) deliver(output);
  };
  const wrapped: ActorDefinition<Machine, Message, Operation, Input> = {
    ...definition,
    open: async (fs: FileSystem) => {
      const mine = ++incarnation;
      const { recovered, store } = await definition.open(fs);
      // What the last incarnation persisted without a sync may have survived the crash anyway.
      length = logLength(recovered);
      release(length);
      waiting = [];
      collected = [];
      const releasing: ActorStore<Operation> = {
        persist: (operations) => {
          if (mine === incarnation) {
            length += operations.length;
            waiting.push({ end: length, notices: collected });
            collected = [];
          }
          return store.persist(operations);
        },
        sync: async () => {
          const upTo = length;
          const result = await store.sync();
          if (mine === incarnation) release(upTo);
          return result;
        },
        close: () => store.close(),
        ...(store.read === undefined ? {} : { read: (request: unknown) => store.read!(request) }),
      };
      return { recovered, store: releasing };
    },
  };
  return { definition: wrapped, notify: (output) => void collected.push(output) };
}
