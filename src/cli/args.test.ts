import { describe, expect, it } from "vitest";
import { joinNegativeValues } from "./args.ts";

describe("joinNegativeValues", () => {
  it("joins a negative number to the flag that takes it, and leaves everything else", () => {
    expect(joinNegativeValues(["--acks", "-1", "--seed", "3"], ["--acks"])).toEqual(["--acks=-1", "--seed", "3"]);
    expect(joinNegativeValues(["--acks", "1"], ["--acks"])).toEqual(["--acks", "1"]);
    expect(joinNegativeValues(["--verbose", "-1"], ["--acks"])).toEqual(["--verbose", "-1"]);
    expect(joinNegativeValues(["--acks", "-h"], ["--acks"])).toEqual(["--acks", "-h"]);
    expect(joinNegativeValues(["--acks"], ["--acks"])).toEqual(["--acks"]);
  });
});
