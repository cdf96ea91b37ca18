/**
 * The driver on its own (no HTTP): requests for one lease id that overlap, name takeovers
 * checked against Docker's last view, and releases on reconciliation's behalf. Real lease
 * manager and DHCP client over a scripted server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../clock.js';
import { MemoryTransport } from '../../test/support/memory-transport.js';
import { MemoryStore } from '../../test/support/memory-store.js';
import { buildReply, dora, ScriptedServer } from '../../test/support/scripted-server.js';
import { testLog } from '../../test/support/silent-log.js';
import { DhcpClient } from '../dhcp/client.js';
import { MessageType, OptionCode } from '../dhcp/codec/option-codes.js';
import { chaddrText } from '../dhcp/codec/packet.js';
import { clientIdForMac } from '../dhcp/messages.js';
import { getIPv4, getUint8 } from '../dhcp/codec/options.js';
import { AddressUnavailableError, ClientClosedError } from '../dhcp/errors.js';
import { StoreError } from '../lease/store.js';
import { LeaseManager } from '../lease/manager.js';
import { CallerGoneError, IpamDriver, type DockerView } from './driver.js';
import { OPTION_ENDPOINT_NAME, OPTION_MAC_ADDRESS } from './protocol.js';
import { countTurns } from '../../test/support/turns.js';

const SERVER = '192.0.2.1';
let manager: LeaseManager | undefined;

afterEach(async () => {
  await manager?.stop();
  manager = undefined;
});

async function setup(clientIdMode: 'mac' | 'endpoint-name', o: { dockerView?: DockerView; now?: () => number; offer?: () => string } = {}) {
  const transport = new MemoryTransport();
  const server = new ScriptedServer(transport, SERVER);
  let next = 100;
  server.handler = dora((p) => getIPv4(p.options, OptionCode.RequestedIpAddress) ?? o.offer?.() ?? `192.0.2.${next++}`, { leaseTimeSeconds: 600 });
  const log = testLog();
  const client = new DhcpClient({ transport, clock: systemClock, server: SERVER, log, random: () => 0.5 });
  manager = new LeaseManager({ client, clock: systemClock, log });
  const store = new MemoryStore();
  const clock = o.now === undefined ? systemClock : { ...systemClock, now: o.now };
  const driver = new IpamDriver({
    manager,
    client,
    store,
    log,
    clientIdMode,
    driverName: 'd4d',
    hostName: 'h1',
    clock,
    ...(o.dockerView ? { dockerView: o.dockerView } : {}),
  });
  const { PoolID } = await driver.requestPool({ AddressSpace: 'local', Pool: '192.0.2.0/24', SubPool: '', Options: {}, V6: false });
  const ask = (mac: string, name?: string, signal?: AbortSignal, address = '') =>
    driver.requestAddress(
      { PoolID, Address: address, Options: { [OPTION_MAC_ADDRESS]: mac, ...(name === undefined ? {} : { [OPTION_ENDPOINT_NAME]: name }) } },
      signal,
    );
  return { server, manager, store, driver, client, PoolID, ask };
}

const releases = (server: ScriptedServer): number => server.requestsOfType(MessageType.Release).length;

describe('two requests for one lease id', () => {
  it.each([
    { mode: 'endpoint-name' as const, first: '02:00:00:00:00:01', second: '02:00:00:00:00:02', name: 'web' },
    { mode: 'mac' as const, first: '02:00:00:00:00:01', second: '02:00:00:00:00:01', name: undefined },
  ])('($mode) the first caller hangs up: the second ends with the lease held and saved, no RELEASE after its reply', async ({ mode, first, second, name }) => {
    const { server, manager, store, ask } = await setup(mode);
    const gone = new AbortController();
    const r1 = ask(first, name, gone.signal);
    const r2 = ask(second, name, new AbortController().signal);
    gone.abort();
    await expect(r1).rejects.toThrow(CallerGoneError);
    const reply = await r2;
    const ip = reply.Address.split('/')[0];
    const releasesAtReply = releases(server);
    await new Promise((r) => setTimeout(r, 100));
    expect(releases(server)).toBe(releasesAtReply);
    expect(manager.list().map((l) => [l.identity.mac, l.ip])).toEqual([[second, ip]]);
    expect(store.lastSaved().map(([, savedIp]) => savedIp)).toEqual([ip]);
  });
});

describe('name takeover and Docker’s last view', () => {
  const view = (ips: string[]): DockerView & { nudges: number } => {
    const v = {
      nudges: 0,
      endpointsSeen: () => ({ at: Date.now(), ips: new Set(ips) }),
      nudge: () => {
        v.nudges++;
      },
    };
    return v;
  };

  it('refuses to take over an address a running endpoint still shows (renamed container), and asks for a fresh read', async () => {
    const docker = view([]);
    const { server, manager, ask } = await setup('endpoint-name', { dockerView: docker });
    const old = await ask('02:00:00:00:00:01', 'web');
    const ip = old.Address.split('/')[0] as string;
    // docker rename web web-old; Docker's view now shows web-old with that address.
    docker.endpointsSeen = () => ({ at: Date.now(), ips: new Set([ip]) });
    const sent = server.decodedRequests.length;
    await expect(ask('02:00:00:00:00:02', 'web')).rejects.toThrow(
      `endpoint name web: its previous lease ${ip} is still used by a running endpoint (renamed container?); remove it or pick another name`,
    );
    expect(docker.nudges).toBe(1);
    expect(server.decodedRequests.length).toBe(sent);
    expect(manager.list().map((l) => [l.identity.mac, l.ip])).toEqual([['02:00:00:00:00:01', ip]]);
  });

  it.each([
    { desc: 'no view yet (Docker never read, or unreachable)', seen: undefined },
    { desc: 'a view without the address', seen: ['192.0.2.250'] },
  ])('takes over as before with $desc', async ({ seen }) => {
    const docker = { endpointsSeen: () => (seen === undefined ? undefined : { at: Date.now(), ips: new Set(seen) }), nudge: () => undefined };
    const { manager, ask } = await setup('endpoint-name', { dockerView: docker });
    const old = await ask('02:00:00:00:00:01', 'web');
    const again = await ask('02:00:00:00:00:02', 'web');
    expect(again.Address).toBe(old.Address);
    expect(manager.list().map((l) => l.identity.mac)).toEqual(['02:00:00:00:00:02']);
  });
});

describe('heldLeases, a large table', () => {
  it('lists every lease, a chunk per turn of the event loop', async () => {
    const { manager, driver, PoolID } = await setup('mac');
    const now = Date.now();
    for (let n = 0; n < 2_500; n++) {
      const mac = `02:00:00:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
      const ip = `10.40.${n >> 8}.${n & 0xff}`;
      manager.restore({
        id: `${PoolID}#${mac}`,
        identity: { mac, clientId: clientIdForMac(mac) },
        ip,
        serverId: SERVER,
        state: 'BOUND',
        binding: { ip, serverId: SERVER, requestedAt: now, leaseTimeSeconds: 3_600, xid: n },
        requestedAt: now,
        renewAt: now + 1_800_000,
        rebindAt: now + 3_150_000,
        expiresAt: now + 3_600_000,
        retryAt: null,
        recoveryAttempts: 0,
      });
    }
    const turns = countTurns();
    const held = await driver.heldLeases();
    expect(held).toHaveLength(2_500);
    expect(held[1_234]).toEqual({ leaseId: `${PoolID}#02:00:00:00:04:d2`, poolId: PoolID, mac: '02:00:00:00:04:d2', ip: '10.40.4.210' });
    expect(turns.stop()).toBeGreaterThanOrEqual(2);
  });
});

describe('release on reconciliation’s behalf', () => {
  it('stamps each lease when handed out, and releases it only while that same request stands', async () => {
    let now = 1_000;
    const { server, manager, driver, ask } = await setup('mac', { now: () => now });
    await ask('02:00:00:00:00:01');
    const [held] = await driver.heldLeases();
    expect(held).toMatchObject({ mac: '02:00:00:00:00:01', requestedAt: 1_000 });
    if (held === undefined) throw new Error('no lease');
    // Asked again (a fixed --mac-address container started again): the stamp moves on.
    now = 2_000;
    await ask('02:00:00:00:00:01');
    expect((await driver.heldLeases())[0]?.requestedAt).toBe(2_000);
    expect(await driver.releaseIfUnchanged(held)).toBe(false);
    expect(manager.list()).toHaveLength(1);
    expect(releases(server)).toBe(0);
    const current = (await driver.heldLeases())[0];
    if (current === undefined) throw new Error('no lease');
    expect(await driver.releaseIfUnchanged({ ...current, ip: '192.0.2.250' })).toBe(false);
    expect(await driver.releaseIfUnchanged(current)).toBe(true);
    expect(manager.list()).toHaveLength(0);
    expect(releases(server)).toBe(1);
  });
});

describe('the offered address on disk while the server answers', () => {
  const MAC = '02:00:00:00:00:01';

  it('records the offer (REBOOTING) once the REQUEST is out, and replies after the ACK only once that record is durable', async () => {
    const { server, manager, store, ask, PoolID } = await setup('mac');
    const release = store.holdWrites();
    let replied = false;
    const reply = ask(MAC).then((r) => {
      replied = true;
      return r;
    });
    // The ACK comes and the lease is bound; the reply still waits for the write.
    for (let i = 0; i < 50 && manager.get(`${PoolID}#${MAC}`) === undefined; i++) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, 10));
    expect(server.requestsOfType(MessageType.Request)).toHaveLength(1);
    expect(manager.get(`${PoolID}#${MAC}`)?.state).toBe('BOUND');
    expect(replied).toBe(false);
    // Written before the ACK, as REBOOTING; the bound lease is queued behind it, unwaited.
    expect(store.saved[0]?.map((l) => [l.ip, l.state])).toEqual([['192.0.2.100', 'REBOOTING']]);
    expect(store.records).toEqual([
      ['put', `${PoolID}#${MAC}`],
      ['soon', `${PoolID}#${MAC}`],
    ]);
    release();
    expect((await reply).Address).toBe('192.0.2.100/24');
  });

  it('records the bound lease after the ACK, as one durable record, when the table is busy with a commit', async () => {
    const { store, ask, PoolID } = await setup('mac');
    store.idle = false;
    expect((await ask(MAC)).Address).toBe('192.0.2.100/24');
    expect(store.records).toEqual([['put', `${PoolID}#${MAC}`]]);
    expect(store.saved[0]?.map((l) => [l.ip, l.state])).toEqual([['192.0.2.100', 'BOUND']]);
  });

  it('records nothing for an offer the driver will refuse (outside the network)', async () => {
    const { store, ask, manager } = await setup('mac', { offer: () => '198.51.100.7' });
    await expect(ask(MAC)).rejects.toThrow('the DHCP server leased 198.51.100.7');
    expect(store.records.filter(([kind]) => kind === 'put' || kind === 'soon')).toEqual([]);
    expect(manager.list()).toEqual([]);
  });

  it('takes the offer’s record back when the server then refuses the address', async () => {
    const { server, store, ask, PoolID } = await setup('mac');
    const serve = server.handler;
    server.handler = (p) =>
      getUint8(p.options, OptionCode.MessageType) === MessageType.Request ? buildReply(p, MessageType.Nak, { message: 'taken' }) : serve?.(p);
    await expect(ask(MAC, undefined, undefined, '192.0.2.50')).rejects.toThrow(AddressUnavailableError);
    expect(store.records).toEqual([
      ['put', `${PoolID}#${MAC}`],
      ['delete', `${PoolID}#${MAC}`],
    ]);
    expect(store.lastSaved()).toEqual([]);
  });

  it('takes back an offer recorded before a NAK when the acquisition then fails, though a later offer was not recorded', async () => {
    const { server, store, client, ask, PoolID } = await setup('mac');
    const serve = server.handler;
    let naks = 0;
    server.handler = (p) => {
      const type = getUint8(p.options, OptionCode.MessageType);
      // The second offer comes while the table is busy: not recorded.
      if (type === MessageType.Discover && naks === 1) store.idle = false;
      if (type !== MessageType.Request) return serve?.(p);
      // A stop cuts the acquisition off after the second NAK.
      if (++naks === 2) setTimeout(() => client.close(), 5);
      return buildReply(p, MessageType.Nak, { message: 'taken' });
    };
    await expect(ask(MAC)).rejects.toThrow();
    expect(naks).toBe(2);
    expect(store.records).toEqual([
      ['put', `${PoolID}#${MAC}`],
      ['delete', `${PoolID}#${MAC}`],
    ]);
    expect(store.lastSaved()).toEqual([]);
  });

  it('fails the request and gives the address back when the offer cannot be recorded', async () => {
    const { server, store, ask, manager } = await setup('mac');
    store.fail = true;
    await expect(ask(MAC)).rejects.toThrow(StoreError);
    expect(manager.list()).toEqual([]);
    expect(releases(server)).toBe(1);
  });
});

describe('offers recorded while the server answers, and what may make one the only record of a told caller', () => {
  // A recorded offer is replayed after a crash as a lease the server has not acknowledged: it
  // loses its address to an acknowledged lease and to an earlier offer. Where such a record may
  // exist, the bound lease goes to disk (one 'put', no 'soon') before the reply instead.
  const recordsOf = (store: MemoryStore, id: string): string[] => store.records.filter(([, r]) => r === id).map(([op]) => op);
  const idOf = (PoolID: string, mac: string): string => `${PoolID}#${mac}`;

  it('an address whose lease is being released: the offer to another call is not recorded', async () => {
    const { server, store, driver, PoolID, ask } = await setup('mac');
    const a = '02:00:00:00:00:01';
    const b = '02:00:00:00:00:02';
    const ip = (await ask(a)).Address.split('/')[0] as string;
    server.handler = dora(() => ip, { leaseTimeSeconds: 600 });
    // The release's record waits on the disk; meanwhile the server offers the address to b.
    const write = store.holdWrites();
    const released = driver.releaseAddress({ PoolID, Address: ip });
    await new Promise((r) => setTimeout(r, 10));
    const asked = ask(b);
    await new Promise((r) => setTimeout(r, 10));
    write();
    await released;
    expect((await asked).Address).toBe(`${ip}/24`);
    expect(recordsOf(store, idOf(PoolID, b))).toEqual(['put']);
    // Without a release under way the same offer is recorded, and the bound lease follows it.
    const c = '02:00:00:00:00:03';
    server.handler = dora(() => '192.0.2.77', { leaseTimeSeconds: 600 });
    await ask(c);
    expect(recordsOf(store, idOf(PoolID, c))).toEqual(['put', 'soon']);
  });

  it('an address another call has a recorded offer of: the second offer is not recorded', async () => {
    const { server, store, client, PoolID, ask } = await setup('mac');
    const a = '02:00:00:00:00:01';
    const b = '02:00:00:00:00:02';
    const offer = dora(() => '192.0.2.50', { leaseTimeSeconds: 600 });
    // The server offers the address to both, and both REQUESTs are out, unanswered yet.
    server.handler = (p) => (getUint8(p.options, OptionCode.MessageType) === MessageType.Request ? undefined : offer(p));
    const gone = new AbortController();
    const first = ask(a, undefined, gone.signal).catch((err: unknown) => err);
    await new Promise((r) => setTimeout(r, 10));
    const second = ask(b, undefined, gone.signal).catch((err: unknown) => err);
    await new Promise((r) => setTimeout(r, 10));
    expect(server.requestsOfType(MessageType.Request).map(chaddrText)).toEqual([a, b]);
    expect(recordsOf(store, idOf(PoolID, a))).toEqual(['put']);
    expect(recordsOf(store, idOf(PoolID, b))).toEqual([]);
    // Closing the client ends both acquisitions.
    gone.abort();
    client.close();
    await first;
    await second;
  });

  it('an address whose release could not be recorded stays barred; one whose release was recorded does not', async () => {
    const { server, store, driver, PoolID, ask } = await setup('mac');
    const stale = (await ask('02:00:00:00:00:01')).Address.split('/')[0] as string;
    const freed = (await ask('02:00:00:00:00:02')).Address.split('/')[0] as string;
    store.fail = true;
    await expect(driver.releaseAddress({ PoolID, Address: stale })).rejects.toThrow(StoreError);
    store.fail = false;
    await driver.releaseAddress({ PoolID, Address: freed });
    server.handler = dora(() => stale, { leaseTimeSeconds: 600 });
    await ask('02:00:00:00:00:03');
    expect(recordsOf(store, idOf(PoolID, '02:00:00:00:00:03'))).toEqual(['put']);
    server.handler = dora(() => freed, { leaseTimeSeconds: 600 });
    await ask('02:00:00:00:00:04');
    expect(recordsOf(store, idOf(PoolID, '02:00:00:00:00:04'))).toEqual(['put', 'soon']);
  });

  it('a compaction begun since the offer was recorded: the bound lease is put on disk before the reply', async () => {
    const { server, store, PoolID, ask } = await setup('mac');
    const a = '02:00:00:00:00:01';
    server.handler = dora(() => '192.0.2.60', { leaseTimeSeconds: 600 });
    // A compaction begins once the offer is recorded, before the ACK.
    const put = store.put.bind(store);
    store.put = (lease) => {
      const done = put(lease);
      store.compactions += 1;
      return done;
    };
    await ask(a);
    expect(recordsOf(store, idOf(PoolID, a))).toEqual(['put', 'put']);
  });
});

describe('a release a stop cuts off', () => {
  it('keeps the lease, in the table and in its record', async () => {
    const { server, store, driver, client, manager, PoolID, ask } = await setup('mac');
    const ip = (await ask('02:00:00:00:00:01')).Address.split('/')[0] as string;
    client.close();
    await expect(driver.releaseAddress({ PoolID, Address: ip })).rejects.toThrow(ClientClosedError);
    expect(releases(server)).toBe(0);
    expect(manager.list().map((l) => l.ip)).toEqual([ip]);
    expect(store.lastSaved().map(([, savedIp]) => savedIp)).toEqual([ip]);
  });
});
