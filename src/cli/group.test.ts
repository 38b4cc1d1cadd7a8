/**
 * `zhumq group` and the group flags of `zhumq consume`: flags and arguments are checked before
 * anything connects (exit 2 with what is wrong), and the tables say what an operator needs.
 */
import { Buffer } from "node:buffer";
import { Readable, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { CommandIo } from "./client-command.ts";
import { groupCommand, groupLines, groupListLines, partitionsFlag, partitionsText, targetFlag, timestampFlag } from "./group.ts";
import { consumeCommand, groupFlags } from "./consume.ts";
import type { GroupDetails } from "../client/group-admin.ts";

class Sink extends Writable {
  text = "";
  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

type Command = (argv: readonly string[], io: CommandIo) => Promise<number>;

/** Runs a command that must not reach a cluster (the bootstrap names a port nobody listens on). */
async function run(command: Command, argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Sink();
  const stderr = new Sink();
  const io: CommandIo = { stdin: Readable.from([]), stdout, stderr, stderrIsTTY: false, stdinIsTTY: false, interrupt: new AbortController().signal, env: {} };
  const code = await command([...argv, "--bootstrap", "coordinator@127.0.0.1:1", "--connect-timeout-ms", "1"], io);
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe("zhumq group: --help and bad input", () => {
  it("--help: every action, with examples, exit 0", async () => {
    const result = await run(groupCommand, ["--help"]);
    expect(result.code).toBe(0);
    for (const usage of ["zhumq group list", "zhumq group describe GROUP", "zhumq group reset-offsets GROUP --topic TOPIC --to earliest|latest|OFFSET", "zhumq group delete GROUP", "Examples:", "NON_EMPTY_GROUP"]) {
      expect(result.stdout).toContain(usage);
    }
  });

  it.each([
    [[], /say what to do: list, describe, reset-offsets, delete/],
    [["rename", "g"], /unknown action 'rename'/],
    [["describe"], /'describe' needs a GROUP/],
    [["delete"], /'delete' needs a GROUP/],
    [["list", "extra"], /unexpected argument 'extra'/],
    [["describe", "g", "h"], /unexpected argument 'h'/],
    [["describe", "g".repeat(201)], /a group id is at most 200 characters \(got 201\)/],
    [["describe", ""], /GROUP '': a group id cannot be empty/],
    [["describe", "a\tb"], /a group id cannot contain control characters/],
    [["reset-offsets", "g", "--to", "earliest"], /--topic: 'reset-offsets' needs --topic TOPIC/],
    [["reset-offsets", "g", "--topic", "t"], /--to: 'reset-offsets' needs --to earliest\|latest\|OFFSET or --to-timestamp MS/],
    [["reset-offsets", "g", "--topic", "t", "--to", "0", "--to-timestamp", "5"], /--to-timestamp: give --to or --to-timestamp, not both/],
    [["reset-offsets", "g", "--topic", "t", "--to-timestamp", "2026-12-01"], /--to-timestamp: must be milliseconds since the Unix epoch \(an integer >= 0\), got '2026-12-01'/],
    [["describe", "g", "--to-timestamp", "5"], /--to-timestamp: only for 'group reset-offsets'/],
    [["reset-offsets", "g", "--topic", "no way", "--to", "earliest"], /--topic: 'no way'/],
    [["reset-offsets", "g", "--topic", "t", "--to", "yesterday"], /--to: must be earliest, latest or an offset \(an integer >= 0\), got 'yesterday'/],
    [["reset-offsets", "g", "--topic", "t", "--to", "-3"], /--to: must be earliest, latest or an offset \(an integer >= 0\), got '-3'/],
    [["reset-offsets", "g", "--topic", "t", "--to", "0", "--partitions", "0,x"], /--partitions: must be partition numbers .* got '0,x'/],
    [["reset-offsets", "g", "--topic", "t", "--to", "0", "--partitions", "1,1"], /--partitions: names partition 1 twice/],
    [["describe", "g", "--topic", "t"], /--topic: only for 'group reset-offsets'/],
    [["list", "--to", "earliest"], /--to: only for 'group reset-offsets'/],
    [["delete", "g", "--json"], /--json: not for 'group delete'/],
    [["list", "--frobnicate"], /Unknown option '--frobnicate'/],
  ] as const)("zhumq group %j: says what is wrong, exit 2, nothing sent", async (argv, message) => {
    const result = await run(groupCommand, argv);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/^zhumq group: /);
    expect(result.stderr).toContain("Run 'zhumq group --help' for usage.");
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
  });

  it("flag values alone", () => {
    expect(targetFlag("earliest")).toBe("earliest");
    expect(targetFlag("latest")).toBe("latest");
    expect(targetFlag("0")).toEqual({ offset: 0 });
    expect(targetFlag("1200")).toEqual({ offset: 1200 });
    expect(() => targetFlag("1.5")).toThrow(/--to/);
    expect(() => targetFlag(" ")).toThrow(/--to/);
    expect(timestampFlag("1764579600000")).toEqual({ timestampMs: 1_764_579_600_000 });
    expect(timestampFlag("0")).toEqual({ timestampMs: 0 });
    for (const bad of ["-1", "1.5", "", "1e3", "99999999999999999999"]) expect(() => timestampFlag(bad)).toThrow(/--to-timestamp/);
    expect(partitionsFlag("0")).toEqual([0]);
    expect(partitionsFlag("2, 0,1")).toEqual([2, 0, 1]);
    expect(() => partitionsFlag("")).toThrow(/--partitions/);
    expect(() => partitionsFlag("0,,1")).toThrow(/--partitions/);
  });
});

describe("zhumq consume --group", () => {
  it("passes the group and the static instance id on; checks them as the coordinator would", () => {
    expect(groupFlags(undefined, undefined)).toEqual({});
    expect(groupFlags("billing", undefined)).toEqual({ groupId: "billing" });
    expect(groupFlags("billing", "host-a")).toEqual({ groupId: "billing", instanceId: "host-a" });
    expect(() => groupFlags(undefined, "host-a")).toThrow(/--instance-id: goes with --group/);
    expect(() => groupFlags("", undefined)).toThrow(/--group: '': a group id cannot be empty/);
    expect(() => groupFlags("g", "i".repeat(201))).toThrow(/--instance-id: must be 1 to 200 characters/);
    expect(() => groupFlags("g", "")).toThrow(/--instance-id/);
  });

  it.each([
    [["t", "--instance-id", "x"], /--instance-id: goes with --group/],
    [["t", "--group", "g", "--partition", "1"], /--partition: not with --group/],
    [["t", "--group", "g".repeat(201)], /--group: .*at most 200 characters/],
  ] as const)("zhumq consume %j: exit 2", async (argv, message) => {
    const result = await run(consumeCommand, argv);
    expect(result.stderr).toMatch(message);
    expect(result.code).toBe(2);
  });

  it("--help says that --group commits as it goes", async () => {
    const result = await run(consumeCommand, ["--help"]);
    expect(result.stdout).toMatch(/--group GROUP[\s\S]*commits offsets as it goes/);
    expect(result.stdout).toContain("--instance-id ID");
  });
});

describe("tables", () => {
  it("group list: one row per group, or a sentence when there is none", () => {
    expect(groupListLines([])).toEqual(["no consumer groups"]);
    expect(
      groupListLines([
        { groupId: "billing", state: "stable", members: 2 },
        { groupId: "audit-long-name", state: "empty", members: 0 },
      ]),
    ).toEqual(["GROUP            STATE   MEMBERS", "billing          stable  2", "audit-long-name  empty   0"]);
  });

  it("group describe: summary, members with their partitions, partitions with owner, committed, end and lag, total lag", () => {
    const group: GroupDetails = {
      groupId: "billing",
      state: "reconciling",
      groupEpoch: 4,
      assignor: "uniform",
      members: [
        { memberId: "m-1", memberEpoch: 4, topics: ["orders"], assigned: [{ topic: "orders", partitions: [0, 2] }], revoking: [{ topic: "orders", partitions: [1] }], lastHeartbeatMs: Date.UTC(2026, 0, 2, 3, 4, 5) },
        { memberId: "m-2", instanceId: "host-b", memberEpoch: 3, topics: ["orders"], assigned: [], revoking: [], lastHeartbeatMs: null },
      ],
      partitions: [
        { topic: "orders", partition: 0, committedOffset: 40, endOffset: 100, lag: 60, owner: "m-1" },
        { topic: "orders", partition: 1, committedOffset: 50, endOffset: 55, lag: 5, owner: "m-1" },
        { topic: "orders", partition: 2, committedOffset: null, endOffset: 9, lag: null, owner: "m-1" },
      ],
    };
    expect(groupLines(group)).toEqual([
      "group billing: reconciling, epoch 4, assignor uniform, 2 members",
      "",
      "  MEMBER  INSTANCE  EPOCH  TOPICS  ASSIGNED    REVOKING  LAST HEARTBEAT",
      "  m-1     -         4      orders  orders:0,2  orders:1  2026-01-02T03:04:05.000Z",
      "  m-2     host-b    3      orders  -           -         -",
      "",
      "  TOPIC   PARTITION  OWNER  COMMITTED  END OFFSET  LAG",
      "  orders  0          m-1    40         100         60",
      "  orders  1          m-1    50         55          5",
      "  orders  2          m-1    -          9           -",
      "",
      "  total lag 65 (1 partition without a commit or an end offset not counted)",
    ]);
  });

  it("an empty group with nothing committed says so instead of printing empty tables", () => {
    const lines = groupLines({ groupId: "g", state: "empty", groupEpoch: 0, assignor: "range", members: [], partitions: [] });
    expect(lines).toEqual(["group g: empty, epoch 0, assignor range, 0 members", "", "  no partitions: the group has no subscriptions and no committed offsets"]);
  });

  it("partitions of several topics on one line", () => {
    expect(partitionsText([])).toBe("-");
    expect(partitionsText([{ topic: "a", partitions: [] }])).toBe("-");
    expect(
      partitionsText([
        { topic: "a", partitions: [0, 1] },
        { topic: "b", partitions: [3] },
      ]),
    ).toBe("a:0,1 b:3");
  });
});
