/**
 * Node configuration: flags and a JSON file merged (flags win) and checked, every mistake a
 * ConfigError naming its field. Each rule has a case that must fail.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfigFile, parseEndpoint, resolveNodeConfig, type NodeFlags } from "./config.ts";

const dir = mkdtempSync(path.join(tmpdir(), "zhumq-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
async function file(content: unknown) {
  const name = path.join(dir, `config-${files++}.json`);
  writeFileSync(name, typeof content === "string" ? content : JSON.stringify(content));
  return loadConfigFile(name);
}

const broker: NodeFlags = { id: "broker-1", listen: "127.0.0.1:9092", coordinator: "coordinator@127.0.0.1:9090", data: "data/b1" };

function fieldOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).field;
  }
  throw new Error("expected a ConfigError");
}

describe("resolveNodeConfig from flags", () => {
  it("a coordinator and a broker from flags alone", () => {
    expect(resolveNodeConfig("coordinator", { id: "coordinator", listen: "0.0.0.0:9090", data: "c" })).toEqual({
      role: "coordinator",
      id: "coordinator",
      listen: "0.0.0.0:9090",
      dataDir: path.resolve("c"),
      seed: undefined,
      metricsListen: undefined,
      logFormat: "json",
      logLevel: "info",
      settings: {},
    });
    expect(resolveNodeConfig("broker", { ...broker, seed: "7" })).toMatchObject({
      role: "broker",
      coordinator: { id: "coordinator", address: "127.0.0.1:9090" },
      advertise: undefined,
      dataDir: path.resolve("data/b1"),
      seed: "7",
    });
  });

  it("a coordinator quorum: --peers lists every replica, this one included; brokers take every replica", async () => {
    const peers = "c1@10.0.0.1:9090,c2@10.0.0.2:9090,c3@10.0.0.3:9090";
    expect(resolveNodeConfig("coordinator", { id: "c2", listen: "0.0.0.0:9090", data: "c", peers })).toMatchObject({
      peers: [
        { id: "c1", address: "10.0.0.1:9090" },
        { id: "c2", address: "10.0.0.2:9090" },
        { id: "c3", address: "10.0.0.3:9090" },
      ],
    });
    expect(resolveNodeConfig("coordinator", { id: "c", listen: "h:1", data: "c" })).not.toHaveProperty("peers");
    const fromFile = await file({ id: "c1", listen: "h:1", data: "d", peers: ["c1@h:1", "c2@h:2", "c3@h:3"] });
    expect(resolveNodeConfig("coordinator", {}, fromFile)).toMatchObject({ peers: [{ id: "c1" }, { id: "c2" }, { id: "c3" }] });
    expect(fieldOf(() => resolveNodeConfig("coordinator", { id: "c9", listen: "h:1", data: "c", peers }))).toBe("--peers"); // not among them
    expect(fieldOf(() => resolveNodeConfig("coordinator", { id: "c1", listen: "h:1", data: "c", peers: "c1@h:1,c1@h:2" }))).toBe("--peers");
    expect(fieldOf(() => resolveNodeConfig("coordinator", { id: "c1", listen: "h:1", data: "c", peers: "c1@h:1,c2" }))).toBe("--peers");
    expect(fieldOf(() => resolveNodeConfig("coordinator", {}, { ...fromFile, values: { ...fromFile.values, peers: 3 } }))).toBe("peers");
    // --join: a new replica names the running ones, not itself, and never with --peers.
    expect(resolveNodeConfig("coordinator", { id: "c4", listen: "h:4", data: "c", join: peers })).toMatchObject({ join: [{ id: "c1" }, { id: "c2" }, { id: "c3" }] });
    expect(fieldOf(() => resolveNodeConfig("coordinator", { id: "c1", listen: "h:4", data: "c", join: peers }))).toBe("--join");
    expect(fieldOf(() => resolveNodeConfig("coordinator", { id: "c1", listen: "h:4", data: "c", join: "c2@h:2", peers }))).toBe("--join");
    const quorumBroker = resolveNodeConfig("broker", { ...broker, coordinator: peers });
    expect(quorumBroker).toMatchObject({ coordinator: { id: "c1", address: "10.0.0.1:9090" }, coordinators: [{ id: "c1" }, { id: "c2" }, { id: "c3" }] });
    expect(resolveNodeConfig("broker", broker)).not.toHaveProperty("coordinators");
    const listFile = await file({ id: "b", listen: "h:1", data: "d", coordinator: ["c1@h:1", { id: "c2", address: "h:2" }] });
    expect(resolveNodeConfig("broker", {}, listFile)).toMatchObject({ coordinators: [{ id: "c1" }, { id: "c2", address: "h:2" }] });
    expect(fieldOf(() => resolveNodeConfig("broker", { ...broker, coordinator: "c1@h:1,c1@h:2" }))).toBe("--coordinator");
  });

  it("metrics and log settings from the file, flags winning over it", async () => {
    const config = await file({ id: "b", listen: "h:1", coordinator: "c@h:2", data: "d", metricsListen: "0.0.0.0:9192", logFormat: "pretty", logLevel: "warn" });
    expect(resolveNodeConfig("broker", {}, config)).toMatchObject({ metricsListen: "0.0.0.0:9192", logFormat: "pretty", logLevel: "warn" });
    expect(resolveNodeConfig("broker", { "log-level": "debug", "metrics-listen": "127.0.0.1:0" }, config)).toMatchObject({ metricsListen: "127.0.0.1:0", logFormat: "pretty", logLevel: "debug" });
    expect(fieldOf(() => resolveNodeConfig("broker", {}, { ...config, values: { ...config.values, logLevel: "chatty" } }))).toBe("logLevel");
    expect(fieldOf(() => resolveNodeConfig("broker", {}, { ...config, values: { ...config.values, metricsListen: 9192 } }))).toBe("metricsListen");
    expect(fieldOf(() => resolveNodeConfig("broker", {}, { ...config, values: { ...config.values, logFormat: "yaml" } }))).toBe("logFormat");
  });

  it.each<[string, "coordinator" | "broker", NodeFlags, string]>([
    ["a missing id", "coordinator", { listen: "h:1", data: "d" }, "--id"],
    ["a missing listen address", "coordinator", { id: "c", data: "d" }, "--listen"],
    ["a missing data folder", "coordinator", { id: "c", listen: "h:1" }, "--data"],
    ["an empty data folder", "coordinator", { id: "c", listen: "h:1", data: "" }, "--data"],
    ["an id with a slash", "coordinator", { id: "a/b", listen: "h:1", data: "d" }, "--id"],
    ["an id with an @", "broker", { ...broker, id: "b@1" }, "--id"],
    ["a listen address without a port", "coordinator", { id: "c", listen: "localhost", data: "d" }, "--listen"],
    ["a listen port out of range", "broker", { ...broker, listen: "127.0.0.1:70000" }, "--listen"],
    ["a missing coordinator", "broker", { ...broker, coordinator: undefined }, "--coordinator"],
    ["a coordinator without an id", "broker", { ...broker, coordinator: "127.0.0.1:9090" }, "--coordinator"],
    ["a coordinator on port 0", "broker", { ...broker, coordinator: "c@127.0.0.1:0" }, "--coordinator"],
    ["an advertised port 0", "broker", { ...broker, advertise: "example.com:0" }, "--advertise"],
    ["an advertised address without a port", "broker", { ...broker, advertise: "example.com" }, "--advertise"],
    ["a wildcard listen on port 0 with nothing to advertise", "broker", { ...broker, listen: "0.0.0.0:0" }, "--advertise"],
  ])("refuses %s, naming the field", (_name, role, flags, field) => {
    expect(fieldOf(() => resolveNodeConfig(role, flags))).toBe(field);
  });

  it("a broker listening on every interface advertises this host's name", () => {
    expect(resolveNodeConfig("broker", { ...broker, listen: "0.0.0.0:9092" })).toMatchObject({ advertise: `${hostname()}:9092` });
    expect(resolveNodeConfig("broker", { ...broker, listen: "0.0.0.0:9092", advertise: "b1.internal:19092" })).toMatchObject({ advertise: "b1.internal:19092" });
  });

  it("--retention-ms and --retention-bytes set the broker's default retention, over the file's settings.log", async () => {
    const withFile = await file({ settings: { retentionCheckIntervalMs: 1000, log: { retentionMs: 5000, segmentBytes: 4096 } } });
    expect(resolveNodeConfig("broker", { ...broker, retentionBytes: "1048576" }, withFile)).toMatchObject({
      settings: { retentionCheckIntervalMs: 1000, log: { retentionMs: 5000, retentionBytes: 1048576, segmentBytes: 4096 } },
    });
    expect(resolveNodeConfig("broker", { ...broker, retentionMs: "60000" }, withFile)).toMatchObject({ settings: { log: { retentionMs: 60000 } } });
    for (const bad of ["0", "-1", "1.5", "soon"]) expect(fieldOf(() => resolveNodeConfig("broker", { ...broker, retentionMs: bad }))).toBe("--retention-ms");
    expect(fieldOf(() => resolveNodeConfig("broker", broker, { values: { settings: { retentionCheckIntervalMs: 0 } }, dir, path: "x.json" }))).toBe("settings");
  });

  it("parseEndpoint takes ID@HOST:PORT, IPv6 hosts in brackets", () => {
    expect(parseEndpoint("c-1@[::1]:9090", "x")).toEqual({ id: "c-1", address: "[::1]:9090" });
    expect(() => parseEndpoint("@h:1", "x")).toThrow(ConfigError);
  });
});

describe("resolveNodeConfig with a config file", () => {
  it("takes every field from the file, data relative to the file's folder, and flags win", async () => {
    const config = await file({ id: "from-file", listen: "127.0.0.1:9001", data: "b", coordinator: { id: "c", address: "10.0.0.1:9090" }, settings: { heartbeatIntervalMs: 100, limits: { fetchBytesMax: 1024 } } });
    expect(resolveNodeConfig("broker", {}, config)).toMatchObject({
      id: "from-file",
      listen: "127.0.0.1:9001",
      dataDir: path.join(dir, "b"),
      coordinator: { id: "c", address: "10.0.0.1:9090" },
      settings: { heartbeatIntervalMs: 100, limits: { fetchBytesMax: 1024 } },
    });
    expect(resolveNodeConfig("broker", { id: "from-flag", data: "here" }, config)).toMatchObject({ id: "from-flag", dataDir: path.resolve("here") });
  });

  it.each<[string, "coordinator" | "broker", unknown, string]>([
    ["an unknown key", "coordinator", { id: "c", listen: "h:1", data: "d", lisen: "h:2" }, "lisen"],
    ["a broker-only key in a coordinator's file", "coordinator", { id: "c", listen: "h:1", data: "d", advertise: "h:2" }, "advertise"],
    ["a number where a string belongs", "coordinator", { id: 7, listen: "h:1", data: "d" }, "id"],
    ["a bad listen address in the file", "coordinator", { id: "c", listen: "h", data: "d" }, "listen"],
    ["settings that are not an object", "coordinator", { id: "c", listen: "h:1", data: "d", settings: [] }, "settings"],
    ["an unknown setting", "coordinator", { id: "c", listen: "h:1", data: "d", settings: { leaseMillis: 5 } }, "settings.leaseMillis"],
    ["a setting of the wrong type", "coordinator", { id: "c", listen: "h:1", data: "d", settings: { leaseMs: "6s" } }, "settings.leaseMs"],
    ["an unknown limit", "broker", { ...broker, settings: { limits: { fetchBytesMaximum: 1 } } }, "settings.limits.fetchBytesMaximum"],
    ["limits that are not an object", "broker", { ...broker, settings: { limits: 5 } }, "settings.limits"],
    ["a setting out of range", "coordinator", { id: "c", listen: "h:1", data: "d", settings: { leaseMs: 100, leaseCheckIntervalMs: 500 } }, "settings"],
    ["a broker limit out of range", "broker", { ...broker, settings: { limits: { fetchBytesMax: 0 } } }, "settings"],
    ["a coordinator object without an address", "broker", { ...broker, coordinator: { id: "c" } }, "coordinator"],
  ])("refuses %s, naming the field", async (_name, role, content, field) => {
    const config = await file(content);
    expect(fieldOf(() => resolveNodeConfig(role, {}, config))).toBe(field);
  });

  it("says why a range check failed", async () => {
    const config = await file({ id: "c", listen: "h:1", data: "d", settings: { leaseMs: 100, leaseCheckIntervalMs: 500 } });
    expect(() => resolveNodeConfig("coordinator", {}, config)).toThrow(/leaseCheckIntervalMs/);
  });

  it("a missing file or one that is not a JSON object is a --config error", async () => {
    await expect(loadConfigFile(path.join(dir, "missing.json"))).rejects.toMatchObject({ field: "--config" });
    await expect(file("{ not json")).rejects.toMatchObject({ field: "--config" });
    await expect(file([1, 2])).rejects.toMatchObject({ field: "--config" });
  });
});
