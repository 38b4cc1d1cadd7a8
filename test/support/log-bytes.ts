/**
 * Test and bench support: how many bytes a topic's `.log` files take on disk, summed over every
 * data folder under `root` (brokers keep them in partitions/<topic>@<id>/<partition>/*.log).
 */
import { readdirSync, statSync } from "node:fs";
import path from "node:path";

export function logBytes(root: string, topic: string): number {
  let total = 0;
  const walk = (dir: string, inTopic: boolean): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full, inTopic || entry.name.startsWith(`${topic}@`));
      else if (inTopic && entry.name.endsWith(".log")) total += statSync(full).size;
    }
  };
  walk(root, false);
  return total;
}
