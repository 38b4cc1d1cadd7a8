import { describe, expect, it } from "vitest";
import type { ActorDefinition, ActorStore } from "../../host/host.ts";
import type { FileSystem } from "../../ports/filesystem.ts";
import { noticesWhenDurable } from "./durable-notices.ts";

/**
 * A store whose syncs resolve only when the test says so, and whose "log" after a crash is
 * whatever the test says survived (a prefix of what was persisted).
 */
function fakeDefinition() {
  const syncs: (() => void)[] = [];
  const log: string[] = [];
  const survived = { count: 0 };
  const store: ActorStore<string> = { persist: async (operations) => void log.push(...operations), sync: () => new Promise<void>((resolve) => syncs.push(resolve)), close: async () => undefined };
  let opens = 0;
  const open = async (): Promise<{ recovered: string[]; store: ActorStore<string> }> => {
    if (opens++ > 0) log.length = survived.count; // a crash kept this prefix
    return { recovered: [...log], store };
  };
  const definition = { name: "fake", open } as unknown as ActorDefinition<never, never, string, string[]>;
  return { definition, syncs, log, survived };
}

const fs = {} as FileSystem;
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("noticesWhenDurable", () => {
  it("releases a notice after the sync that follows its persist, not before", async () => {
    const { definition, syncs } = fakeDefinition();
    const delivered: unknown[] = [];
    const durable = noticesWhenDurable(definition, (recovered) => recovered.length, (output) => delivered.push(output));
    const { store } = await durable.definition.open(fs);
    durable.notify("granted p0");
    await store.persist(["member joined"]);
    durable.notify("granted p1"); // the next batch's: not part of the sync below
    const synced = store.sync();
    await flush();
    expect(delivered).toEqual([]);
    syncs[0]!();
    await synced;
    expect(delivered).toEqual(["granted p0"]);
    await store.persist(["member joined again"]);
    const second = store.sync();
    syncs[1]!();
    await second;
    expect(delivered).toEqual(["granted p0", "granted p1"]);
  });

  it("after a crash, releases what the recovered log still holds and forgets what it lost", async () => {
    const { definition, syncs, survived } = fakeDefinition();
    const delivered: unknown[] = [];
    const durable = noticesWhenDurable(definition, (recovered) => recovered.length, (output) => delivered.push(output));
    const first = (await durable.definition.open(fs)).store;
    durable.notify("removed m1 (unsynced, but survives)");
    await first.persist(["m1 expired"]);
    durable.notify("granted p0 to m2 (unsynced, lost)");
    await first.persist(["m2 granted p0"]);
    durable.notify("collected, never persisted");
    void first.sync(); // never resolves: the node crashes
    survived.count = 1; // the recovery keeps the first command only
    const second = (await durable.definition.open(fs)).store;
    expect(delivered).toEqual(["removed m1 (unsynced, but survives)"]);
    durable.notify("granted p0 to m3");
    await second.persist(["m3 granted p0"]);
    const synced = second.sync();
    syncs[1]!();
    await synced;
    syncs[0]!(); // even if the old promise settled late, the old incarnation releases nothing
    await flush();
    expect(delivered).toEqual(["removed m1 (unsynced, but survives)", "granted p0 to m3"]);
  });
});
