/**
 * What a Raft scenario says should happen, beyond "the checker passes". A scenario file
 * (scenarios/raft-*.txt, read by src/sim/scenario.ts) may carry story lines in its header; the
 * shared runner ignores them, properties/raft-scenarios.test.ts checks them against the run:
 *
 *   # expect-leader-change: yes            more than one node led during the run (no: exactly one)
 *   # expect-not-leader: leader at 1800    the node "leader" meant is not leading at 1800 ms
 *   # expect-term-stable-after: 2600       no node reaches a newer term after 2600 ms
 *   # expect-truncation: leader            that node cut a divergent tail from its log
 *   # expect-bound: candidate              the role name found a node when its step ran
 *
 * Role names are those of the schedule (see nemesis.ts): they mean the node they were bound to.
 */
import type { RaftRunResult } from "./cluster.ts";

export type StoryExpectation =
  | { readonly kind: "leader-change"; readonly expected: boolean }
  | { readonly kind: "not-leader"; readonly name: string; readonly atMs: number }
  | { readonly kind: "term-stable-after"; readonly atMs: number }
  | { readonly kind: "truncation"; readonly name: string }
  | { readonly kind: "bound"; readonly name: string };

export class StoryError extends Error {
  override readonly name = "StoryError";
}

export function parseStory(text: string): StoryExpectation[] {
  const expectations: StoryExpectation[] = [];
  for (const line of text.split("\n")) {
    const match = /^#\s*expect-([a-z-]+):\s*(.*)$/.exec(line.trim());
    if (match === null) continue;
    const [, key, value] = match as unknown as [string, string, string];
    expectations.push(parseExpectation(key, value.trim()));
  }
  return expectations;
}

function parseExpectation(key: string, value: string): StoryExpectation {
  switch (key) {
    case "leader-change":
      if (value !== "yes" && value !== "no") throw new StoryError(`expect-leader-change must be yes or no, not '${value}'`);
      return { kind: "leader-change", expected: value === "yes" };
    case "not-leader": {
      const match = /^(\S+)\s+at\s+(\d+)$/.exec(value);
      if (match === null) throw new StoryError(`expect-not-leader needs '<name> at <ms>', not '${value}'`);
      return { kind: "not-leader", name: match[1]!, atMs: Number(match[2]) };
    }
    case "term-stable-after":
      if (!/^\d+$/.test(value)) throw new StoryError(`expect-term-stable-after needs a time in ms, not '${value}'`);
      return { kind: "term-stable-after", atMs: Number(value) };
    case "truncation":
      return { kind: "truncation", name: value };
    case "bound":
      return { kind: "bound", name: value };
    default:
      // "expect: pass|fail" is the shared header; other expect-* keys are mistakes.
      throw new StoryError(`unknown story line 'expect-${key}'`);
  }
}

/** Every expectation the run failed, as sentences (empty: the story went as told). */
export function judgeStory(expectations: readonly StoryExpectation[], result: RaftRunResult): string[] {
  const problems: string[] = [];
  const node = (name: string): string | undefined => result.bindings[name] ?? (/^raft-\d+$/.test(name) ? name : undefined);
  for (const expectation of expectations) {
    const problem = judge(expectation, result, node);
    if (problem !== undefined) problems.push(problem);
  }
  return problems;
}

function judge(expectation: StoryExpectation, result: RaftRunResult, node: (name: string) => string | undefined): string | undefined {
  const { timeline } = result;
  switch (expectation.kind) {
    case "leader-change": {
      const leaders = new Set(timeline.filter((entry) => entry.role === "leader").map((entry) => entry.node));
      return leaders.size > 1 === expectation.expected ? undefined : `expected ${expectation.expected ? "a change of leader" : "one leader throughout"}, saw leaders ${[...leaders].join(", ")}`;
    }
    case "not-leader": {
      const id = node(expectation.name);
      if (id === undefined) return `${expectation.name} never meant a node`;
      const last = timeline.filter((entry) => entry.node === id && entry.atMs <= expectation.atMs).at(-1);
      return last?.role === "leader" ? `${expectation.name} (${id}) was still leading at ${expectation.atMs} ms` : undefined;
    }
    case "term-stable-after": {
      const before = Math.max(0, ...timeline.filter((entry) => entry.atMs <= expectation.atMs).map((entry) => entry.term));
      const later = timeline.find((entry) => entry.atMs > expectation.atMs && entry.term > before);
      return later === undefined ? undefined : `${later.node} reached term ${later.term} at ${later.atMs.toFixed(0)} ms, after term ${before} at ${expectation.atMs} ms`;
    }
    case "truncation": {
      const id = node(expectation.name);
      if (id === undefined) return `${expectation.name} never meant a node`;
      return result.truncations.some((truncation) => truncation.node === id) ? undefined : `${expectation.name} (${id}) never truncated its log`;
    }
    case "bound":
      return node(expectation.name) === undefined ? `no node had the role ${expectation.name} when its step ran` : undefined;
  }
}
