import { describe, expect, it } from 'vitest';
import { clientIdForMac, clientIdForName, isClientIdForMac } from '../dhcp/messages.js';
import { NumberColumns } from './columns.js';
import { ENTRY_NUMBERS, Entry } from './entry.js';
import type { Lease } from './lease.js';

const MAC = '02:42:0a:00:00:07';

function lease(identity: Lease['identity']): Lease {
  return {
    id: 'pool#x',
    identity,
    ip: '10.0.0.7',
    serverId: '10.0.0.1',
    state: 'BOUND',
    binding: { ip: '10.0.0.7', serverId: '10.0.0.1', requestedAt: 1000, leaseTimeSeconds: 60, xid: 9 },
    requestedAt: 1000,
    renewAt: 31_000,
    rebindAt: 53_500,
    expiresAt: 61_000,
    retryAt: null,
    recoveryAttempts: 0,
  };
}

function columns(): NumberColumns {
  return new NumberColumns(ENTRY_NUMBERS, 1);
}

describe('Entry', () => {
  it('tells the client id a MAC implies from any other', () => {
    expect(isClientIdForMac(clientIdForMac(MAC), MAC)).toBe(true);
    expect(isClientIdForMac(clientIdForMac(MAC), '02:42:0a:00:00:08')).toBe(false);
    expect(isClientIdForMac(clientIdForName('web'), MAC)).toBe(false);
    expect(isClientIdForMac(Uint8Array.of(0, 2, 0x42, 10, 0, 0, 7), MAC)).toBe(false);
  });

  it('gives back the identity it was made with, a MAC client id made anew and any other as it was', () => {
    const byMac = new Entry(lease({ mac: MAC, clientId: clientIdForMac(MAC) }), columns());
    expect(byMac.identity).toEqual({ mac: MAC, clientId: clientIdForMac(MAC) });
    expect(byMac.identity.clientId).not.toBe(byMac.identity.clientId);
    expect(byMac.snapshot()).toEqual(lease({ mac: MAC, clientId: clientIdForMac(MAC) }));

    const named = { mac: MAC, clientId: clientIdForName('web'), hostname: 'web' };
    const byName = new Entry(lease(named), columns());
    expect(byName.identity).toEqual(named);
    expect(byName.identity.clientId).toBe(named.clientId);
    expect(byName.mac).toBe(MAC);
  });

  it('keeps a deadline set to none as null, and a time as that time', () => {
    const e = new Entry({ ...lease({ mac: MAC, clientId: clientIdForMac(MAC) }), renewAt: null, rebindAt: null, expiresAt: null }, columns());
    expect([e.renewAt, e.rebindAt, e.expiresAt, e.retryAt]).toEqual([null, null, null, null]);
    e.update({ renewAt: 0, rebindAt: 1.5, expiresAt: 1_767_225_600_000, retryAt: -1 });
    expect([e.renewAt, e.rebindAt, e.expiresAt, e.retryAt]).toEqual([0, 1.5, 1_767_225_600_000, -1]);
    e.update({ retryAt: null });
    expect(e.retryAt).toBeNull();
    expect(e.snapshot()).toMatchObject({ renewAt: 0, rebindAt: 1.5, expiresAt: 1_767_225_600_000, retryAt: null });
  });

  it('keeps its numbers apart from the other entries of its columns, and its own once detached', () => {
    const shared = new NumberColumns(ENTRY_NUMBERS, 1);
    const a = new Entry(lease({ mac: MAC, clientId: clientIdForMac(MAC) }), shared);
    const b = new Entry({ ...lease({ mac: MAC, clientId: clientIdForMac(MAC) }), requestedAt: 2000, expiresAt: null }, shared);
    // The second row grew the columns: the first entry still reads its own.
    expect(shared.rows).toBe(2);
    expect([a.requestedAt, a.expiresAt, a.xid]).toEqual([1000, 61_000, 9]);
    expect([b.requestedAt, b.expiresAt]).toEqual([2000, null]);
    a.turnAt = 5_000;
    a.xid = 0xffff_fffe;
    a.holdUntil = 7;
    expect([a.turnAt, a.xid, a.holdUntil, b.turnAt, b.holdUntil]).toEqual([5_000, 0xffff_fffe, 7, 0, 0]);

    // Detached, a keeps its numbers while its old row goes to the next entry made.
    a.detach();
    expect(shared.rows).toBe(1);
    const c = new Entry({ ...lease({ mac: MAC, clientId: clientIdForMac(MAC) }), requestedAt: 3000 }, shared);
    expect(shared.rows).toBe(2);
    c.xid = 1;
    expect([a.requestedAt, a.turnAt, a.xid, a.expiresAt]).toEqual([1000, 5_000, 0xffff_fffe, 61_000]);
    expect(a.snapshot().binding.xid).toBe(0xffff_fffe);
    a.update({ retryAt: 9 });
    expect([a.retryAt, c.retryAt, c.requestedAt]).toEqual([9, null, 3000]);
    // Once only: a second detach gives back nothing (c's row stays c's).
    a.detach();
    expect(shared.rows).toBe(2);
    expect(c.requestedAt).toBe(3000);
  });

  it('refuses columns of another width', () => {
    expect(() => new Entry(lease({ mac: MAC, clientId: clientIdForMac(MAC) }), new NumberColumns(3))).toThrow(RangeError);
  });

  it('keeps the address and the MAC as numbers, gives them back as canonical text, and refuses what is neither', () => {
    const upper = new Entry({ ...lease({ mac: '02:42:0A:00:00:07', clientId: clientIdForMac(MAC) }), ip: '203.0.113.250' }, columns());
    expect([upper.ip, upper.mac, upper.ipNumber, upper.macNumber]).toEqual(['203.0.113.250', MAC, 0xcb0071fa, 0x02420a000007]);
    // The id the MAC implies, whatever the MAC's case: not kept.
    expect(upper.clientIdIsMac).toBe(true);
    expect(upper.snapshot().identity).toEqual({ mac: MAC, clientId: clientIdForMac(MAC) });
    expect(upper.snapshot().binding.ip).toBe('203.0.113.250');
    expect(() => new Entry({ ...lease({ mac: MAC, clientId: clientIdForMac(MAC) }), ip: '10.0.0.300' }, columns())).toThrow(RangeError);
    expect(() => new Entry(lease({ mac: '02:42:0a:00:07', clientId: clientIdForMac(MAC) }), columns())).toThrow(RangeError);
  });

  it('keeps its recovery attempts and whether it ended through a detach', () => {
    const shared = new NumberColumns(ENTRY_NUMBERS, 1);
    const e = new Entry({ ...lease({ mac: MAC, clientId: clientIdForMac(MAC) }), recoveryAttempts: 3 }, shared);
    expect([e.recoveryAttempts, e.ended]).toEqual([3, false]);
    e.ended = true;
    e.update({ recoveryAttempts: 4 });
    e.detach();
    const next = new Entry(lease({ mac: MAC, clientId: clientIdForMac(MAC) }), shared);
    expect([e.recoveryAttempts, e.ended, e.ip, e.mac]).toEqual([4, true, '10.0.0.7', MAC]);
    expect([next.recoveryAttempts, next.ended]).toEqual([0, false]);
    expect(e.snapshot().recoveryAttempts).toBe(4);
  });
});
