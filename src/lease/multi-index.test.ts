import { describe, expect, it } from 'vitest';
import { MultiIndex } from './multi-index.js';

describe('MultiIndex', () => {
  it('keeps one id or several per key, and forgets a key once its last id goes', () => {
    const idx = new MultiIndex();
    expect([...idx.get('10.0.0.5')]).toEqual([]);
    idx.add('10.0.0.5', 'a');
    idx.add('10.0.0.5', 'a');
    expect([...idx.get('10.0.0.5')]).toEqual(['a']);
    idx.add('10.0.0.5', 'b');
    idx.add('10.0.0.5', 'c');
    expect([...idx.get('10.0.0.5')].sort()).toEqual(['a', 'b', 'c']);
    idx.remove('10.0.0.5', 'b');
    idx.remove('10.0.0.5', 'x');
    expect([...idx.get('10.0.0.5')].sort()).toEqual(['a', 'c']);
    idx.remove('10.0.0.5', 'a');
    expect([...idx.get('10.0.0.5')]).toEqual(['c']);
    idx.add('10.0.0.5', 'd');
    expect([...idx.get('10.0.0.5')].sort()).toEqual(['c', 'd']);
    idx.remove('10.0.0.5', 'c');
    idx.remove('10.0.0.5', 'd');
    expect(idx.has('10.0.0.5')).toBe(false);
    idx.add('k', 'only');
    idx.remove('k', 'other');
    expect(idx.has('k')).toBe(true);
    idx.remove('k', 'only');
    expect(idx.has('k')).toBe(false);
  });
});
