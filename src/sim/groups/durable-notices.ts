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
 * leaves the old incarnation's sync unresolved (the simulated disk never settles it), and the
 * next incarnation's `open` forgets whatever was still waiting: those decisions were not durable.
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

export function noticesWhenDurable<D extends ActorDefinition<AnyStateMachine, Message, Operation, Input>, Message, Operation, Input>(definition: D, deliver: (output: unknown) => void): DurableNotices<D> {
  let incarnation = 0;
  let collected: unknown[] = [];
  let persisted: unknown[] = [];
  const wrapped: D = {
    ...definition,
    open: async (fs: FileSystem) => {
      const mine = ++incarnation;
      collected = [];
      persisted = [];
      const { recovered, store } = await definition.open(fs);
      const releasing: ActorStore<Operation> = {
        persist: (operations) => {
          if (mine === incarnation) {
            persisted.push(...collected);
            collected = [];
          }
          return store.persist(operations);
        },
        sync: async () => {
          const waiting = mine === incarnation ? persisted.splice(0) : [];
          const result = await store.sync();
          if (mine === incarnation) for (const output of waiting) deliver(output);
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
