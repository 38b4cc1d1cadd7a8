import { describe, expect, it } from "vitest";
import { topicNameProblem } from "./ids.ts";

describe("topic names", () => {
  it("the same verdicts whatever was checked before (the last good name is remembered, never a bad one)", () => {
    const bad = ["", ".", "..", "a b", "é", "t/0"];
    for (const name of ["orders", "a.b_c-d", "orders"]) {
      expect(topicNameProblem(name)).toBeUndefined();
      for (const wrong of bad) expect(topicNameProblem(wrong)).toBeDefined();
      expect(topicNameProblem(name)).toBeUndefined();
    }
    expect(topicNameProblem("a b")).toBe("a topic name may contain only letters, digits, '.', '_' and '-' (got 'a b')");
  });
});
