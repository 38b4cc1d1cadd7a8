import { mkdtemp, rm, stat as nodeStat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fileSystemConformance } from "../ports/filesystem.conformance.ts";
import { FileSystemError } from "../ports/filesystem.ts";
import { NodeFileSystem } from "./node-fs.ts";

async function freshRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), "zhumq-node-fs-"));
}

fileSystemConformance("NodeFileSystem", async () => {
  const root = await freshRoot();
  return {
    fs: new NodeFileSystem(root),
    settle: <T>(promise: Promise<T>) => promise,
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});

describe("NodeFileSystem specifics", () => {
  let root: string;
  beforeEach(async () => {
    root = await freshRoot();
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it("writes under its root and nowhere else", async () => {
    const fs = new NodeFileSystem(join(root, "data"));
    await fs.mkdir(".");
    await fs.mkdir("segments");
    const handle = await fs.open("segments/a.log", "create");
    await handle.write(0, new TextEncoder().encode("on disk"));
    await handle.sync();
    await handle.close();
    expect((await nodeStat(join(root, "data", "segments", "a.log"))).size).toBe(7);
  });

  it("refuses a path that climbs out of the root, even when the target exists", async () => {
    await writeFile(join(root, "secret"), "outside");
    const fs = new NodeFileSystem(join(root, "data"));
    await fs.mkdir(".");
    const error = await fs.readFile("../secret").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(FileSystemError);
    expect((error as FileSystemError).code).toBe("EINVAL");
  });

  it("keeps the Node error as the cause", async () => {
    const fs = new NodeFileSystem(root);
    const error = (await fs.open("missing", "read").catch((caught: unknown) => caught)) as FileSystemError;
    expect(error.code).toBe("ENOENT");
    expect(error.path).toBe("missing");
    expect((error.cause as { code?: string }).code).toBe("ENOENT");
  });
});
