/**
 * Test support: free loopback ports for tests that start real processes on fixed ports.
 */
import { createServer } from "node:net";

/** A port p such that p..p+count-1 are all free on 127.0.0.1 right now. */
export async function freePorts(count: number): Promise<number> {
  const tryListen = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 40_000);
    let free = true;
    for (let offset = 0; offset < count && free; offset++) free = await tryListen(base + offset);
    if (free) return base;
  }
  throw new Error("no free block of ports");
}
