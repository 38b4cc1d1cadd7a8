/**
 * Real-world port implementations that need no I/O library: the clock and randomness of a real
 * process, and the crash policy of a real process. (Real files are `src/disk/node-fs.ts`; the
 * real network is `src/net/`.)
 */
import type { Clock, TimerHandle } from "../ports/clock.ts";
import type { Random } from "../ports/random.ts";
import type { HostCrash } from "./host.ts";

/** Monotonic milliseconds and the process's own timers. */
export class RealClock implements Clock {
  private readonly origin = performance.timeOrigin;

  now(): number {
    return this.origin + performance.now();
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    return globalThis.setTimeout(callback, Number.isFinite(delayMs) && delayMs > 0 ? delayMs : 0);
  }

  clearTimeout(handle: TimerHandle): void {
    globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>);
  }
}

/**
 * sfc32, seeded from a string: fast and good enough for jitter and ids. On a real host the seed
 * comes from the process's entropy (`RealRandom.fromEntropy`), and is printed, so a real run's
 * random choices can be reproduced too.
 */
export class RealRandom implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: string) {
    [this.a, this.b, this.c, this.d] = seedWords(seed);
    for (let index = 0; index < 12; index++) this.next();
  }

  static fromEntropy(): RealRandom {
    return new RealRandom(`${Date.now()}-${Math.random()}`);
  }

  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    const t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    const result = (t + this.d) | 0;
    this.c = (this.c + result) | 0;
    return (result >>> 0) / 4294967296;
  }

  int(bound: number): number {
    if (!Number.isSafeInteger(bound) || bound <= 0) throw new RangeError(`int(bound) needs a positive safe integer, got ${bound}`);
    return Math.floor(this.next() * bound);
  }

  derive(name: string): RealRandom {
    return new RealRandom(`${this.seed}/${name}`);
  }
}

function seedWords(seed: string): [number, number, number, number] {
  const words: [number, number, number, number] = [0x9e3779b9, 0x243f6a88, 0xb7e15162, 0xdeadbeef];
  for (let index = 0; index < seed.length; index++) {
    const code = seed.charCodeAt(index);
    for (let word = 0; word < 4; word++) words[word] = Math.imul(words[word]! ^ code, 0x01000193 + word * 2) >>> 0;
  }
  return words;
}

/** The message a real process prints when an actor fails: which actor, on which event, why. */
export function describeCrash(crash: HostCrash): string {
  const error = crash.error instanceof Error ? (crash.error.stack ?? crash.error.message) : String(crash.error);
  return `zhumq: actor '${crash.actor}' on node '${crash.node}' crashed while handling '${crash.event}':\n${error}`;
}

/** Real-process crash policy: fail-stop. Print what crashed and exit non-zero. */
export function exitOnCrash(write: (text: string) => void, exit: (code: number) => void): (crash: HostCrash) => void {
  return (crash) => {
    write(`${describeCrash(crash)}\n`);
    exit(70);
  };
}
