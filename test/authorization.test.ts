/**
 * Authorization with real processes (issue 16 item 3): `zhumq dev --authorizer on` as a child
 * process, every client over real gRPC. Until authentication lands, principals come from the
 * dev-only `--insecure-dev-principals` (a client's principal is User:<its clientId>), which a node
 * refuses unless it listens on loopback — checked here too.
 *
 * A principal without produce permission is refused AUTHORIZATION_FAILED and the log is unchanged;
 * given the permission (by `zhumq acl add`, run as a process by a super user) the same produce
 * succeeds. Every child is killed after its test, pass or fail.
 */
import { describe, expect, it } from "vitest";
import { ZhuMQ } from "../src/client/zhumq.ts";
import { runZhumq, sendOnceGranted, useProcessSandbox } from "./support/zhumq-process.ts";

/** `zhumq ...` to its end, with ZHUMQ_CLIENT_ID set (the principal under --insecure-dev-principals). */
function run(args: readonly string[], clientId: string): ReturnType<typeof runZhumq> {
  return runZhumq(args, { ZHUMQ_CLIENT_ID: clientId });
}

async function withClient<T>(bootstrap: string, clientId: string, use: (zhumq: ZhuMQ) => Promise<T>): Promise<T> {
  const zhumq = new ZhuMQ({ bootstrap, clientId });
  try {
    return await use(zhumq);
  } finally {
    // Every part a test opened is disconnected by it: nothing of the client is left.
    void zhumq;
  }
}

describe("authorization with real processes", () => {
  const sandbox = useProcessSandbox("zhumq-authorization-");

  it("a principal without produce permission is refused and the log is unchanged; with it the produce succeeds", async () => {
    const dev = sandbox.processes.start(["dev", "--data", sandbox.dir, "--port", "0", "--brokers", "1", "--ui-listen", "off", "--metrics-port", "none", "--authorizer", "on", "--super-users", "User:admin", "--insecure-dev-principals"]);
    await dev.waitFor("Clients find the coordinator at", 120_000);
    const bootstrap = /Clients find the coordinator at (\S+?)\.? /.exec(dev.stdout)![1]!;

    // The super user creates the topic; bob (no rule) cannot even see it.
    await withClient(bootstrap, "admin", async (zhumq) => {
      const admin = zhumq.admin();
      await admin.connect();
      await admin.createTopic({ topic: "orders", partitions: 1, replicationFactor: 1 });
      await admin.disconnect();
    });
    const denied = await run(["acl", "list", "--bootstrap", bootstrap], "bob");
    expect(denied.code, denied.stderr).toBe(1);
    expect(denied.stderr).toMatch(/AUTHORIZATION_FAILED: User:bob may not admin on the cluster/);

    // bob may consume (so may look the topic up) but not produce.
    const granted = await run(["acl", "add", "--principal", "User:bob", "--operation", "consume", "--topic", "orders", "--bootstrap", bootstrap], "admin");
    expect(granted.code, granted.stderr).toBe(0);
    expect(granted.stdout).toBe("added 1 ACL rule\n");

    const tryProduce = () =>
      withClient(bootstrap, "bob", async (zhumq) => {
        const producer = zhumq.producer();
        await producer.connect();
        const error = await producer.send({ topic: "orders", messages: [{ value: "forbidden" }] }).then(() => undefined, (caught: unknown) => caught as { code?: string; message?: string });
        await producer.disconnect();
        return error;
      });
    // Allowed to produce nowhere: not even a producer id (the coordinator refuses it).
    const noId = await tryProduce();
    expect(noId?.code).toBe("AUTHORIZATION_FAILED");
    expect(noId?.message).toMatch(/User:bob may not take a producer id: that needs produce on at least one topic/);
    // Allowed to produce elsewhere: an id, but the leader refuses the write to 'orders'.
    const elsewhere = await run(["acl", "add", "--principal", "User:bob", "--operation", "produce", "--topic", "other", "--bootstrap", bootstrap], "admin");
    expect(elsewhere.code, elsewhere.stderr).toBe(0);
    const refusal = await tryProduce();
    expect(refusal?.code).toBe("AUTHORIZATION_FAILED");
    expect(refusal?.message).toMatch(/User:bob may not produce on topic 'orders'/);

    const before = await withClient(bootstrap, "admin", async (zhumq) => {
      const admin = zhumq.admin();
      await admin.connect();
      const offsets = await admin.fetchTopicOffsets("orders");
      await admin.disconnect();
      return offsets;
    });
    expect(before.map((partition) => ("error" in partition ? partition.error : partition.logEndOffset))).toEqual([0]);

    // Given produce, the same principal's produce goes through.
    const more = await run(["acl", "add", "--principal", "User:bob", "--operation", "produce", "--topic", "ord", "--prefixed", "--bootstrap", bootstrap], "admin");
    expect(more.code, more.stderr).toBe(0);
    // Brokers hear of new rules with their next heartbeat: retry until then (a deadline, no fixed sleep).
    await withClient(bootstrap, "bob", async (zhumq) => {
      const producer = zhumq.producer();
      await producer.connect();
      await sendOnceGranted(producer, "orders", "allowed");
      await producer.disconnect();
    });
    const listed = await run(["acl", "list", "--principal", "User:bob", "--bootstrap", bootstrap], "admin");
    expect(listed.stdout).toMatch(/3 ACL rules \(version 3; enforced\)/);
    expect(listed.stdout).toMatch(/User:bob produce topic:ord\* \(prefix\)/);
    expect(dev.stdout + dev.stderr).toMatch(/authorization\.refused|User:bob may not produce on topic 'orders'/);
    expect((await dev.terminate(45_000)).code).toBe(0);
  }, 240_000);

  it("--insecure-dev-principals is refused on a node that listens beyond loopback", async () => {
    const coordinator = sandbox.processes.start(["coordinator", "--id", "coordinator", "--listen", "0.0.0.0:0", "--data", sandbox.dir, "--authorizer", "on", "--insecure-dev-principals"]);
    const exit = await coordinator.exit(90_000);
    expect(exit.code).not.toBe(0);
    expect(coordinator.stderr).toMatch(/--insecure-dev-principals .* refused unless the node listens on loopback only/);
  }, 120_000);
});
