/**
 * The node commands' front door, in process: every command answers --help with a description,
 * examples and defaults (exit 0), and bad flags with a message naming the flag (exit 2) —
 * before anything listens or touches a disk.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { main } from "./main.ts";

let out: string;
let err: string;

beforeEach(() => {
  out = "";
  err = "";
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
});
afterEach(() => vi.restoreAllMocks());

describe("zhumq dev / coordinator / broker: --help and bad flags", () => {
  it.each([
    ["dev", ["--data DIR", "default ./zhumq-data", "default 9090", "default 3", "--metrics-port PORT|none", "so 9089", "--log-format pretty|json", "--log-level", "Examples:", "Ctrl-C"]],
    ["coordinator", ["--id ID", "--listen HOST:PORT", "--data DIR", "--config FILE", "--metrics-listen HOST:PORT", "--log-format json|pretty", "--log-level", '"metricsListen"', "--peers ID@HOST:PORT", "Examples:", "SIGTERM", "Exit status"]],
    ["broker", ["--coordinator ID@HOST:PORT", "--advertise HOST:PORT", "--config FILE", "--metrics-listen HOST:PORT", "--log-format json|pretty", '"logLevel"', "Example:", "SIGTERM", "Exit status"]],
  ])("zhumq %s --help describes the command", async (command, expected) => {
    expect(await main([command, "--help"])).toBe(0);
    for (const text of expected) expect(out).toContain(text);
    expect(await main([command, "-h"])).toBe(0);
  });

  it("the command list names every command", async () => {
    expect(await main(["--help"])).toBe(0);
    for (const command of ["dev", "coordinator", "broker", "sim"]) expect(out).toMatch(new RegExp(`^  ${command} `, "m"));
  });

  it.each<[string, string[], RegExp]>([
    ["an unknown flag", ["dev", "--bogus"], /Unknown option '--bogus'/],
    ["a stray argument", ["coordinator", "now"], /Unexpected argument 'now'/],
    ["a port out of range", ["dev", "--port", "65534"], /--port: must be an integer from 0 to 65532/],
    ["a non-numeric broker count", ["dev", "--brokers", "three"], /--brokers: must be an integer/],
    ["a missing required flag", ["coordinator", "--id", "c", "--data", "d"], /--listen: required/],
    ["a bad listen address", ["broker", "--id", "b", "--listen", "nowhere", "--coordinator", "c@h:1", "--data", "d"], /--listen: must be HOST:PORT/],
    ["a bad coordinator", ["broker", "--id", "b", "--listen", "h:1", "--coordinator", "h:1", "--data", "d"], /--coordinator: must be ID@HOST:PORT/],
    ["a missing config file", ["coordinator", "--config", "/nonexistent/zhumq.json"], /--config: cannot read/],
    ["a bad metrics address", ["coordinator", "--id", "c", "--listen", "h:1", "--data", "d", "--metrics-listen", "9100"], /--metrics-listen: must be HOST:PORT for the Prometheus endpoint .*got '9100'/],
    ["a metrics port out of range", ["broker", "--id", "b", "--listen", "h:1", "--coordinator", "c@h:1", "--data", "d", "--metrics-listen", "h:70000"], /--metrics-listen: must be HOST:PORT/],
    ["an unknown log level", ["coordinator", "--id", "c", "--listen", "h:1", "--data", "d", "--log-level", "loud"], /--log-level: must be one of debug, info, warn, error, got 'loud'/],
    ["an unknown log format", ["broker", "--id", "b", "--listen", "h:1", "--coordinator", "c@h:1", "--data", "d", "--log-format", "xml"], /--log-format: must be one of json, pretty, got 'xml'/],
    ["dev: a bad metrics port", ["dev", "--metrics-port", "http"], /--metrics-port: must be an integer from 0 to 65535/],
    ["dev: a metrics port on a node's port", ["dev", "--port", "9090", "--metrics-port", "9091"], /--metrics-port: 9091 is one of the nodes' ports/],
    ["dev: an unknown log level", ["dev", "--log-level", "verbose"], /--log-level: must be one of debug, info, warn, error/],
    ["dev: an unknown log format", ["dev", "--log-format", "text"], /--log-format: must be one of json, pretty/],
  ])("refuses %s with exit status 2 and a pointer to --help", async (_name, argv, message) => {
    expect(await main(argv)).toBe(2);
    expect(err).toMatch(message);
    expect(err).toContain("--help' for usage");
  });
});
