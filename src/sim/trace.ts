/**
 * The trace hash: every event the kernel runs, and every message and fault the simulated world
 * delivers, is folded into one 64-bit FNV-1a-style hash (two 32-bit lanes). Two runs of the same
 * seed and code must print the same hash; a different hash is the first sign of a determinism leak.
 */
const PRIME = 0x01000193;

export class TraceHash {
  private low = 0x811c9dc5;
  private high = 0x050c5d1f;
  folds = 0;

  foldNumber(value: number): void {
    // Split a double into two 32-bit words so every distinct number folds differently.
    const low = value | 0;
    const high = Math.floor(value / 4294967296) | 0;
    this.mix(low);
    this.mix(high);
  }

  foldString(text: string): void {
    for (let index = 0; index < text.length; index++) this.mix(text.charCodeAt(index));
    this.mix(0xff);
  }

  foldBytes(bytes: Uint8Array): void {
    for (let index = 0; index < bytes.length; index++) this.mix(bytes[index]!);
    this.mix(0x1ff);
  }

  private mix(word: number): void {
    this.folds++;
    this.low = Math.imul(this.low ^ word, PRIME);
    this.high = Math.imul(this.high ^ (word + this.low), PRIME) ^ (this.low >>> 15);
  }

  hex(): string {
    return (this.high >>> 0).toString(16).padStart(8, "0") + (this.low >>> 0).toString(16).padStart(8, "0");
  }
}

/**
 * A stable text rendering of a message for the trace: JSON with byte arrays as hex and object
 * keys in insertion order (messages are built by deterministic code, so the order is stable).
 */
export function describeForTrace(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    // Bytes fold as their length and a 32-bit digest: building hex text of every record batch
    // made simulating 16 KiB entries crawl, and a digest still separates any two payloads a
    // run could plausibly produce.
    if (item instanceof Uint8Array) return `bytes:${item.length}:${digest(item)}`;
    if (typeof item === "bigint") return `bigint:${item.toString()}`;
    return item;
  }) ?? "undefined";
}

function digest(bytes: Uint8Array): string {
  let hash = 0x811c9dc5;
  for (let index = 0; index < bytes.length; index++) hash = Math.imul(hash ^ bytes[index]!, 0x01000193);
  return (hash >>> 0).toString(16);
}
