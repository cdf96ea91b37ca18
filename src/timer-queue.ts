/**
 * Many timers on one: a binary heap of due times, with a single timer of the underlying clock
 * armed for the earliest. Node's own timers cost about 250 bytes each when their delays are all
 * different (a timer, a list per distinct delay and its closures), which is what one timer per
 * held lease is: 12 MB at 50,000 leases. Here a timer is one small object.
 *
 * Timers fire in due order (then in the order they were set). A firing runs at most `batch`
 * callbacks and leaves the rest to a following turn of the event loop, so a wave of timers
 * falling due together never holds the loop for long; timers set by a callback never run in the
 * same turn.
 */
import type { Clock, TimerHandle } from './clock.js';

class QueuedTimer implements TimerHandle {
  /** Position in the heap; -1 once fired or cleared. */
  index = -1;

  constructor(
    readonly dueAt: number,
    readonly seq: number,
    readonly fn: () => void,
  ) {}
}

/**
 * Callbacks run in one turn of the event loop at most (default). A lease step starting costs
 * about 0.3 ms, and a millisecond before V8 has compiled it (just after a start, when the
 * leases that fell due while the daemon was down come together): 32 keep a turn within the
 * event-loop target, and 32 a millisecond is still far above what the sender lets out.
 */
const DEFAULT_BATCH = 32;

export class TimerQueue implements Clock {
  readonly #clock: Clock;
  readonly #batch: number;
  readonly #heap: QueuedTimer[] = [];
  #seq = 0;
  /** The underlying clock's timer, and the due time it was armed for. */
  #armed: TimerHandle | undefined;
  #armedFor = Infinity;

  constructor(clock: Clock, batch = DEFAULT_BATCH) {
    this.#clock = clock;
    this.#batch = batch;
  }

  /** Timers set and not yet fired or cleared. */
  get size(): number {
    return this.#heap.length;
  }

  now(): number {
    return this.#clock.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = new QueuedTimer(this.#clock.now() + Math.max(0, ms), this.#seq++, fn);
    timer.index = this.#heap.length;
    this.#heap.push(timer);
    this.#up(timer.index);
    if (timer.dueAt < this.#armedFor) this.#arm();
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    if (!(handle instanceof QueuedTimer) || handle.index < 0) return;
    this.#removeAt(handle.index);
    // An earlier arming than needed only fires once for nothing; none at all is left armed.
    if (this.#heap.length === 0) this.#disarm();
  }

  #fire(): void {
    this.#armed = undefined;
    this.#armedFor = Infinity;
    const now = this.#clock.now();
    // Timers set from here on (by the callbacks) wait for a later turn.
    const setBefore = this.#seq;
    let ran = 0;
    try {
      for (;;) {
        const top = this.#heap[0];
        if (top === undefined || top.dueAt > now || top.seq >= setBefore) break;
        if (ran === this.#batch) break;
        this.#removeAt(0);
        ran++;
        top.fn();
      }
    } finally {
      this.#arm();
    }
  }

  #arm(): void {
    const top = this.#heap[0];
    if (top === undefined) {
      this.#disarm();
      return;
    }
    if (this.#armed !== undefined && top.dueAt >= this.#armedFor) return;
    this.#disarm();
    this.#armedFor = top.dueAt;
    this.#armed = this.#clock.setTimeout(() => this.#fire(), top.dueAt - this.#clock.now());
  }

  #disarm(): void {
    if (this.#armed !== undefined) this.#clock.clearTimeout(this.#armed);
    this.#armed = undefined;
    this.#armedFor = Infinity;
  }

  #removeAt(i: number): void {
    const heap = this.#heap;
    const removed = heap[i] as QueuedTimer;
    const last = heap.pop() as QueuedTimer;
    removed.index = -1;
    if (last === removed) return;
    heap[i] = last;
    last.index = i;
    this.#down(i);
    this.#up(last.index);
  }

  #before(a: QueuedTimer, b: QueuedTimer): boolean {
    return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq);
  }

  #up(i: number): void {
    const heap = this.#heap;
    const t = heap[i] as QueuedTimer;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p] as QueuedTimer;
      if (!this.#before(t, parent)) break;
      heap[i] = parent;
      parent.index = i;
      i = p;
    }
    heap[i] = t;
    t.index = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const t = heap[i] as QueuedTimer;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#before(heap[r] as QueuedTimer, heap[l] as QueuedTimer) ? r : l;
      const child = heap[c] as QueuedTimer;
      if (!this.#before(child, t)) break;
      heap[i] = child;
      child.index = i;
      i = c;
    }
    heap[i] = t;
    t.index = i;
  }
}
