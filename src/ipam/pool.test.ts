import { describe, expect, it } from 'vitest';
import { BadRequestError } from './protocol.js';
import { inSubnet, maskToPrefix, parseCidr, parsePoolId, poolId, type Pool } from './pool.js';

describe('pool IDs', () => {
  it.each<Pool>([
    { addressSpace: 'local', network: '10.0.0.0', prefixLength: 24, subPool: undefined },
    { addressSpace: 'local', network: '10.0.0.0', prefixLength: 16, subPool: '10.0.128.0/17' },
    { addressSpace: 'my/space', network: '192.168.0.0', prefixLength: 24, subPool: undefined, clientIdMode: 'endpoint-name' },
    { addressSpace: 'local', network: '10.0.0.0', prefixLength: 24, subPool: '10.0.0.0/25', clientIdMode: 'mac', tag: '0a1b2c3d' },
  ])('round-trips $network/$prefixLength', (pool) => {
    expect(parsePoolId(poolId(pool))).toEqual(pool);
  });

  it.each(['bogus', 'd4d/local/10.0.0.0', 'd4d/local/10.0.0.0/33', 'other/local/10.0.0.0/24', 'd4d/local/10.0.0.0/24/cid=uuid'])('refuses %s', (id) => {
    expect(() => parsePoolId(id)).toThrow(BadRequestError);
  });
});

describe('subnet helpers', () => {
  it('masks host bits', () => {
    expect(parseCidr('10.1.2.3/16', 'subnet')).toEqual({ network: '10.1.0.0', prefixLength: 16 });
  });
  it('tests membership', () => {
    expect(inSubnet('10.1.255.255', '10.1.0.0', 16)).toBe(true);
    expect(inSubnet('10.2.0.0', '10.1.0.0', 16)).toBe(false);
  });
  it.each([
    ['255.255.255.0', 24],
    ['255.255.0.0', 16],
    ['255.255.255.252', 30],
    ['255.0.255.0', undefined],
  ])('mask %s is /%s', (mask, want) => {
    expect(maskToPrefix(mask)).toBe(want);
  });
});
