/**
 * One flipped byte on disk, as a new user met it: `zhumq dev --brokers 1`, 2,000 acknowledged
 * (fsynced) messages, the cluster stopped, one byte flipped in the middle of the partition's only
 * (active) segment, the cluster started again. Before the recovery point, recovery took the bad
 * batch for a torn tail and cut the segment there: `consume --from earliest` printed nothing and
 * nobody was told. Now the cluster starts and says which file and offsets are damaged, `topic
 * describe` shows them, a consumer stops at them with CORRUPT_DATA (or, with --skip-damaged, goes
 * on after them), and every other acknowledged message is still there.
 */
import { closeSync, openSync, readdirSync, readSync, statSync, writeSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ZhuMQ } from "../src/index.ts";
import { useProcessSandbox, type ZhumqProcess } from "./support/zhumq-process.ts";

const MESSAGES = 2_000;
const SENDS = 40;

describe("a damaged segment on a real broker", () => {
  const sandbox = useProcessSandbox("zhumq-damaged-");
  const processes = sandbox.processes;

  async function startDev(): Promise<{ dev: ZhumqProcess; bootstrap: string }> {
    const dev = processes.start(["dev", "--data", sandbox.dir, "--port", "0", "--brokers", "1"]);
    await dev.waitFor("Clients find the coordinator at");
    const bootstrap = /Clients find the coordinator at (\S+?)\.? /.exec(dev.stdout)![1]!;
    return { dev, bootstrap };
  }

  async function run(args: readonly string[]): Promise<ZhumqProcess & { code: number | null }> {
    const child = processes.start(args);
    const exit = await child.exit(60_000);
    return Object.assign(child, { code: exit.code });
  }

  it("starts, names the damage, serves around it, and a consumer stops at it or skips it knowingly", async () => {
    const first = await startDev();
    const zhumq = new ZhuMQ({ bootstrap: first.bootstrap, clientId: "damage-test" });
    const admin = zhumq.admin();
    await admin.connect();
    await admin.createTopic({ topic: "rot", partitions: 1 });
    await admin.disconnect();
    const producer = zhumq.producer();
    await producer.connect();
    const perSend = MESSAGES / SENDS;
    for (let send = 0; send < SENDS; send++) {
      const messages = Array.from({ length: perSend }, (_, i) => ({ value: `m${send * perSend + i}` }));
      await producer.send({ topic: "rot", messages, acks: -1 }); // one acknowledged batch per send
    }
    await producer.disconnect();
    expect(await first.dev.terminate()).toEqual({ code: 0, signal: null });

    // One byte flipped in the middle of the only segment.
    const segment = findSegment(sandbox.dir);
    const size = statSync(segment).size;
    flipByte(segment, Math.floor(size / 2));

    const second = await startDev();
    await second.dev.waitFor("storage segment-damaged");
    expect(second.dev.stdout).toContain(segment.slice(segment.indexOf("partitions")));
    const [, from, to] = /storage segment-damaged: \S+ byte \d+ offsets \[(\d+), (\d+)\)/.exec(second.dev.stdout)!.map(Number) as [number, number, number];
    expect(from).toBeGreaterThan(0);
    expect(to).toBeLessThan(MESSAGES);

    const described = await run(["topic", "describe", "rot", "--bootstrap", second.bootstrap]);
    expect(described.code, described.describe()).toBe(0);
    expect(described.stdout).toContain("DAMAGED OFFSETS");
    expect(described.stdout).toContain(`[${from},${to})`);

    // By default a consumer stops at the damage: everything before it, then a typed error.
    const stopped = await run(["consume", "rot", "--from", "earliest", "--timeout-ms", "5000", "--bootstrap", second.bootstrap]);
    expect(stopped.code, stopped.describe()).toBe(1);
    expect(stopped.stderr).toContain("CORRUPT_DATA");
    expect(lines(stopped.stdout)).toEqual(range(0, from).map((i) => `0:${i} m${i}`));

    // Skipping: every acknowledged message but the damaged batch's, and the skip said out loud.
    const skipping = await run(["consume", "rot", "--from", "earliest", "--skip-damaged", "--max-messages", String(MESSAGES - (to - from)), "--timeout-ms", "10000", "--bootstrap", second.bootstrap]);
    expect(skipping.code, skipping.describe()).toBe(0);
    expect(skipping.stderr).toContain(`position moved to offset ${to}`);
    expect(lines(skipping.stdout)).toEqual([...range(0, from), ...range(to, MESSAGES)].map((i) => `0:${i} m${i}`));
  }, 120_000);
});

function findSegment(root: string): string {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".log") && full.includes(`${path.sep}rot@`)) found.push(full); // partitions/rot@<topic id>/0
    }
  };
  walk(root);
  expect(found).toHaveLength(1);
  return found[0]!;
}

function flipByte(file: string, position: number): void {
  const fd = openSync(file, "r+");
  try {
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, position);
    byte[0] = byte[0]! ^ 0x40;
    writeSync(fd, byte, 0, 1, position);
  } finally {
    closeSync(fd);
  }
}

function lines(text: string): string[] {
  return text.split("\n").filter((line) => line.length > 0);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
