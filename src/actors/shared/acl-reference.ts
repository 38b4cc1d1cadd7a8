/**
 * A second, deliberately different statement of the permission rules of acl.ts, for property tests
 * only (acl.test.ts, ../coordinator/acl.test.ts): it expands every rule into the explicit set of
 * (principal, resource, operation) grants it makes over a finite universe of principals and names,
 * and a decision is set membership. acl.ts decides by matching rules one request at a time; the
 * two must never disagree.
 */
import type { AclOperation, AclResourceType, AclRule } from "./acl.ts";

export interface Universe {
  readonly principals: readonly string[];
  readonly names: Readonly<Record<"topic" | "group", readonly string[]>>;
}

const OPERATIONS: Readonly<Record<AclResourceType, readonly AclOperation[]>> = {
  topic: ["produce", "consume", "describe", "create", "delete", "alter"],
  group: ["read", "describe", "delete"],
  cluster: ["admin"],
};

function grantKey(principal: string, type: AclResourceType, name: string, operation: AclOperation): string {
  return JSON.stringify([principal, type, name, operation]);
}

/** Every grant the rules make over the universe, and the super users. */
export class ReferenceAuthorizer {
  private readonly grants = new Set<string>();
  /** Every name the universe or a rule names, by type: some resource a rule grants on is among them. */
  private readonly names: Readonly<Record<"topic" | "group", readonly string[]>>;

  constructor(
    private readonly enabled: boolean,
    private readonly superUsers: readonly string[],
    rules: readonly AclRule[],
    universe: Universe,
  ) {
    const named = (type: "topic" | "group"): string[] => [...new Set([...universe.names[type], ...rules.filter((rule) => rule.resourceType === type).map((rule) => rule.name)])];
    this.names = { topic: named("topic"), group: named("group") };
    for (const rule of rules) {
      const principals = rule.principal === "*" ? universe.principals : universe.principals.filter((principal) => principal === rule.principal);
      for (const principal of principals) {
        if (rule.resourceType === "cluster") {
          // Admin: everything, everywhere.
          this.grants.add(grantKey(principal, "cluster", "cluster", "admin"));
          for (const type of ["topic", "group"] as const) for (const name of this.names[type]) for (const operation of OPERATIONS[type]) this.grants.add(grantKey(principal, type, name, operation));
          continue;
        }
        const type = rule.resourceType;
        const names = this.names[type].filter((name) => (rule.patternType === "prefixed" ? name.slice(0, rule.name.length) === rule.name : rule.name === "*" || rule.name === name));
        for (const name of names) {
          this.grants.add(grantKey(principal, type, name, rule.operation));
          this.grants.add(grantKey(principal, type, name, "describe"));
        }
      }
    }
  }

  allows(principal: string, type: AclResourceType, name: string, operation: AclOperation): boolean {
    if (!this.enabled || this.superUsers.includes(principal)) return true;
    return this.grants.has(grantKey(principal, type, name, operation));
  }

  /** Whether some resource of `type` exists (any name) on which `principal` may do `operation`. */
  allowsSomewhere(principal: string, type: "topic" | "group", operation: AclOperation): boolean {
    return this.names[type].some((name) => this.allows(principal, type, name, operation));
  }
}
