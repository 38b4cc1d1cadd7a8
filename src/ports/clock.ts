/**
 * Clock port.
 *
 * Contract:
 * - `now()` returns milliseconds on a clock that never runs backwards within one incarnation of a
 *   node. It is not wall time: in the simulator it is virtual time, on a real host it is
 *   `performance.timeOrigin + performance.now()`-like monotonic time.
 * - `setTimeout(callback, delayMs)` calls `callback` once, no earlier than `delayMs` after the
 *   call, unless cleared first. A negative or non-finite delay is treated as 0.
 * - `clearTimeout(handle)` cancels a pending timer; clearing a fired or unknown timer is a no-op.
 * - Timers that fall due at the same instant fire in the order they were set.
 *
 * The shape matches the `clock` option of xstate v5's `createActor`, so a host passes a Clock
 * straight to xstate and every `after` transition and delayed event runs on it.
 */
export type TimerHandle = unknown;

export interface Clock {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}
