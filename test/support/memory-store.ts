/** A `LeaseStore` in memory for unit tests: records every save, and can be made to fail. */
import type { Lease } from '../../src/lease/lease.js';
import { StoreError, type LeaseStore, type PoolRecord } from '../../src/lease/store.js';

export class MemoryStore implements LeaseStore {
  saved: Lease[][] = [];
  pools: PoolRecord[] = [];
  fail = false;
  async load() {
    return { leases: [], pools: [], problems: [] };
  }
  setPools(pools: readonly PoolRecord[]) {
    this.pools = [...pools];
  }
  async save(leases: readonly Lease[]) {
    if (this.fail) throw new StoreError('cannot save lease table /x: EROFS: read-only file system');
    this.saved.push([...leases]);
  }
  /** What the last save wrote: [id, ip] pairs. */
  lastSaved(): Array<[string, string]> {
    return (this.saved.at(-1) ?? []).map((l) => [l.id, l.ip]);
  }
}
