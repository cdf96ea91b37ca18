import { describe, expect, it } from 'vitest';
import { clientIdForMac, clientIdForName } from '../messages.js';
import { longLivedBytes } from './long-lived.js';

describe('long-lived bytes', () => {
  it('packs small values into one slab of their own, apart from Node’s pool of short-lived buffers', () => {
    const a = longLivedBytes(7);
    const b = longLivedBytes(7);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + 7);
    // Node's pool is where packets and journal records come from: a lease's bytes must not pin it.
    const shortLived = Buffer.allocUnsafe(7);
    expect(a.buffer).not.toBe(shortLived.buffer);
  });

  it('starts a new slab when the current one is full, leaving earlier values intact', () => {
    const first = longLivedBytes(3);
    first.set([1, 2, 3]);
    for (let i = 0; i < 20_000; i++) longLivedBytes(7);
    const later = longLivedBytes(3);
    later.set([9, 9, 9]);
    expect(later.buffer).not.toBe(first.buffer);
    expect([...first]).toEqual([1, 2, 3]);
  });

  it('gives a large value a buffer of its own', () => {
    const big = longLivedBytes(1000);
    expect(big.byteOffset).toBe(0);
    expect(big.buffer.byteLength).toBe(1000);
  });

  it('is where client ids live', () => {
    const mac = clientIdForMac('02:42:ac:11:00:02');
    expect([...mac]).toEqual([1, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
    expect(mac.buffer).not.toBe(Buffer.allocUnsafe(7).buffer);
    expect(clientIdForName('host/web').buffer.byteLength).toBeGreaterThan(1000);
  });
});
