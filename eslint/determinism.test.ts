import { describe, expect, it } from "vitest";
import { ESLint } from "eslint";
import path from "node:path";

// The lint rules are the fence around determinism and the layer map; these plant violations and
// prove the fence fires, so a config change that silently disables it fails the build.
const eslint = new ESLint({ cwd: path.resolve(import.meta.dirname, "..") });

async function problems(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((message) => `${message.ruleId}: ${message.message}`);
}

describe("determinism lint inside src/actors", () => {
  const planted: [string, string][] = [
    ["Math.random", "export const roll = () => Math.random();"],
    ["Date.now", "export const stamp = () => Date.now();"],
    ["new Date()", "export const stamp = () => new Date().getTime();"],
    ["setTimeout", "export const later = (fn: () => void) => setTimeout(fn, 5);"],
    ["setInterval", "export const every = (fn: () => void) => setInterval(fn, 5);"],
    ["performance.now", "export const t = () => performance.now();"],
    ["process", "export const env = () => process.env.HOME;"],
    ["await", "export async function load(p: Promise<number>) { return await p; }"],
    ["node: import", 'import { readFile } from "node:fs/promises";\nexport const f = readFile;'],
    ["bare node import", 'import net from "net";\nexport const n = net;'],
    ["import of sim", 'import { Kernel } from "../../sim/kernel.ts";\nexport const k = Kernel;'],
    ["import of disk", 'import * as disk from "../../disk/index.ts";\nexport const d = disk;'],
    ["an unlisted package", 'import seedrandom from "seedrandom";\nexport const s = seedrandom;'],
  ];
  for (const [name, code] of planted) {
    it(`catches ${name}`, async () => {
      expect(await problems(code, "src/actors/broker/planted.ts")).not.toEqual([]);
    });
  }

  it("allows the pure record-batch codec but not the log", async () => {
    expect(await problems('import { decodeBatch } from "../../disk/batch-view.ts";\nexport const d = decodeBatch;', "src/actors/broker/x.ts")).toEqual([]);
    expect(await problems('import * as log from "../../disk/log.ts";\nexport const l = log;', "src/actors/broker/x.ts")).not.toEqual([]);
  });

  it("allows xstate, ports and other actors", async () => {
    const code = [
      'import { setup } from "xstate";',
      'import type { Clock } from "../../ports/clock.ts";',
      'import { send } from "../shared/effects.ts";',
      "export const parts = { setup, send } as const;",
      "export type C = Clock;",
    ].join("\n");
    expect(await problems(code, "src/actors/broker/fine.ts")).toEqual([]);
  });
});

describe("layer directions outside src/actors", () => {
  it("src/sim may not import src/net or node:fs", async () => {
    expect(await problems('import { x } from "../net/grpc.ts";\nexport const y = x;', "src/sim/planted.ts")).not.toEqual([]);
    expect(await problems('import fs from "node:fs";\nexport const y = fs;', "src/sim/planted.ts")).not.toEqual([]);
  });

  it("src/disk reaches files only through the port; node-fs.ts is the one adapter", async () => {
    expect(await problems('import fs from "node:fs";\nexport const y = fs;', "src/disk/segment.ts")).not.toEqual([]);
    expect(await problems('import fs from "node:fs";\nexport const y = fs;', "src/disk/node-fs.ts")).toEqual([]);
  });

  it("src/host may not import the simulator or the CLI", async () => {
    expect(await problems('import { Kernel } from "../sim/kernel.ts";\nexport const k = Kernel;', "src/host/planted.ts")).not.toEqual([]);
    expect(await problems('import { main } from "../cli/main.ts";\nexport const m = main;', "src/host/planted.ts")).not.toEqual([]);
  });
});
