/**
 * Keeps V8's memory reducer able to give a burst's memory back, on Node 24 (the packaged
 * executable).
 *
 * After a burst, V8's memory reducer is meant to notice that the process has gone quiet and run
 * a memory-reducing collection, the only one that hands the pages of the heap's pool back to
 * the system. Every 8 s it asks whether the allocation rate is low: young generation, old
 * generation and the embedder's C++ heap (cppgc) all have to be. Since V8 13 (Node 24) the
 * allocation rate is an exponentially decaying average with no floor, and one that has only
 * ever seen zero bytes is exactly zero, which the test reads as the highest rate there is. In a
 * process that never allocates on the C++ heap (Node allocates there only for `node:vm`'s
 * scripts and contexts) the embedder's rate is always zero, the answer is always "high alloc",
 * and the reducer only runs from its watchdog, 100 s after the last full collection, which
 * renewals keep pushing back. 50,000 addresses taken in one burst left the executable at
 * 189–206 MB resident for minutes, with 50 MB of live heap (docs/performance.md, tenth
 * measurement).
 *
 * So the daemon makes a small C++-heap allocation, a compiled one-token script, at start and
 * every 30 s: the embedder's rate is then positive (a tiny decayed value, which reads as low)
 * for the next 100 s or so, until the decay reaches zero. With it the reducer runs its usual
 * two incremental collections 10–20 s after a burst, as Node 20's does without help. Nothing
 * here collects anything itself: a quiet daemon costs one timer every 30 s, and a busy one
 * keeps V8's own schedule.
 */
import { Script } from 'node:vm';
import type { Clock, TimerHandle } from './clock.js';

/** Below about 100 s, after which the decayed rate is zero again. */
export const REDUCER_NUDGE_MS = 30_000;

export interface ReducerNudgeOptions {
  clock: Clock;
  /** A C++-heap allocation (`embedderAllocation()`). */
  nudge: () => void;
  periodMs?: number;
}

export class ReducerNudge {
  readonly #o: Required<ReducerNudgeOptions>;
  #timer: TimerHandle | undefined;

  constructor(options: ReducerNudgeOptions) {
    this.#o = { periodMs: REDUCER_NUDGE_MS, ...options };
  }

  /** Nudges now (a burst may come before the first period is over) and every period. */
  start(): void {
    this.#o.nudge();
    this.#arm();
  }

  stop(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#o.nudge();
      this.#arm();
    }, this.#o.periodMs);
  }
}

/**
 * One allocation on V8's C++ heap: `node:vm` keeps a compiled script's wrapper there. The same
 * source each time, so V8 compiles it once. Undefined before V8 13, whose allocation rates have
 * a floor of 1 byte/ms: Node 20's reducer runs after a burst without it.
 */
export function embedderAllocation(v8Version = process.versions.v8): (() => void) | undefined {
  if (Number(v8Version.split('.')[0]) < 13) return undefined;
  return () => {
    new Script('0');
  };
}
