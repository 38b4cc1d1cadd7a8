/**
 * Password logins with real processes (issue 16 item 2): `zhumq dev --authorizer on` as a child
 * process; users made with `zhumq user create` (run as processes); clients log in with SCRAM-SHA-256
 * on every connection, to the coordinator and to the broker.
 *
 * - a good login: the user is the principal (a super user by name, although the client id it
 *   claims would make it someone else under the dev-only principals);
 * - a wrong password and an unknown user: AUTHENTICATION_FAILED, the same words for both;
 * - ACLs apply to the user: refused to produce until a rule allows it, then the produce succeeds.
 * Every child is killed after the test, pass or fail.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ZhuMQ } from "../src/client/zhumq.ts";
import { runZhumq, sendOnceGranted, useProcessSandbox } from "./support/zhumq-process.ts";

/** `zhumq ...` to its end; a login only where the test gives one. */
function run(args: readonly string[], env: Record<string, string> = {}): ReturnType<typeof runZhumq> {
  return runZhumq(args, { ZHUMQ_USER: "", ZHUMQ_PASSWORD_FILE: "", ...env });
}

describe("SCRAM logins with real processes", () => {
  const sandbox = useProcessSandbox("zhumq-scram-");

  it("a good login is the principal; wrong password and unknown user fail alike; ACLs apply to the user", async () => {
    const dev = sandbox.processes.start(["dev", "--data", path.join(sandbox.dir, "data"), "--port", "0", "--brokers", "1", "--ui-listen", "off", "--metrics-port", "none", "--authorizer", "on", "--super-users", "User:admin", "--insecure-dev-principals"]);
    await dev.waitFor("Clients find the coordinator at", 120_000);
    const bootstrap = /Clients find the coordinator at (\S+?)\.? /.exec(dev.stdout)![1]!;
    const file = (name: string, text: string): string => {
      const at = path.join(sandbox.dir, name);
      writeFileSync(at, text);
      return at;
    };
    const adminPass = file("admin.pass", "s3cret-admin\n");
    const alicePass = file("alice.pass", "wonderland\n");
    const wrongPass = file("wrong.pass", "not-it\n");

    // Bootstrapping: the first users are made by the dev-only principal User:admin.
    for (const [name, pass] of [["admin", adminPass], ["alice", alicePass]] as const) {
      const created = await run(["user", "create", name, "--new-password-file", pass, "--bootstrap", bootstrap], { ZHUMQ_CLIENT_ID: "admin" });
      expect(created.code, created.stderr).toBe(0);
      expect(created.stdout).toBe(`created user '${name}'\n`);
    }
    // Logged in as admin, a client whose id claims to be someone else is the super user admin.
    const listed = await run(["user", "list", "--bootstrap", bootstrap, "--user", "admin", "--password-file", adminPass], { ZHUMQ_CLIENT_ID: "mallory" });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toBe("2 users\n  admin (SCRAM-SHA-256, 8192 iterations)\n  alice (SCRAM-SHA-256, 8192 iterations)\n");
    // Environment variables do the same as the flags.
    const created = await run(["topic", "create", "orders", "--partitions", "1", "--bootstrap", bootstrap], { ZHUMQ_USER: "admin", ZHUMQ_PASSWORD_FILE: adminPass, ZHUMQ_CLIENT_ID: "mallory" });
    expect(created.code, created.stderr).toBe(0);

    // A wrong password and an unknown user: AUTHENTICATION_FAILED, nothing said about which.
    const wrong = await run(["topic", "list", "--bootstrap", bootstrap, "--user", "alice", "--password-file", wrongPass, "--connect-timeout-ms", "30000"]);
    const unknown = await run(["topic", "list", "--bootstrap", bootstrap, "--user", "nobody", "--password-file", alicePass, "--connect-timeout-ms", "30000"]);
    for (const failed of [wrong, unknown]) {
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(/AUTHENTICATION_FAILED/);
    }
    expect(wrong.stderr).toBe(unknown.stderr);
    expect(await new ZhuMQ({ bootstrap, auth: { username: "alice", password: "not-it" } }).admin().connect().then(() => "connected", (error: { code?: string }) => error.code)).toBe("AUTHENTICATION_FAILED");

    // ACLs apply to the user: alice may not produce until a rule says so.
    const zhumq = new ZhuMQ({ bootstrap, clientId: "admin", auth: { username: "alice", password: "wonderland" } });
    const producer = zhumq.producer();
    await producer.connect();
    const refusal = await producer.send({ topic: "orders", messages: [{ value: "forbidden" }] }).then(() => undefined, (caught: unknown) => caught as { code?: string; message?: string });
    expect(refusal?.code).toBe("AUTHORIZATION_FAILED");
    expect(refusal?.message).toMatch(/User:alice may not (produce|describe|take a producer id)/);
    const granted = await run(["acl", "add", "--principal", "User:alice", "--operation", "produce", "--topic", "orders", "--bootstrap", bootstrap, "--user", "admin", "--password-file", adminPass]);
    expect(granted.code, granted.stderr).toBe(0);
    await sendOnceGranted(producer, "orders", "allowed");
    await producer.disconnect();
    expect((await dev.terminate(45_000)).code).toBe(0);
  }, 240_000);
});
