import { doubled } from '../typed-arrays.js';

/**
 * The numbers of many entries in one Float64Array: a row of `width` numbers per entry, in rows
 * handed out and taken back (`alloc`, `free`).
 *
 * Why: V8 keeps every number that is not a small integer (a time in epoch ms, a transaction id
 * above 2^31, NaN) in a heap object of its own, 16 bytes, behind an 8-byte field. A lease held
 * such numbers in fields (its deadlines, its start, its transaction, its place in the timer
 * queue, when it was handed out): 7.6 heap numbers a lease in a heap snapshot, 2.4 MB at 20,000
 * leases, and as many objects for every full collection to visit. In a typed array they are 8
 * bytes each, outside the collected heap, and nothing there is visited. The same holds for what
 * would otherwise be a string per lease and a number (the address, the MAC: `Entry`).
 *
 * Rows are reused: `free` puts a row back for the next `alloc`. An entry must therefore stop
 * reading its row once it is freed (see `Entry.detach`), or it would read another entry's.
 */
export class NumberColumns {
  readonly width: number;
  /** The rows; replaced by a larger copy when full, so read it through this field each time. */
  data: Float64Array<ArrayBuffer>;
  #next = 0;
  readonly #free: number[] = [];

  constructor(width: number, initialRows = 64) {
    if (!Number.isInteger(width) || width < 1) throw new RangeError(`NumberColumns: width must be a positive integer, got ${width}`);
    this.width = width;
    this.data = new Float64Array(width * Math.max(1, initialRows));
  }

  /** Rows in use. */
  get rows(): number {
    return this.#next - this.#free.length;
  }

  /** A row's offset in `data`: its numbers are `data[offset]` … `data[offset + width - 1]`. */
  alloc(): number {
    const reused = this.#free.pop();
    if (reused !== undefined) return reused;
    const offset = this.#next * this.width;
    if (offset + this.width > this.data.length) this.data = doubled(this.data);
    this.#next++;
    return offset;
  }

  /** Gives a row back; whoever held it no longer reads or writes it. */
  free(offset: number): void {
    this.#free.push(offset);
  }
}
