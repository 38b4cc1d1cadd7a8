/**
 * Authorization at the broker (authorize.ts) on the simulated kernel, with its real store: the
 * simulated host attaches each sender's principal (actorBoot's `principalOf`), a scripted
 * coordinator hands out the ACLs in heartbeat replies, and clients produce, fetch and ask offsets.
 * The point above all: a refused produce leaves the log exactly as it was. And a property: random
 * rules and requests from random principals, through the broker actor, are decided as the
 * reference model (../shared/acl-reference.ts) decides them.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeBatch } from "../../disk/batch-encode.ts";
import { decodeBatches } from "../../disk/batch-view.ts";
import { brokerDefinition } from "../../host/stores/broker-store.ts";
import type { ActorHost } from "../../host/host.ts";
import type { Transport } from "../../ports/transport.ts";
import { actorBoot, type BootFunction } from "../../sim/node.ts";
import { SimWorld } from "../../sim/world.ts";
import { OPERATIONS_BY_RESOURCE, type AclRule, type AclSnapshot } from "../shared/acl.ts";
import { ReferenceAuthorizer } from "../shared/acl-reference.ts";
import { ANONYMOUS_PRINCIPAL } from "../shared/principal.ts";
import type { FetchReply, OffsetsReply, ProduceReply, ZhumqMessage } from "../shared/messages.ts";
import type { brokerMachine } from "./machine.ts";
import type { BrokerOperation, BrokerRecovered } from "./types.ts";

const BROKER = "broker";
const COORDINATOR = "coordinator";
const TOPIC = "orders";
const PRINCIPALS: Record<string, string> = { alice: "User:alice", bob: "User:bob", root: "User:root" };

class Node {
  readonly inbox: { from: string; message: ZhumqMessage }[] = [];
  transport: Transport | undefined;
  onReceive: ((from: string, message: ZhumqMessage) => void) | undefined;
  boot(): BootFunction {
    return async (ports) => {
      this.transport = ports.transport;
      ports.transport.onMessage((from, message) => {
        this.inbox.push({ from, message: message as ZhumqMessage });
        this.onReceive?.(from, message as ZhumqMessage);
      });
      return { stop: () => undefined };
    };
  }
}

class Harness {
  readonly world = new SimWorld(7);
  readonly coordinator = new Node();
  readonly clients = new Map(["alice", "bob", "root", "anon"].map((name) => [name, new Node()]));
  host: ActorHost<typeof brokerMachine, ZhumqMessage, BrokerOperation, BrokerRecovered> | undefined;
  acls: AclSnapshot | undefined;
  readonly notified: unknown[] = [];
  private requestId = 1;

  constructor(enabled: boolean, plant?: "skip-authorize") {
    this.coordinator.onReceive = (from, message) => {
      if (message.type !== "broker.heartbeat") return;
      const acls = this.acls !== undefined && message.aclVersion !== this.acls.version ? { acls: this.acls } : {};
      this.coordinator.transport!.send(from, { type: "broker.heartbeat.reply", requestId: message.requestId, leaseMs: 1_000, assignments: [{ topic: TOPIC, partition: 0, leaderEpoch: 1 }], ...acls });
    };
    const definition = brokerDefinition({ coordinator: COORDINATOR, heartbeatIntervalMs: 100, flushIntervalMs: 50, authorizer: { enabled, superUsers: ["User:root"] }, ...(plant === undefined ? {} : { plant }) });
    this.world.addNode(BROKER, actorBoot(definition, (host) => (this.host = host), { onNotify: (output) => this.notified.push(output), principalOf: (from) => PRINCIPALS[from] }), { tornWrites: false });
    this.world.addNode(COORDINATOR, this.coordinator.boot());
    for (const [name, node] of this.clients) this.world.addNode(name, node.boot());
  }

  async start(): Promise<this> {
    for (const node of this.world.nodes.values()) void node.start();
    this.world.kernel.markAsync();
    await this.run(300);
    return this;
  }

  async run(ms: number): Promise<void> {
    await this.world.kernel.run({ untilMs: this.world.kernel.now() + ms });
  }

  async ask<R extends ZhumqMessage>(client: string, message: Record<string, unknown>): Promise<R | undefined> {
    const requestId = this.requestId++;
    const node = this.clients.get(client)!;
    node.transport!.send(BROKER, { requestId, topic: TOPIC, partition: 0, ...message });
    await this.world.kernel.run({ untilMs: this.world.kernel.now() + 1_000, stopWhen: () => node.inbox.some((received) => (received.message as { requestId?: number }).requestId === requestId) });
    return node.inbox.find((received) => (received.message as { requestId?: number }).requestId === requestId)?.message as R | undefined;
  }

  produce(client: string, value: string, acks: -1 | 0 | 1 = -1): Promise<ProduceReply | undefined> {
    return this.ask<ProduceReply>(client, { type: "produce.request", leaderEpoch: 1, acks, batch: encodeBatch([{ value: new TextEncoder().encode(value), timestampMs: 1 }]) });
  }

  fetch(client: string): Promise<FetchReply | undefined> {
    return this.ask<FetchReply>(client, { type: "fetch.request", leaderEpoch: 1, offset: 0, maxBytes: 1 << 20, maxWaitMs: 0 });
  }

  endOffset(): number {
    return (this.host!.snapshot!.context.partitions.get(`${TOPIC}/0`) as { endOffset: number }).endOffset;
  }
}

const rule = (principal: string, operation: AclRule["operation"]): AclRule => ({ principal, resourceType: "topic", patternType: "literal", name: TOPIC, operation });

describe("broker authorization", () => {
  it("before any ACLs arrive it serves only super users; the rest hear BROKER_NOT_AVAILABLE (retriable: the answer is not known yet), and nothing is written", async () => {
    const h = await new Harness(true).start();
    const waiting = await h.produce("alice", "x");
    expect(waiting?.error).toEqual({ code: "BROKER_NOT_AVAILABLE", message: expect.stringMatching(/has not heard the cluster's ACLs/) });
    expect((await h.fetch("alice"))?.error?.code).toBe("BROKER_NOT_AVAILABLE");
    expect(h.endOffset()).toBe(0);
    expect((await h.produce("root", "x"))?.error).toBeUndefined();
    expect(h.notified.filter((output) => (output as { type: string }).type === "authorization.refused")).toHaveLength(0);
  });

  it("has teeth: the skip-authorize plant lets a principal without permission write", async () => {
    const h = new Harness(true, "skip-authorize");
    h.acls = { version: 1, rules: [rule("User:alice", "produce")] };
    await h.start();
    expect((await h.produce("bob", "forbidden"))?.error).toBeUndefined();
    expect(h.endOffset()).toBe(1);
  });

  it("a refused produce leaves the log unchanged; the same produce with the permission appends", async () => {
    const h = new Harness(true);
    h.acls = { version: 1, rules: [rule("User:alice", "produce"), rule("User:bob", "consume")] };
    await h.start();
    expect((await h.produce("alice", "first"))?.error).toBeUndefined();
    const end = h.endOffset();
    expect(end).toBe(1);
    const refused = await h.produce("bob", "forbidden");
    expect(refused?.error).toEqual({ code: "AUTHORIZATION_FAILED", message: expect.stringContaining("User:bob may not produce on topic 'orders'") });
    // acks 0: no answer, as for any error — and nothing appended either.
    await h.ask("bob", { type: "produce.request", leaderEpoch: 1, acks: 0, batch: encodeBatch([{ value: new TextEncoder().encode("quiet"), timestampMs: 1 }]) }).catch(() => undefined);
    await h.ask("anon", { type: "produce.request", leaderEpoch: 1, acks: -1, batch: encodeBatch([{ value: new TextEncoder().encode("anon"), timestampMs: 1 }]) });
    await h.run(200);
    expect(h.endOffset()).toBe(end);
    const read = await h.fetch("bob");
    expect(read?.error).toBeUndefined();
    expect(decodeBatches(read!.records).flatMap((batch) => batch.records().map((record) => new TextDecoder().decode(record.value!)))).toEqual(["first"]);
    expect(h.notified.filter((output) => (output as { type: string }).type === "authorization.refused")).toHaveLength(3);
  });

  it("fetch needs consume and offsets need describe; a newer ACL version replaces the old one", async () => {
    const h = new Harness(true);
    h.acls = { version: 1, rules: [rule("User:alice", "produce")] };
    await h.start();
    expect((await h.fetch("bob"))?.error?.message).toMatch(/User:bob may not consume on topic 'orders'/);
    expect((await h.ask<OffsetsReply>("bob", { type: "offsets.request", at: "latest" }))?.error?.message).toMatch(/may not describe/);
    expect((await h.ask<OffsetsReply>("alice", { type: "offsets.request", at: "latest" }))?.error).toBeUndefined(); // produce brings describe
    h.acls = { version: 2, rules: [rule("User:bob", "consume")] };
    await h.run(300);
    expect((await h.fetch("bob"))?.error).toBeUndefined();
    expect((await h.produce("alice", "late"))?.error?.code).toBe("AUTHORIZATION_FAILED");
  });

  it("a malformed request is INVALID_REQUEST before it is AUTHORIZATION_FAILED; what depends on the state (an unknown partition) comes after it", async () => {
    const h = new Harness(true);
    h.acls = { version: 1, rules: [rule("User:alice", "produce")] };
    await h.start();
    const batch = encodeBatch([{ value: new TextEncoder().encode("x"), timestampMs: 1 }]);
    const malformed: Record<string, unknown>[] = [
      { type: "produce.request", leaderEpoch: 1, acks: 2, batch },
      { type: "produce.request", leaderEpoch: 1, acks: 1, batch: "bytes" },
      { type: "fetch.request", leaderEpoch: 1, offset: -1, maxBytes: 1 << 20, maxWaitMs: 0 },
      { type: "offsets.request", at: "yesterday" },
    ];
    for (const message of malformed) expect((await h.ask<ProduceReply>("bob", message))?.error?.code, JSON.stringify(message)).toBe("INVALID_REQUEST");
    expect(h.endOffset()).toBe(0);
    const unknownPartition = { type: "produce.request", partition: 9, leaderEpoch: 1, acks: 1, batch };
    expect((await h.ask<ProduceReply>("bob", unknownPartition))?.error?.code).toBe("AUTHORIZATION_FAILED");
    expect((await h.ask<ProduceReply>("alice", unknownPartition))?.error?.code).toBe("UNKNOWN_TOPIC_OR_PARTITION");
  });

  it("off: every request is served as before, and heartbeats ask for no ACLs", async () => {
    const h = await new Harness(false).start();
    expect((await h.produce("anon", "x"))?.error).toBeUndefined();
    const heartbeats = h.coordinator.inbox.filter((received) => received.message.type === "broker.heartbeat");
    expect(heartbeats.every((received) => !("aclVersion" in received.message))).toBe(true);
  });
});

// ---------------------------------------------------------------- against the reference model

const CLIENT_PRINCIPALS: Record<string, string> = { alice: "User:alice", bob: "User:bob", root: "User:root", anon: ANONYMOUS_PRINCIPAL };
const RULE_PRINCIPALS = ["*", "User:alice", "User:bob", ANONYMOUS_PRINCIPAL];
const arbitraryRule: fc.Arbitrary<AclRule> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ principal: fc.constantFrom(...RULE_PRINCIPALS), resourceType: fc.constant("topic" as const), patternType: fc.constantFrom("literal" as const, "prefixed" as const), name: fc.constantFrom(TOPIC, "ord", "o", "other", "*"), operation: fc.constantFrom(...OPERATIONS_BY_RESOURCE.topic) }) },
  { weight: 1, arbitrary: fc.record({ principal: fc.constantFrom(...RULE_PRINCIPALS), resourceType: fc.constant("group" as const), patternType: fc.constant("literal" as const), name: fc.constantFrom(TOPIC, "*"), operation: fc.constantFrom(...OPERATIONS_BY_RESOURCE.group) }) },
  { weight: 1, arbitrary: fc.record({ principal: fc.constantFrom(...RULE_PRINCIPALS), resourceType: fc.constant("cluster" as const), patternType: fc.constant("literal" as const), name: fc.constant("cluster"), operation: fc.constant("admin" as const) }) },
);
const REQUESTS = { produce: "produce", fetch: "consume", offsets: "describe" } as const;

describe("broker authorization against the reference model", () => {
  it("random rules, principals and produce/fetch/offsets requests: refused exactly when the model refuses; a refused produce appends nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(arbitraryRule, { maxLength: 6, selector: (rule) => JSON.stringify(rule) }), fc.array(fc.tuple(fc.constantFrom("alice", "bob", "root", "anon"), fc.constantFrom("produce" as const, "fetch" as const, "offsets" as const)), { minLength: 1, maxLength: 6 }), async (rules, requests) => {
        const h = new Harness(true);
        h.acls = { version: 1, rules };
        await h.start();
        const model = new ReferenceAuthorizer(true, ["User:root"], rules, { principals: Object.values(CLIENT_PRINCIPALS), names: { topic: [TOPIC], group: [] } });
        for (const [client, kind] of requests) {
          const before = h.endOffset();
          const reply = kind === "produce" ? await h.produce(client, "v", 1) : kind === "fetch" ? await h.fetch(client) : await h.ask<OffsetsReply>(client, { type: "offsets.request", at: "latest" });
          const allowed = model.allows(CLIENT_PRINCIPALS[client]!, "topic", TOPIC, REQUESTS[kind]);
          const what = `${client} ${kind} with ${JSON.stringify(rules)}`;
          expect(reply, what).toBeDefined();
          expect(reply!.error?.code === "AUTHORIZATION_FAILED", what).toBe(!allowed);
          if (kind === "produce") expect(h.endOffset(), what).toBe(allowed ? before + 1 : before);
        }
      }),
      { numRuns: 40 },
    );
  });
});
