import { describe, expect, it } from 'vitest';
import { ServerList } from './server-list.js';

describe('ServerList', () => {
  it('prefers the first server and moves on, once, when the preferred one is silent', () => {
    const list = new ServerList(['a', 'b', 'c']);
    expect(list.preferred).toBe('a');
    list.noAnswer('a');
    expect(list.preferred).toBe('b');
    // Late silences from a server already passed over (other transactions in flight) change nothing.
    list.noAnswer('a');
    list.noAnswer('a');
    expect(list.preferred).toBe('b');
    list.noAnswer('b');
    list.noAnswer('c');
    expect(list.preferred).toBe('a');
  });

  it('stays on a single server', () => {
    const list = new ServerList(['a']);
    list.noAnswer('a');
    expect(list.preferred).toBe('a');
    expect(list.all).toEqual(['a']);
    expect(() => new ServerList([])).toThrow(RangeError);
  });
});
