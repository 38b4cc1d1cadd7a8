/**
 * Password users at the coordinator (users.ts): admin requests (cluster admin only), the commands
 * in the log (replayed, checked when read back), users riding in the ACL snapshot brokers get by
 * version, and that nothing but credentials is kept or answered.
 */
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { SeededRandom } from "../../sim/random.ts";
import type { BrokerHeartbeatReply, CoordinatorReplyMessage } from "../shared/messages.ts";
import type { ScramUser, UserListReply } from "../shared/scram-users.ts";
import { commandProblem, emptyState, replay, type CoordinatorCommand } from "./state.ts";
import type { CoordinatorEffect } from "./handlers.ts";
import { DEFAULT_COORDINATOR_LIMITS } from "./limits.ts";
import { coordinatorMachine } from "./machine.ts";

const ADMIN = "User:admin";
const KEY = "A".repeat(43) + "=";
const alice = (salt = "c2FsdHNhbHRzYWx0"): ScramUser => ({ username: "alice", mechanism: "SCRAM-SHA-256", iterations: 4096, salt, storedKey: KEY, serverKey: KEY });

function coordinator(commands: CoordinatorCommand[] = []) {
  let requestId = 0;
  const effects: CoordinatorEffect[] = [];
  const actor = createActor(coordinatorMachine, {
    input: { self: "coordinator", leaseMs: 1_000, leaseCheckIntervalMs: 100, virtualNodes: 16, limits: DEFAULT_COORDINATOR_LIMITS, commands, clock: { now: () => 0 }, random: new SeededRandom("users-test"), authorizer: { enabled: true, superUsers: [ADMIN] } },
  });
  actor.on("*", (effect) => void effects.push(effect as CoordinatorEffect));
  actor.start();
  const ask = <R extends CoordinatorReplyMessage>(principal: string | undefined, message: Record<string, unknown>): R => {
    const start = effects.length;
    actor.send({ type: "message.received", from: "client", message: { requestId: ++requestId, ...message }, ...(principal === undefined ? {} : { principal }) });
    return effects.slice(start).flatMap((effect) => (effect.type === "effect.send" ? [effect.message] : []))[0] as R;
  };
  const heartbeat = (aclVersion: number) => {
    const start = effects.length;
    actor.send({ type: "message.received", from: "b1", message: { type: "broker.heartbeat", requestId: ++requestId, broker: "b1", aclVersion } });
    return effects.slice(start).flatMap((effect) => (effect.type === "effect.send" ? [effect.message as BrokerHeartbeatReply] : []))[0]!;
  };
  const persisted = () => effects.flatMap((effect) => (effect.type === "effect.persist" ? [effect.operation as CoordinatorCommand] : []));
  return { actor, ask, heartbeat, persisted };
}

describe("coordinator users", () => {
  it("cluster admin creates, replaces, lists and deletes users; the log holds credentials only", () => {
    const c = coordinator();
    expect(c.ask(ADMIN, { type: "user.upsert", user: alice() })).toMatchObject({ type: "user.upsert.reply", created: true });
    expect(c.ask(ADMIN, { type: "user.upsert", user: alice() })).toMatchObject({ created: false }); // a retry: nothing new
    expect(c.persisted()).toHaveLength(1);
    expect(c.ask(ADMIN, { type: "user.upsert", user: alice("bmV3c2FsdG5ld3NhbHQ=") })).toMatchObject({ created: false }); // new password
    expect(c.persisted()).toHaveLength(2);
    const list = c.ask<UserListReply>(ADMIN, { type: "user.list" });
    expect(list.users).toEqual([{ username: "alice", mechanism: "SCRAM-SHA-256", iterations: 4096 }]);
    expect(JSON.stringify(list)).not.toContain(KEY);
    expect(c.ask(ADMIN, { type: "user.delete", username: "alice" })).toMatchObject({ deleted: true });
    expect(c.ask(ADMIN, { type: "user.delete", username: "alice" })).toMatchObject({ deleted: false });
    expect(c.persisted().map((command) => command.type)).toEqual(["user.upserted", "user.upserted", "user.deleted"]);
    // Replayed, the log gives the same users; every command passes the read-back check.
    for (const command of c.persisted()) expect(commandProblem(command)).toBeUndefined();
    const replayed = replay(c.persisted().slice(0, 2), emptyState(100));
    expect(replayed.acls?.users).toEqual([alice("bmV3c2FsdG5ld3NhbHQ=")]);
    expect(replayed.acls?.version).toBe(2);
  });

  it("needs cluster admin; malformed users are INVALID_REQUEST", () => {
    const c = coordinator();
    expect(c.ask("User:bob", { type: "user.upsert", user: alice() }).error?.code).toBe("AUTHORIZATION_FAILED");
    expect(c.ask(undefined, { type: "user.list" }).error?.code).toBe("AUTHORIZATION_FAILED");
    for (const bad of [{ ...alice(), storedKey: "short" }, { ...alice(), iterations: 1 }, { ...alice(), username: "" }, { ...alice(), password: undefined, mechanism: "PLAIN" }, "alice"]) {
      expect(c.ask(ADMIN, { type: "user.upsert", user: bad }).error?.code).toBe("INVALID_REQUEST");
    }
    expect(c.persisted()).toEqual([]);
    expect(commandProblem({ type: "user.upserted", user: { ...alice(), serverKey: 7 } })).toMatch(/serverKey/);
    expect(commandProblem({ type: "user.deleted" })).toMatch(/user name/);
  });

  it("a broker holding an older version gets the users with the rules in its heartbeat reply", () => {
    const c = coordinator();
    expect(c.heartbeat(0).acls).toBeUndefined();
    c.ask(ADMIN, { type: "user.upsert", user: alice() });
    const reply = c.heartbeat(0);
    expect(reply.acls).toEqual({ version: 1, rules: [], users: [alice()] });
    expect(c.heartbeat(1).acls).toBeUndefined();
  });
});

describe("users and rules share one snapshot", () => {
  it("changing rules keeps the users (and the other way round)", () => {
    const c = coordinator();
    c.ask(ADMIN, { type: "user.upsert", user: alice() });
    c.ask(ADMIN, { type: "acl.add", rules: [{ principal: "User:alice", resourceType: "topic", patternType: "literal", name: "orders", operation: "produce" }] });
    c.ask(ADMIN, { type: "acl.remove", rules: [{ principal: "User:alice", resourceType: "topic", patternType: "literal", name: "orders", operation: "produce" }] });
    expect(c.heartbeat(0).acls).toEqual({ version: 3, rules: [], users: [alice()] });
  });
});

describe("the cluster's login secret (unknown users' mock salts)", () => {
  const SECRET_A = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
  const SECRET_B = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

  it("is the first one an upsert offers, kept in the log and sent to brokers; later offers change nothing", () => {
    const c = coordinator();
    c.ask(ADMIN, { type: "user.upsert", user: alice(), loginSecret: SECRET_A });
    c.ask(ADMIN, { type: "user.upsert", user: { ...alice(), username: "bob" }, loginSecret: SECRET_B });
    expect(c.persisted().map((command) => (command as { secret?: string }).secret)).toEqual([SECRET_A, undefined]); // before any heartbeat
    expect(c.heartbeat(0).acls?.loginSecret).toBe(SECRET_A);
    // Deleting every user keeps it: the salts of names that stay unknown do not change.
    c.ask(ADMIN, { type: "user.delete", username: "alice" });
    c.ask(ADMIN, { type: "user.delete", username: "bob" });
    const replayed = replay(c.persisted().filter((command) => command.type.startsWith("user.")), emptyState(100));
    expect(replayed.acls?.loginSecret).toBe(SECRET_A);
    for (const command of c.persisted()) expect(commandProblem(command)).toBeUndefined();
    expect(JSON.stringify(c.ask<UserListReply>(ADMIN, { type: "user.list" }))).not.toContain(SECRET_A);
  });

  it("a retry of the same user that first offers a secret records it; without any offer there is none", () => {
    const c = coordinator();
    c.ask(ADMIN, { type: "user.upsert", user: alice() });
    expect(c.heartbeat(0).acls?.loginSecret).toBeUndefined();
    c.ask(ADMIN, { type: "user.upsert", user: alice(), loginSecret: SECRET_A });
    expect(c.persisted().filter((command) => command.type === "user.upserted")).toHaveLength(2);
    expect(c.heartbeat(0).acls?.loginSecret).toBe(SECRET_A);
  });

  it("a malformed secret is INVALID_REQUEST, and a malformed one read back from the log is refused", () => {
    const c = coordinator();
    expect(c.ask(ADMIN, { type: "user.upsert", user: alice(), loginSecret: "short" }).error?.code).toBe("INVALID_REQUEST");
    expect(c.persisted()).toEqual([]);
    expect(commandProblem({ type: "user.upserted", user: alice(), secret: 7 })).toMatch(/loginSecret/);
  });
});
