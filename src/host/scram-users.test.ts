import { describe, expect, it } from "vitest";
import { aclSnapshotOf, userDirectory } from "./scram-users.ts";

describe("aclSnapshotOf: where a node's logins find users", () => {
  const acls = { version: 3, rules: [], users: [{ username: "ana" }] } as never;

  it("reads the single coordinator's state, a quorum replica's committed state and a broker's", () => {
    expect(aclSnapshotOf({ state: { acls } })).toBe(acls);
    expect(aclSnapshotOf({ replica: { applied: { acls } } })).toBe(acls);
    expect(aclSnapshotOf({ acls })).toBe(acls);
  });

  it("has nothing before the actor started", () => {
    expect(aclSnapshotOf(undefined)).toBeUndefined();
    expect(userDirectory(() => undefined).lookup("ana")).toBeUndefined();
    expect(userDirectory(() => aclSnapshotOf({ replica: { applied: { acls } } })).lookup("ana")).toEqual({ username: "ana" });
  });
});
