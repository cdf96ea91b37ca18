import { describe, expect, it } from 'vitest';
import { DockerApiError, DockerVersionError, negotiateApiVersion, networkIdsOfDriver, parseNetwork } from './engine.js';

describe('negotiateApiVersion', () => {
  it.each([
    { engine: '1.41', want: '1.41' },
    { engine: '1.45', want: '1.45' },
    { engine: '1.52', want: '1.52' },
    { engine: '1.60', want: '1.52' },
    { engine: '2.3', want: '1.52' },
  ])('uses $want with an engine at $engine', ({ engine, want }) => {
    expect(negotiateApiVersion(engine)).toBe(want);
  });

  it('refuses engines older than Docker 20.10, saying which version is needed', () => {
    expect(() => negotiateApiVersion('1.40')).toThrow(DockerVersionError);
    expect(() => negotiateApiVersion('1.40')).toThrow('Docker engine API 1.40 is too old: reconciliation needs API 1.41 or newer (Docker 20.10 or newer)');
    expect(() => negotiateApiVersion('latest')).toThrow(DockerVersionError);
  });
});

describe('engine replies', () => {
  it('picks the networks whose IPAM driver is ours', () => {
    const list = [
      { Id: 'a', Name: 'bridge', Driver: 'bridge', IPAM: { Driver: 'default', Config: [] } },
      { Id: 'b', Name: 'lan', Driver: 'macvlan', IPAM: { Driver: 'd4d', Config: null } },
      { Id: 'c', Name: 'other', Driver: 'macvlan', IPAM: { Driver: 'd4d-2' } },
      { Id: 'd', Name: 'host', Driver: 'host', IPAM: null },
    ];
    expect(networkIdsOfDriver(list, 'd4d')).toEqual(['b']);
    expect(() => networkIdsOfDriver({}, 'd4d')).toThrow(DockerApiError);
  });

  it('reads subnets and endpoints from a network inspect (Docker 20.10 shape)', () => {
    const inspect = {
      Name: 'lan',
      Id: 'b',
      IPAM: { Driver: 'd4d', Options: {}, Config: [{ Subnet: '10.9.0.0/24', Gateway: '10.9.0.1' }, { Subnet: 'fd00::/64' }] },
      Containers: {
        '3f1c': { Name: 'web', EndpointID: 'e1', MacAddress: '02:42:0A:09:00:0B', IPv4Address: '10.9.0.11/24', IPv6Address: '' },
        'ep-77': { Name: 'gone', EndpointID: '77', MacAddress: '', IPv4Address: '', IPv6Address: '' },
      },
    };
    expect(parseNetwork(inspect)).toEqual({
      id: 'b',
      name: 'lan',
      subnets: ['10.9.0.0/24'],
      endpoints: [
        { name: 'web', mac: '02:42:0a:09:00:0b', ip: '10.9.0.11' },
        { name: 'gone', mac: undefined, ip: undefined },
      ],
    });
    expect(parseNetwork({ Name: 'empty', Id: 'x', IPAM: { Config: [] }, Containers: {} })).toEqual({ id: 'x', name: 'empty', subnets: [], endpoints: [] });
    expect(() => parseNetwork({ Name: 'no id' })).toThrow(DockerApiError);
  });
});
