/**
 * The client's address book learns brokers from the coordinator's StartGet replies as from its
 * metadata replies: a push consumer dials the brokers a StartGet names, and may never have asked
 * for metadata naming them.
 */
import { describe, expect, it } from "vitest";
import type { StartGetReply } from "../actors/shared/push-messages.ts";
import { clientAddressBook, parseBootstrap } from "./address-book.ts";

function startGetReply(brokers: StartGetReply["brokers"]): StartGetReply {
  return { type: "startget.reply", requestId: 1, sessions: [], failed: [], brokers };
}

describe("client address book", () => {
  it("learns broker addresses from a coordinator's startget.reply, and from nobody else", () => {
    const book = clientAddressBook(parseBootstrap("127.0.0.1:9000"));
    expect(book.learn("mallory", startGetReply([{ id: "b1", alive: true, address: "6.6.6.6:1" }]))).toBe(0);
    expect(book.lookup("b1")).toBeUndefined();
    expect(book.learn("coordinator", startGetReply([{ id: "b1", alive: true, address: "10.0.0.2:9092" }]))).toBe(1);
    expect(book.lookup("b1")).toBe("10.0.0.2:9092");
    expect(book.learn("coordinator", startGetReply([{ id: "b2", alive: true, address: "not an address" }]))).toBe(0);
  });

  it("a bootstrap string may list a quorum's replicas, comma-separated, each with its id", () => {
    expect(parseBootstrap("c1@10.0.0.1:9090, c2@10.0.0.2:9090,c3@10.0.0.3:9090").coordinators).toEqual(["c1", "c2", "c3"]);
    expect(parseBootstrap(["c1@h:1", "c2@h:2"]).addresses.get("c2")).toBe("h:2");
    expect(() => parseBootstrap("h:1,h:2")).toThrow(/name each/);
    expect(() => parseBootstrap("c1@h:1,c1@h:2")).toThrow(/twice/);
  });

  it("learns a coordinator replica added since the bootstrap list from a refusal naming it as leader, then trusts its answers", () => {
    const book = clientAddressBook(parseBootstrap("c1@10.0.0.1:9090,c2@10.0.0.2:9090"));
    const refusal = (leader: string, leaderAddress: string) => ({ type: "metadata.reply", requestId: 1, brokers: [], topics: [], error: { code: "COORDINATOR_NOT_AVAILABLE", message: "NOT_COORDINATOR", leader, leaderAddress } });
    expect(book.learn("mallory", refusal("c4", "6.6.6.6:1"))).toBe(0);
    expect(book.lookup("c4")).toBeUndefined();
    expect(book.learn("c1", refusal("c4", "10.0.0.4:9090"))).toBe(1);
    expect(book.lookup("c4")).toBe("10.0.0.4:9090");
    // A configured replica's address is never replaced; a bad address is ignored.
    expect(book.learn("c1", refusal("c2", "6.6.6.6:1"))).toBe(0);
    expect(book.lookup("c2")).toBe("10.0.0.2:9090");
    expect(book.learn("c1", refusal("c5", "nowhere"))).toBe(0);
    // The learned leader's own answers are believed (brokers it names).
    expect(book.learn("c4", startGetReply([{ id: "b1", alive: true, address: "10.0.0.9:9092" }]))).toBe(1);
  });

  it("learns the quorum's voters from a trusted metadata reply: addresses, trust, and the member list new actors start with", () => {
    const book = clientAddressBook(parseBootstrap("c1@10.0.0.1:9090,c2@10.0.0.2:9090"));
    const members = (coordinators: unknown) => ({ type: "metadata.reply", requestId: 1, brokers: [], topics: [], topicErrors: [], coordinators });
    expect(book.coordinatorMembers()).toBeUndefined();
    // A stranger's list is ignored.
    expect(book.learn("mallory", members([{ id: "c9", address: "6.6.6.6:1" }]))).toBe(0);
    expect(book.coordinatorMembers()).toBeUndefined();
    // c1 and c2 were removed, c3 and c4 added: the client asks those from now on, and trusts them.
    expect(book.learn("c1", members([{ id: "c3", address: "10.0.0.3:9090" }, { id: "c4", address: "10.0.0.4:9090" }, { id: "c5", address: "nowhere" }]))).toBe(2);
    expect(book.coordinatorMembers()).toEqual(["c3", "c4"]);
    expect(book.lookup("c4")).toBe("10.0.0.4:9090");
    expect(book.learn("c4", startGetReply([{ id: "b1", alive: true, address: "10.0.0.9:9092" }]))).toBe(1);
    // A bootstrap replica's pinned address is never replaced; a malformed list changes nothing.
    expect(book.learn("c3", members([{ id: "c1", address: "6.6.6.6:1" }]))).toBe(0);
    expect(book.lookup("c1")).toBe("10.0.0.1:9090");
    expect(book.learn("c3", members("c1"))).toBe(0);
    expect(book.coordinatorMembers()).toEqual(["c1"]);
  });

  it("learns the voters from heartbeat replies (with their config index) too; an older index does not replace the list", () => {
    const book = clientAddressBook(parseBootstrap("c1@10.0.0.1:9090,c2@10.0.0.2:9090"));
    const heartbeatReply = (type: string, coordinatorsIndex: number, ids: string[]) => ({ type, requestId: 1, leaseMs: 1_000, assignments: [], coordinators: ids.map((id) => ({ id, address: `10.0.0.${id.slice(1)}:9090` })), coordinatorsIndex });
    expect(book.learn("c1", heartbeatReply("broker.heartbeat.reply", 7, ["c3", "c4"]))).toBe(2);
    expect(book.lookup("c3")).toBe("10.0.0.3:9090");
    expect(book.coordinatorMembers()).toEqual(["c3", "c4"]);
    // A deposed leader's late reply: its addresses are harmless, its list is not taken.
    expect(book.learn("c1", heartbeatReply("group.heartbeat.reply", 5, ["c1", "c2", "c5"]))).toBe(1);
    expect(book.coordinatorMembers()).toEqual(["c3", "c4"]);
    // A newer one, from a learned voter (trusted): taken.
    expect(book.learn("c4", heartbeatReply("startget.reply", 9, ["c4", "c6"]))).toBe(1);
    expect(book.coordinatorMembers()).toEqual(["c4", "c6"]);
    expect(book.lookup("c6")).toBe("10.0.0.6:9090");
  });
});
