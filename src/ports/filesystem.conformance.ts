/**
 * The FileSystem port's conformance suite: one set of tests that every implementation must pass,
 * so the simulated disk and the real one cannot drift apart (STYLE §3).
 *
 * Call it from an implementation's test file with a factory that builds a fresh, empty file
 * system. `settle` runs whatever drives the implementation until a promise settles: the
 * simulator's `kernel.settle`, or the identity for the real disk. Every call the suite makes goes
 * through it, so a simulated `sync` gets the virtual time it needs.
 *
 * Only crash-free behaviour is checked here; crashes and faults are simulator-specific and live in
 * src/sim/fs.test.ts and properties/fs-crash.test.ts.
 */
// This module is test code that lives next to the port it checks: it is imported only by
// *.test.ts files, never by production code, so the ports layer's "no packages" rule does not apply.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileSystemError, removeTreeDurably, writeFileAtomic, type FileSystem, type FileSystemErrorCode } from "./filesystem.ts";

export interface FileSystemUnderTest {
  fs: FileSystem;
  settle<T>(promise: Promise<T>): Promise<T>;
  cleanup(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Index of the first byte where `a` and `b` differ (-1 when equal); toEqual is slow on big arrays. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) if (a[index] !== b[index]) return index;
  return a.length === b.length ? -1 : length;
}

export function fileSystemConformance(name: string, make: () => Promise<FileSystemUnderTest>): void {
  describe(`FileSystem conformance: ${name}`, () => {
    let subject: FileSystemUnderTest;
    let fs: FileSystem;
    /** Run an operation through the implementation's driver. */
    const run = <T>(promise: Promise<T>): Promise<T> => subject.settle(promise);
    const rejects = async (promise: Promise<unknown>, code: FileSystemErrorCode): Promise<void> => {
      const error = await run(promise).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error, `expected ${code}`).toBeInstanceOf(FileSystemError);
      expect((error as FileSystemError).code).toBe(code);
    };
    const text = async (path: string): Promise<string> => decoder.decode(await run(fs.readFile(path)));
    const put = async (path: string, content: string): Promise<void> => {
      const handle = await run(fs.open(path, "readwrite"));
      await run(handle.truncate(0));
      await run(handle.write(0, bytes(content)));
      await run(handle.close());
    };

    beforeEach(async () => {
      subject = await make();
      fs = subject.fs;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    describe("open", () => {
      it("read mode on a missing file is ENOENT", async () => {
        await rejects(fs.open("missing", "read"), "ENOENT");
      });

      it("create mode on an existing file is EEXIST, and leaves it alone", async () => {
        await put("taken", "kept");
        await rejects(fs.open("taken", "create"), "EEXIST");
        expect(await text("taken")).toBe("kept");
      });

      it("create mode makes an empty file", async () => {
        const handle = await run(fs.open("fresh", "create"));
        expect(await run(handle.size())).toBe(0);
        await run(handle.close());
        expect(await run(fs.stat("fresh"))).toEqual({ size: 0, isDirectory: false });
      });

      it("readwrite mode creates a missing file and keeps an existing one's content", async () => {
        const handle = await run(fs.open("f", "readwrite"));
        await run(handle.write(0, bytes("abc")));
        await run(handle.close());
        const again = await run(fs.open("f", "readwrite"));
        expect(await run(again.size())).toBe(3);
        await run(again.close());
      });

      it("a missing parent directory is ENOENT; a file as a parent is ENOTDIR", async () => {
        await rejects(fs.open("nowhere/f", "readwrite"), "ENOENT");
        await put("plain", "x");
        await rejects(fs.open("plain/f", "readwrite"), "ENOTDIR");
      });

      it("a directory cannot be opened as a file", async () => {
        await run(fs.mkdir("d"));
        await rejects(fs.open("d", "read"), "EISDIR");
        await rejects(fs.open("d", "readwrite"), "EISDIR");
        await rejects(fs.open("d", "create"), "EEXIST");
      });

      it("paths are normalised, and a path escaping the root is EINVAL", async () => {
        await run(fs.mkdir("a"));
        const handle = await run(fs.open("./a//f", "readwrite"));
        expect(handle.path).toBe("a/f");
        await run(handle.close());
        expect(await run(fs.list("a"))).toEqual(["f"]);
        await rejects(fs.open("../outside", "readwrite"), "EINVAL");
        await rejects(fs.open("a/../../outside", "readwrite"), "EINVAL");
        await rejects(fs.open("/absolute", "readwrite"), "EINVAL");
      });
    });

    describe("read and write", () => {
      it("round-trips bytes at any position", async () => {
        const handle = await run(fs.open("f", "create"));
        await run(handle.write(0, bytes("hello world")));
        await run(handle.write(6, bytes("WORLD")));
        expect(decoder.decode(await run(handle.read(0, 11)))).toBe("hello WORLD");
        expect(decoder.decode(await run(handle.read(3, 4)))).toBe("lo W");
        await run(handle.close());
      });

      it("a read past the end is shorter, and empty at or after the end", async () => {
        const handle = await run(fs.open("f", "create"));
        await run(handle.write(0, bytes("12345")));
        expect(decoder.decode(await run(handle.read(3, 100)))).toBe("45");
        expect((await run(handle.read(5, 10))).length).toBe(0);
        expect((await run(handle.read(1000, 10))).length).toBe(0);
        expect((await run(handle.read(0, 0))).length).toBe(0);
        await run(handle.close());
      });

      it("a write past the end zero-fills the gap", async () => {
        const handle = await run(fs.open("f", "create"));
        await run(handle.write(0, bytes("ab")));
        await run(handle.write(5, bytes("cd")));
        expect(await run(handle.size())).toBe(7);
        expect([...(await run(handle.read(0, 7)))]).toEqual([97, 98, 0, 0, 0, 99, 100]);
        await run(handle.close());
      });

      it("an empty write changes nothing, even past the end", async () => {
        const handle = await run(fs.open("f", "create"));
        await run(handle.write(0, bytes("ab")));
        await run(handle.write(10, new Uint8Array(0)));
        expect(await run(handle.size())).toBe(2);
        await run(handle.close());
      });

      it("reads return buffers the caller owns, and writes copy their input", async () => {
        const handle = await run(fs.open("f", "create"));
        const input = bytes("abcd");
        await run(handle.write(0, input));
        input[0] = 120;
        const first = await run(handle.read(0, 4));
        first[1] = 121;
        expect(decoder.decode(await run(handle.read(0, 4)))).toBe("abcd");
        const whole = await run(fs.readFile("f"));
        whole[2] = 122;
        expect(await text("f")).toBe("abcd");
        await run(handle.close());
      });

      it("writev writes its chunks back to back, as one write of them joined would", async () => {
        const handle = await run(fs.open("f", "create"));
        await run(handle.write(0, bytes("0123456789")));
        const chunks = [bytes("ab"), new Uint8Array(0), bytes("cde"), bytes("fg").subarray(1)];
        await run(handle.writev(3, chunks));
        expect(decoder.decode(await run(handle.read(0, 10)))).toBe("012abcdeg9");
        await run(handle.writev(12, [bytes("xy"), bytes("z")]));
        expect([...(await run(handle.read(9, 6)))]).toEqual([57, 0, 0, 120, 121, 122]);
        await run(handle.writev(20, []));
        expect(await run(handle.size())).toBe(15);
        chunks[0]![0] = 33; // the file kept its own copy
        expect(decoder.decode(await run(handle.read(3, 2)))).toBe("ab");
        await rejects(handle.writev(-1, [bytes("x")]), "EINVAL");
        await run(handle.close());
      });

      it("a negative position is EINVAL", async () => {
        const handle = await run(fs.open("f", "create"));
        await rejects(handle.write(-1, bytes("x")), "EINVAL");
        await rejects(handle.read(-1, 1), "EINVAL");
        await run(handle.close());
      });

      it("a read-only handle refuses writes and truncates with EBADF", async () => {
        await put("f", "abc");
        const handle = await run(fs.open("f", "read"));
        await rejects(handle.write(0, bytes("x")), "EBADF");
        await rejects(handle.writev(0, [bytes("x")]), "EBADF");
        await rejects(handle.truncate(0), "EBADF");
        expect(decoder.decode(await run(handle.read(0, 3)))).toBe("abc");
        await run(handle.close());
      });

      it("data written, synced and closed reads back after reopening", async () => {
        const payload = new Uint8Array(70_000).map((_, index) => (index * 31) & 0xff);
        const handle = await run(fs.open("big", "create"));
        await run(handle.write(0, payload.subarray(0, 40_000)));
        await run(handle.write(40_000, payload.subarray(40_000)));
        await run(handle.sync());
        await run(handle.close());
        const reopened = await run(fs.open("big", "read"));
        expect(await run(reopened.size())).toBe(payload.length);
        expect(firstDifference(await run(reopened.read(0, payload.length)), payload)).toBe(-1);
        await run(reopened.close());
        expect(firstDifference(await run(fs.readFile("big")), payload)).toBe(-1);
      });
    });

    describe("truncate and size", () => {
      it("shrinks, then grows with zeros (old bytes do not come back)", async () => {
        const handle = await run(fs.open("f", "create"));
        await run(handle.write(0, bytes("abcdef")));
        await run(handle.truncate(2));
        expect(await run(handle.size())).toBe(2);
        expect(decoder.decode(await run(handle.read(0, 10)))).toBe("ab");
        await run(handle.truncate(5));
        expect([...(await run(handle.read(0, 10)))]).toEqual([97, 98, 0, 0, 0]);
        await run(handle.truncate(0));
        await run(handle.write(3, bytes("z")));
        expect([...(await run(handle.read(0, 10)))]).toEqual([0, 0, 0, 122]);
        await run(handle.close());
      });

      it("size counts unsynced writes, and stat agrees", async () => {
        const handle = await run(fs.open("f", "create"));
        await run(handle.write(0, new Uint8Array(1000)));
        await run(handle.write(1000, new Uint8Array(24)));
        expect(await run(handle.size())).toBe(1024);
        expect(await run(fs.stat("f"))).toEqual({ size: 1024, isDirectory: false });
        await run(handle.close());
      });
    });

    describe("directories", () => {
      it("list returns sorted names of files and directories", async () => {
        await run(fs.mkdir("d"));
        for (const name of ["b", "a", "C", "10", "9"]) await put(`d/${name}`, name);
        await run(fs.mkdir("d/sub"));
        expect(await run(fs.list("d"))).toEqual(["10", "9", "C", "a", "b", "sub"]);
        expect(await run(fs.list("."))).toEqual(["d"]);
      });

      it("list of a missing directory is ENOENT, of a file ENOTDIR", async () => {
        await rejects(fs.list("missing"), "ENOENT");
        await put("f", "x");
        await rejects(fs.list("f"), "ENOTDIR");
      });

      it("mkdir creates parents and is idempotent", async () => {
        await run(fs.mkdir("a/b/c"));
        await run(fs.mkdir("a/b/c"));
        await run(fs.mkdir("a/b"));
        await run(fs.mkdir("."));
        expect(await run(fs.stat("a/b/c"))).toEqual({ size: 0, isDirectory: true });
        expect(await run(fs.list("a"))).toEqual(["b"]);
        await put("a/b/c/f", "x");
        expect(await text("a/b/c/f")).toBe("x");
      });

      it("mkdir over a file is EEXIST; through a file ENOTDIR", async () => {
        await put("f", "x");
        await rejects(fs.mkdir("f"), "EEXIST");
        await rejects(fs.mkdir("f/sub"), "ENOTDIR");
      });

      it("syncDir resolves for an existing directory, ENOENT for a missing one", async () => {
        await run(fs.mkdir("d"));
        await put("d/f", "x");
        await run(fs.syncDir("d"));
        await run(fs.syncDir("."));
        await rejects(fs.syncDir("missing"), "ENOENT");
      });
    });

    describe("remove, rename, stat, readFile", () => {
      it("remove deletes a file; ENOENT when missing; EISDIR for a directory", async () => {
        await put("f", "x");
        await run(fs.remove("f"));
        expect(await run(fs.stat("f"))).toBeUndefined();
        expect(await run(fs.list("."))).toEqual([]);
        await rejects(fs.remove("f"), "ENOENT");
        await run(fs.mkdir("d"));
        await rejects(fs.remove("d"), "EISDIR");
      });

      it("an open handle keeps working after its file is removed", async () => {
        await put("f", "abc");
        const handle = await run(fs.open("f", "readwrite"));
        await run(fs.remove("f"));
        await run(handle.write(3, bytes("d")));
        expect(decoder.decode(await run(handle.read(0, 10)))).toBe("abcd");
        await run(handle.close());
        expect(await run(fs.stat("f"))).toBeUndefined();
      });

      it("rename moves a file, replacing an existing target", async () => {
        await put("old", "new content");
        await put("target", "old content");
        await run(fs.rename("old", "target"));
        expect(await text("target")).toBe("new content");
        expect(await run(fs.stat("old"))).toBeUndefined();
        expect(await run(fs.list("."))).toEqual(["target"]);
      });

      it("rename into another directory, and of a missing file (ENOENT)", async () => {
        await run(fs.mkdir("a"));
        await run(fs.mkdir("b"));
        await put("a/f", "moved");
        await run(fs.rename("a/f", "b/g"));
        expect(await run(fs.list("a"))).toEqual([]);
        expect(await text("b/g")).toBe("moved");
        await rejects(fs.rename("a/f", "b/h"), "ENOENT");
        await rejects(fs.rename("b/g", "missing/g"), "ENOENT");
      });

      it("a handle opened before a rename still reaches the file", async () => {
        await put("f", "abc");
        const handle = await run(fs.open("f", "readwrite"));
        await run(fs.rename("f", "g"));
        await run(handle.write(0, bytes("X")));
        await run(handle.close());
        expect(await text("g")).toBe("Xbc");
      });

      it("renaming a file onto itself changes nothing", async () => {
        await put("f", "same");
        await run(fs.rename("f", "f"));
        expect(await text("f")).toBe("same");
      });

      it("stat describes files and directories, and is undefined for missing paths", async () => {
        await run(fs.mkdir("d"));
        await put("d/f", "12345");
        expect(await run(fs.stat("d"))).toEqual({ size: 0, isDirectory: true });
        expect(await run(fs.stat("d/f"))).toEqual({ size: 5, isDirectory: false });
        expect(await run(fs.stat("."))).toEqual({ size: 0, isDirectory: true });
        expect(await run(fs.stat("d/missing"))).toBeUndefined();
        expect(await run(fs.stat("missing/deeper"))).toBeUndefined();
      });

      it("readFile returns the whole file; ENOENT when missing; EISDIR for a directory", async () => {
        await put("f", "whole file");
        expect(await text("f")).toBe("whole file");
        await rejects(fs.readFile("."), "EISDIR");
        await rejects(fs.readFile("missing"), "ENOENT");
        await run(fs.mkdir("d"));
        await rejects(fs.readFile("d"), "EISDIR");
      });

      it("readFile of an empty file is empty", async () => {
        await put("empty", "");
        expect((await run(fs.readFile("empty"))).length).toBe(0);
      });
    });

    describe("removeDir and removeTreeDurably", () => {
      it("removeDir removes an empty directory; ENOTEMPTY with entries, ENOTDIR for a file, ENOENT when missing", async () => {
        await run(fs.mkdir("d/sub"));
        await rejects(fs.removeDir("d"), "ENOTEMPTY");
        await run(fs.removeDir("d/sub"));
        expect(await run(fs.list("d"))).toEqual([]);
        await run(fs.removeDir("d"));
        expect(await run(fs.stat("d"))).toBeUndefined();
        await rejects(fs.removeDir("d"), "ENOENT");
        await rejects(fs.removeDir("missing/deeper"), "ENOENT");
        await put("f", "x");
        await rejects(fs.removeDir("f"), "ENOTDIR");
        await rejects(fs.removeDir("."), "EINVAL");
        await run(fs.syncDir("."));
      });

      it("a directory emptied of its files can be removed, and a new one made under its name is empty", async () => {
        await run(fs.mkdir("p/0"));
        await put("p/0/a", "old");
        await run(fs.remove("p/0/a"));
        await run(fs.removeDir("p/0"));
        await run(fs.mkdir("p/0"));
        expect(await run(fs.list("p/0"))).toEqual([]);
      });

      it("removeTreeDurably removes a whole tree and leaves its parent; a missing tree is no error", async () => {
        await run(fs.mkdir("keep/tree/a/b"));
        await put("keep/tree/x", "1");
        await put("keep/tree/a/y", "2");
        await put("keep/tree/a/b/z", "3");
        await run(fs.mkdir("keep/tree/empty"));
        await put("keep/other", "stays");
        await run(removeTreeDurably(fs, "keep/tree"));
        expect(await run(fs.list("keep"))).toEqual(["other"]);
        await run(removeTreeDurably(fs, "keep/tree"));
        expect(await text("keep/other")).toBe("stays");
      });
    });

    describe("writeFileAtomic", () => {
      it("creates, then replaces content, leaving no temp file", async () => {
        await run(fs.mkdir("state"));
        await run(writeFileAtomic(fs, "state/vote", bytes("term 1, a much longer first value")));
        expect(await text("state/vote")).toBe("term 1, a much longer first value");
        await run(writeFileAtomic(fs, "state/vote", bytes("term 2")));
        expect(await text("state/vote")).toBe("term 2");
        expect(await run(fs.list("state"))).toEqual(["vote"]);
      });
    });

    describe("handles", () => {
      it("every operation on a closed handle is EBADF", async () => {
        const handle = await run(fs.open("f", "create"));
        await run(handle.write(0, bytes("x")));
        await run(handle.close());
        await rejects(handle.read(0, 1), "EBADF");
        await rejects(handle.write(0, bytes("y")), "EBADF");
        await rejects(handle.truncate(0), "EBADF");
        await rejects(handle.size(), "EBADF");
        await rejects(handle.sync(), "EBADF");
        await rejects(handle.close(), "EBADF");
        expect(await text("f")).toBe("x");
      });

      it("sync resolves, on a fresh file and after writes and truncates", async () => {
        const handle = await run(fs.open("f", "create"));
        await run(handle.sync());
        await run(handle.write(0, bytes("abc")));
        await run(handle.truncate(1));
        await run(handle.sync());
        await run(handle.sync());
        await run(handle.close());
        expect(await text("f")).toBe("a");
      });

      it("two handles on one file see each other's writes at once", async () => {
        const writer = await run(fs.open("f", "create"));
        const reader = await run(fs.open("f", "read"));
        await run(writer.write(0, bytes("shared")));
        expect(decoder.decode(await run(reader.read(0, 6)))).toBe("shared");
        expect(await run(reader.size())).toBe(6);
        await run(writer.close());
        await run(reader.close());
      });
    });
  });
}
