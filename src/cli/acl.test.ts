/** `zhumq acl` flags (acl.ts) and the nodes' authorizer flags (authorizer-flags.ts). */
import { describe, expect, it } from "vitest";
import { rulesOf } from "./acl.ts";
import { authorizerFlags } from "./authorizer-flags.ts";

describe("zhumq acl flags", () => {
  it("one rule per operation, on exactly one resource", () => {
    expect(rulesOf({ principal: "User:a", operation: "produce,consume", topic: "orders.", prefixed: true })).toEqual([
      { principal: "User:a", resourceType: "topic", patternType: "prefixed", name: "orders.", operation: "produce" },
      { principal: "User:a", resourceType: "topic", patternType: "prefixed", name: "orders.", operation: "consume" },
    ]);
    expect(rulesOf({ principal: "*", operation: "admin", cluster: true })).toEqual([{ principal: "*", resourceType: "cluster", patternType: "literal", name: "cluster", operation: "admin" }]);
  });

  it("says what is wrong", () => {
    expect(() => rulesOf({ operation: "produce", topic: "t" })).toThrow(/--principal/);
    expect(() => rulesOf({ principal: "User:a", operation: "produce" })).toThrow(/exactly one resource/);
    expect(() => rulesOf({ principal: "User:a", operation: "produce", topic: "t", group: "g" })).toThrow(/exactly one resource/);
    expect(() => rulesOf({ principal: "User:a", operation: "read", topic: "t" })).toThrow(/'read' is not a topic operation/);
    expect(() => rulesOf({ principal: "User:a", operation: "admin", cluster: true, prefixed: true })).toThrow(/--prefixed/);
  });
});

describe("node authorizer flags", () => {
  it("off with no super users is exactly the behaviour without ACLs: no setting at all", () => {
    expect(authorizerFlags({})).toEqual({ devPrincipals: false });
    expect(authorizerFlags({ authorizer: "on", "super-users": "User:admin, User:ops", "insecure-dev-principals": true })).toEqual({ authorizer: { enabled: true, superUsers: ["User:admin", "User:ops"] }, devPrincipals: true });
  });

  it("refuses a bad mode or principal", () => {
    expect(() => authorizerFlags({ authorizer: "yes" })).toThrow(/--authorizer: must be on or off/);
    expect(() => authorizerFlags({ authorizer: "on", "super-users": "admin" })).toThrow(/--super-users/);
  });
});
