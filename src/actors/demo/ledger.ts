/**
 * The ledger: a deliberately small protocol that exercises every seam of the foundation before the
 * queue itself exists. Clients append numbered values to a server; the server persists each new
 * value and acknowledges it; a client retries with jittered backoff until acknowledged.
 *
 * Guarantee (what the demo checker holds): every acknowledged value is in the server's durable
 * log exactly once, in each client's order — because the ack is emitted in the same effect batch
 * as a syncing persist, and the host sends nothing before that batch is durable.
 *
 * `ackBeforeSync` plants the classic bug (acknowledge what is only in the page cache); the demo's
 * checker must catch it under crash faults.
 */
import { assign, emit, enqueueActions, setup } from "xstate";
import type { Clock } from "../../ports/clock.ts";
import type { Random } from "../../ports/random.ts";
import type { NodeId } from "../../ports/transport.ts";
import { persist, send, type Effect } from "../shared/effects.ts";

export type LedgerMessage =
  | { readonly type: "ledger.append"; readonly client: NodeId; readonly seq: number; readonly value: string }
  | { readonly type: "ledger.ack"; readonly seq: number };

export interface LedgerEntry {
  readonly client: NodeId;
  readonly seq: number;
  readonly value: string;
}

export type LedgerEffect = Effect<LedgerMessage, LedgerEntry>;

export interface MessageReceived {
  readonly type: "message.received";
  readonly from: NodeId;
  readonly message: LedgerMessage;
}

// ---------------------------------------------------------------- server

export interface LedgerServerInput {
  readonly entries: readonly LedgerEntry[];
  readonly ackBeforeSync: boolean;
}

interface ServerContext {
  readonly lastSeqByClient: Readonly<Record<NodeId, number>>;
  readonly ackBeforeSync: boolean;
}

export const ledgerServerMachine = setup({
  types: {} as { context: ServerContext; events: MessageReceived; input: LedgerServerInput; emitted: LedgerEffect },
}).createMachine({
  id: "ledger-server",
  context: ({ input }) => ({ lastSeqByClient: lastSeqs(input.entries), ackBeforeSync: input.ackBeforeSync }),
  on: {
    "message.received": {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const message = event.message;
        if (message.type !== "ledger.append") return;
        const last = context.lastSeqByClient[message.client] ?? 0;
        if (message.seq > last + 1) return; // a gap: the client will retry from its own state
        if (message.seq === last + 1) {
          enqueue.assign({ lastSeqByClient: { ...context.lastSeqByClient, [message.client]: message.seq } });
          const entry: LedgerEntry = { client: message.client, seq: message.seq, value: message.value };
          enqueue(emit(persist(entry, !context.ackBeforeSync)));
        }
        // A duplicate is acknowledged again: its persist is in this batch or an earlier one, and
        // the host sends nothing before earlier persists are durable.
        enqueue(emit(send<LedgerMessage>(event.from, { type: "ledger.ack", seq: message.seq })));
      }),
    },
  },
});

function lastSeqs(entries: readonly LedgerEntry[]): Record<NodeId, number> {
  const last: Record<NodeId, number> = {};
  for (const entry of entries) last[entry.client] = Math.max(last[entry.client] ?? 0, entry.seq);
  return last;
}

// ---------------------------------------------------------------- client

export interface LedgerClientInput {
  readonly self: NodeId;
  readonly server: NodeId;
  readonly total: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly clock: Pick<Clock, "now">;
  readonly random: Random;
}

interface ClientContext extends LedgerClientInput {
  readonly seq: number;
  readonly attempt: number;
  readonly retryDelayMs: number;
  /** Acknowledged seqs with the virtual time of the ack, for the checker. */
  readonly acked: readonly { readonly seq: number; readonly atMs: number }[];
}

/** Exponential backoff with full jitter: a pure function of the attempt and the Random port. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number, random: Random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 16));
  return baseMs + random.next() * (ceiling - baseMs);
}

export const ledgerClientMachine = setup({
  types: {} as { context: ClientContext; events: MessageReceived; input: LedgerClientInput; emitted: LedgerEffect },
  delays: { retry: ({ context }) => context.retryDelayMs },
  actions: {
    sendCurrent: emit(({ context }) =>
      send<LedgerMessage>(context.server, { type: "ledger.append", client: context.self, seq: context.seq, value: `${context.self}:${context.seq}` }),
    ),
    backOff: assign(({ context }) => ({
      attempt: context.attempt + 1,
      retryDelayMs: retryDelayMs(context.attempt + 1, context.retryBaseMs, context.retryMaxMs, context.random),
    })),
    recordAck: assign(({ context }) => ({
      acked: [...context.acked, { seq: context.seq, atMs: context.clock.now() }],
      seq: context.seq + 1,
      attempt: 0,
      retryDelayMs: context.retryBaseMs,
    })),
  },
  guards: {
    isAckForCurrent: ({ context, event }) => event.message.type === "ledger.ack" && event.message.seq === context.seq,
    isAckForLast: ({ context, event }) =>
      event.message.type === "ledger.ack" && event.message.seq === context.seq && context.seq === context.total,
  },
}).createMachine({
  id: "ledger-client",
  context: ({ input }) => ({ ...input, seq: 1, attempt: 0, retryDelayMs: input.retryBaseMs, acked: [] }),
  initial: "sending",
  states: {
    sending: {
      entry: "sendCurrent",
      after: { retry: { target: "sending", reenter: true, actions: "backOff" } },
      on: {
        "message.received": [
          { guard: "isAckForLast", target: "done", actions: "recordAck" },
          { guard: "isAckForCurrent", target: "sending", reenter: true, actions: "recordAck" },
        ],
      },
    },
    done: { type: "final" },
  },
});
