/**
 * Group notices of a coordinator quorum, held until the entry that decided them is committed
 * (coordinator-boot.ts). A replica says, when it decides, which entry (index, term) its notices
 * depend on (`coordinator.quorum.decided`); they become true when any replica applies an entry at
 * that index in that term — whoever leads by then — and are dropped when an entry of another term
 * takes the index (the proposal was lost with its leader). Raft's log matching makes (index, term)
 * name one entry.
 */
import type { NodeId } from "../../ports/transport.ts";

export interface Decision<Output> {
  readonly index: number;
  readonly term: number;
  readonly outputs: readonly Output[];
}

export class DecidedNotices<Output> {
  private readonly waiting = new Map<number, { readonly replica: NodeId; readonly term: number; readonly outputs: readonly Output[] }[]>();

  /** Replica `replica` decided `outputs` in the entry it proposed at (index, term). */
  decided(replica: NodeId, decision: Decision<Output>): void {
    const list = this.waiting.get(decision.index) ?? [];
    list.push({ replica, term: decision.term, outputs: decision.outputs });
    this.waiting.set(decision.index, list);
  }

  /** Some replica applied the entry at (index, term): the notices now true, each with the replica that decided it. */
  applied(entry: { readonly index: number; readonly term: number }): { readonly replica: NodeId; readonly output: Output }[] {
    const list = this.waiting.get(entry.index);
    if (list === undefined) return [];
    this.waiting.delete(entry.index);
    return list.filter((decision) => decision.term === entry.term).flatMap((decision) => decision.outputs.map((output) => ({ replica: decision.replica, output })));
  }

  /** Decisions still waiting for their entry (for tests and figures). */
  get pending(): number {
    let count = 0;
    for (const list of this.waiting.values()) count += list.length;
    return count;
  }
}
