import { describe, expect, it } from 'vitest';
import type { Binding } from '../dhcp/binding.js';
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

  it('tells apart parameters that differ from the last ones in any one field, and finds earlier ones again', () => {
    const base = {
      ip: '10.1.0.9',
      serverId: '10.1.0.1',
      requestedAt: 1,
      leaseTimeSeconds: 60,
      xid: 3,
      renewalTimeSeconds: 30,
      rebindingTimeSeconds: 50,
      routers: ['10.1.0.1'],
      dnsServers: ['10.1.0.53', '10.1.0.54'],
      subnetMask: '255.255.255.0',
      domainName: 'lan',
    };
    const changes = [
      { serverId: '10.1.0.2' },
      { leaseTimeSeconds: 61 },
      { renewalTimeSeconds: 31 },
      { renewalTimeSeconds: undefined },
      { rebindingTimeSeconds: 51 },
      { subnetMask: '255.255.0.0' },
      { routers: ['10.1.0.254'] },
      { routers: undefined },
      { dnsServers: ['10.1.0.53'] },
      { dnsServers: ['10.1.0.54', '10.1.0.53'] },
      { domainName: 'lan2' },
      { domainName: undefined },
    ];
    // A field changed to undefined is left out, as a binding without it has it.
    const binding = (...parts: object[]): Binding =>
      Object.fromEntries(Object.entries(Object.assign({}, ...parts)).filter(([, v]) => v !== undefined)) as unknown as Binding;
    const first = internParams({ ...base });
    for (const change of changes) {
      const other = internParams(binding(base, change));
      expect(other, JSON.stringify(change)).not.toBe(first);
      expect(other).toMatchObject(change);
      expect(internParams(binding(base, change, { ip: '10.1.0.10', xid: 9 }))).toBe(other);
      expect(internParams({ ...base })).toBe(first);
    }
    const list = internList(['10.1.0.7']);
    expect(internList(['10.1.0.8'])).not.toBe(list);
    expect(internList(['10.1.0.7'])).toBe(list);
    expect(internList(['10.1.0.7', '10.1.0.8'])).not.toBe(list);
  });
});
