/**
 * Re-authentication (login-recheck.ts): a stream logged in as a user who is then deleted, or
 * whose password changes, ends UNAUTHENTICATED within the recheck interval of the change; a
 * version change that leaves the user as it was ends nothing. In-process transports.
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { GrpcTransport, type ListeningGrpcTransport } from "./grpc-transport.ts";
import { scramCredentials } from "./scram.ts";
import { LOGIN_REVOKED_DETAILS, storedCredentials, type StoredScramCredentials } from "./scram-link.ts";

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A user directory the test changes, with a version that moves on each change (as the ACL snapshot's). */
class Users {
  version = 1;
  private readonly users = new Map<string, StoredScramCredentials>();
  set(name: string, password: string): void {
    this.users.set(name, storedCredentials(scramCredentials(password, randomBytes(16), 4096)));
    this.version++;
  }
  delete(name: string): void {
    this.users.delete(name);
    this.version++;
  }
  readonly config = { lookup: (name: string) => this.users.get(name), version: () => this.version, failureDelayMs: 10 };
}

describe("re-authentication of logged-in streams", () => {
  const open: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const item of open.splice(0).reverse()) await item.close();
  });

  async function setUp(users: Users): Promise<{ server: ListeningGrpcTransport; client: (password: string, username?: string) => { transport: GrpcTransport; refused: string[] }; got: unknown[] }> {
    const server = await GrpcTransport.listen({ self: "broker-1", address: "127.0.0.1:0", scram: users.config, loginRecheckMs: 20 });
    open.push(server);
    const got: unknown[] = [];
    server.onMessage((_from, message) => got.push(message));
    const client = (password: string, username = "alice"): { transport: GrpcTransport; refused: string[] } => {
      const refused: string[] = [];
      const transport = GrpcTransport.connect({ self: `${username}-${got.length}`, peers: (node) => (node === "broker-1" ? server.address : undefined), login: { username, password }, onLoginRefused: (peer) => refused.push(peer), limits: { reconnectBaseMs: 10, reconnectMaxMs: 50 } });
      open.push(transport);
      return { transport, refused };
    };
    return { server, client, got };
  }

  it("ends alice's stream once she is deleted, and her next login fails; bob's stays", async () => {
    const users = new Users();
    users.set("alice", "wonderland");
    users.set("bob", "builder");
    const { server, client, got } = await setUp(users);
    const alice = client("wonderland");
    alice.transport.send("broker-1", { n: 1 });
    await until(() => got.length === 1, "alice's first message");
    expect(server.principalOf(alice.transport.self)).toBe("User:alice");
    const bob = client("builder", "bob");
    bob.transport.send("broker-1", { bob: 1 });
    await until(() => got.length === 2, "bob's first message");

    users.delete("alice");
    await until(() => server.stats.rejected.revoked === 1, "alice's stream to be cut off");
    await until(() => alice.refused.length > 0, "the client to hear its login is no longer valid");
    expect(alice.transport.linkInfo()[0]?.lastBreak).toContain(LOGIN_REVOKED_DETAILS);
    // Bob's stream was rechecked too, and stays.
    expect(bob.transport.isConnectedTo("broker-1")).toBe(true);
    bob.transport.send("broker-1", { bob: 2 });
    await until(() => got.length === 3, "bob's second message");
    // What alice sends now needs a new login, which fails like any unknown user's.
    const failedBefore = server.stats.rejected.authentication;
    alice.transport.send("broker-1", { n: 2 });
    await until(() => server.stats.rejected.authentication > failedBefore, "her next login to be refused");
    expect(got).toEqual([{ n: 1 }, { bob: 1 }, { bob: 2 }]);
    expect(server.stats.rejected.revoked).toBe(1);
  });

  it("ends a stream that logged in with the old password once the password changes; the new one logs in", async () => {
    const users = new Users();
    users.set("alice", "old password");
    const { server, client, got } = await setUp(users);
    const old = client("old password");
    old.transport.send("broker-1", { from: "old" });
    await until(() => got.length === 1, "the old login's message");

    users.set("alice", "new password");
    await until(() => server.stats.rejected.revoked === 1, "the old login's stream to be cut off");
    const fresh = client("new password");
    fresh.transport.send("broker-1", { from: "new" });
    await until(() => got.length === 2, "the new login's message");
    expect(got).toEqual([{ from: "old" }, { from: "new" }]);
    expect(server.stats.rejected.revoked).toBe(1);
  });
});
