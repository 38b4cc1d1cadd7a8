import { describe, expect, it } from "vitest";
import type { ActorDefinition, ActorStore } from "../../host/host.ts";
import type { FileSystem } from "../../ports/filesystem.ts";
import { noticesWhenDurable } from "./durable-notices.ts";

/** A store whose syncs resolve only when the test says so. */
function fakeDefinition() {
  const syncs: (() => void)[] = [];
  const store: ActorStore<string> = { persist: async () => undefined, sync: () => new Promise<void>((resolve) => syncs.push(resolve)), close: async () => undefined };
  const definition = { name: "fake", open: async () => ({ recovered: undefined, store }) } as unknown as ActorDefinition<never, never, string, undefined>;
  return { definition, syncs };
}

const fs = {} as FileSystem;
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("noticesWhenDurable", () => {
  it("releases a notice after the sync that follows its persist, not before", async () => {
    const { definition, syncs } = fakeDefinition();
    const delivered: unknown[] = [];
    const durable = noticesWhenDurable(definition, (output) => delivered.push(output));
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

  it("forgets what a crashed incarnation had not synced: the restarted store never releases it", async () => {
    const { definition, syncs } = fakeDefinition();
    const delivered: unknown[] = [];
    const durable = noticesWhenDurable(definition, (output) => delivered.push(output));
    const first = (await durable.definition.open(fs)).store;
    durable.notify("granted p0 (lost in the crash)");
    await first.persist(["decision"]);
    void first.sync(); // never resolves: the node crashed
    const second = (await durable.definition.open(fs)).store;
    durable.notify("granted p0 (after recovery)");
    await second.persist(["decision again"]);
    const synced = second.sync();
    syncs[1]!();
    await synced;
    syncs[0]!(); // even if the old promise settled late, its notices stay forgotten
    await flush();
    expect(delivered).toEqual(["granted p0 (after recovery)"]);
  });
});
