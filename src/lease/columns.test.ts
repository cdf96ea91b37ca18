import { describe, expect, it } from 'vitest';
import { NumberColumns } from './columns.js';

describe('NumberColumns', () => {
  it('hands out rows of its width, grows when full and keeps what the rows hold', () => {
    const cols = new NumberColumns(3, 2);
    const rows = [cols.alloc(), cols.alloc(), cols.alloc()];
    expect(rows).toEqual([0, 3, 6]);
    expect(cols.data.length).toBeGreaterThanOrEqual(9);
    for (const [i, r] of rows.entries()) cols.data.set([i, i + 0.5, Number.NaN], r);
    const more = Array.from({ length: 100 }, () => cols.alloc());
    expect(new Set([...rows, ...more]).size).toBe(103);
    expect(Array.from(cols.data.subarray(3, 6))).toEqual([1, 1.5, Number.NaN]);
    expect(cols.rows).toBe(103);
  });

  it('reuses a freed row before growing', () => {
    const cols = new NumberColumns(2, 4);
    const a = cols.alloc();
    cols.alloc();
    cols.free(a);
    expect(cols.rows).toBe(1);
    expect(cols.alloc()).toBe(a);
    expect(cols.rows).toBe(2);
  });

  it('refuses a width that is not a positive integer', () => {
    expect(() => new NumberColumns(0)).toThrow(RangeError);
    expect(() => new NumberColumns(1.5)).toThrow(RangeError);
  });
});
