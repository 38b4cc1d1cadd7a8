import { describe, expect, it } from "vitest";
import { emit, enqueueActions, setup } from "xstate";
import { ActorHost, type ActorDefinition, type ActorStore, type HostCrash, type NodePorts } from "./host.ts";
import { persist, send, sendAhead, type Effect } from "../actors/shared/effects.ts";
import { Kernel } from "../sim/kernel.ts";
import { SimNetwork, NO_NETWORK_FAULTS } from "../sim/network.ts";
import { SeededRandom } from "../sim/random.ts";
import type { FileSystem } from "../ports/filesystem.ts";
import type { Clock } from "../ports/clock.ts";

type Message = { type: "work"; id: number; sync: boolean } | { type: "boom" } | { type: "done"; id: number } | { type: "ahead"; id: number };
type Event = { type: "message.received"; from: string; message: Message };

/** Each "work" message: persist its id (syncing or not), then tell the sender it is done. */
const machine = setup({ types: {} as { events: Event; emitted: Effect<Message, number> } }).createMachine({
  on: {
    "message.received": {
      actions: [
        ({ event }) => {
          if (event.message.type === "boom") throw new Error("planted failure");
        },
        emit(({ event }) => (event.message.type === "work" ? persist(event.message.id, event.message.sync) : send("nobody", event.message))),
        emit(({ event }) => send<Message>(event.from, { type: "done", id: event.message.type === "work" ? event.message.id : -1 })),
      ],
    },
  },
});

/** "work" as above; "ahead": answer at once with a send marked `ahead` (effects.ts), persisting nothing. */
const aheadMachine = setup({ types: {} as { events: Event; emitted: Effect<Message, number> } }).createMachine({
  on: {
    "message.received": {
      actions: enqueueActions(({ event, enqueue }) => {
        const message = event.message;
        if (message.type === "ahead") return enqueue(emit(sendAhead<Message>(event.from, { type: "done", id: message.id })));
        if (message.type !== "work") return;
        enqueue(emit(persist(message.id, message.sync)));
        enqueue(emit(send<Message>(event.from, { type: "done", id: message.id })));
      }),
    },
  },
});

function harness(syncLatencyMs: number, logic: typeof machine = machine) {
  const kernel = new Kernel(1);
  const network = new SimNetwork(kernel, NO_NETWORK_FAULTS);
  const log: string[] = [];
  const clock: Clock = { now: () => kernel.now(), setTimeout: (fn, ms) => kernel.schedule(ms, fn), clearTimeout: (h) => kernel.cancel(h as never) };
  const store: ActorStore<number> = {
    persist: async (ops) => void log.push(`persist ${ops.join(",")}`),
    sync: () =>
      new Promise((resolve) =>
        kernel.schedule(syncLatencyMs, () => {
          log.push("synced");
          kernel.markAsync();
          resolve();
        }),
      ),
    close: async () => undefined,
  };
  const definition: ActorDefinition<typeof machine, Message, number, undefined> = {
    name: "worker",
    machine: logic,
    open: async () => ({ recovered: undefined, store }),
    input: () => undefined,
    toEvent: (from, message) => ({ type: "message.received", from, message }),
  };
  const up = { admit: (deliver: () => void) => deliver() };
  const client = network.attach("client", up);
  const inner = network.attach("worker", up);
  // Log sends when the host makes them, not when they arrive.
  const transport = { ...inner, send: (to: string, message: unknown) => (log.push(`sent done ${(message as { id: number }).id}`), inner.send(to, message)) };
  const ports: NodePorts<Message> = { clock, random: new SeededRandom("h"), transport: transport as never, fs: {} as FileSystem };
  const crashes: HostCrash[] = [];
  return { kernel, client, log, crashes, start: () => ActorHost.start(definition, ports, { onCrash: (crash) => crashes.push(crash) }) };
}

describe("ActorHost", () => {
  it("carries out persist, then sync, then send — a send never overtakes an earlier persist", async () => {
    const h = harness(5);
    await h.kernel.settle(h.start());
    h.client.send("worker", { type: "work", id: 1, sync: true });
    h.client.send("worker", { type: "work", id: 2, sync: false });
    await h.kernel.run();
    // id 2 asked for no sync, but its batch queued behind id 1's sync, so its send waits too.
    expect(h.log).toEqual(["persist 1", "synced", "sent done 1", "persist 2", "sent done 2"]);
  });

  it("merges batches that wait behind a sync into one persist and one sync (group commit)", async () => {
    const h = harness(10);
    await h.kernel.settle(h.start());
    for (let id = 1; id <= 4; id++) h.client.send("worker", { type: "work", id, sync: true });
    await h.kernel.run();
    expect(h.log).toEqual(["persist 1", "synced", "sent done 1", "persist 2,3,4", "synced", "sent done 2", "sent done 3", "sent done 4"]);
  });

  it("lets a send marked ahead leave before the persists and syncs in flight; the others keep their order", async () => {
    const h = harness(10, aheadMachine as unknown as typeof machine);
    await h.kernel.settle(h.start());
    h.client.send("worker", { type: "work", id: 1, sync: true });
    h.client.send("worker", { type: "work", id: 2, sync: false });
    h.client.send("worker", { type: "ahead", id: 3 });
    await h.kernel.run();
    expect(h.log).toEqual(["persist 1", "sent done 3", "synced", "sent done 1", "persist 2", "sent done 2"]);
  });

  it("treats an error thrown in the actor as a crash that names the actor and the event", async () => {
    const h = harness(1);
    await h.kernel.settle(h.start());
    h.client.send("worker", { type: "boom" });
    h.client.send("worker", { type: "work", id: 9, sync: true });
    await h.kernel.run();
    expect(h.crashes).toHaveLength(1);
    expect(h.crashes[0]).toMatchObject({ actor: "worker", node: "worker", event: "message.received" });
    expect(String(h.crashes[0]!.error)).toContain("planted failure");
    expect(h.log).toEqual([]);
  });
});

// ---------------------------------------------------------------- timers, reads, notify, persisted
import { cancelTimer, notify, read, setTimer, type HostEvent } from "../actors/shared/effects.ts";

type ToolEvent = HostEvent<string, string> | { type: "go" };
const tool = setup({ types: {} as { events: ToolEvent; emitted: Effect<never, string, string, string> } }).createMachine({
  on: {
    go: {
      actions: enqueueActions(({ enqueue }) => {
        enqueue(emit(setTimer("a", 10)));
        enqueue(emit(setTimer("b", 20)));
        enqueue(emit(setTimer("c", 30)));
        enqueue(emit(cancelTimer("b")));
        enqueue(emit(setTimer("c", 5))); // replaces the 30 ms timer
        enqueue(emit(read(7, "hello")));
        enqueue(emit(persist("op-1", true)));
      }),
    },
    "timer.fired": { actions: emit(({ event }) => notify(`timer ${event.key}`)) },
    "read.done": { actions: emit(({ event }) => notify(`read ${event.id} ${String(event.result ?? event.error)}`)) },
    "store.persisted": { actions: emit(({ event }) => notify(`persisted ${event.operations.join(",")} synced=${event.synced}`)) },
  },
});

describe("ActorHost effects beyond persist and send", () => {
  it("runs keyed timers, reads, notifications and persist completions", async () => {
    const kernel = new Kernel(2);
    const network = new SimNetwork(kernel, NO_NETWORK_FAULTS);
    const clock: Clock = { now: () => kernel.now(), setTimeout: (fn, ms) => kernel.schedule(ms, fn), clearTimeout: (h) => kernel.cancel(h as never) };
    const outputs: string[] = [];
    const store: ActorStore<string> = {
      // Like the simulated disk: every operation tells the kernel a continuation is pending.
      persist: async () => kernel.markAsync(),
      sync: async () => kernel.markAsync(),
      close: async () => undefined,
      read: async (request) => `${String(request)} world`,
    };
    const definition: ActorDefinition<typeof tool, never, string, undefined> = {
      name: "tool",
      machine: tool,
      open: async () => ({ recovered: undefined, store }),
      input: () => undefined,
      toEvent: () => ({ type: "go" }),
      deliverPersisted: true,
    };
    const ports: NodePorts<never> = { clock, random: new SeededRandom("t"), transport: network.attach("tool", { admit: (d) => d() }) as never, fs: {} as FileSystem };
    const host = await kernel.settle(ActorHost.start(definition, ports, { onCrash: () => outputs.push("crash"), onNotify: (output) => outputs.push(`${String(output)}@${kernel.now()}`) }));
    host.send({ type: "go" });
    await kernel.run();
    expect(outputs).toEqual(["read 7 hello world@0", "persisted op-1 synced=true@0", "timer c@5", "timer a@10"]);
  });
});

// ---------------------------------------------------------------- a refused write withholds sends

type GroupMessage = { type: "work"; id: number; group: string } | { type: "done"; id: number; group: string };
const grouped = setup({ types: {} as { events: HostEvent<GroupMessage, number> | { type: "message.received"; from: string; message: GroupMessage }; emitted: Effect<GroupMessage, number> } }).createMachine({
  on: {
    "message.received": {
      actions: enqueueActions(({ enqueue, event }) => {
        if (event.type !== "message.received" || event.message.type !== "work") return;
        enqueue(emit(persist(event.message.id, true)));
        enqueue(emit(send<GroupMessage>(event.from, { type: "done", id: event.message.id, group: event.message.group })));
      }),
    },
  },
});

describe("ActorHost after a refused write", () => {
  it("withholds what the definition says of every send emitted before the actor heard of the refusal, and nothing after", async () => {
    const kernel = new Kernel(3);
    const network = new SimNetwork(kernel, NO_NETWORK_FAULTS);
    const clock: Clock = { now: () => kernel.now(), setTimeout: (fn, ms) => kernel.schedule(ms, fn), clearTimeout: (h) => kernel.cancel(h as never) };
    const store: ActorStore<number> = {
      // Operation 1 (group a) is refused, after a while: work 2 (group a) and 3 (group b) queue behind it.
      persist: (ops) => new Promise((resolve) => kernel.schedule(ops.includes(1) ? 10 : 1, () => (kernel.markAsync(), resolve(ops.includes(1) ? ["a"] : [])))),
      sync: async () => kernel.markAsync(),
      close: async () => undefined,
    };
    const definition: ActorDefinition<typeof grouped, GroupMessage, number, undefined> = {
      name: "grouped",
      machine: grouped,
      open: async () => ({ recovered: undefined, store }),
      input: () => undefined,
      toEvent: (from, message) => ({ type: "message.received", from, message }),
      deliverPersisted: true,
      withhold: (message, rejected) => (rejected.includes(message.group) ? undefined : message),
    };
    const up = { admit: (deliver: () => void) => deliver() };
    const client = network.attach("client", up);
    const inner = network.attach("grouped", up);
    const sent: number[] = [];
    const transport = { ...inner, send: (to: string, message: unknown) => (sent.push((message as GroupMessage).id), inner.send(to, message)) };
    const ports: NodePorts<GroupMessage> = { clock, random: new SeededRandom("g"), transport: transport as never, fs: {} as FileSystem };
    await kernel.settle(ActorHost.start(definition, ports, { onCrash: () => undefined }));
    client.send("grouped", { type: "work", id: 1, group: "a" });
    kernel.schedule(2, () => client.send("grouped", { type: "work", id: 2, group: "a" }));
    kernel.schedule(3, () => client.send("grouped", { type: "work", id: 3, group: "b" }));
    kernel.schedule(30, () => client.send("grouped", { type: "work", id: 4, group: "a" }));
    await kernel.run();
    expect(sent).toEqual([3, 4]); // 1 and 2 (group a) were emitted before the refusal was heard; 4 after
  });
});
