/**
 * Authorization at the coordinator (acl.ts), driven through the machine with principals on the
 * envelope as the host attaches them: ACL administration, refusals that change nothing, metadata
 * filtering, the ACLs in the command log and in heartbeat replies, and a property that random
 * ACLs and requests from random principals are decided as the reference model decides them.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { SeededRandom } from "../../sim/random.ts";
import type { AclRule } from "../shared/acl.ts";
import { ReferenceAuthorizer } from "../shared/acl-reference.ts";
import type { AclListReply } from "../shared/acl-messages.ts";
import type { BrokerHeartbeatReply, CoordinatorReplyMessage, MetadataReply } from "../shared/messages.ts";
import { commandProblem, emptyState, replay, type CoordinatorCommand } from "./state.ts";
import type { CoordinatorEffect } from "./handlers.ts";
import { DEFAULT_COORDINATOR_LIMITS } from "./limits.ts";
import { coordinatorMachine } from "./machine.ts";

const ADMIN = "User:admin";

function coordinator(options: { enabled?: boolean; commands?: CoordinatorCommand[] } = {}) {
  let requestId = 0;
  const effects: CoordinatorEffect[] = [];
  const actor = createActor(coordinatorMachine, {
    input: {
      self: "coordinator",
      leaseMs: 1_000,
      leaseCheckIntervalMs: 100,
      virtualNodes: 16,
      limits: DEFAULT_COORDINATOR_LIMITS,
      commands: options.commands ?? [],
      clock: { now: () => 0 },
      random: new SeededRandom("acl-test"),
      authorizer: { enabled: options.enabled ?? true, superUsers: [ADMIN] },
    },
  });
  actor.on("*", (effect) => void effects.push(effect as CoordinatorEffect));
  actor.start();
  const ask = <R extends CoordinatorReplyMessage>(principal: string | undefined, message: Record<string, unknown>) => {
    const start = effects.length;
    actor.send({ type: "message.received", from: "client", message: { requestId: ++requestId, ...message }, ...(principal === undefined ? {} : { principal }) });
    const caused = effects.slice(start);
    const sends = caused.flatMap((effect) => (effect.type === "effect.send" ? [effect.message] : []));
    expect(sends).toHaveLength(1);
    return { reply: sends[0] as R, caused };
  };
  const heartbeat = (broker: string, aclVersion?: number) => {
    const start = effects.length;
    actor.send({ type: "message.received", from: broker, message: { type: "broker.heartbeat", requestId: ++requestId, broker, ...(aclVersion === undefined ? {} : { aclVersion }) } });
    return effects.slice(start).flatMap((effect) => (effect.type === "effect.send" ? [effect.message as BrokerHeartbeatReply] : []))[0]!;
  };
  const grant = (...rules: AclRule[]) => expect(ask(ADMIN, { type: "acl.add", rules }).reply.error).toBeUndefined();
  const persisted = () => effects.flatMap((effect) => (effect.type === "effect.persist" ? [effect.operation] : []));
  return { actor, effects, ask, heartbeat, grant, persisted };
}

const topicRule = (principal: string, name: string, operation: AclRule["operation"], patternType: AclRule["patternType"] = "literal"): AclRule => ({ principal, resourceType: "topic", patternType, name, operation });
const createOrders = { type: "topic.create", topic: "orders", partitions: 1, replicationFactor: 1, replicationMode: "fetch" };

describe("coordinator authorization", () => {
  it("refuses a request no ACL allows with AUTHORIZATION_FAILED naming operation and resource, changes nothing, and tells the host", () => {
    const c = coordinator();
    c.heartbeat("b1");
    const before = c.persisted().length;
    const { reply, caused } = c.ask("User:bob", createOrders);
    expect(reply.error).toEqual({ code: "AUTHORIZATION_FAILED", message: expect.stringContaining("User:bob may not create on topic 'orders'") });
    expect(c.persisted()).toHaveLength(before);
    expect(caused).toContainEqual({ type: "effect.notify", output: { type: "authorization.refused", from: "client", principal: "User:bob", request: "topic.create", operation: "create", resource: { type: "topic", name: "orders" } } });
    expect(c.actor.getSnapshot().context.state.topics.size).toBe(0);
  });

  it("anonymous (no principal on the envelope) is refused too: deny by default", () => {
    const c = coordinator();
    expect(c.ask(undefined, createOrders).reply.error?.message).toMatch(/User:ANONYMOUS may not create/);
    expect(c.ask(undefined, { type: "acl.list" }).reply.error?.code).toBe("AUTHORIZATION_FAILED");
  });

  it("a super user adds rules (durably, synced before the reply); then the principal may", () => {
    const c = coordinator();
    c.heartbeat("b1");
    const { reply, caused } = c.ask(ADMIN, { type: "acl.add", rules: [topicRule("User:bob", "ord", "create", "prefixed"), topicRule("User:bob", "ord", "create", "prefixed")] });
    expect(reply).toMatchObject({ type: "acl.add.reply", added: 1 });
    expect(caused[0]).toEqual({ type: "effect.persist", operation: { type: "acl.added", rules: [topicRule("User:bob", "ord", "create", "prefixed")] }, sync: true });
    expect(c.ask("User:bob", createOrders).reply.error).toBeUndefined();
    // Adding it again changes nothing and persists nothing.
    const again = c.ask(ADMIN, { type: "acl.add", rules: [topicRule("User:bob", "ord", "create", "prefixed")] });
    expect(again.reply).toMatchObject({ added: 0 });
    expect(again.caused.some((effect) => effect.type === "effect.persist")).toBe(false);
    // Removed: refused again.
    expect(c.ask(ADMIN, { type: "acl.remove", rules: [topicRule("User:bob", "ord", "create", "prefixed")] }).reply).toMatchObject({ removed: 1 });
    expect(c.ask("User:bob", { ...createOrders, topic: "orders2" }).reply.error?.code).toBe("AUTHORIZATION_FAILED");
  });

  it("acl administration needs cluster admin; acl.list shows the rules, the version and whether they are enforced", () => {
    const c = coordinator();
    c.grant(topicRule("User:bob", "orders", "produce"));
    expect(c.ask("User:bob", { type: "acl.add", rules: [topicRule("User:bob", "*", "delete")] }).reply.error?.message).toMatch(/may not admin on the cluster/);
    c.grant({ principal: "User:ops", resourceType: "cluster", patternType: "literal", name: "cluster", operation: "admin" });
    const listed = c.ask<AclListReply>("User:ops", { type: "acl.list" }).reply;
    expect(listed).toMatchObject({ enforced: true, version: 2 });
    expect(listed.rules).toHaveLength(2);
    expect(c.ask<AclListReply>("User:ops", { type: "acl.list", principal: "User:bob" }).reply.rules).toEqual([topicRule("User:bob", "orders", "produce")]);
    expect(c.ask(ADMIN, { type: "acl.add", rules: [{ ...topicRule("User:bob", "orders", "produce"), operation: "read" }] }).reply.error?.code).toBe("INVALID_REQUEST");
  });

  it("metadata lists only the topics the principal may describe; a named one it may not is AUTHORIZATION_FAILED, existing or not", () => {
    const c = coordinator();
    c.heartbeat("b1");
    for (const topic of ["orders", "payments"]) expect(c.ask(ADMIN, { ...createOrders, topic }).reply.error).toBeUndefined();
    c.grant(topicRule("User:bob", "orders", "consume"));
    const all = c.ask<MetadataReply>("User:bob", { type: "metadata.request", topics: null }).reply;
    expect(all.topics.map((topic) => topic.topic)).toEqual(["orders"]);
    const named = c.ask<MetadataReply>("User:bob", { type: "metadata.request", topics: ["orders", "payments", "nothing"] }).reply;
    expect(named.topics.map((topic) => topic.topic)).toEqual(["orders"]);
    expect(named.topicErrors.map((entry) => [entry.topic, entry.error.code])).toEqual([
      ["payments", "AUTHORIZATION_FAILED"],
      ["nothing", "AUTHORIZATION_FAILED"],
    ]);
    expect(c.ask<MetadataReply>(ADMIN, { type: "metadata.request", topics: null }).reply.topics).toHaveLength(2);
  });

  it("groups: joining needs group read and consume on the subscribed topics; describe and delete their own permission", () => {
    const c = coordinator();
    c.heartbeat("b1");
    c.ask(ADMIN, createOrders);
    const join = { type: "group.heartbeat", groupId: "g", memberId: "m1", memberEpoch: 0, topics: ["orders"], owned: [] };
    expect(c.ask("User:bob", join).reply.error?.message).toMatch(/may not read on group 'g'/);
    c.grant({ principal: "User:bob", resourceType: "group", patternType: "literal", name: "g", operation: "read" });
    expect(c.ask("User:bob", join).reply.error?.message).toMatch(/may not consume on topic 'orders'/);
    c.grant(topicRule("User:bob", "orders", "consume"));
    expect(c.ask("User:bob", join).reply.error).toBeUndefined();
    expect(c.ask("User:bob", { type: "group.describe", groupId: "g" }).reply.error).toBeUndefined();
    expect(c.ask("User:bob", { type: "group.delete", groupId: "g" }).reply.error?.code).toBe("AUTHORIZATION_FAILED");
    expect(c.ask("User:bob", { type: "group.list" }).reply).toMatchObject({ groups: [{ groupId: "g" }] });
    expect(c.ask("User:eve", { type: "group.list" }).reply).toMatchObject({ groups: [] });
  });

  it("a producer id needs produce on at least one topic (any, existing or not: a prefix will do); refused, no id is used up", () => {
    const c = coordinator();
    const refused = c.ask("User:bob", { type: "producer.id.request" });
    expect(refused.reply.error).toEqual({ code: "AUTHORIZATION_FAILED", message: expect.stringMatching(/User:bob may not take a producer id: that needs produce on at least one topic/) });
    expect(refused.caused.some((effect) => effect.type === "effect.notify" && (effect.output as { type: string }).type === "authorization.refused")).toBe(true);
    expect(c.persisted()).toEqual([]);
    c.grant(topicRule("User:bob", "orders", "consume"), topicRule("User:carol", "ord", "produce", "prefixed"));
    expect(c.ask("User:bob", { type: "producer.id.request" }).reply.error?.code).toBe("AUTHORIZATION_FAILED"); // consume is not produce
    expect(c.ask("User:carol", { type: "producer.id.request" }).reply.error).toBeUndefined(); // no topic 'ord…' exists yet: still allowed
    expect(c.ask(ADMIN, { type: "producer.id.request" }).reply.error).toBeUndefined();
  });

  it("heartbeat replies carry the ACLs when the broker's version is older, never otherwise; heartbeats are not ACL-checked", () => {
    const c = coordinator();
    expect(c.heartbeat("b1", -1).acls).toEqual({ version: 0, rules: [] });
    expect(c.heartbeat("b1", 0).acls).toBeUndefined();
    expect(c.heartbeat("b1").acls).toBeUndefined(); // a broker whose authorizer is off asks for none
    c.grant(topicRule("User:bob", "orders", "produce"));
    expect(c.heartbeat("b1", 0).acls).toEqual({ version: 1, rules: [topicRule("User:bob", "orders", "produce")] });
  });

  it("off: today's behaviour — anonymous may do anything, and the rules are kept but not enforced", () => {
    const c = coordinator({ enabled: false });
    c.heartbeat("b1");
    expect(c.ask(undefined, createOrders).reply.error).toBeUndefined();
    expect(c.ask(undefined, { type: "acl.add", rules: [topicRule("User:bob", "x", "produce")] }).reply.error).toBeUndefined();
    expect(c.ask<MetadataReply>("User:eve", { type: "metadata.request", topics: null }).reply.topics).toHaveLength(1);
    expect(c.ask<AclListReply>(undefined, { type: "acl.list" }).reply.enforced).toBe(false);
  });

  it("the ACLs survive a restart: replayed from the command log, which decodes them", () => {
    const c = coordinator();
    c.grant(topicRule("User:bob", "orders", "produce"), topicRule("User:carol", "o", "consume", "prefixed"));
    c.ask(ADMIN, { type: "acl.remove", rules: [topicRule("User:bob", "orders", "produce")] });
    const log = c.persisted();
    for (const command of log) expect(commandProblem(JSON.parse(JSON.stringify(command)))).toBeUndefined();
    expect(commandProblem({ type: "acl.added", rules: [{ principal: "bob" }] })).toMatch(/acl.added/);
    expect(replay(log, emptyState(8)).acls).toEqual({ version: 2, rules: [topicRule("User:carol", "o", "consume", "prefixed")] });
    const restarted = coordinator({ commands: log });
    expect(restarted.ask("User:carol", { type: "metadata.request", topics: ["orders"] }).reply.error).toBeUndefined();
    expect(restarted.heartbeat("b1", 1).acls?.version).toBe(2);
  });
});

// ---------------------------------------------------------------- against the reference model

const PRINCIPALS = ["User:ANONYMOUS", "User:alice", "User:bob"];
const TOPICS = ["a", "ab", "b"];
const GROUPS = ["g", "g1"];

const arbitraryRule: fc.Arbitrary<AclRule> = fc.oneof(
  fc.record({ principal: fc.constantFrom("*", ...PRINCIPALS), resourceType: fc.constant("topic" as const), patternType: fc.constantFrom("literal" as const, "prefixed" as const), name: fc.constantFrom("a", "ab", "b", "*"), operation: fc.constantFrom("produce" as const, "consume" as const, "describe" as const, "create" as const, "delete" as const, "alter" as const) }),
  fc.record({ principal: fc.constantFrom("*", ...PRINCIPALS), resourceType: fc.constant("group" as const), patternType: fc.constantFrom("literal" as const, "prefixed" as const), name: fc.constantFrom("g", "g1", "*"), operation: fc.constantFrom("read" as const, "describe" as const, "delete" as const) }),
  fc.record({ principal: fc.constantFrom(...PRINCIPALS), resourceType: fc.constant("cluster" as const), patternType: fc.constant("literal" as const), name: fc.constant("cluster"), operation: fc.constant("admin" as const) }),
);

type Request = { readonly message: Record<string, unknown>; readonly needs: (model: ReferenceAuthorizer, principal: string) => boolean };
const arbitraryRequest: fc.Arbitrary<Request> = fc.oneof(
  fc.constantFrom(...TOPICS).map((topic) => ({ message: { type: "topic.delete", topic }, needs: (m: ReferenceAuthorizer, p: string) => m.allows(p, "topic", topic, "delete") })),
  fc.constantFrom(...TOPICS).map((topic) => ({ message: { type: "topic.create", topic: `${topic}-new`, partitions: 1, replicationFactor: 1, replicationMode: "fetch" }, needs: () => true })),
  fc.constantFrom(...GROUPS).map((groupId) => ({ message: { type: "group.describe", groupId }, needs: (m: ReferenceAuthorizer, p: string) => m.allows(p, "group", groupId, "describe") })),
  fc.constantFrom(...GROUPS).map((groupId) => ({ message: { type: "group.delete", groupId }, needs: (m: ReferenceAuthorizer, p: string) => m.allows(p, "group", groupId, "delete") })),
  fc.tuple(fc.constantFrom(...GROUPS), fc.constantFrom(...TOPICS)).map(([groupId, topic]) => ({
    message: { type: "group.heartbeat", groupId, memberId: "m1", memberEpoch: 0, topics: [topic], owned: [] },
    needs: (m: ReferenceAuthorizer, p: string) => m.allows(p, "group", groupId, "read") && m.allows(p, "topic", topic, "consume"),
  })),
  fc.constant({ message: { type: "acl.list" }, needs: (m: ReferenceAuthorizer, p: string) => m.allows(p, "cluster", "cluster", "admin") }),
  // Produce on some topic: the model is asked about every name a rule or the universe names.
  fc.constant({ message: { type: "producer.id.request" }, needs: (m: ReferenceAuthorizer, p: string) => m.allowsSomewhere(p, "topic", "produce") }),
  fc.constant({ message: { type: "broker.decommission", broker: "nobody" }, needs: (m: ReferenceAuthorizer, p: string) => m.allows(p, "cluster", "cluster", "admin") }),
);

describe("coordinator authorization against the reference model", () => {
  it("random ACLs, principals and requests: refused exactly when the model refuses, and then nothing changed", () => {
    fc.assert(
      fc.property(fc.uniqueArray(arbitraryRule, { maxLength: 8, selector: (rule) => JSON.stringify(rule) }), fc.array(fc.tuple(fc.constantFrom(...PRINCIPALS), arbitraryRequest), { minLength: 1, maxLength: 12 }), (rules, requests) => {
        const c = coordinator();
        c.heartbeat("b1");
        for (const topic of TOPICS) c.ask(ADMIN, { ...createOrders, topic });
        if (rules.length > 0) c.grant(...rules);
        const model = new ReferenceAuthorizer(true, [ADMIN], rules, { principals: PRINCIPALS, names: { topic: [...TOPICS, ...TOPICS.map((topic) => `${topic}-new`)], group: GROUPS } });
        // Topic creation needs create on the new name: the model decides that too.
        for (const [principal, request] of requests) {
          const stateBefore = c.actor.getSnapshot().context.state;
          const { reply } = c.ask(principal, request.message);
          const allowed = request.message["type"] === "topic.create" ? model.allows(principal, "topic", request.message["topic"] as string, "create") : request.needs(model, principal);
          expect(reply.error?.code === "AUTHORIZATION_FAILED", `${principal} ${JSON.stringify(request.message)} with ${JSON.stringify(rules)}`).toBe(!allowed);
          if (!allowed) expect(c.actor.getSnapshot().context.state).toBe(stateBefore);
        }
        // Metadata: exactly the topics the model lets each principal describe.
        for (const principal of PRINCIPALS) {
          const listed = c.ask<MetadataReply>(principal, { type: "metadata.request", topics: null }).reply.topics.map((topic) => topic.topic);
          const existing = [...c.actor.getSnapshot().context.state.topics.keys()];
          expect(listed.sort()).toEqual(existing.filter((topic) => model.allows(principal, "topic", topic, "describe")).sort());
        }
      }),
      { numRuns: 80 },
    );
  });
});

// ---------------------------------------------------------------- malformed before unauthorized

/**
 * The order of the checks, the same on every coordinator request (and on the broker's:
 * ../broker/authorize.test.ts): the request's shape first (INVALID_REQUEST, INVALID_TOPIC,
 * INVALID_GROUP_ID — decided from the message alone, so they tell nothing about the cluster),
 * then authorization, and only then anything that depends on the state (a topic that does not
 * exist, a limit reached), so a principal without permission learns nothing about what exists.
 */
describe("coordinator: a malformed request is INVALID_REQUEST before it is AUTHORIZATION_FAILED", () => {
  const MALFORMED = ["INVALID_REQUEST", "INVALID_TOPIC", "INVALID_GROUP_ID"];
  const cases: [string, Record<string, unknown>, Record<string, unknown> | undefined][] = [
    ["topic.create", { ...createOrders, partitions: 0 }, createOrders],
    ["topic.delete", { type: "topic.delete", topic: 42 }, { type: "topic.delete", topic: "orders" }],
    ["topic.alter", { type: "topic.alter", topic: "orders", mode: "sideways" }, { type: "topic.alter", topic: "orders", mode: "raft" }],
    ["broker.decommission", { type: "broker.decommission", broker: 42 }, { type: "broker.decommission", broker: "b1" }],
    ["acl.add", { type: "acl.add", rules: [] }, { type: "acl.add", rules: [topicRule("User:eve", "orders", "produce")] }],
    ["acl.remove", { type: "acl.remove", rules: "all" }, { type: "acl.remove", rules: [topicRule("User:eve", "orders", "produce")] }],
    ["acl.list", { type: "acl.list", principal: "eve" }, { type: "acl.list" }],
    ["user.delete", { type: "user.delete", username: 42 }, { type: "user.delete", username: "alice" }],
    ["group.heartbeat", { type: "group.heartbeat", groupId: 42, memberId: "m1", memberEpoch: 0, topics: ["orders"], owned: [] }, { type: "group.heartbeat", groupId: "g", memberId: "m1", memberEpoch: 0, topics: ["orders"], owned: [] }],
    ["group.describe", { type: "group.describe", groupId: "" }, { type: "group.describe", groupId: "g" }],
    ["group.delete", { type: "group.delete", groupId: 7 }, { type: "group.delete", groupId: "g" }],
    ["offsets.fetch", { type: "offsets.fetch", groupId: "" }, undefined],
    ["offsets.commit", { type: "offsets.commit", groupId: "g", offsets: "all" }, undefined],
    ["producer.id.request", { type: "producer.id.request", requestId: "first" }, { type: "producer.id.request" }],
    ["metadata.request", { type: "metadata.request", topics: "orders" }, undefined],
  ];
  it.each(cases)("%s", (_type, malformed, wellFormed) => {
    const c = coordinator();
    c.heartbeat("b1");
    c.ask(ADMIN, createOrders);
    const before = c.actor.getSnapshot().context.state;
    const refused = c.ask("User:eve", malformed);
    expect(MALFORMED, JSON.stringify(refused.reply)).toContain(refused.reply.error?.code);
    expect(c.actor.getSnapshot().context.state).toBe(before);
    if (wellFormed !== undefined) expect(c.ask("User:eve", wellFormed).reply.error?.code).toBe("AUTHORIZATION_FAILED");
  });

  it("what depends on the state comes after authorization: a topic that does not exist is AUTHORIZATION_FAILED to whoever may not know of it", () => {
    const c = coordinator();
    expect(c.ask("User:eve", { type: "topic.delete", topic: "nowhere" }).reply.error?.code).toBe("AUTHORIZATION_FAILED");
    expect(c.ask("User:eve", { type: "topic.alter", topic: "nowhere", mode: "raft" }).reply.error?.code).toBe("AUTHORIZATION_FAILED");
    expect(c.ask(ADMIN, { type: "topic.delete", topic: "nowhere" }).reply.error?.code).toBe("UNKNOWN_TOPIC_OR_PARTITION");
  });
});
