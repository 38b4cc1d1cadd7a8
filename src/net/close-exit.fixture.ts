/**
 * Run as a child process by grpc-transport.test.ts: uses transports in every state a node can
 * leave them in — open streams both ways, a client-only node answered over its own stream, a link
 * backing off from a dead peer, messages queued — closes them, and then must exit by itself. A
 * dangling socket, timer or immediate keeps it alive and the test fails.
 */
import { GrpcTransport } from "./grpc-transport.ts";
import { quiesce } from "./testing.ts";

const startedAt = Date.now();
const addresses = new Map<string, string>();
const peers = (node: string): string | undefined => addresses.get(node);
const a = await GrpcTransport.listen({ self: "a", address: "127.0.0.1:0", peers });
const b = await GrpcTransport.listen({ self: "b", address: "127.0.0.1:0", peers });
addresses.set("a", a.address);
addresses.set("b", b.address);
addresses.set("dead", "127.0.0.1:1"); // nothing listens there: that link backs off
const client = GrpcTransport.connect({ self: "client", peers });

let replies = 0;
a.onMessage((from, message) => a.send(from, message));
b.onMessage((from, message) => (from === "a" ? undefined : b.send("a", message)));
client.onMessage(() => replies++);
a.send("b", "hello");
b.send("a", "hello");
client.send("a", "hi");
await quiesce([a, b, client], 50, 30_000);
if (replies !== 1) throw new Error(`client got ${replies} replies`);
a.send("dead", "lost");
b.send("a", { queued: new Uint8Array(1 << 20) });
await new Promise((resolve) => setTimeout(resolve, 100)); // the dead link fails and backs off

await Promise.all([a.close(), b.close(), client.close()]);
console.log(`closed after ${Date.now() - startedAt} ms`);
setTimeout(() => {
  // Diagnostics only: this timer is unref'd, so it never keeps the process alive itself.
  console.log("still alive; active resources:", process.getActiveResourcesInfo().join(", "));
}, 2_000).unref();
