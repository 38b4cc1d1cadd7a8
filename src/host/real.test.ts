import { describe, expect, it } from "vitest";
import { RealClock, RealRandom, describeCrash, exitOnCrash } from "./real.ts";

describe("real ports", () => {
  it("RealClock fires timers in order and can cancel them", async () => {
    const clock = new RealClock();
    const seen: string[] = [];
    const start = clock.now();
    const cancelled = clock.setTimeout(() => seen.push("never"), 5);
    clock.setTimeout(() => seen.push("b"), 10);
    clock.setTimeout(() => seen.push("a"), 1);
    clock.clearTimeout(cancelled);
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(seen).toEqual(["a", "b"]);
    expect(clock.now()).toBeGreaterThan(start);
  });

  it("RealRandom is reproducible from its seed and derives by name", () => {
    const a = new RealRandom("s");
    const b = new RealRandom("s");
    const draws = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(draws);
    expect(draws.every((value) => value >= 0 && value < 1)).toBe(true);
    expect(new Set(draws).size).toBe(100);
    expect(a.derive("x").next()).toBe(new RealRandom("s/x").next());
  });

  it("a crash prints the actor, the node and the event, then exits non-zero", () => {
    const out: string[] = [];
    let code = 0;
    exitOnCrash(
      (text) => out.push(text),
      (exit) => (code = exit),
    )({ actor: "broker", node: "broker-1", event: "produce.request", error: new Error("bad") });
    expect(code).toBe(70);
    expect(out.join("")).toContain("actor 'broker' on node 'broker-1' crashed while handling 'produce.request'");
    expect(describeCrash({ actor: "a", node: "n", event: "e", error: "x" })).toContain("x");
  });
});
