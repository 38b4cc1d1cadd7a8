import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { resolveAuth } from "./auth-flags.ts";
import { resolveClientAuth } from "../client/auth-option.ts";

describe("--user / --password-file", () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  const file = (text: string): string => {
    const dir = mkdtempSync(path.join(tmpdir(), "zhumq-auth-flags-"));
    dirs.push(dir);
    writeFileSync(path.join(dir, "pass"), text);
    return path.join(dir, "pass");
  };

  it("reads the password's first line from a file; flags win over the environment; neither is no login", () => {
    expect(resolveAuth({}, {})).toBeUndefined();
    expect(resolveAuth({ user: "alice", "password-file": file("wonder land\n") }, {})).toEqual({ username: "alice", password: "wonder land" });
    expect(resolveAuth({ user: "bob" }, { ZHUMQ_USER: "alice", ZHUMQ_PASSWORD_FILE: file("pw\r\n") })).toEqual({ username: "bob", password: "pw" });
  });

  it("names the flag for every mistake", () => {
    expect(() => resolveAuth({ user: "alice" }, {})).toThrow(/--password-file/);
    expect(() => resolveAuth({ "password-file": file("pw") }, {})).toThrow(/--user/);
    expect(() => resolveAuth({ user: "alice", "password-file": "/nonexistent/pass" }, {})).toThrow(/cannot read/);
    expect(() => resolveAuth({ user: "alice", "password-file": file("\n") }, {})).toThrow(/empty/);
    expect(() => resolveAuth({ user: "alice", "password-file": file("a\nb\n") }, {})).toThrow(/more than one line/);
  });

  it("the library's auth option is checked like the others (INVALID_REQUEST naming the part)", () => {
    expect(resolveClientAuth({ username: "alice", password: "pw" })).toEqual({ username: "alice", password: "pw" });
    expect(() => resolveClientAuth({ username: "alice" })).toThrow(/auth.password/);
    expect(() => resolveClientAuth({ username: "", password: "pw" })).toThrow(/auth.username/);
    expect(() => resolveClientAuth({ username: "a", password: "pw", mechanism: "plain" })).toThrow(/unknown key 'mechanism'/);
    expect(() => resolveClientAuth("alice:pw")).toThrow(/auth must be/);
  });
});
