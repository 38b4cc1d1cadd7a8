/**
 * The permission rules (acl.ts): direct cases for each rule of the model, and a property that
 * random rules, principals and requests are decided exactly as a separately written reference
 * model (acl-reference.ts) decides them.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  aclRuleProblem,
  allowsSomewhere,
  authorizationFailed,
  isAllowed,
  rulesAllow,
  topicResource,
  groupResource,
  CLUSTER_RESOURCE,
  OPERATIONS_BY_RESOURCE,
  type AclOperation,
  type AclRule,
  type Authorizer,
} from "./acl.ts";
import { ReferenceAuthorizer, type Universe } from "./acl-reference.ts";
import { ANONYMOUS_PRINCIPAL, principalOf, principalProblem } from "./principal.ts";

function on(rules: AclRule[], superUsers: string[] = []): Authorizer {
  return { enabled: true, superUsers: new Set(superUsers), acls: { version: rules.length, rules } };
}

const rule = (principal: string, resourceType: AclRule["resourceType"], name: string, operation: AclOperation, patternType: AclRule["patternType"] = "literal"): AclRule => ({ principal, resourceType, patternType, name, operation });

describe("the permission rules", () => {
  it("deny by default: with the authorizer on and no rules, nobody may do anything", () => {
    const authorizer = on([]);
    for (const operation of OPERATIONS_BY_RESOURCE.topic) expect(isAllowed(authorizer, "User:alice", operation, topicResource("orders"))).toBe(false);
    expect(isAllowed(authorizer, ANONYMOUS_PRINCIPAL, "read", groupResource("g"))).toBe(false);
    expect(isAllowed(authorizer, "User:alice", "admin", CLUSTER_RESOURCE)).toBe(false);
  });

  it("off: everything is allowed, whatever the rules", () => {
    const off: Authorizer = { enabled: false, superUsers: new Set(), acls: undefined };
    expect(isAllowed(off, ANONYMOUS_PRINCIPAL, "delete", topicResource("orders"))).toBe(true);
  });

  it("a broker that has not heard the rules yet refuses all but super users", () => {
    const waiting: Authorizer = { enabled: true, superUsers: new Set(["User:admin"]), acls: undefined };
    expect(isAllowed(waiting, "User:alice", "produce", topicResource("orders"))).toBe(false);
    expect(isAllowed(waiting, "User:admin", "produce", topicResource("orders"))).toBe(true);
  });

  it("a literal rule names exactly one resource; the literal * names every one of its type", () => {
    const authorizer = on([rule("User:alice", "topic", "orders", "produce"), rule("User:bob", "topic", "*", "consume")]);
    expect(isAllowed(authorizer, "User:alice", "produce", topicResource("orders"))).toBe(true);
    expect(isAllowed(authorizer, "User:alice", "produce", topicResource("orders2"))).toBe(false);
    expect(isAllowed(authorizer, "User:alice", "consume", topicResource("orders"))).toBe(false);
    expect(isAllowed(authorizer, "User:bob", "consume", topicResource("anything"))).toBe(true);
    expect(isAllowed(authorizer, "User:bob", "consume", groupResource("anything"))).toBe(false);
  });

  it("a prefixed rule names every resource whose name starts with the prefix, and no other", () => {
    const authorizer = on([rule("User:alice", "topic", "orders.", "produce", "prefixed")]);
    expect(isAllowed(authorizer, "User:alice", "produce", topicResource("orders.eu"))).toBe(true);
    expect(isAllowed(authorizer, "User:alice", "produce", topicResource("orders."))).toBe(true);
    expect(isAllowed(authorizer, "User:alice", "produce", topicResource("orders"))).toBe(false);
    expect(isAllowed(authorizer, "User:alice", "produce", topicResource("xorders.eu"))).toBe(false);
  });

  it("describe comes with any other operation on the same resource, and nothing else does", () => {
    const authorizer = on([rule("User:alice", "topic", "orders", "produce"), rule("User:alice", "group", "g", "read")]);
    expect(isAllowed(authorizer, "User:alice", "describe", topicResource("orders"))).toBe(true);
    expect(isAllowed(authorizer, "User:alice", "describe", groupResource("g"))).toBe(true);
    expect(isAllowed(authorizer, "User:alice", "delete", groupResource("g"))).toBe(false);
    expect(isAllowed(authorizer, "User:alice", "describe", groupResource("orders"))).toBe(false);
  });

  it("the * principal is everyone, anonymous too; cluster admin and super users may do anything", () => {
    const authorizer = on([rule("*", "topic", "public", "consume"), rule("User:ops", "cluster", "cluster", "admin")], ["User:root"]);
    expect(isAllowed(authorizer, principalOf({}), "consume", topicResource("public"))).toBe(true);
    expect(isAllowed(authorizer, "User:ops", "delete", topicResource("orders"))).toBe(true);
    expect(isAllowed(authorizer, "User:ops", "delete", groupResource("g"))).toBe(true);
    expect(isAllowed(authorizer, "User:root", "admin", CLUSTER_RESOURCE)).toBe(true);
    expect(isAllowed(authorizer, "User:eve", "admin", CLUSTER_RESOURCE)).toBe(false);
  });

  it("the refusal names the principal, the operation and the resource", () => {
    expect(authorizationFailed("User:bob", "produce", topicResource("orders"))).toEqual({ code: "AUTHORIZATION_FAILED", message: expect.stringMatching(/User:bob may not produce on topic 'orders'/) });
    expect(authorizationFailed("User:bob", "admin", CLUSTER_RESOURCE).message).toMatch(/may not admin on the cluster/);
  });

  it("rules and principals from the network are checked field by field", () => {
    expect(aclRuleProblem(rule("User:a", "topic", "t", "produce"))).toBeUndefined();
    expect(aclRuleProblem(rule("*", "group", "g.", "read", "prefixed"))).toBeUndefined();
    expect(aclRuleProblem(rule("User:a", "cluster", "cluster", "admin"))).toBeUndefined();
    expect(aclRuleProblem(rule("alice", "topic", "t", "produce"))).toMatch(/principal/);
    expect(aclRuleProblem(rule("User:a", "topic", "t", "read"))).toMatch(/topic operation/);
    expect(aclRuleProblem(rule("User:a", "group", "g", "produce"))).toMatch(/group operation/);
    expect(aclRuleProblem(rule("User:a", "cluster", "c", "admin"))).toMatch(/cluster rule/);
    expect(aclRuleProblem(rule("User:a", "topic", "", "produce"))).toMatch(/name/);
    expect(aclRuleProblem({ ...rule("User:a", "topic", "t", "produce"), patternType: "regex" })).toMatch(/patternType/);
    expect(aclRuleProblem(null)).toMatch(/object/);
    expect(principalProblem("User:\u0000")).toMatch(/Type:name/);
    expect(principalProblem(42)).toMatch(/string/);
  });
});

// ---------------------------------------------------------------- against the reference model

const UNIVERSE: Universe = {
  principals: ["User:ANONYMOUS", "User:alice", "User:bob", "User:carol"],
  names: { topic: ["a", "ab", "abc", "b", "ba", "*"], group: ["g", "g1", "g12", "h"] },
};
const NAME_PARTS = ["a", "ab", "abc", "b", "ba", "g", "g1", "h", "*", "x"];

const arbitraryRule: fc.Arbitrary<AclRule> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ principal: fc.constantFrom("*", ...UNIVERSE.principals), resourceType: fc.constant("cluster" as const), patternType: fc.constant("literal" as const), name: fc.constant("cluster"), operation: fc.constant("admin" as const) }) },
  {
    weight: 12,
    arbitrary: fc.constantFrom("topic" as const, "group" as const).chain((resourceType) =>
      fc.record({
        principal: fc.constantFrom("*", ...UNIVERSE.principals),
        resourceType: fc.constant(resourceType),
        patternType: fc.constantFrom("literal" as const, "prefixed" as const),
        name: fc.constantFrom(...NAME_PARTS),
        operation: fc.constantFrom(...OPERATIONS_BY_RESOURCE[resourceType]),
      }),
    ),
  },
);

const arbitraryQuestion = fc.constantFrom("topic" as const, "group" as const, "cluster" as const).chain((type) =>
  fc.record({
    principal: fc.constantFrom(...UNIVERSE.principals),
    type: fc.constant(type),
    name: type === "cluster" ? fc.constant("cluster") : fc.constantFrom(...UNIVERSE.names[type]),
    operation: fc.constantFrom(...OPERATIONS_BY_RESOURCE[type]),
  }),
);

/** The model comparison as a property of any decision function (the real one, or a planted bug). */
function agreesWithReference(decide: (authorizer: Authorizer, principal: string, operation: AclOperation, resource: { type: AclRule["resourceType"]; name: string }) => boolean) {
  return fc.property(fc.boolean(), fc.array(arbitraryRule, { maxLength: 12 }), fc.subarray([...UNIVERSE.principals], { maxLength: 1 }), fc.array(arbitraryQuestion, { minLength: 1, maxLength: 30 }), (enabled, rules, superUsers, questions) => {
    const authorizer: Authorizer = { enabled, superUsers: new Set(superUsers), acls: { version: 1, rules } };
    const reference = new ReferenceAuthorizer(enabled, superUsers, rules, UNIVERSE);
    return questions.every((question) => decide(authorizer, question.principal, question.operation, { type: question.type, name: question.name }) === reference.allows(question.principal, question.type, question.name, question.operation));
  });
}

describe("the permission rules against the reference model", () => {
  it("has teeth: planted bugs (prefixes taken literally; describe not implied) are found", () => {
    const prefixAsLiteral = (authorizer: Authorizer, principal: string, operation: AclOperation, resource: { type: AclRule["resourceType"]; name: string }) =>
      isAllowed({ ...authorizer, acls: { version: 1, rules: (authorizer.acls?.rules ?? []).map((rule) => ({ ...rule, patternType: "literal" as const })) } }, principal, operation, resource);
    expect(fc.check(agreesWithReference(prefixAsLiteral), { numRuns: 500, seed: 1 }).failed).toBe(true);
    const noImpliedDescribe = (authorizer: Authorizer, principal: string, operation: AclOperation, resource: { type: AclRule["resourceType"]; name: string }) =>
      isAllowed(authorizer, principal, operation, resource) && (operation !== "describe" || !authorizer.enabled || authorizer.superUsers.has(principal) || (authorizer.acls?.rules ?? []).some((rule) => rule.operation === "describe" || rule.operation === "admin"));
    expect(fc.check(agreesWithReference(noImpliedDescribe), { numRuns: 500, seed: 1 }).failed).toBe(true);
    expect(fc.check(agreesWithReference(isAllowed), { numRuns: 200, seed: 1 }).failed).toBe(false);
  });

  it("random rules, super users, principals and requests: the same decision every time", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(arbitraryRule, { maxLength: 12 }), fc.subarray([...UNIVERSE.principals], { maxLength: 1 }), fc.array(arbitraryQuestion, { minLength: 1, maxLength: 30 }), (enabled, rules, superUsers, questions) => {
        const authorizer: Authorizer = { enabled, superUsers: new Set(superUsers), acls: { version: 1, rules } };
        const reference = new ReferenceAuthorizer(enabled, superUsers, rules, UNIVERSE);
        for (const question of questions) {
          const resource = { type: question.type, name: question.name };
          expect(isAllowed(authorizer, question.principal, question.operation, resource), JSON.stringify(question)).toBe(reference.allows(question.principal, question.type, question.name, question.operation));
          for (const type of ["topic", "group"] as const) {
            const operation = question.type === type ? question.operation : type === "topic" ? "produce" : "read";
            expect(allowsSomewhere(authorizer, question.principal, operation, type), `${question.principal} ${operation} on some ${type}`).toBe(reference.allowsSomewhere(question.principal, type, operation));
          }
          if (!enabled) continue;
          expect(rulesAllow(rules, question.principal, question.operation, resource) || superUsers.includes(question.principal)).toBe(reference.allows(question.principal, question.type, question.name, question.operation));
        }
      }),
      { numRuns: 500 },
    );
  });
});
