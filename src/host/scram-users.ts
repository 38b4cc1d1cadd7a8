/**
 * Where a real node's SCRAM logins (src/net/scram-link.ts) find users: the ACL snapshot its actor
 * holds — the coordinator's from its command log, a broker's from heartbeat replies
 * (src/actors/shared/scram-users.ts). Brokers check logins themselves with what they heard, rather
 * than asking the coordinator at every connection: a login then costs no round trip and works
 * while the coordinator is away, and a user deleted is refused within one heartbeat interval.
 */
import type { AclSnapshot } from "../actors/shared/acl.ts";
import type { ScramUser } from "../actors/shared/scram-users.ts";

/** What the transport asks at each login (src/net/scram-link.ts `ScramServerConfig`). */
export interface UserDirectory {
  readonly lookup: (username: string) => ScramUser | undefined;
  /** The snapshot's version: moves with every user change, so the transport rechecks logged-in streams (src/net/login-recheck.ts). */
  readonly version: () => number | undefined;
  /** The cluster's login secret: unknown users' mock salts come from it (src/net/scram-link.ts). */
  readonly clusterSecret: () => string | undefined;
}

/** Users read from `snapshot()` at each login (undefined: nobody may log in yet). */
export function userDirectory(snapshot: () => AclSnapshot | undefined): UserDirectory {
  return { lookup: (username) => snapshot()?.users?.find((candidate) => candidate.username === username), version: () => snapshot()?.version, clusterSecret: () => snapshot()?.loginSecret };
}

/**
 * The ACL snapshot in an actor's context: the coordinator's (`state.acls`), a coordinator quorum
 * replica's committed state (`replica.applied.acls`: any replica can check a login) or a broker's
 * (`acls`).
 */
export function aclSnapshotOf(context: unknown): AclSnapshot | undefined {
  const shaped = context as { state?: { acls?: AclSnapshot }; replica?: { applied?: { acls?: AclSnapshot } }; acls?: AclSnapshot } | undefined;
  return shaped?.state?.acls ?? shaped?.replica?.applied?.acls ?? shaped?.acls;
}
