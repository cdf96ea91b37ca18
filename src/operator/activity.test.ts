import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { NoResponseError } from '../dhcp/errors.js';
import { clientIdForMac } from '../dhcp/messages.js';
import type { LeaseEvent } from '../lease/events.js';
import type { Lease } from '../lease/lease.js';
import { Activity } from './activity.js';

const lease = (n: number): Lease =>
  ({ id: `p#${n}`, ip: `10.0.0.${n}`, identity: { mac: `02:00:00:00:00:0${n}`, clientId: clientIdForMac(`02:00:00:00:00:0${n}`) } }) as Lease;
const event = (type: 'bound' | 'renewed' | 'released' | 'expired', n = 1): LeaseEvent => ({ type, lease: lease(n) }) as LeaseEvent;

describe('Activity', () => {
  it('counts acquisitions, renewals, releases and failures over the last minute only', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1, 12));
    const a = new Activity({ clock });
    a.onLeaseEvent(event('bound'));
    a.onLeaseEvent(event('bound', 2));
    await clock.advance(30_000);
    a.onLeaseEvent(event('renewed'));
    a.onLeaseEvent(event('released', 2));
    a.onPluginError('IpamDriver.RequestAddress', 'no OFFER');
    expect(a.snapshot().lastMinute).toEqual({ acquisitions: 2, renewals: 1, releases: 1, failures: 1 });
    await clock.advance(30_500);
    expect(a.snapshot().lastMinute).toEqual({ acquisitions: 0, renewals: 1, releases: 1, failures: 1 });
    // A bucket reused an hour later starts from zero.
    await clock.advance(3_600_000);
    a.onLeaseEvent(event('renewed'));
    expect(a.snapshot().lastMinute).toEqual({ acquisitions: 0, renewals: 1, releases: 0, failures: 0 });
  });

  it('counts exchanges left unanswered since the last reply; a reply clears them; a refusal or a queue wait is not silence', async () => {
    const clock = new FakeClock();
    const a = new Activity({ clock });
    a.onExchange({ step: 'acquire', outcome: 'timeout', durationMs: 60_000 });
    expect(a.snapshot()).toMatchObject({ lastReplyAt: undefined, lastUnansweredAt: clock.now(), unansweredSinceReply: 1 });
    await clock.advance(1_000);
    a.onReply();
    a.onExchange({ step: 'renew', outcome: 'nak', durationMs: 5 });
    a.onExchange({ step: 'acquire', outcome: 'no-slot', durationMs: 60_000 });
    expect(a.snapshot()).toMatchObject({ lastReplyAt: clock.now(), unansweredSinceReply: 0 });
  });

  it("keeps each lease's last failed step until it is released or acquired afresh, and the last ten errors", () => {
    const clock = new FakeClock();
    const a = new Activity({ clock, maxErrors: 3 });
    const err = new NoResponseError('renew ACK', '10.0.0.254', '02:00:00:00:00:01', 2, 7);
    a.stepFailed(lease(1), 'renew', err);
    expect(a.lastErrorOf('p#1')).toEqual({ at: clock.now(), message: `renew: ${err.message}` });
    a.onLeaseEvent(event('renewed'));
    expect(a.lastErrorOf('p#1')).toBeDefined();
    a.onLeaseEvent(event('released'));
    expect(a.lastErrorOf('p#1')).toBeUndefined();
    a.stepFailed(lease(2), 'rebind', err);
    a.onLeaseEvent(event('bound', 2));
    expect(a.lastErrorOf('p#2')).toBeUndefined();
    a.onLeaseEvent(event('expired', 3));
    a.onPluginError('IpamDriver.RequestAddress', 'x');
    expect(a.snapshot().recentErrors.map((e) => e.source)).toEqual(['rebind', 'expiry', 'IpamDriver.RequestAddress']);
    expect(a.snapshot().recentErrors[1]).toMatchObject({ ip: '10.0.0.3', mac: '02:00:00:00:00:03' });
  });
});
