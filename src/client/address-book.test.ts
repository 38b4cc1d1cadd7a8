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
});
