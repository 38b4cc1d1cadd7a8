import { describe, expect, it } from "vitest";
import { SimWorld } from "./world.ts";
import type { SimNodePorts } from "./node.ts";

/** A process that logs its start, ticks every 10 ms, and logs messages it receives. */
function ticker(log: string[]) {
  return async (ports: SimNodePorts) => {
    const name = ports.transport.self;
    let handle: unknown;
    const tick = () => {
      log.push(`${name} tick ${ports.clock.now()}`);
      handle = ports.clock.setTimeout(tick, 10);
    };
    log.push(`${name} start ${ports.clock.now()}`);
    handle = ports.clock.setTimeout(tick, 10);
    ports.transport.onMessage((from, message) => log.push(`${name} got ${String(message)} from ${from} at ${ports.clock.now()}`));
    return { stop: () => ports.clock.clearTimeout(handle) };
  };
}

/** A node's boot that sends `message` to `to` at virtual time `atMs`. */
function sendsAt(world: SimWorld, atMs: number, to: string, message: string): (ports: SimNodePorts) => Promise<{ stop: () => void }> {
  return async (ports) => {
    world.kernel.schedule(atMs, () => ports.transport.send(to, message));
    return { stop: () => undefined };
  };
}

describe("SimNode process faults", () => {
  it("crash cancels the node's timers and drops its messages; restart boots a new incarnation", async () => {
    const log: string[] = [];
    const world = new SimWorld(1);
    const node = world.addNode("a", ticker(log));
    const other = world.addNode("b", sendsAt(world, 15, "a", "hello"));
    void node.start();
    void other.start();
    world.kernel.markAsync();
    await world.kernel.run({ untilMs: 12 });
    node.crash();
    await world.kernel.run({ untilMs: 40 });
    expect(log).toEqual(["a start 0", "a tick 10"]);
    await world.kernel.settle(node.start());
    await world.kernel.run({ untilMs: 55 });
    expect(log.slice(2)).toEqual(["a start 40", "a tick 50"]);
    expect(node.incarnation).toBe(3);
  });

  it("a boot still running when its incarnation crashed reaches nothing: the live incarnation keeps its endpoint and the disk (sim seed 7103)", async () => {
    const log: string[] = [];
    const world = new SimWorld(3);
    let boots = 0;
    // Each boot yields before it touches its disk (as the broker store's file pool does), so the
    // first boot is still queued when the node is restarted again.
    const node = world.addNode("a", async (ports) => {
      const boot = ++boots;
      await Promise.resolve();
      await ports.fs.mkdir(`boot-${boot}`);
      log.push(`boot ${boot} read its disk`);
      ports.transport.onMessage((_from, message) => log.push(`boot ${boot} got ${String(message)}`));
      return { stop: () => undefined };
    });
    const sender = world.addNode("b", sendsAt(world, 20, "a", "hello"));
    void sender.start();
    void node.restart(); // boot 1: its continuation is queued, nothing drains it yet
    void node.restart(); // boot 2, the live one
    world.kernel.markAsync();
    await world.kernel.run({ untilMs: 30 });
    expect(log).toEqual(["boot 2 read its disk", "boot 2 got hello"]);
    expect(await world.kernel.settle(node.fs.list("."))).toEqual(["boot-2"]);
  });

  it("pause holds timers and messages and runs them, in order, at resume", async () => {
    const log: string[] = [];
    const world = new SimWorld(2);
    const node = world.addNode("a", ticker(log));
    const sender = world.addNode("b", async (ports) => {
      world.kernel.schedule(22, () => ports.transport.send("a", "m1"));
      world.kernel.schedule(23, () => ports.transport.send("a", "m2"));
      return { stop: () => undefined };
    });
    void node.start();
    void sender.start();
    world.kernel.markAsync();
    await world.kernel.run({ untilMs: 15 });
    node.pause();
    await world.kernel.run({ untilMs: 100 });
    expect(log).toEqual(["a start 0", "a tick 10"]);
    node.resume();
    await world.kernel.run({ untilMs: 100 });
    expect(log.slice(2, 5)).toEqual(["a tick 100", "a got m1 from b at 100", "a got m2 from b at 100"]);
  });

  it("a paused node's sends leave at resume, a crashed incarnation's never", async () => {
    const world = new SimWorld(3);
    const got: string[] = [];
    let aPorts: SimNodePorts | undefined;
    const a = world.addNode("a", async (ports) => {
      aPorts = ports;
      return { stop: () => undefined };
    });
    const b = world.addNode("b", async (ports) => {
      ports.transport.onMessage((_from, message) => got.push(`${String(message)}@${world.kernel.now()}`));
      return { stop: () => undefined };
    });
    await world.kernel.settle(Promise.all([a.start(), b.start()]));
    const stale = aPorts!;
    a.pause();
    stale.transport.send("b", "while-paused");
    await world.kernel.run({ untilMs: 50 });
    a.resume();
    await world.kernel.run({ untilMs: 60 });
    a.crash();
    stale.transport.send("b", "from-the-dead");
    await world.kernel.run({ untilMs: 100 });
    expect(got.map((entry) => entry.split("@")[0])).toEqual(["while-paused"]);
    expect(Number(got[0]!.split("@")[1])).toBeGreaterThanOrEqual(50);
  });

  it("an incarnation whose start-up finishes after a restart crashed it never takes the new one's inbox", async () => {
    const world = new SimWorld(4);
    const got: string[] = [];
    let boots = 0;
    // Each start-up takes a while (a store being opened) before it listens: the first, 8 ms, is
    // crashed at 1 ms by a restart whose own start-up takes 2 ms, and finishes after it.
    const a = world.addNode("a", (ports) => {
      const incarnation = ++boots;
      return new Promise((resolve) => {
        world.kernel.schedule(incarnation === 1 ? 8 : 2, () => {
          ports.transport.onMessage((_from, message) => got.push(`${incarnation}:${String(message)}`));
          resolve({ stop: () => undefined });
          world.kernel.markAsync();
        });
      });
    });
    const b = world.addNode("b", sendsAt(world, 20, "a", "hello"));
    void a.start();
    void b.start();
    world.kernel.markAsync();
    await world.kernel.run({ untilMs: 1 });
    void a.restart(); // the first start-up is still opening its store
    await world.kernel.run({ untilMs: 50 });
    expect(got).toEqual(["2:hello"]);
  });
});

describe("SimNode clock drift", () => {
  it("a node's clock runs at its rate: it reads rate × real time, and its timers fire after delay / rate real ms", async () => {
    const fastLog: string[] = [];
    const slowLog: string[] = [];
    const world = new SimWorld(1);
    const fast = world.addNode("fast", ticker(fastLog));
    const slow = world.addNode("slow", ticker(slowLog));
    fast.clockRate = 1.25; // exaggerated, so the figures are exact
    slow.clockRate = 0.5;
    void fast.start();
    void slow.start();
    world.kernel.markAsync();
    await world.kernel.run({ untilMs: 40 });
    // fast: a 10 ms timer takes 8 real ms and its clock reads 10, 20, ... at 8, 16, ... real ms.
    expect(fastLog).toEqual(["fast start 0", "fast tick 10", "fast tick 20", "fast tick 30", "fast tick 40", "fast tick 50"]);
    // slow: a 10 ms timer takes 20 real ms.
    expect(slowLog).toEqual(["slow start 0", "slow tick 10", "slow tick 20"]);
    expect(fast.localNow()).toBe(50);
    expect(slow.realTimeOf(20)).toBe(40);
  });
});
