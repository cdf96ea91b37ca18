/**
 * A `Clock` whose time moves only when a test says so. `advance(ms)` fires due timers in time
 * order and lets promise chains settle after each one, so code that awaits sleeps and replies
 * runs as it would in real time, without sleeping.
 */
import type { Clock, TimerHandle } from '../../src/clock.js';

interface Timer {
  dueAt: number;
  seq: number;
  fn: () => void;
}

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #timers = new Set<Timer>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { dueAt: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as Timer);
  }

  /** Number of armed timers. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Earliest armed timer's due time, if any. */
  nextDueAt(): number | undefined {
    let min: number | undefined;
    for (const t of this.#timers) if (min === undefined || t.dueAt < min) min = t.dueAt;
    return min;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.dueAt > target) break;
      this.#timers.delete(next);
      this.#now = Math.max(this.#now, next.dueAt);
      next.fn();
      await settle();
    }
    this.#now = target;
    await settle();
  }

  /** Advances in steps until `done()` holds or `maxMs` have passed; returns whether it held. */
  async advanceUntil(done: () => boolean, maxMs: number, stepMs = 100): Promise<boolean> {
    const limit = this.#now + maxMs;
    while (!done()) {
      if (this.#now >= limit) return false;
      await this.advance(Math.min(stepMs, limit - this.#now));
    }
    return true;
  }

  #earliest(): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.#timers) {
      if (best === undefined || t.dueAt < best.dueAt || (t.dueAt === best.dueAt && t.seq < best.seq)) best = t;
    }
    return best;
  }
}

/** Lets pending promise callbacks run (a few macrotask turns). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
