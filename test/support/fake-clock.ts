/**
 * A `Clock` whose time moves only when a test says so. `advance(ms)` fires due timers in time
 * order and lets promise chains settle after each one, so code that awaits sleeps and replies
 * runs as it would in real time, without sleeping.
 *
 * Timers sit in a binary heap (cancelled ones are skipped when they reach the top), so tests
 * with tens of thousands of leases stay fast.
 */
import type { Clock, TimerHandle } from '../../src/clock.js';

interface Timer {
  dueAt: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #live = 0;
  readonly #heap: Timer[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { dueAt: this.#now + Math.max(0, ms), seq: this.#seq++, fn, live: true };
    this.#push(timer);
    this.#live++;
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = handle as Timer;
    if (!timer.live) return;
    timer.live = false;
    this.#live--;
  }

  /** Number of armed timers. */
  get pending(): number {
    return this.#live;
  }

  /** Earliest armed timer's due time, if any. */
  nextDueAt(): number | undefined {
    return this.#earliest()?.dueAt;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await settle();
    let backToBack = 0;
    for (;;) {
      const next = this.#earliest();
      if (next === undefined || next.dueAt > target) break;
      this.#pop();
      next.live = false;
      this.#live--;
      this.#now = Math.max(this.#now, next.dueAt);
      next.fn();
      // Timers due at the same instant fire back to back and the chains they start settle once
      // that instant is done, as in a real event loop; now and then anyway, so code that keeps
      // re-arming a timer for "now" cannot starve the promises it waits for.
      const after = this.#earliest();
      if (after === undefined || after.dueAt !== this.#now || ++backToBack % 256 === 0) await settle();
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

  /** The earliest live timer, dropping cancelled ones from the top of the heap. */
  #earliest(): Timer | undefined {
    while (this.#heap.length > 0 && !(this.#heap[0] as Timer).live) this.#pop();
    return this.#heap[0];
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(t, h[parent] as Timer)) break;
      h[i] = h[parent] as Timer;
      i = parent;
    }
    h[i] = t;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && before(h[r] as Timer, h[l] as Timer) ? r : l;
      if (!before(h[child] as Timer, last)) break;
      h[i] = h[child] as Timer;
      i = child;
    }
    h[i] = last;
  }
}

function before(a: Timer, b: Timer): boolean {
  return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq);
}

/** Lets pending promise callbacks run (a few macrotask turns). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
