import { describe, expect, it } from 'vitest';
import type { LeaseState } from '../lease/state.js';
import { assessHealth } from './health.js';

const states = (s: Partial<Record<LeaseState, number>> = {}): Record<LeaseState, number> => ({
  SELECTING: 0,
  REQUESTING: 0,
  BOUND: 0,
  RENEWING: 0,
  REBINDING: 0,
  EXPIRED: 0,
  REBOOTING: 0,
  RELEASED: 0,
  ...s,
});
const T = Date.UTC(2026, 0, 1);

describe('assessHealth', () => {
  it.each([
    {
      desc: 'a fresh daemon that has sent nothing',
      input: { unansweredSinceReply: 0, lastReplyAt: undefined, lastUnansweredAt: undefined, leasesByState: states() },
      healthy: true,
    },
    {
      desc: 'leases renewing and rebinding, the server answering',
      input: { unansweredSinceReply: 0, lastReplyAt: T, lastUnansweredAt: T - 1, leasesByState: states({ BOUND: 5, RENEWING: 1, REBINDING: 1 }) },
      healthy: true,
    },
    {
      desc: 'a server that never answered',
      input: { unansweredSinceReply: 1, lastReplyAt: undefined, lastUnansweredAt: T, leasesByState: states() },
      healthy: false,
      want: /the DHCP server is not answering: 1 exchange got no reply \(the last at 2026-01-01T00:00:00.000Z\) and it has never replied/,
    },
    {
      desc: 'a server silent since its last reply',
      input: { unansweredSinceReply: 3, lastReplyAt: T - 60_000, lastUnansweredAt: T, leasesByState: states({ BOUND: 2 }) },
      healthy: false,
      want: /3 exchanges got no reply .* its last reply was at 2025-12-31T23:59:00.000Z/,
    },
    {
      desc: 'an expired lease',
      input: { unansweredSinceReply: 0, lastReplyAt: T, lastUnansweredAt: undefined, leasesByState: states({ BOUND: 2, EXPIRED: 1 }) },
      healthy: false,
      want: /^1 lease is EXPIRED or REBOOTING: its container uses an address/,
    },
    {
      desc: 'leases being asked back after a NAK',
      input: { unansweredSinceReply: 0, lastReplyAt: T, lastUnansweredAt: undefined, leasesByState: states({ REBOOTING: 2 }) },
      healthy: false,
      want: /^2 leases are EXPIRED or REBOOTING: their containers/,
    },
  ])('$desc', ({ input, healthy, want }) => {
    const h = assessHealth(input);
    expect(h.healthy).toBe(healthy);
    if (want === undefined) expect(h.problems).toEqual([]);
    else expect(h.problems.join('\n')).toMatch(want);
  });
});
