import { describe, expect, it } from 'vitest';
import { clientIdForMac, clientIdForName, isClientIdForMac } from '../dhcp/messages.js';
import { Entry } from './entry.js';
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

describe('Entry', () => {
  it('tells the client id a MAC implies from any other', () => {
    expect(isClientIdForMac(clientIdForMac(MAC), MAC)).toBe(true);
    expect(isClientIdForMac(clientIdForMac(MAC), '02:42:0a:00:00:08')).toBe(false);
    expect(isClientIdForMac(clientIdForName('web'), MAC)).toBe(false);
    expect(isClientIdForMac(Uint8Array.of(0, 2, 0x42, 10, 0, 0, 7), MAC)).toBe(false);
  });

  it('gives back the identity it was made with, a MAC client id made anew and any other as it was', () => {
    const byMac = new Entry(lease({ mac: MAC, clientId: clientIdForMac(MAC) }));
    expect(byMac.identity).toEqual({ mac: MAC, clientId: clientIdForMac(MAC) });
    expect(byMac.identity.clientId).not.toBe(byMac.identity.clientId);
    expect(byMac.snapshot()).toEqual(lease({ mac: MAC, clientId: clientIdForMac(MAC) }));

    const named = { mac: MAC, clientId: clientIdForName('web'), hostname: 'web' };
    const byName = new Entry(lease(named));
    expect(byName.identity).toEqual(named);
    expect(byName.identity.clientId).toBe(named.clientId);
    expect(byName.mac).toBe(MAC);
  });

  it('keeps a deadline set to none as null, and a time as that time', () => {
    const e = new Entry({ ...lease({ mac: MAC, clientId: clientIdForMac(MAC) }), renewAt: null, rebindAt: null, expiresAt: null });
    expect([e.renewAt, e.rebindAt, e.expiresAt, e.retryAt]).toEqual([null, null, null, null]);
    e.update({ renewAt: 0, rebindAt: 1.5, expiresAt: 1_767_225_600_000, retryAt: -1 });
    expect([e.renewAt, e.rebindAt, e.expiresAt, e.retryAt]).toEqual([0, 1.5, 1_767_225_600_000, -1]);
    e.update({ retryAt: null });
    expect(e.retryAt).toBeNull();
    expect(e.snapshot()).toMatchObject({ renewAt: 0, rebindAt: 1.5, expiresAt: 1_767_225_600_000, retryAt: null });
  });
});
