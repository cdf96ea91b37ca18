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

  it('fuzzes by at most ±1 s and keeps start < T1 < T2 < expiry even for tiny leases', () => {
    for (const r of [0, 0.999999]) {
      const t = leaseTimes(base, () => r);
      expect(Math.abs((t.renewAt as number) - 1_300_000)).toBeLessThanOrEqual(1000);
      expect(Math.abs((t.rebindAt as number) - 1_525_000)).toBeLessThanOrEqual(1000);
      const tiny = leaseTimes({ ...base, leaseTimeSeconds: 2 }, () => r);
      expect(base.requestedAt).toBeLessThan(tiny.renewAt as number);
      expect(tiny.renewAt as number).toBeLessThan(tiny.rebindAt as number);
      expect(tiny.rebindAt as number).toBeLessThan(tiny.expiresAt as number);
    }
  });

  it('has no timers for an infinite lease', () => {
    expect(leaseTimes({ ...base, leaseTimeSeconds: 0xffffffff }, noFuzz)).toEqual({ renewAt: null, rebindAt: null, expiresAt: null });
  });
});
