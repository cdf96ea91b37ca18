import { describe, expect, it } from 'vitest';
import { internBinding, internList, internParams, internString } from './intern.js';

describe('interning', () => {
  it('gives equal values one shared copy', () => {
    const a = ['10.0.0', '1'].join('.');
    const b = ['10.0', '0.1'].join('.');
    expect(internString(a)).toBe(internString(b));
    const l1 = internList(['10.0.0.1', '10.0.0.2']);
    const l2 = internList(['10.0.0.1', '10.0.0.2']);
    expect(l2).toBe(l1);
    expect(internList(['10.0.0.2', '10.0.0.1'])).not.toBe(l1);
  });

  it('leaves a binding equal, with shared lists and strings', () => {
    const make = () => ({
      ip: '10.0.0.9',
      serverId: '10.0.0.1',
      requestedAt: 1,
      leaseTimeSeconds: 60,
      xid: 3,
      routers: ['10.0.0.1'],
      dnsServers: ['10.0.0.53'],
      subnetMask: '255.255.255.0',
      domainName: 'lan',
    });
    const x = internBinding(make());
    const y = internBinding(make());
    expect(x).toEqual(make());
    expect(y.routers).toBe(x.routers);
    expect(y.dnsServers).toBe(x.dnsServers);
  });

  it('gives bindings with the same parameters one shared copy of them, and different ones their own', () => {
    const base = { ip: '10.0.0.9', serverId: '10.0.0.1', requestedAt: 1, leaseTimeSeconds: 60, xid: 3, routers: ['10.0.0.1'], subnetMask: '255.255.255.0' };
    const p = internParams({ ...base });
    expect(internParams({ ...base, ip: '10.0.0.10', requestedAt: 2, xid: 4, routers: ['10.0.0.1'] })).toBe(p);
    expect(p).toEqual({
      serverId: '10.0.0.1',
      leaseTimeSeconds: 60,
      renewalTimeSeconds: undefined,
      rebindingTimeSeconds: undefined,
      subnetMask: '255.255.255.0',
      routers: ['10.0.0.1'],
      dnsServers: undefined,
      domainName: undefined,
    });
    expect(internParams({ ...base, routers: [] })).not.toBe(p);
    expect(internParams({ ...base, routers: [] }).routers).toEqual([]);
    expect(internParams({ ...base, leaseTimeSeconds: 61 })).not.toBe(p);
    expect(internParams({ ...base, domainName: '' })).not.toBe(internParams({ ...base }));
    expect(internParams({ ...base, domainName: '-' }).domainName).toBe('-');
    expect(internParams({ ...base }).domainName).toBeUndefined();
  });
});
