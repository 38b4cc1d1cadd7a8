/**
 * EndpointRouter's bounded routing table: the oldest route is forgotten first, but reusing a
 * request id (a retry, or a push session's credits, which all carry the session's one id)
 * refreshes its route, so a long-lived session keeps receiving while short requests come and go.
 */
import { describe, expect, it } from "vitest";
import { EndpointRouter } from "./endpoint-router.ts";

interface Message {
  readonly type: string;
  readonly requestId?: number;
  readonly messages?: readonly Message[];
}

function setup(routesMax: number): { router: EndpointRouter<Message>; wire: Message[] } {
  const wire: Message[] = [];
  const router = new EndpointRouter<Message>({ self: "client", send: (_to, message) => wire.push(message) }, routesMax, (callback) => callback());
  return { router, wire };
}

describe("EndpointRouter", () => {
  it("forgets the least recently used route, and a reused request id refreshes its route", () => {
    const { router, wire } = setup(3);
    const session = router.endpoint();
    const requests = router.endpoint();
    const got: Message[] = [];
    session.onMessage((_from, message) => got.push(message));
    requests.onMessage((_from, message) => got.push(message));

    session.send("broker", { type: "push.open", requestId: 1 });
    const sessionWire = wire[0]!.requestId!;
    for (let id = 1; id <= 10; id++) {
      requests.send("broker", { type: "fetch.request", requestId: id });
      session.send("broker", { type: "push.credit", requestId: 1 }); // same id: same wire id, route refreshed
    }
    expect(wire.filter((message) => message.type === "push.credit").every((message) => message.requestId === sessionWire)).toBe(true);

    router.receive("broker", { type: "push.batch", requestId: sessionWire });
    expect(got).toEqual([{ type: "push.batch", requestId: 1 }]);

    // The early fetch routes were forgotten (only 3 kept): their late replies are dropped.
    const firstFetchWire = wire[1]!.requestId!;
    router.receive("broker", { type: "fetch.reply", requestId: firstFetchWire });
    expect(router.droppedReplies).toBe(1);
    expect(got).toHaveLength(1);
  });

  it("without reuse, the oldest route goes first", () => {
    const { router, wire } = setup(2);
    const endpoint = router.endpoint();
    const got: Message[] = [];
    endpoint.onMessage((_from, message) => got.push(message));
    for (let id = 1; id <= 3; id++) endpoint.send("broker", { type: "fetch.request", requestId: id });
    for (const message of wire) router.receive("broker", { type: "fetch.reply", requestId: message.requestId! });
    expect(got.map((message) => message.requestId)).toEqual([2, 3]);
    expect(router.droppedReplies).toBe(1);
  });

  it("renumbers a bundle's parts, and splits a bundle of replies by endpoint, each endpoint's together (issue 18 item 2)", () => {
    const { router, wire } = setup(100);
    const producer = router.endpoint();
    const reader = router.endpoint();
    const got: [string, Message][] = [];
    producer.onMessage((_from, message) => got.push(["producer", message]));
    reader.onMessage((_from, message) => got.push(["reader", message]));
    reader.send("broker", { type: "fetch.request", requestId: 1 });
    producer.send("broker", { type: "bundle", messages: [{ type: "produce.request", requestId: 1 }, { type: "produce.request", requestId: 2 }] });
    const sent = wire[1]!.messages!;
    expect(new Set([wire[0]!.requestId, ...sent.map((part) => part.requestId)]).size).toBe(3); // node-wide unique
    router.receive("broker", { type: "bundle", messages: [{ type: "produce.reply", requestId: sent[0]!.requestId! }, { type: "fetch.reply", requestId: wire[0]!.requestId! }, { type: "produce.reply", requestId: sent[1]!.requestId! }, { type: "produce.reply", requestId: 999 }] });
    expect(got).toEqual([
      ["producer", { type: "bundle", messages: [{ type: "produce.reply", requestId: 1 }, { type: "produce.reply", requestId: 2 }] }],
      ["reader", { type: "fetch.reply", requestId: 1 }],
    ]);
    expect(router.droppedReplies).toBe(1);
  });
});
