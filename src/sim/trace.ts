/**
 * The trace hash: every event the kernel runs, and every message and fault the simulated world
 * delivers, is folded into one 64-bit FNV-1a-style hash (two 32-bit lanes). Two runs of the same
 * seed and code must print the same hash; a different hash is the first sign of a determinism leak.
 */
const PRIME = 0x01000193;
const DOUBLE = new Float64Array(1);
const DOUBLE_WORDS = new Uint32Array(DOUBLE.buffer);

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

  /**
   * Fold a message's content without rendering it as text: strings, numbers (all 64 bits of the
   * double), booleans, null, arrays and plain objects' keys and values in insertion order, byte
   * arrays as their length and a 32-bit digest (building hex text of every record batch made
   * simulating 16 KiB entries crawl). Every part is tagged, so
   * `{a: "1"}` and `{a: 1}` fold differently. It replaced folding the message's JSON text,
   * which (a replacer call per key, a string per message) cost the simulator's hot path
   * a few per cent of its time in garbage alone.
   */
  foldValue(value: unknown): void {
    switch (typeof value) {
      case "string":
        this.mix(1);
        return this.foldString(value);
      case "number":
        this.mix(2);
        return this.foldDouble(value);
      case "boolean":
        return this.mix(value ? 3 : 4);
      case "bigint":
        this.mix(5);
        return this.foldString(value.toString());
      case "undefined":
        return this.mix(6);
      case "object":
        break;
      default:
        return this.mix(7);
    }
    if (value === null) return this.mix(8);
    if (value instanceof Uint8Array) {
      this.mix(9);
      this.mix(value.length);
      return this.mix(digest(value));
    }
    if (Array.isArray(value)) {
      this.mix(10);
      this.mix(value.length);
      for (const item of value) this.foldValue(item);
      return;
    }
    this.mix(11);
    const record = value as Record<string, unknown>;
    for (const key in record) {
      if (!Object.prototype.hasOwnProperty.call(record, key)) continue;
      const item = record[key];
      if (item === undefined || typeof item === "function") continue; // as JSON leaves them out
      this.foldString(key);
      this.foldValue(item);
    }
    this.mix(12);
  }

  private foldDouble(value: number): void {
    DOUBLE[0] = value;
    this.mix(DOUBLE_WORDS[0]!);
    this.mix(DOUBLE_WORDS[1]!);
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

/** A 32-bit FNV-1a digest of bytes: a payload folds as its length and this. */
function digest(bytes: Uint8Array): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < bytes.length; index++) hash = Math.imul(hash ^ bytes[index]!, 0x01000193);
  return hash >>> 0;
}
