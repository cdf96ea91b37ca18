/**
 * Many timers on one: a binary heap of items by due time, with a single timer of the underlying
 * clock armed for the earliest. Node's own timers cost about 250 bytes each when their delays
 * are all different (a timer, a list per distinct delay and its closures), which is what one
 * timer per held lease is: 12 MB at 50,000 leases. A closure per timer (and the context it
 * captures) still cost about 180 bytes a lease, 9 MB at 50,000: so the queue holds the items
 * themselves, which carry its three fields (`Queued`), and calls one function with the item
 * that fell due.
 *
 * Items fall due in due order (then in the order they were set). A firing hands out at most
 * `batch` items and leaves the rest to a following turn of the event loop, so a wave of timers
 * falling due together never holds the loop for long; an item set again by the callback never
 * falls due in the same turn.
 */
import type { Clock, TimerHandle } from './clock.js';

/** The fields the queue keeps on an item it holds; only the queue writes them. */
export interface Queued {
  /** Position in the heap; -1 when the item is not queued. */
  queueIndex: number;
  queueDueAt: number;
  /** Order among items due at the same time, and the turn the item was set in. */
  queueSeq: number;
}

/**
 * Items handed out in one turn of the event loop at most (default). A lease step starting costs
 * about 0.3 ms, and a millisecond before V8 has compiled it (just after a start, when the
 * leases that fell due while the daemon was down come together): with 32 a turn, a restart at
 * 50,000 leases inside a renewal wave held the loop for up to 28 ms; 8 keep a cold turn within
 * the event-loop target, and 8 a millisecond is still far above what the sender lets out.
 */
const DEFAULT_BATCH = 8;

export class TimerQueue<T extends Queued> {
  readonly #clock: Clock;
  readonly #onDue: (item: T) => void;
  readonly #batch: number;
  readonly #heap: T[] = [];
  #seq = 0;
  /** The underlying clock's timer, and the due time it was armed for. */
  #armed: TimerHandle | undefined;
  #armedFor = Infinity;

  constructor(clock: Clock, onDue: (item: T) => void, batch = DEFAULT_BATCH) {
    this.#clock = clock;
    this.#onDue = onDue;
    this.#batch = batch;
  }

  /** Items queued and not yet due or cleared. */
  get size(): number {
    return this.#heap.length;
  }

  /** Queues `item` to fall due in `ms` (clamped to ≥ 0); an item already queued moves. */
  set(item: T, ms: number): void {
    if (item.queueIndex >= 0) this.#removeAt(item.queueIndex);
    item.queueDueAt = this.#clock.now() + Math.max(0, ms);
    item.queueSeq = this.#seq++;
    item.queueIndex = this.#heap.length;
    this.#heap.push(item);
    this.#up(item.queueIndex);
    if (item.queueDueAt < this.#armedFor) this.#arm();
  }

  /** Takes `item` out of the queue; nothing happens if it is not queued. */
  clear(item: T): void {
    if (item.queueIndex < 0 || this.#heap[item.queueIndex] !== item) return;
    this.#removeAt(item.queueIndex);
    // An earlier arming than needed only fires once for nothing; none at all is left armed.
    if (this.#heap.length === 0) this.#disarm();
  }

  #fire(): void {
    this.#armed = undefined;
    this.#armedFor = Infinity;
    const now = this.#clock.now();
    // Items set from here on (by the callback) wait for a later turn.
    const setBefore = this.#seq;
    let ran = 0;
    try {
      for (;;) {
        const top = this.#heap[0];
        if (top === undefined || top.queueDueAt > now || top.queueSeq >= setBefore) break;
        if (ran === this.#batch) break;
        this.#removeAt(0);
        ran++;
        this.#onDue(top);
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
    if (this.#armed !== undefined && top.queueDueAt >= this.#armedFor) return;
    this.#disarm();
    this.#armedFor = top.queueDueAt;
    this.#armed = this.#clock.setTimeout(() => this.#fire(), top.queueDueAt - this.#clock.now());
  }

  #disarm(): void {
    if (this.#armed !== undefined) this.#clock.clearTimeout(this.#armed);
    this.#armed = undefined;
    this.#armedFor = Infinity;
  }

  #removeAt(i: number): void {
    const heap = this.#heap;
    const removed = heap[i] as T;
    const last = heap.pop() as T;
    removed.queueIndex = -1;
    if (last === removed) return;
    heap[i] = last;
    last.queueIndex = i;
    this.#down(i);
    this.#up(last.queueIndex);
  }

  #before(a: T, b: T): boolean {
    return a.queueDueAt < b.queueDueAt || (a.queueDueAt === b.queueDueAt && a.queueSeq < b.queueSeq);
  }

  #up(i: number): void {
    const heap = this.#heap;
    const t = heap[i] as T;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p] as T;
      if (!this.#before(t, parent)) break;
      heap[i] = parent;
      parent.queueIndex = i;
      i = p;
    }
    heap[i] = t;
    t.queueIndex = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const t = heap[i] as T;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#before(heap[r] as T, heap[l] as T) ? r : l;
      const child = heap[c] as T;
      if (!this.#before(child, t)) break;
      heap[i] = child;
      child.queueIndex = i;
      i = c;
    }
    heap[i] = t;
    t.queueIndex = i;
  }
}
