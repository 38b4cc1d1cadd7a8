/**
 * The data folder lock (DESIGN §4, src/host/data-lock.ts) between real processes: a second
 * `zhumq broker`, `zhumq coordinator` or `zhumq dev` on a folder another process holds exits 2 and
 * names the holder's pid, without touching the folder; and a holder killed with SIGKILL leaves no
 * lock behind: a restart on the same folder runs. (Before the lock, two brokers on one folder
 * both ran, and each destroyed writes the other had acknowledged.)
 */
import { readFileSync, symlinkSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { LOCK_FILE, parseLockInfo } from "../src/host/data-lock.ts";
import { useProcessSandbox, type ZhumqProcess } from "./support/zhumq-process.ts";

/** No coordinator answers there: a broker starts (and holds its folder) without one. */
const NOWHERE = "coordinator@127.0.0.1:1";
const LOCKED_EXIT = 2;

describe("a data folder is held by one process at a time", () => {
  const sandbox = useProcessSandbox("zhumq-lock-processes-");
  const processes = sandbox.processes;

  const broker = (id: string, data: string): ZhumqProcess => processes.start(["broker", "--id", id, "--listen", "127.0.0.1:0", "--coordinator", NOWHERE, "--data", data]);

  /** `child` was refused: exit 2, the holder's pid and node named on stderr, nothing started. */
  async function expectRefused(child: ZhumqProcess, holder: ZhumqProcess, holderNode: string): Promise<void> {
    const exit = await child.exit();
    expect(exit, child.describe()).toEqual({ code: LOCKED_EXIT, signal: null });
    expect(child.stderr).toContain(`in use by pid ${holder.pid} (${holderNode}, started `);
    expect(child.stdout).not.toContain("listening on");
  }

  it("a second broker or coordinator on a broker's folder exits 2 naming it; after kill -9 a restart runs", async () => {
    const data = path.join(sandbox.dir, "b1");
    const first = broker("b1", data);
    await first.waitFor("broker 'b1' listening on");
    expect(parseLockInfo(readFileSync(path.join(data, LOCK_FILE), "utf8"))).toMatchObject({ pid: first.pid, kind: "broker", id: "b1" });

    const second = broker("b2", data);
    await expectRefused(second, first, "broker 'b1'");
    expect(second.stderr).toContain(`zhumq broker: cannot start: data folder ${data} is in use`);

    // Another kind of node, through another path to the same folder: refused just the same.
    const link = path.join(sandbox.dir, "link-to-b1");
    symlinkSync(data, link);
    await expectRefused(processes.start(["coordinator", "--id", "c1", "--listen", "127.0.0.1:0", "--data", link]), first, "broker 'b1'");
    expect(first.running, first.describe()).toBe(true);

    // A crash leaves no lock behind (the LOCK file still names the dead process: it proves nothing).
    expect(await first.kill9()).toEqual({ code: null, signal: "SIGKILL" });
    expect(parseLockInfo(readFileSync(path.join(data, LOCK_FILE), "utf8"))?.pid).toBe(first.pid);
    const restarted = broker("b1", data);
    await restarted.waitFor("broker 'b1' listening on");
    expect(parseLockInfo(readFileSync(path.join(data, LOCK_FILE), "utf8"))?.pid).toBe(restarted.pid);
    expect(await restarted.terminate(), restarted.describe()).toEqual({ code: 0, signal: null });
    expect(readFileSync(path.join(data, LOCK_FILE), "utf8")).toBe(""); // a graceful stop empties it
  });

  it("a second zhumq dev on the same --data exits 2 naming the first, which keeps running", async () => {
    const data = path.join(sandbox.dir, "dev");
    const first = processes.start(["dev", "--data", data, "--port", "0", "--brokers", "1"]);
    await first.waitFor("Ctrl-C stops the cluster");

    const second = processes.start(["dev", "--data", data, "--port", "0", "--brokers", "1"]);
    await expectRefused(second, first, "coordinator 'coordinator'");
    expect(second.stderr).toContain("zhumq dev: cannot start: data folder");

    // A single node pointed into the dev cluster's data is refused too.
    await expectRefused(broker("broker-0", path.join(data, "broker-0")), first, "broker 'broker-0'");

    expect(first.running, first.describe()).toBe(true);
    expect(await first.terminate(), first.describe()).toEqual({ code: 0, signal: null });
  });
});
