/** The real host's principals (principal.ts): dev-only client-id principals, loopback only, and the rate-limited refusal log. */
import { describe, expect, it } from "vitest";
import type { LogRecord } from "./node-log.ts";
import { REFUSALS_PER_SECOND_MAX } from "./node-log.ts";
import { authorizationLogger, clientIdOf, devPrincipalsProblem, principalResolver } from "./principal.ts";

describe("principals on a real node", () => {
  it("anonymous unless dev principals are on; then User:<clientId> for clients, nothing for nodes", () => {
    expect(principalResolver(undefined)("alice-0a1b2c3d")).toBeUndefined();
    const dev = principalResolver(undefined, { devPrincipals: true });
    expect(dev("alice-0a1b2c3d")).toBe("User:alice");
    expect(dev("zhumq-acl-ffffffff")).toBe("User:zhumq-acl");
    expect(dev("broker-1")).toBeUndefined();
    expect(clientIdOf("x-123")).toBeUndefined();
  });

  it("dev principals only on loopback", () => {
    for (const listen of ["127.0.0.1:9090", "[::1]:0", "localhost:1"]) expect(devPrincipalsProblem(listen)).toBeUndefined();
    for (const listen of ["0.0.0.0:9090", "10.0.0.5:9090", "[::]:9090"]) expect(devPrincipalsProblem(listen)).toMatch(/loopback only/);
  });

  it("logs refusals at most REFUSALS_PER_SECOND_MAX a second per operation and resource type, then says how many it left out", () => {
    const records: LogRecord[] = [];
    let nowMs = 0;
    const logger = authorizationLogger((record) => records.push(record), () => nowMs);
    const refused = { type: "authorization.refused", from: "bob-00000000", principal: "User:bob", operation: "produce", resource: { type: "topic", name: "orders" }, request: "produce.request" };
    expect(logger({ type: "coordinator.broker.up" })).toBe(false);
    for (let index = 0; index < 20; index++) expect(logger(refused)).toBe(true);
    expect(records).toHaveLength(REFUSALS_PER_SECOND_MAX);
    expect(records[0]).toMatchObject({ level: "warn", event: "authorization.refused", message: "refused produce.request from 'bob-00000000': User:bob may not produce on topic 'orders'" });
    logger({ ...refused, operation: "consume" }); // another operation has a window of its own
    expect(records).toHaveLength(REFUSALS_PER_SECOND_MAX + 1);
    nowMs = 1_000;
    logger(refused);
    expect(records.at(-1)?.message).toMatch(/\(15 more refusals like it in the last second not logged\)/);
  });
});
