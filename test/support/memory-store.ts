/** A `LeaseStore` in memory for unit tests: records every durable write, and can be made to fail. */
import type { Lease } from '../../src/lease/lease.js';
import { StoreError, type LeaseStore, type PoolRecord } from '../../src/lease/store.js';

export class MemoryStore implements LeaseStore {
  /** The table after each write someone waited on (put, delete), oldest first. */
  saved: Lease[][] = [];
  pools: PoolRecord[] = [];
  /** Every record, in order: ['put' | 'soon' | 'delete', id]. */
  records: Array<[string, string]> = [];
  fail = false;
  /** What `idle` says: a test sets false to stand for a store busy with a commit. */
  idle = true;
  /** What `compactions` says: a test raises it to stand for a compaction begun. */
  compactions = 0;
  readonly #table = new Map<string, Lease>();
  #held: Promise<void> | undefined;

  /** Durable writes stay unfinished (recorded, not resolved) until the function returned is called. */
  holdWrites(): () => void {
    let release = (): void => undefined;
    this.#held = new Promise((resolve) => (release = resolve));
    return () => {
      this.#held = undefined;
      release();
    };
  }
  async load() {
    return { leases: [], pools: [], problems: [] };
  }
  async setPools(pools: readonly PoolRecord[]) {
    this.#check();
    this.pools = pools.map((p) => ({ id: p.id, reserved: [...p.reserved] }));
  }
  async put(lease: Lease) {
    this.#check();
    this.records.push(['put', lease.id]);
    this.#table.set(lease.id, { ...lease });
    this.saved.push([...this.#table.values()]);
    await this.#held;
  }
  putSoon(lease: Lease) {
    this.records.push(['soon', lease.id]);
    this.#table.set(lease.id, { ...lease });
  }
  async delete(id: string) {
    this.#check();
    this.records.push(['delete', id]);
    this.#table.delete(id);
    this.saved.push([...this.#table.values()]);
    await this.#held;
  }
  async flush() {}
  async close() {}
  /** The table as recorded now: [id, ip] pairs. */
  lastSaved(): Array<[string, string]> {
    return [...this.#table.values()].map((l) => [l.id, l.ip]);
  }
  #check(): void {
    if (this.fail) throw new StoreError('cannot save lease table /x: EROFS: read-only file system');
  }
}
