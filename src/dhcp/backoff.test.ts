import { describe, expect, it } from 'vitest';
import { doublingDelayMs, nextLeaseRetryAt, recoveryDelayMs, rfcBackoff } from './backoff.js';

function take(it: Iterator<number>, n: number): number[] {
  return Array.from({ length: n }, () => it.next().value as number);
}

describe('rfcBackoff', () => {
  it('is 4, 8, 16, 32, 64, 64 s without fuzz', () => {
    expect(
      take(
        rfcBackoff(() => 0.5),
        7,
      ),
    ).toEqual([4000, 8000, 16000, 32000, 64000, 64000, 64000]);
  });

  it('fuzzes each delay by ±1 s', () => {
    expect(
      take(
        rfcBackoff(() => 0),
        3,
      ),
    ).toEqual([3000, 7000, 15000]);
    const high = take(
      rfcBackoff(() => 0.999),
      2,
    );
    expect(high[0]).toBeCloseTo(4998, 0);
    expect(high[1]).toBeCloseTo(8998, 0);
  });

  it('starts from a lower first delay when asked', () => {
    expect(
      take(
        rfcBackoff(() => 0.5, 500),
        3,
      ).map((v) => Math.max(0, v)),
    ).toEqual([500, 1000, 2000]);
  });
});

describe('nextLeaseRetryAt', () => {
  it('waits half the time left', () => {
    expect(nextLeaseRetryAt(0, 400_000)).toBe(200_000);
  });
  it('waits at least the minimum', () => {
    expect(nextLeaseRetryAt(0, 100_000)).toBe(60_000);
  });
  it('never waits past the deadline', () => {
    expect(nextLeaseRetryAt(0, 30_000)).toBe(30_000);
    expect(nextLeaseRetryAt(50, 10)).toBe(10);
  });
});

describe('doublingDelayMs', () => {
  it('starts at the initial delay, doubles per attempt, stops at the cap; a negative attempt is the first', () => {
    expect([-1, 0, 1, 2, 3, 1000].map((n) => doublingDelayMs(n, 10, 40))).toEqual([10, 10, 20, 40, 40, 40]);
  });
});

describe('recoveryDelayMs', () => {
  it('doubles up to the cap with ±25 % jitter', () => {
    expect([0, 1, 2, 3, 10].map((n) => recoveryDelayMs(n, () => 0.5, 1000, 5000))).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(recoveryDelayMs(0, () => 0, 1000, 5000)).toBe(750);
  });
});

describe('nextLeaseRetryAt for long and infinite leases', () => {
  it('retries at least once a day', () => {
    expect(nextLeaseRetryAt(0, Infinity)).toBe(86_400_000);
    expect(nextLeaseRetryAt(0, 30 * 86_400_000)).toBe(86_400_000);
  });
});
