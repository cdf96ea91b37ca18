/**
 * The plugin API with the exact bodies Docker 20.10 sends (recorded, docker-ipam.md and
 * lab.md), against the real driver, lease manager and DHCP client over a scripted server.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../clock.js';
import { MemoryTransport } from '../../test/support/memory-transport.js';
import { dora, ScriptedServer } from '../../test/support/scripted-server.js';
import { testLog } from '../../test/support/silent-log.js';
import { DhcpClient } from '../dhcp/client.js';
import { MessageType, OptionCode } from '../dhcp/codec/option-codes.js';
import { getIPv4, getString } from '../dhcp/codec/options.js';
import type { Lease } from '../lease/lease.js';
import { LeaseManager } from '../lease/manager.js';
import type { PoolRecord } from '../lease/store.js';
import { MemoryStore } from '../../test/support/memory-store.js';
import { IpamDriver } from './driver.js';
import { buildServer } from './server.js';

const SERVER = '192.0.2.1';
const MAC = '02:42:2a:40:ac:c9';

let app: FastifyInstance;
let server: ScriptedServer;
let store: MemoryStore;
let manager: LeaseManager;

async function setup(clientIdMode: 'mac' | 'endpoint-name' = 'mac', pools: PoolRecord[] = [], leases: Lease[] = []): Promise<void> {
  // Real time: replies arrive at once, RELEASEs are paced a few ms apart, lease timers are unref'd.
  const clock = systemClock;
  const transport = new MemoryTransport();
  server = new ScriptedServer(transport, SERVER);
  let next = 100;
  server.handler = dora((p) => getIPv4(p.options, OptionCode.RequestedIpAddress) ?? `192.0.2.${next++}`, { leaseTimeSeconds: 600 });
  const log = testLog();
  const client = new DhcpClient({ transport, clock, server: SERVER, log, random: () => 0.5 });
  manager = new LeaseManager({ client, clock, log });
  for (const lease of leases) manager.restore(lease);
  store = new MemoryStore();
  const driver = new IpamDriver({ manager, client, store, log, clientIdMode, driverName: 'd4d', hostName: 'h1', pools });
  app = await buildServer({ driver, log });
}

beforeEach(async () => setup());
afterEach(async () => {
  await app.close();
  await manager.stop();
});

async function post(path: string, payload?: string, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: 'POST', url: path, ...(payload === undefined ? {} : { payload }), headers });
  return { status: res.statusCode, body: res.body === '' ? undefined : (JSON.parse(res.body) as Record<string, unknown>) };
}

async function pool(subnet = '192.0.2.0/24', sub = ''): Promise<string> {
  const res = await post('/IpamDriver.RequestPool', `${JSON.stringify({ AddressSpace: 'local', Pool: subnet, SubPool: sub, Options: {}, V6: false })}\n`);
  expect(res.status).toBe(200);
  return res.body?.PoolID as string;
}

describe('plugin handshake (empty bodies)', () => {
  it.each([
    ['/Plugin.Activate', { Implements: ['IpamDriver'] }],
    ['/IpamDriver.GetCapabilities', { RequiresMACAddress: true, RequiresRequestReplay: false }],
    ['/IpamDriver.GetDefaultAddressSpaces', { LocalDefaultAddressSpace: 'local', GlobalDefaultAddressSpace: 'global' }],
  ])('%s', async (path, want) => {
    expect(await post(path)).toEqual({ status: 200, body: want });
    expect(await post(path, '')).toEqual({ status: 200, body: want });
  });

  it('never closes idle keep-alive connections (Docker would resend with an empty body)', () => {
    expect(app.server.keepAliveTimeout).toBe(0);
  });

  it('quotes at most a short piece of a bad value back (the reply and the log stay small)', async () => {
    const res = await post('/IpamDriver.ReleasePool', JSON.stringify({ PoolID: ['A'.repeat(512 * 1024)] }));
    expect(res.status).toBe(500);
    expect(String(res.body?.Err)).toMatch(/^ReleasePool: field PoolID must be a string, got \["AAAA.*… \(524292 characters\)$/);
    expect(String(res.body?.Err).length).toBeLessThan(200);
  });

  it('says that a body past the limit is too large, with the limit, rather than "internal error"', async () => {
    const res = await post('/IpamDriver.ReleasePool', JSON.stringify({ PoolID: 'x', Junk: 'A'.repeat(2 * 1024 * 1024) }));
    expect(res.status).toBe(413);
    expect(String(res.body?.Err)).toMatch(/too large.*\(limit 1 MiB\)/);
  });

  it('answers unknown paths with 404 and an Err', async () => {
    expect(await post('/NetworkDriver.CreateNetwork', '{}')).toEqual({ status: 404, body: { Err: 'unknown endpoint POST /NetworkDriver.CreateNetwork' } });
  });
});

describe('RequestPool / ReleasePool', () => {
  it('returns a self-describing PoolID, unique per network, and the masked subnet', async () => {
    const a = await post('/IpamDriver.RequestPool', '{"AddressSpace":"local","Pool":"10.99.0.5/24","SubPool":"","Options":{},"V6":false}');
    const b = await post('/IpamDriver.RequestPool', '{"AddressSpace":"local","Pool":"10.99.0.0/24","SubPool":"","Options":null,"V6":false}');
    expect(a).toMatchObject({ status: 200, body: { Pool: '10.99.0.0/24', Data: {} } });
    expect(a.body?.PoolID).toMatch(/^d4d\/local\/10\.99\.0\.0\/24\/id=[0-9a-f]{8}$/);
    expect(b.body?.PoolID).not.toBe(a.body?.PoolID);
    const sub = await post('/IpamDriver.RequestPool', '{"AddressSpace":"local","Pool":"10.99.0.0/24","SubPool":"10.99.0.128/25","Options":{},"V6":false}');
    expect(sub.body?.PoolID).toMatch(/^d4d\/local\/10\.99\.0\.0\/24\/10\.99\.0\.128\/25\/id=/);
  });

  it("one network's ReleasePool never touches another network with the same subnet", async () => {
    const running = await pool();
    await post('/IpamDriver.RequestAddress', JSON.stringify({ PoolID: running, Address: '', Options: { 'com.docker.network.endpoint.macaddress': MAC } }));
    const rolledBack = await pool();
    await post(
      '/IpamDriver.RequestAddress',
      JSON.stringify({ PoolID: rolledBack, Address: '192.0.2.1', Options: { RequestAddressType: 'com.docker.network.gateway' } }),
    );
    await post('/IpamDriver.ReleaseAddress', JSON.stringify({ PoolID: rolledBack, Address: '192.0.2.1' }));
    await post('/IpamDriver.ReleasePool', JSON.stringify({ PoolID: rolledBack }));
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(0);
    expect(manager.list().map((l) => l.ip)).toEqual(['192.0.2.100']);
  });

  it.each([
    { desc: 'IPv6', body: '{"AddressSpace":"local","Pool":"","SubPool":"","Options":{},"V6":true}', want: /IPv6 is not supported/ },
    {
      desc: 'an ip-range outside the subnet',
      body: '{"AddressSpace":"local","Pool":"10.99.0.0/24","SubPool":"10.98.0.0/25","Options":{},"V6":false}',
      want: /not inside subnet/,
    },
    {
      desc: 'a malformed subnet',
      body: '{"AddressSpace":"local","Pool":"10.99.0/24","SubPool":"","Options":{},"V6":false}',
      want: /not an IPv4 subnet in CIDR form/,
    },
    { desc: 'bad JSON', body: '{"AddressSpace":', want: /RequestPool: request body is not JSON/ },
    { desc: 'an empty body', body: '', want: /RequestPool: empty request body/ },
    { desc: 'a wrongly typed field', body: '{"Pool":5}', want: /field Pool must be a string/ },
  ])('rejects $desc with 500 and an Err', async ({ body, want }) => {
    const res = await post('/IpamDriver.RequestPool', body);
    expect(res.status).toBe(500);
    expect(res.body?.Err).toMatch(want);
  });

  it('learns subnet and router from the DHCP server when Docker sends no subnet, and refuses the same subnet twice', async () => {
    const res = await post('/IpamDriver.RequestPool', '{"AddressSpace":"local","Pool":"","SubPool":"","Options":{},"V6":false}');
    expect(res).toMatchObject({ status: 200, body: { Pool: '192.0.2.0/24', Data: { 'com.docker.network.gateway': '192.0.2.1/24' } } });
    expect(res.body?.PoolID).toMatch(/^d4d\/local\/192\.0\.2\.0\/24\/id=/);
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(1); // the probe lease went back
    const again = await post('/IpamDriver.RequestPool', '{"AddressSpace":"local","Pool":"","SubPool":"","Options":{},"V6":false}');
    expect(again.status).toBe(500);
    expect(again.body?.Err).toMatch(/create the network with --subnet 192.0.2.0\/24 --gateway 192.0.2.1/);
  });

  it('ReleasePool releases every lease left in the pool', async () => {
    const id = await pool();
    for (const mac of ['02:00:00:00:00:01', '02:00:00:00:00:02']) {
      await post('/IpamDriver.RequestAddress', JSON.stringify({ PoolID: id, Address: '', Options: { 'com.docker.network.endpoint.macaddress': mac } }));
    }
    expect(await post('/IpamDriver.ReleasePool', JSON.stringify({ PoolID: id }))).toEqual({ status: 200, body: {} });
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(2);
    expect(manager.list()).toEqual([]);
  });
});

describe('RequestAddress / ReleaseAddress', () => {
  it('answers gateway and aux requests locally, never through DHCP', async () => {
    const id = await pool();
    const gw = await post(
      '/IpamDriver.RequestAddress',
      JSON.stringify({ PoolID: id, Address: '192.0.2.1', Options: { RequestAddressType: 'com.docker.network.gateway' } }),
    );
    const aux = await post('/IpamDriver.RequestAddress', JSON.stringify({ PoolID: id, Address: '192.0.2.1', Options: null }));
    expect(gw).toEqual({ status: 200, body: { Address: '192.0.2.1/24', Data: {} } });
    expect(aux).toEqual({ status: 200, body: { Address: '192.0.2.1/24', Data: {} } });
    expect(server.decodedRequests).toEqual([]);
    expect(await post('/IpamDriver.ReleaseAddress', JSON.stringify({ PoolID: id, Address: '192.0.2.1' }))).toEqual({ status: 200, body: {} });
    expect(server.decodedRequests).toEqual([]);
  });

  it('leases an endpoint address through DHCP keyed by the MAC, saved before the reply', async () => {
    const id = await pool();
    const res = await post(
      '/IpamDriver.RequestAddress',
      JSON.stringify({ PoolID: id, Address: '', Options: { 'com.docker.network.endpoint.macaddress': MAC } }),
    );
    expect(res).toEqual({ status: 200, body: { Address: '192.0.2.100/24', Data: {} } });
    const [discover] = server.requestsOfType(MessageType.Discover);
    expect(discover?.options.get(OptionCode.ClientIdentifier)).toEqual(Uint8Array.of(1, 0x02, 0x42, 0x2a, 0x40, 0xac, 0xc9));
    expect(store.saved.at(-1)?.map((l) => [l.id, l.ip])).toEqual([[`${id}#${MAC}`, '192.0.2.100']]);
  });

  it('asks for the --ip address with option 50 and returns exactly it', async () => {
    const id = await pool();
    const res = await post(
      '/IpamDriver.RequestAddress',
      JSON.stringify({ PoolID: id, Address: '192.0.2.77', Options: { 'com.docker.network.endpoint.macaddress': '02:00:00:00:00:77' } }),
    );
    expect(res.body?.Address).toBe('192.0.2.77/24');
    expect(getIPv4(server.requestsOfType(MessageType.Discover)[0]!.options, OptionCode.RequestedIpAddress)).toBe('192.0.2.77');
  });

  it('sends the Docker 29 endpoint name as host name, and as client id when configured', async () => {
    await app.close();
    await setup('endpoint-name');
    const id = await pool();
    await post(
      '/IpamDriver.RequestAddress',
      JSON.stringify({ PoolID: id, Address: '', Options: { 'com.docker.network.endpoint.macaddress': MAC, 'com.docker.network.endpoint.name': 'db-1' } }),
    );
    const [discover] = server.requestsOfType(MessageType.Discover);
    expect(getString(discover!.options, OptionCode.HostName)).toBe('db-1');
    expect(discover?.options.get(OptionCode.ClientIdentifier)).toEqual(Uint8Array.from([0, ...Buffer.from('h1/db-1')]));
  });

  it('refuses an endpoint request that has a name but no MAC instead of treating it as an aux address', async () => {
    const id = await pool();
    const res = await post(
      '/IpamDriver.RequestAddress',
      JSON.stringify({ PoolID: id, Address: '192.0.2.9', Options: { 'com.docker.network.endpoint.name': 'web' } }),
    );
    expect(res.status).toBe(500);
    expect(res.body?.Err).toMatch(/without a MAC address/);
  });

  it('starts afresh when a leftover lease for the MAC does not match the requested address', async () => {
    const id = await pool();
    const body = (ip: string) => JSON.stringify({ PoolID: id, Address: ip, Options: { 'com.docker.network.endpoint.macaddress': MAC } });
    expect((await post('/IpamDriver.RequestAddress', body('192.0.2.77'))).body?.Address).toBe('192.0.2.77/24');
    expect((await post('/IpamDriver.RequestAddress', body('192.0.2.88'))).body?.Address).toBe('192.0.2.88/24');
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(1);
    expect(manager.list().map((l) => l.ip)).toEqual(['192.0.2.88']);
  });

  it('never hands out an address another container still holds', async () => {
    const id = await pool();
    server.handler = dora(() => '192.0.2.100', { leaseTimeSeconds: 600 });
    await post('/IpamDriver.RequestAddress', JSON.stringify({ PoolID: id, Address: '', Options: { 'com.docker.network.endpoint.macaddress': MAC } }));
    const res = await post(
      '/IpamDriver.RequestAddress',
      JSON.stringify({ PoolID: id, Address: '', Options: { 'com.docker.network.endpoint.macaddress': '02:00:00:00:00:99' } }),
    );
    expect(res.status).toBe(500);
    expect(res.body?.Err).toMatch(/192\.0\.2\.100 .* still uses it/);
    expect(manager.list().map((l) => l.identity.mac)).toEqual([MAC]);
  });

  it('explains a request without a MAC (ipvlan)', async () => {
    const id = await pool();
    const res = await post('/IpamDriver.RequestAddress', JSON.stringify({ PoolID: id, Address: '', Options: null }));
    expect(res.status).toBe(500);
    expect(res.body?.Err).toMatch(/without a MAC address.*ipvlan/);
  });

  it('rejects an unknown PoolID and an address outside the pool', async () => {
    const bad = await post(
      '/IpamDriver.RequestAddress',
      JSON.stringify({ PoolID: 'bogus', Address: '', Options: { 'com.docker.network.endpoint.macaddress': MAC } }),
    );
    expect(bad).toMatchObject({ status: 500, body: { Err: expect.stringMatching(/unknown pool "bogus"/) } });
    const id = await pool();
    const out = await post(
      '/IpamDriver.RequestAddress',
      JSON.stringify({ PoolID: id, Address: '198.51.100.7', Options: { 'com.docker.network.endpoint.macaddress': MAC } }),
    );
    expect(out.body?.Err).toMatch(/outside the network's subnet 192.0.2.0\/24/);
    expect(server.decodedRequests).toEqual([]);
  });

  it('gives the lease back and fails when it cannot be saved', async () => {
    const id = await pool();
    store.fail = true;
    const res = await post(
      '/IpamDriver.RequestAddress',
      JSON.stringify({ PoolID: id, Address: '', Options: { 'com.docker.network.endpoint.macaddress': MAC } }),
    );
    expect(res).toMatchObject({ status: 500, body: { Err: expect.stringMatching(/EROFS/) } });
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(1);
    expect(manager.list()).toEqual([]);
  });

  it('ReleaseAddress (no MAC) finds the lease by pool and address, and is idempotent', async () => {
    const id = await pool();
    await post('/IpamDriver.RequestAddress', JSON.stringify({ PoolID: id, Address: '', Options: { 'com.docker.network.endpoint.macaddress': MAC } }));
    const body = JSON.stringify({ PoolID: id, Address: '192.0.2.100' });
    expect(await post('/IpamDriver.ReleaseAddress', body)).toEqual({ status: 200, body: {} });
    expect(await post('/IpamDriver.ReleaseAddress', body)).toEqual({ status: 200, body: {} });
    expect(await post('/IpamDriver.ReleaseAddress', JSON.stringify({ PoolID: 'd4d/local/10.0.0.0/8', Address: '10.0.0.1' }))).toEqual({
      status: 200,
      body: {},
    });
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(1);
    expect(store.saved.at(-1)).toEqual([]);
  });

  it('honours --ipam-opt client-id per network, and refuses unknown options', async () => {
    const res = await post(
      '/IpamDriver.RequestPool',
      JSON.stringify({
        AddressSpace: 'local',
        Pool: '192.0.2.0/24',
        SubPool: '',
        Options: { 'client-id': 'endpoint-name', 'com.docker.network.ipam.serial': 'true' },
        V6: false,
      }),
    );
    expect(res.body?.PoolID).toMatch(/^d4d\/local\/192\.0\.2\.0\/24\/cid=endpoint-name\/id=[0-9a-f]{8}$/);
    await post(
      '/IpamDriver.RequestAddress',
      JSON.stringify({
        PoolID: res.body?.PoolID,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': MAC, 'com.docker.network.endpoint.name': 'db-1' },
      }),
    );
    expect(server.requestsOfType(MessageType.Discover)[0]?.options.get(OptionCode.ClientIdentifier)).toEqual(Uint8Array.from([0, ...Buffer.from('h1/db-1')]));
    const bad = await post(
      '/IpamDriver.RequestPool',
      JSON.stringify({ AddressSpace: 'local', Pool: '192.0.2.0/24', SubPool: '', Options: { 'dhcp-servr': '10.0.0.1', 'client-id': 'uuid' }, V6: false }),
    );
    expect(bad.status).toBe(500);
    expect(bad.body?.Err).toBe('unknown --ipam-opt "dhcp-servr" (known: client-id); --ipam-opt client-id must be "mac" or "endpoint-name", got "uuid"');
  });

  it('keeps gateway and aux reservations across a restart, so they are never leased', async () => {
    const id = await pool();
    await post('/IpamDriver.RequestAddress', JSON.stringify({ PoolID: id, Address: '192.0.2.50', Options: null }));
    expect(store.pools).toEqual([{ id, reserved: ['192.0.2.50'] }]);
    const saved = store.pools;
    await app.close();
    await manager.stop();
    await setup('mac', saved); // a restarted daemon, given what the table held
    server.handler = dora((p) => getIPv4(p.options, OptionCode.RequestedIpAddress) ?? '192.0.2.50', { leaseTimeSeconds: 600 });
    const res = await post(
      '/IpamDriver.RequestAddress',
      JSON.stringify({ PoolID: id, Address: '', Options: { 'com.docker.network.endpoint.macaddress': MAC } }),
    );
    expect(res.status).toBe(500);
    expect(res.body?.Err).toMatch(/192\.0\.2\.50 .*reserves as its gateway or an aux address/);
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(1);
  });

  it('accepts a JSON Content-Type too', async () => {
    const res = await post('/IpamDriver.RequestPool', '{"AddressSpace":"local","Pool":"10.1.0.0/16","SubPool":"","Options":{},"V6":false}', {
      'content-type': 'application/json',
    });
    expect(res.status).toBe(200);
  });
});

describe('client-id=endpoint-name: leases keyed by name', () => {
  const MAC2 = '02:00:00:00:0d:b2';
  const named = (poolId: string, mac: string, address = '') =>
    JSON.stringify({
      PoolID: poolId,
      Address: address,
      Options: { 'com.docker.network.endpoint.macaddress': mac, 'com.docker.network.endpoint.name': 'db-1' },
    });
  const clientIdOf = (p: { options: Map<number, Uint8Array> }) => Buffer.from(p.options.get(OptionCode.ClientIdentifier) ?? []).toString('hex');

  beforeEach(async () => {
    await app.close();
    await manager.stop();
    await setup('endpoint-name');
  });

  it('a name started again with a new MAC takes its leftover lease over, without a RELEASE of the shared identity', async () => {
    const id = await pool();
    expect((await post('/IpamDriver.RequestAddress', named(id, MAC))).body?.Address).toBe('192.0.2.100/24');
    // The ReleaseAddress of the first start was lost (daemon down); Docker starts db-1 again with a new MAC.
    const again = await post('/IpamDriver.RequestAddress', named(id, MAC2));
    expect(again).toEqual({ status: 200, body: { Address: '192.0.2.100/24', Data: {} } });
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(0);
    const discovers = server.requestsOfType(MessageType.Discover);
    expect(discovers).toHaveLength(2);
    expect(clientIdOf(discovers[1]!)).toBe(clientIdOf(discovers[0]!));
    expect(getIPv4(discovers[1]!.options, OptionCode.RequestedIpAddress)).toBe('192.0.2.100');
    expect(manager.list().map((l) => [l.identity.mac, l.ip])).toEqual([[MAC2, '192.0.2.100']]);
    expect(store.saved.at(-1)?.map((l) => [l.identity.mac, l.ip])).toEqual([[MAC2, '192.0.2.100']]);
    // A third start works the same way, and the address is then released once.
    expect((await post('/IpamDriver.RequestAddress', named(id, '02:00:00:00:0d:b3'))).body?.Address).toBe('192.0.2.100/24');
    expect(await post('/IpamDriver.ReleaseAddress', JSON.stringify({ PoolID: id, Address: '192.0.2.100' }))).toEqual({ status: 200, body: {} });
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(1);
    expect(manager.list()).toEqual([]);
  });

  it.each([
    { desc: 'as this version saved it', legacyId: false },
    { desc: 'keyed by MAC, as older versions saved it', legacyId: true },
  ])('takes over a lease restored from the table $desc', async ({ legacyId }) => {
    const id = await pool();
    await post('/IpamDriver.RequestAddress', named(id, MAC));
    const [saved] = store.saved.at(-1) ?? [];
    expect(saved).toBeDefined();
    const restored = { ...saved!, id: legacyId ? `${id}#${MAC}` : saved!.id };
    await app.close();
    await manager.stop();
    await setup('endpoint-name', store.pools, [restored]); // a restarted daemon
    const res = await post('/IpamDriver.RequestAddress', named(id, MAC2));
    expect(res).toEqual({ status: 200, body: { Address: '192.0.2.100/24', Data: {} } });
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(0);
    expect(manager.list().map((l) => [l.identity.mac, l.ip])).toEqual([[MAC2, '192.0.2.100']]);
  });

  it('a new --ip for the name gives the old address back and leases the new one', async () => {
    const id = await pool();
    await post('/IpamDriver.RequestAddress', named(id, MAC, '192.0.2.77'));
    const res = await post('/IpamDriver.RequestAddress', named(id, MAC2, '192.0.2.88'));
    expect(res.body?.Address).toBe('192.0.2.88/24');
    expect(server.requestsOfType(MessageType.Release).map((p) => p.ciaddr)).toEqual(['192.0.2.77']);
    expect(manager.list().map((l) => [l.identity.mac, l.ip])).toEqual([[MAC2, '192.0.2.88']]);
  });

  it('two names never share an address', async () => {
    const id = await pool();
    server.handler = dora(() => '192.0.2.100', { leaseTimeSeconds: 600 });
    await post('/IpamDriver.RequestAddress', named(id, MAC));
    const other = JSON.stringify({
      PoolID: id,
      Address: '',
      Options: { 'com.docker.network.endpoint.macaddress': MAC2, 'com.docker.network.endpoint.name': 'web-1' },
    });
    const res = await post('/IpamDriver.RequestAddress', other);
    expect(res.status).toBe(500);
    expect(res.body?.Err).toMatch(/192\.0\.2\.100 .* still uses it/);
    expect(manager.list().map((l) => l.identity.mac)).toEqual([MAC]);
  });
});

describe('--ip-range (RequestPool SubPool)', () => {
  const RANGE = '192.0.2.128/25';
  const endpoint = (poolId: string, mac: string, address = '') =>
    JSON.stringify({ PoolID: poolId, Address: address, Options: { 'com.docker.network.endpoint.macaddress': mac } });

  it('asks for an address inside the range (option 50) and gets one from a server that honours it', async () => {
    const id = await pool('192.0.2.0/24', RANGE);
    const addresses: string[] = [];
    for (const mac of ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03']) {
      const res = await post('/IpamDriver.RequestAddress', endpoint(id, mac));
      expect(res.status).toBe(200);
      addresses.push(String(res.body?.Address).split('/')[0] as string);
    }
    for (const ip of addresses) expect(Number(ip.split('.')[3])).toBeGreaterThanOrEqual(129);
    expect(new Set(addresses).size).toBe(3);
    for (const d of server.requestsOfType(MessageType.Discover)) {
      expect(Number(getIPv4(d.options, OptionCode.RequestedIpAddress)?.split('.')[3])).toBeGreaterThanOrEqual(128);
    }
  });

  it('releases and refuses an address the server leased outside the range, saying what to change', async () => {
    const id = await pool('192.0.2.0/24', RANGE);
    server.handler = dora(() => '192.0.2.10', { leaseTimeSeconds: 600 }); // a server that ignores option 50
    const res = await post('/IpamDriver.RequestAddress', endpoint(id, MAC));
    expect(res.status).toBe(500);
    expect(res.body?.Err).toMatch(/192\.0\.2\.10 .*outside the network's --ip-range 192\.0\.2\.128\/25/);
    expect(res.body?.Err).toMatch(/DHCP server's pool/);
    expect(res.body?.Err).toMatch(/--ip-range/);
    expect(server.requestsOfType(MessageType.Release).map((p) => p.ciaddr)).toEqual(['192.0.2.10']);
    expect(manager.list()).toEqual([]);
    expect(store.saved.at(-1) ?? []).toEqual([]);
  });

  it('refuses an --ip outside the range before any DHCP, and takes one inside it', async () => {
    const id = await pool('192.0.2.0/24', RANGE);
    const out = await post('/IpamDriver.RequestAddress', endpoint(id, MAC, '192.0.2.20'));
    expect(out.status).toBe(500);
    expect(out.body?.Err).toMatch(/192\.0\.2\.20 is outside the network's --ip-range 192\.0\.2\.128\/25/);
    expect(server.decodedRequests).toEqual([]);
    expect((await post('/IpamDriver.RequestAddress', endpoint(id, MAC, '192.0.2.200'))).body?.Address).toBe('192.0.2.200/24');
  });

  it('still accepts a gateway and aux addresses outside the range (they are not leased)', async () => {
    const id = await pool('192.0.2.0/24', RANGE);
    expect(
      (
        await post(
          '/IpamDriver.RequestAddress',
          JSON.stringify({ PoolID: id, Address: '192.0.2.1', Options: { RequestAddressType: 'com.docker.network.gateway' } }),
        )
      ).status,
    ).toBe(200);
    expect((await post('/IpamDriver.RequestAddress', JSON.stringify({ PoolID: id, Address: '192.0.2.5', Options: null }))).status).toBe(200);
  });
});
