/**
 * Many timers on one: a binary heap of items by due time, with a single timer of the underlying
 * clock armed for the earliest. Node's own timers cost about 250 bytes each when their delays
 * are all different (a timer, a list per distinct delay and its closures), which is what one
 * timer per held lease is: 12 MB at 50,000 leases. A closure per timer (and the context it
 * captures) still cost about 180 bytes a lease, 9 MB at 50,000: so the queue holds the items
 * themselves, which carry their place in it (`Queued`), and calls one function with the item
 * that fell due. Each item's due time and sequence sit beside it in two Float64Arrays, by its
 * place in the heap: an epoch-ms time in a field of the item was a heap object of its own, and
 * read through accessors (from a typed array the item kept it in) the heap's comparisons made
 * a start-up with 50,000 leases 8–19 % slower (it restores them before V8 has compiled this).
 *
 * Items fall due in due order (then in the order they were set). A firing hands out at most
 * `batch` items and leaves the rest to a following turn of the event loop, so a wave of timers
 * falling due together never holds the loop for long; an item set again by the callback never
 * falls due in the same turn.
 */
import type { Clock, TimerHandle } from './clock.js';
import { doubled } from './typed-arrays.js';

/** The field the queue keeps on an item it holds; only the queue writes it. */
export interface Queued {
  /** Position in the heap; -1 when the item is not queued. */
  queueIndex: number;
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
  /** Due time and sequence of `#heap[i]` at `i`: the order is due time, then sequence. */
  #due = new Float64Array(64);
  #seqs = new Float64Array(64);
  /** Order among items due at the same time, and the turn an item was set in. */
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
    const at = this.#clock.now() + Math.max(0, ms);
    const i = this.#heap.length;
    if (i === this.#due.length) this.#grow();
    this.#heap.push(item);
    this.#due[i] = at;
    this.#seqs[i] = this.#seq++;
    item.queueIndex = i;
    this.#up(i);
    if (at < this.#armedFor) this.#arm();
  }

  /** Takes `item` out of the queue; nothing happens if it is not queued. */
  clear(item: T): void {
    if (item.queueIndex < 0 || this.#heap[item.queueIndex] !== item) return;
    this.#removeAt(item.queueIndex);
    // An earlier arming than needed only fires once for nothing; none at all is left armed.
    if (this.#heap.length === 0) this.#disarm();
  }

  #grow(): void {
    this.#due = doubled(this.#due);
    this.#seqs = doubled(this.#seqs);
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
        if (top === undefined || (this.#due[0] as number) > now || (this.#seqs[0] as number) >= setBefore) break;
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
    if (this.#heap.length === 0) {
      this.#disarm();
      return;
    }
    const at = this.#due[0] as number;
    if (this.#armed !== undefined && at >= this.#armedFor) return;
    this.#disarm();
    this.#armedFor = at;
    this.#armed = this.#clock.setTimeout(() => this.#fire(), at - this.#clock.now());
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
    const n = heap.length;
    heap[i] = last;
    this.#due[i] = this.#due[n] as number;
    this.#seqs[i] = this.#seqs[n] as number;
    last.queueIndex = i;
    this.#down(i);
    this.#up(last.queueIndex);
  }

  /** Whether the item at `i` comes before the one due at `due` with sequence `seq`. */
  #before(i: number, due: number, seq: number): boolean {
    const d = this.#due[i] as number;
    return d < due || (d === due && (this.#seqs[i] as number) < seq);
  }

  /** Puts `item`, due at `due` with sequence `seq`, at heap position `i`. */
  #place(i: number, item: T, due: number, seq: number): void {
    this.#heap[i] = item;
    this.#due[i] = due;
    this.#seqs[i] = seq;
    item.queueIndex = i;
  }

  #up(i: number): void {
    const heap = this.#heap;
    const t = heap[i] as T;
    const due = this.#due[i] as number;
    const seq = this.#seqs[i] as number;
    while (i > 0) {
      const p = (i - 1) >> 1;
      // Unique sequences: `t` goes before its parent unless the parent goes before it.
      if (this.#before(p, due, seq)) break;
      this.#place(i, heap[p] as T, this.#due[p] as number, this.#seqs[p] as number);
      i = p;
    }
    this.#place(i, t, due, seq);
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const t = heap[i] as T;
    const due = this.#due[i] as number;
    const seq = this.#seqs[i] as number;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.#before(r, this.#due[l] as number, this.#seqs[l] as number) ? r : l;
      if (!this.#before(c, due, seq)) break;
      this.#place(i, heap[c] as T, this.#due[c] as number, this.#seqs[c] as number);
      i = c;
    }
    this.#place(i, t, due, seq);
  }
}
