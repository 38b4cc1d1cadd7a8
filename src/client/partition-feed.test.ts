/**
 * A partition feed starts its consumer actor on the coordinator replicas its client knows at that
 * moment (ClientContext.coordinators: the voters the address book learned, else the bootstrap
 * list), not on the list the consumer was made with. A group consumer made before every bootstrap
 * replica was replaced gets new partitions after the change; their feeds must ask the new replicas
 * (found by `zhumq sim --coordinators 3 --coordinator-changes --groups 2`, seed 9002: the member
 * heartbeated the new leader while the readers of its partitions asked only removed replicas).
 */
import { describe, expect, it } from "vitest";
import { EndpointRouter } from "../host/endpoint-router.ts";
import type { NodePorts } from "../host/host.ts";
import type { ZhumqMessage } from "../actors/shared/messages.ts";
import type { FileSystem } from "../ports/filesystem.ts";
import type { NodeId } from "../ports/transport.ts";
import { SeededRandom } from "../sim/random.ts";
import type { ClientContext } from "./context.ts";
import type { ClientNode, Endpoint } from "./client-node.ts";
import { PartitionFeed, type FeedSettings } from "./partition-feed.ts";

const noFiles = (): never => {
  throw new Error("a consumer touches no files");
};
const NO_FILES: FileSystem = { open: noFiles, readFile: noFiles, stat: noFiles, list: noFiles, mkdir: noFiles, remove: noFiles, removeDir: noFiles, rename: noFiles, syncDir: noFiles };

/** A client node whose sends are recorded, and a context whose coordinator list can change. */
function rig(bootstrap: readonly NodeId[]) {
  const sent: { readonly to: NodeId; readonly message: ZhumqMessage }[] = [];
  const router = new EndpointRouter<ZhumqMessage>({ self: "client", send: (to, message) => void sent.push({ to, message }) }, 64, (callback) => void setTimeout(callback, 0));
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const clock = {
    now: () => 0,
    // Timers never fire in this test (no request times out); they are kept to be cleared.
    setTimeout: () => {
      const handle = setTimeout(() => undefined, 1e9);
      timers.add(handle);
      return handle;
    },
    clearTimeout: (handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
  let coordinators = bootstrap;
  const random = new SeededRandom("partition-feed");
  const context = {
    get coordinators() {
      return coordinators;
    },
    actorPorts: (endpoint: Endpoint, name: string): NodePorts<ZhumqMessage> => ({ clock, random: random.derive(name), transport: endpoint, fs: NO_FILES }),
  } as unknown as ClientContext;
  const node = { endpoint: (observer = {}) => router.endpoint(observer) } as unknown as ClientNode;
  return {
    sent,
    context,
    node,
    learn: (members: readonly NodeId[]) => void (coordinators = members),
    close: () => timers.forEach((handle) => clearTimeout(handle)),
  };
}

/** Wait (generously, for a busy machine) until the feed has asked a coordinator for metadata. */
async function askedForMetadata(sent: readonly { readonly message: ZhumqMessage }[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!sent.some(({ message }) => message.type === "metadata.request")) {
    if (Date.now() > deadline) throw new Error("the feed never asked for metadata");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("a partition feed's coordinators", () => {
  it("a feed started after the client learned new voters asks them, not the list its consumer was made with", async () => {
    const { sent, context, node, learn, close } = rig(["c1", "c2", "c3"]);
    // The consumer's settings were fixed when it was made, naming the bootstrap replicas.
    const settings: FeedSettings = { coordinator: ["c1", "c2", "c3"] };
    const before = new PartitionFeed("t", 0, "earliest", context, node, settings);
    before.start(undefined);
    await askedForMetadata(sent);
    // Control: started before anything was learned, it asks the bootstrap list.
    expect(sent.filter(({ message }) => message.type === "metadata.request").map(({ to }) => to)).toEqual(["c1"]);

    // Every bootstrap replica was replaced; the client learned c4..c6 (a heartbeat or metadata reply).
    learn(["c4", "c5", "c6"]);
    sent.length = 0;
    const after = new PartitionFeed("t", 1, "earliest", context, node, settings);
    after.start(undefined);
    await askedForMetadata(sent);
    expect(sent.filter(({ message }) => message.type === "metadata.request").map(({ to }) => to)).toEqual(["c4"]);

    // A feed stopped and started again (a pause past the buffer bound, a new run) also moves on.
    sent.length = 0;
    await before.stop();
    before.start(5);
    await askedForMetadata(sent);
    expect(sent.filter(({ message }) => message.type === "metadata.request").map(({ to }) => to)).toEqual(["c4"]);
    await Promise.all([before.stop(), after.stop()]);
    close();
  });
});
