import { describe, expect, it } from 'vitest';
import { assertTransition, IllegalTransitionError, nextStep, TRANSITIONS, type LeaseState, type Timed } from './state.js';

const T0 = 1_000_000;
const timers = { renewAt: T0 + 300_000, rebindAt: T0 + 525_000, expiresAt: T0 + 600_000 };
const lease = (state: LeaseState, retryAt: number | null = null): Timed => ({ state, ...timers, retryAt });

describe('nextStep', () => {
  it.each([
    { desc: 'BOUND before T1 waits for T1', l: lease('BOUND'), now: T0, want: { action: 'wait', wakeAt: timers.renewAt } },
    { desc: 'BOUND at T1 renews', l: lease('BOUND'), now: timers.renewAt, want: { action: 'renew', wakeAt: null } },
    { desc: 'BOUND past T2 (host slept) rebinds', l: lease('BOUND'), now: timers.rebindAt + 1, want: { action: 'rebind', wakeAt: null } },
    { desc: 'BOUND past expiry expires', l: lease('BOUND'), now: timers.expiresAt, want: { action: 'expire', wakeAt: null } },
    { desc: 'RENEWING waits for its retry', l: lease('RENEWING', T0 + 400_000), now: T0 + 310_000, want: { action: 'wait', wakeAt: T0 + 400_000 } },
    { desc: 'RENEWING retries when due', l: lease('RENEWING', T0 + 400_000), now: T0 + 400_000, want: { action: 'renew', wakeAt: null } },
    { desc: 'RENEWING never waits past T2', l: lease('RENEWING', T0 + 590_000), now: T0 + 400_000, want: { action: 'wait', wakeAt: timers.rebindAt } },
    { desc: 'RENEWING at T2 rebinds', l: lease('RENEWING', T0 + 590_000), now: timers.rebindAt, want: { action: 'rebind', wakeAt: null } },
    { desc: 'REBINDING waits for its retry', l: lease('REBINDING', T0 + 560_000), now: T0 + 530_000, want: { action: 'wait', wakeAt: T0 + 560_000 } },
    { desc: 'REBINDING at expiry expires', l: lease('REBINDING', T0 + 700_000), now: timers.expiresAt, want: { action: 'expire', wakeAt: null } },
    { desc: 'EXPIRED reboots when its retry is due', l: lease('EXPIRED', T0 + 610_000), now: T0 + 610_000, want: { action: 'reboot', wakeAt: null } },
    { desc: 'EXPIRED waits for its retry', l: lease('EXPIRED', T0 + 610_000), now: T0 + 605_000, want: { action: 'wait', wakeAt: T0 + 610_000 } },
    { desc: 'REBOOTING with no retry time reboots', l: lease('REBOOTING'), now: T0, want: { action: 'reboot', wakeAt: null } },
    { desc: 'RELEASED does nothing', l: lease('RELEASED'), now: timers.expiresAt + 1, want: { action: 'wait', wakeAt: null } },
    { desc: 'SELECTING is driven by the client', l: lease('SELECTING'), now: T0, want: { action: 'wait', wakeAt: null } },
  ])('$desc', ({ l, now, want }) => {
    expect(nextStep(l, now)).toEqual(want);
  });

  it('an infinite lease never wakes up', () => {
    expect(nextStep({ state: 'BOUND', renewAt: null, rebindAt: null, expiresAt: null, retryAt: null }, Number.MAX_SAFE_INTEGER)).toEqual({
      action: 'wait',
      wakeAt: null,
    });
  });
});

describe('TRANSITIONS', () => {
  it('follows RFC 2131 Figure 5 for the happy path', () => {
    const path: LeaseState[] = ['SELECTING', 'REQUESTING', 'BOUND', 'RENEWING', 'REBINDING', 'EXPIRED', 'REBOOTING', 'BOUND', 'RELEASED'];
    for (let i = 1; i < path.length; i++) expect(() => assertTransition(path[i - 1] as LeaseState, path[i] as LeaseState)).not.toThrow();
  });

  it('names both states of an illegal transition', () => {
    expect(() => assertTransition('RELEASED', 'BOUND')).toThrow(new IllegalTransitionError('RELEASED', 'BOUND'));
    expect(() => assertTransition('EXPIRED', 'RENEWING')).toThrow(/illegal lease transition EXPIRED -> RENEWING/);
  });

  it('RELEASED is final', () => {
    expect(TRANSITIONS.RELEASED).toEqual([]);
  });
});
