import { describe, expect, it } from 'vitest';
import type { Binding } from '../dhcp/binding.js';
import { leaseTimes } from './lease.js';

const base: Binding = { ip: '10.0.0.5', serverId: '10.0.0.1', requestedAt: 1_000_000, leaseTimeSeconds: 600, xid: 1 };
const noFuzz = (): number => 0.5;

describe('leaseTimes', () => {
  it('defaults T1 and T2 to 0.5 and 0.875 of the lease, counted from the REQUEST', () => {
    expect(leaseTimes(base, noFuzz)).toEqual({ renewAt: 1_300_000, rebindAt: 1_525_000, expiresAt: 1_600_000 });
  });

  it('uses the server T1/T2 when sane', () => {
    expect(leaseTimes({ ...base, renewalTimeSeconds: 100, rebindingTimeSeconds: 200 }, noFuzz)).toEqual({
      renewAt: 1_100_000,
      rebindAt: 1_200_000,
      expiresAt: 1_600_000,
    });
  });

  it.each([
    { desc: 'T2 beyond the lease', t1: 100, t2: 700, want: { renewAt: 1_100_000, rebindAt: 1_525_000 } },
    { desc: 'T1 after T2', t1: 550, t2: 500, want: { renewAt: 1_300_000, rebindAt: 1_500_000 } },
    { desc: 'zero T1', t1: 0, t2: 500, want: { renewAt: 1_300_000, rebindAt: 1_500_000 } },
  ])('falls back to the defaults for $desc', ({ t1, t2, want }) => {
    expect(leaseTimes({ ...base, renewalTimeSeconds: t1, rebindingTimeSeconds: t2 }, noFuzz)).toMatchObject(want);
  });

  it('renews before a server T2 that comes before half the lease', () => {
    const t = leaseTimes({ ...base, rebindingTimeSeconds: 175 }, noFuzz);
    expect(t).toEqual({ renewAt: 1_100_000, rebindAt: 1_175_000, expiresAt: 1_600_000 });
  });

  it('fuzzes T1 by a fraction of the lease and keeps start < T1 < T2 < expiry even for tiny leases', () => {
    for (const r of [0, 0.999999]) {
      const t = leaseTimes(base, () => r);
      // ±10 % of a 600 s lease around T1 = 300 s; T2 moves by at most ±2.5 %.
      expect(Math.abs((t.renewAt as number) - 1_300_000)).toBeGreaterThan(50_000);
      expect(Math.abs((t.renewAt as number) - 1_300_000)).toBeLessThanOrEqual(60_000);
      expect(Math.abs((t.rebindAt as number) - 1_525_000)).toBeLessThanOrEqual(15_000);
      for (const leaseTimeSeconds of [2, 3, 60]) {
        const tiny = leaseTimes({ ...base, leaseTimeSeconds }, () => r);
        expect(base.requestedAt).toBeLessThan(tiny.renewAt as number);
        expect(tiny.renewAt as number).toBeLessThan(tiny.rebindAt as number);
        expect(tiny.rebindAt as number).toBeLessThan(tiny.expiresAt as number);
      }
      const server = leaseTimes({ ...base, renewalTimeSeconds: 100, rebindingTimeSeconds: 200 }, () => r);
      expect(server.renewAt as number).toBeGreaterThan(base.requestedAt);
      expect(server.renewAt as number).toBeLessThan(server.rebindAt as number);
      expect(server.rebindAt as number).toBeLessThan(1_600_000);
    }
  });

  it('spreads the T1s of leases acquired in one burst across a fifth of the lease', () => {
    let seed = 1;
    const random = (): number => {
      seed = (seed * 16807) % 2147483647;
      return (seed - 1) / 2147483646;
    };
    const t1s = Array.from(
      { length: 3_000 },
      (_, i) => leaseTimes({ ...base, leaseTimeSeconds: 3_600, requestedAt: base.requestedAt + i }, random).renewAt as number,
    );
    expect(Math.max(...t1s) - Math.min(...t1s)).toBeGreaterThan(0.18 * 3_600_000);
  });

  it.each([
    { desc: 'an infinite lease', leaseTimeSeconds: 0xffffffff, expiresAt: null },
    { desc: 'a 10-year lease', leaseTimeSeconds: 315_360_000, expiresAt: 1_000_000 + 315_360_000_000 },
  ])('renews $desc within a day, and rebinds before two', ({ leaseTimeSeconds, expiresAt }) => {
    for (const r of [0, 0.5, 0.999999]) {
      const t = leaseTimes({ ...base, leaseTimeSeconds }, () => r);
      expect(t.expiresAt).toBe(expiresAt);
      expect(t.renewAt as number).toBeGreaterThan(base.requestedAt + 12 * 3_600_000);
      expect(t.renewAt as number).toBeLessThanOrEqual(base.requestedAt + 86_400_000);
      expect(t.rebindAt as number).toBeGreaterThan(t.renewAt as number);
      expect(t.rebindAt as number).toBeLessThanOrEqual(base.requestedAt + 2 * 86_400_000);
    }
  });

  it('caps a server T1 of a week at a day, keeping its T2 order', () => {
    const t = leaseTimes({ ...base, leaseTimeSeconds: 30 * 86_400, renewalTimeSeconds: 7 * 86_400, rebindingTimeSeconds: 8 * 86_400 }, noFuzz);
    expect(t.renewAt as number).toBeLessThanOrEqual(base.requestedAt + 86_400_000);
    expect(t.rebindAt as number).toBeGreaterThan(t.renewAt as number);
    expect(t.expiresAt).toBe(base.requestedAt + 30 * 86_400_000);
  });
});
