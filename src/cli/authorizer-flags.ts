/**
 * The authorization flags every node command takes (zhumq dev, coordinator, broker):
 * `--authorizer on|off`, `--super-users P1,P2` and the dev/test-only `--insecure-dev-principals`
 * (docs/security.md, "Authorization").
 */
import { principalProblem } from "../actors/shared/principal.ts";
import { ConfigError } from "./config-error.ts";

export const AUTHORIZER_OPTIONS = {
  authorizer: { type: "string" },
  "super-users": { type: "string" },
  "insecure-dev-principals": { type: "boolean" },
} as const;

export const AUTHORIZER_HELP = `  --authorizer on|off  on: every client request needs an ACL that allows it (deny by default;
                       'zhumq acl'); off (default): every request is allowed, as without ACLs
  --super-users P1,P2  principals allowed everything whatever the ACLs (User:admin,...): who
                       can add the first ACLs
  --insecure-dev-principals
                       dev/test only: a client's principal is User:<its --client-id>, a claim
                       nobody checks; refused unless the node listens on loopback only`;

export interface AuthorizerFlags {
  /** Absent with --authorizer off and no super users: exactly the behaviour before ACLs. */
  readonly authorizer?: { readonly enabled: boolean; readonly superUsers: readonly string[] };
  readonly devPrincipals: boolean;
}

export function authorizerFlags(values: { readonly authorizer?: string | undefined; readonly "super-users"?: string | undefined; readonly "insecure-dev-principals"?: boolean | undefined }): AuthorizerFlags {
  const mode = values.authorizer ?? "off";
  if (mode !== "on" && mode !== "off") throw new ConfigError("--authorizer", `must be on or off, got '${mode}'`);
  const superUsers = (values["super-users"] ?? "").split(",").map((entry) => entry.trim()).filter((entry) => entry.length > 0);
  for (const principal of superUsers) {
    const problem = principalProblem(principal);
    if (problem !== undefined) throw new ConfigError("--super-users", problem);
  }
  const devPrincipals = values["insecure-dev-principals"] === true;
  if (mode === "off" && superUsers.length === 0) return { devPrincipals };
  return { authorizer: { enabled: mode === "on", superUsers }, devPrincipals };
}
