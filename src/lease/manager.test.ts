import { beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { MemoryTransport } from '../../test/support/memory-transport.js';
import { buildReply, dora, ScriptedServer, type Handler } from '../../test/support/scripted-server.js';
import { prng as seeded } from '../../test/support/prng.js';
import { testLog } from '../../test/support/silent-log.js';
import { DhcpClient } from '../dhcp/client.js';
import { MessageType, OptionCode } from '../dhcp/codec/option-codes.js';
import { getIPv4, getUint8 } from '../dhcp/codec/options.js';
import { encodePacket, type DhcpPacket } from '../dhcp/codec/packet.js';
import { clientIdForMac, clientIdForName } from '../dhcp/messages.js';
import { DEFAULT_DATAGRAMS_PER_SECOND, DEFAULT_MAX_IN_FLIGHT, Priority } from '../dhcp/sender.js';
import type { Binding } from '../dhcp/binding.js';
import type { LeaseEvent } from './events.js';
import { LeaseManager } from './manager.js';
import type { Lease } from './lease.js';

const SERVER = '192.0.2.1';
const MAC = '02:42:c0:00:02:07';
const identity = { mac: MAC, clientId: clientIdForMac(MAC) };
const LEASE_S = 60;

let clock: FakeClock;
let server: ScriptedServer;
let manager: LeaseManager;
let events: LeaseEvent[];
let online: boolean;
let closeClient: () => void;

const types = (): Array<number | undefined> => server.decodedRequests.map((p) => getUint8(p.options, OptionCode.MessageType));
const eventTypes = (): string[] => events.map((e) => e.type);

beforeEach(() => {
  clock = new FakeClock();
  const transport = new MemoryTransport();
  server = new ScriptedServer(transport, SERVER);
  online = true;
  const serve = dora((p) => getIPv4(p.options, OptionCode.RequestedIpAddress) ?? '192.0.2.100', { leaseTimeSeconds: LEASE_S });
  server.handler = (p) => (online ? serve(p) : undefined);
  const log = testLog();
  const client = new DhcpClient({ transport, clock, server: SERVER, log, random: () => 0.5 });
  closeClient = () => client.close();
  manager = new LeaseManager({
    client,
    clock,
    log,
    random: () => 0.5,
    minRetryMs: 5_000,
    recoveryInitialMs: 4_000,
    recoveryMaxMs: 16_000,
    rebootTimeoutMs: 20_000,
  });
  events = [];
  manager.on((e) => events.push(e));
});

describe('LeaseManager', () => {
  it('renews at T1, again and again, moving the expiry forward', async () => {
    const lease = await manager.acquire('c1', { identity });
    expect(lease).toMatchObject({ state: 'BOUND', ip: '192.0.2.100', renewAt: lease.requestedAt + 30_000, expiresAt: lease.requestedAt + 60_000 });
    await clock.advance(29_999);
    expect(eventTypes()).toEqual(['bound']);
    await clock.advance(1);
    expect(eventTypes()).toEqual(['bound', 'renewed']);
    await clock.advance(30_000);
    expect(eventTypes()).toEqual(['bound', 'renewed', 'renewed']);
    const renewed = events.filter((e): e is Extract<LeaseEvent, { type: 'renewed' }> => e.type === 'renewed');
    expect(renewed[0]?.lease.expiresAt).toBe(lease.requestedAt + 90_000);
    expect(renewed[1]?.lease.expiresAt).toBe(lease.requestedAt + 120_000);
    expect(types()).toEqual([MessageType.Discover, MessageType.Request, MessageType.Request, MessageType.Request]);
    expect(server.decodedRequests.slice(2).every((p) => p.ciaddr === '0.0.0.0' && getIPv4(p.options, 50) === '192.0.2.100')).toBe(true);
  });

  it('hands out values: a renewal changes the table, never a lease already handed out', async () => {
    const acquired = await manager.acquire('c1', { identity });
    const before = manager.get('c1');
    const copy = structuredClone(before);
    await clock.advance(30_000);
    expect(eventTypes()).toEqual(['bound', 'renewed']);
    const after = manager.get('c1');
    expect(after?.expiresAt).toBe(acquired.requestedAt + 90_000);
    expect(after?.binding.requestedAt).toBe(acquired.requestedAt + 30_000);
    // The leases handed out before, the one of the event included, are as they were.
    expect(before).toEqual(copy);
    expect(acquired.expiresAt).toBe(acquired.requestedAt + 60_000);
    expect(events[0]?.lease).toEqual(acquired);
    expect([...manager.snapshots()]).toEqual([after]);
  });

  it('keeps one shared copy of the values every renewal repeats (server id, address lists)', async () => {
    const serve = dora((p) => getIPv4(p.options, OptionCode.RequestedIpAddress) ?? (p.chaddr[5] === 1 ? '192.0.2.101' : '192.0.2.102'), {
      leaseTimeSeconds: LEASE_S,
    });
    server.handler = (p) => {
      const reply = serve(p);
      if (reply === undefined || Array.isArray(reply)) return reply;
      reply.options.set(OptionCode.Router, Uint8Array.of(192, 0, 2, 1));
      reply.options.set(OptionCode.DomainNameServer, Uint8Array.of(192, 0, 2, 53, 192, 0, 2, 54));
      return reply;
    };
    const mac = (n: number) => `02:42:c0:00:02:0${n}`;
    await manager.acquire('c1', { identity: { mac: mac(1), clientId: clientIdForMac(mac(1)) } });
    await manager.acquire('c2', { identity: { mac: mac(2), clientId: clientIdForMac(mac(2)) } });
    await clock.advance(30_000);
    expect(eventTypes()).toEqual(['bound', 'bound', 'renewed', 'renewed']);
    const [a, b] = [manager.get('c1'), manager.get('c2')];
    expect(a?.binding.dnsServers).toEqual(['192.0.2.53', '192.0.2.54']);
    // Renewed from freshly decoded replies, yet holding the same arrays and strings.
    expect(a?.binding.dnsServers).toBe(b?.binding.dnsServers);
    expect(a?.binding.routers).toBe(b?.binding.routers);
    expect([a?.binding.ip, b?.binding.ip]).toEqual(['192.0.2.101', '192.0.2.102']);
  });

  it('server down at T1: retries, rebinds at T2, and keeps the address when the server is back', async () => {
    const lease = await manager.acquire('c1', { identity });
    online = false;
    await clock.advance(30_000); // T1
    expect(manager.get('c1')?.state).toBe('RENEWING');
    await clock.advance(22_500); // T2 = 52.5 s
    expect(manager.get('c1')?.state).toBe('REBINDING');
    expect(eventTypes()).toEqual(['bound', 'rebinding']);
    online = true;
    await clock.advance(5_000);
    expect(manager.get('c1')).toMatchObject({ state: 'BOUND', ip: lease.ip });
    expect(eventTypes()).toEqual(['bound', 'rebinding', 'renewed']);
    // The address was never given up: no DISCOVER after the first.
    expect(types().filter((t) => t === MessageType.Discover)).toHaveLength(1);
    const rebind = server.decodedRequests.at(-1);
    expect(rebind?.options.has(OptionCode.ServerIdentifier)).toBe(false);
  });

  it('server down past expiry: expired event, then the same address again when it returns', async () => {
    let atExpiry = -1;
    manager.on((e) => {
      if (e.type === 'expired') atExpiry = server.decodedRequests.length;
    });
    const lease = await manager.acquire('c1', { identity });
    online = false;
    await clock.advance(60_000);
    expect(eventTypes()).toEqual(['bound', 'rebinding', 'expired']);
    await clock.advance(60_000);
    expect(manager.get('c1')?.state).toMatch(/EXPIRED|REBOOTING/);
    online = true;
    expect(await clock.advanceUntil(() => eventTypes().includes('reacquired'), 60_000)).toBe(true);
    expect(manager.get('c1')).toMatchObject({ state: 'BOUND', ip: lease.ip, recoveryAttempts: 0 });
    // Recovery starts with INIT-REBOOT (REQUEST with option 50 and no 54), not DISCOVER.
    const recovery = server.decodedRequests.slice(atExpiry);
    expect(getUint8(recovery[0]!.options, 53)).toBe(MessageType.Request);
    expect(recovery[0]!.options.has(OptionCode.ServerIdentifier)).toBe(false);
    expect(getIPv4(recovery[0]!.options, 50)).toBe(lease.ip);
  });

  it('a NAK on renewal raises an event and wins the same address back', async () => {
    let nak = true;
    const normal = server.handler as Handler;
    server.handler = (p) => {
      if (!(getUint8(p.options, 53) === MessageType.Request && p.options.has(54) && server.decodedRequests.length > 2 && nak)) return normal(p);
      nak = false;
      return buildReply(p, MessageType.Nak, { message: 'lease lost' });
    };
    await manager.acquire('c1', { identity });
    await clock.advance(30_000);
    expect(eventTypes()).toEqual(['bound', 'nak', 'reacquired']);
    expect(events[1]).toMatchObject({ type: 'nak', reason: 'lease lost' });
    expect(manager.get('c1')).toMatchObject({ state: 'BOUND', ip: '192.0.2.100' });
  });

  it('raises address-lost when the server will only give another address, and keeps trying', async () => {
    await manager.acquire('c1', { identity });
    online = false;
    await clock.advance(60_000);
    // The server is back but has given the address away: INIT-REBOOT is NAKed, DISCOVER offers another.
    server.handler = (p) =>
      getUint8(p.options, 53) === MessageType.Discover
        ? buildReply(p, MessageType.Offer, { yiaddr: '192.0.2.200' })
        : buildReply(p, MessageType.Nak, { message: 'wrong address' });
    expect(await clock.advanceUntil(() => eventTypes().includes('address-lost'), 60_000)).toBe(true);
    const lost = events.find((e) => e.type === 'address-lost');
    expect(lost).toMatchObject({ lease: { ip: '192.0.2.100', state: 'EXPIRED' } });
    expect(String(lost?.type === 'address-lost' ? lost.error.message : '')).toContain('offered 192.0.2.200');
    // It never requested the other address.
    expect(server.decodedRequests.some((p) => getIPv4(p.options, 50) === '192.0.2.200')).toBe(false);
    const attempts = manager.get('c1')?.recoveryAttempts ?? 0;
    await clock.advance(30_000);
    expect(manager.get('c1')?.recoveryAttempts).toBeGreaterThan(attempts);
  });

  it('acquire is idempotent per id', async () => {
    const [a, b] = await Promise.all([manager.acquire('c1', { identity }), manager.acquire('c1', { identity })]);
    expect(a.ip).toBe(b.ip);
    expect(await manager.acquire('c1', { identity })).toMatchObject({ ip: a.ip });
    expect(types().filter((t) => t === MessageType.Discover)).toHaveLength(1);
  });

  it('release sends DHCPRELEASE once, stops the timers, and succeeds again for unknown ids', async () => {
    await manager.acquire('c1', { identity });
    await expect(manager.release('c1')).resolves.toMatchObject({ state: 'RELEASED' });
    expect(types().at(-1)).toBe(MessageType.Release);
    expect(await manager.release('c1')).toBeUndefined();
    const sent = server.decodedRequests.length;
    await clock.advance(120_000);
    expect(server.decodedRequests).toHaveLength(sent);
    expect(manager.list()).toEqual([]);
    expect(clock.pending).toBe(0);
  });

  it('release waits for a renewal in flight so the RELEASE comes last', async () => {
    await manager.acquire('c1', { identity });
    online = false;
    await clock.advance(30_000); // renewal in flight, unanswered
    const released = manager.release('c1');
    await clock.advance(15_000);
    await released;
    expect(types().at(-1)).toBe(MessageType.Release);
  });

  it('restores a lease that expired while the daemon was down with INIT-REBOOT', async () => {
    const past: Lease = {
      id: 'c9',
      identity,
      ip: '192.0.2.55',
      serverId: SERVER,
      state: 'BOUND',
      binding: { ip: '192.0.2.55', serverId: SERVER, requestedAt: clock.now() - 120_000, leaseTimeSeconds: 60, xid: 1 },
      requestedAt: clock.now() - 120_000,
      renewAt: clock.now() - 90_000,
      rebindAt: clock.now() - 67_500,
      expiresAt: clock.now() - 60_000,
      retryAt: null,
      recoveryAttempts: 0,
    };
    manager.restore(past);
    // It expires at once; its INIT-REBOOT waits for its turn among restored overdue leases.
    await clock.advance(0);
    expect(eventTypes()).toEqual(['expired']);
    await clock.advance(2);
    expect(eventTypes()).toEqual(['expired', 'reacquired']);
    const [first] = server.decodedRequests;
    expect(getUint8(first!.options, 53)).toBe(MessageType.Request);
    expect(first!.options.has(54)).toBe(false);
    expect(manager.get('c9')).toMatchObject({ state: 'BOUND', ip: '192.0.2.55' });
  });

  it('tells the caller of the lease an offer becomes, REBOOTING until acknowledged; restored as it was told, it is asked back with INIT-REBOOT', async () => {
    const offers: Lease[] = [];
    const lease = await manager.acquire('c1', { identity, onOffered: (o) => offers.push(o) });
    expect(offers).toHaveLength(1);
    const [offered] = offers as [Lease];
    // The same address, server and start as the lease, but not yet trusted.
    expect(offered).toMatchObject({ id: 'c1', ip: lease.ip, serverId: SERVER, requestedAt: lease.requestedAt, state: 'REBOOTING', retryAt: lease.requestedAt });
    expect(lease.state).toBe('BOUND');
    expect(eventTypes()).toEqual(['bound']);
    await manager.stop();
    // A crash after the offer's record and before the bound lease's: the next start restores it.
    const sent = server.decodedRequests.length;
    const client = new DhcpClient({ transport: server.transport, clock, server: SERVER, log: testLog(), random: () => 0.5 });
    const again = new LeaseManager({ client, clock, log: testLog(), random: () => 0.5 });
    again.restore(offered);
    expect(again.get('c1')?.state).toBe('REBOOTING');
    await clock.advance(10);
    const [reboot] = server.decodedRequests.slice(sent);
    expect(getUint8(reboot!.options, 53)).toBe(MessageType.Request);
    expect(getIPv4(reboot!.options, OptionCode.RequestedIpAddress)).toBe(lease.ip);
    expect(reboot!.options.has(OptionCode.ServerIdentifier)).toBe(false);
    expect(again.get('c1')).toMatchObject({ state: 'BOUND', ip: lease.ip });
    await again.stop();
  });

  it('restores a valid lease without sending anything until T1', async () => {
    const lease = await manager.acquire('c1', { identity });
    await manager.stop();
    const sent = server.decodedRequests.length;
    const client = new DhcpClient({ transport: server.transport, clock, server: SERVER, log: testLog(), random: () => 0.5 });
    const again = new LeaseManager({ client, clock, log: testLog(), random: () => 0.5 });
    again.restore(lease);
    await clock.advance(29_000);
    expect(server.decodedRequests).toHaveLength(sent);
    await clock.advance(1_000);
    expect(server.decodedRequests).toHaveLength(sent + 1);
    expect(again.get('c1')?.state).toBe('BOUND');
  });

  it('release during a renewal that gets NAKed still sends RELEASE last (no late INIT-REBOOT)', async () => {
    await manager.acquire('c1', { identity });
    let answer: (() => void) | undefined;
    const normal = server.handler as Handler;
    server.handler = (p) => {
      if (getUint8(p.options, 53) === MessageType.Request && p.options.has(54)) {
        answer = () => server.transport.inject(encodeNak(p));
        return undefined;
      }
      return normal(p);
    };
    await clock.advance(30_000); // renewal sent, unanswered for now
    const released = manager.release('c1');
    answer?.();
    await clock.advance(60_000);
    await released;
    expect(types().at(-1)).toBe(MessageType.Release);
    expect(eventTypes()).toContain('released');
  });

  it('stops scheduling when the client is closed instead of spinning', async () => {
    await manager.acquire('c1', { identity });
    closeClient();
    const sent = server.decodedRequests.length;
    await clock.advance(120_000);
    expect(server.decodedRequests).toHaveLength(sent);
    expect(clock.pending).toBe(0);
  });

  it('a release the closed client cannot send keeps the lease in the table, as it was, for the next start', async () => {
    const first = await manager.acquire('c1', { identity });
    const other = { mac: '02:42:c0:00:02:08', clientId: clientIdForMac('02:42:c0:00:02:08') };
    server.handler = dora(() => '192.0.2.101', { leaseTimeSeconds: LEASE_S });
    await manager.acquire('c2', { identity: other });
    // c1's RELEASE goes out at once; c2's waits for the RELEASE pacer when the client closes
    // (a stop past its grace), and c3's comes after the close.
    const r1 = manager.release('c1');
    const r2 = manager.release('c2');
    await clock.advance(0);
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(1);
    closeClient();
    await expect(r1).resolves.toMatchObject({ id: 'c1', state: 'RELEASED' });
    await expect(r2).rejects.toMatchObject({ code: 'DHCP_CLIENT_CLOSED' });
    expect(server.requestsOfType(MessageType.Release).map((p) => p.ciaddr)).toEqual([first.ip]);
    expect(manager.list().map((l) => [l.id, l.state, l.ip])).toEqual([['c2', 'BOUND', '192.0.2.101']]);
    // The same table without snapshots, as reconciliation reads it.
    expect([...manager.views()].map((v) => [v.id, v.mac, v.ip])).toEqual([['c2', other.mac, '192.0.2.101']]);
    expect([manager.has('c1'), manager.has('c2')]).toEqual([false, true]);
    expect(eventTypes().filter((t) => t === 'released')).toHaveLength(1);
    await manager.stop();
    expect(clock.pending).toBe(0);
    // The next start resumes it (and so reconciliation or a later release can free it).
    const saved = manager.get('c2') as Lease;
    const client = new DhcpClient({ transport: server.transport, clock, server: SERVER, log: testLog(), random: () => 0.5 });
    const again = new LeaseManager({ client, clock, log: testLog(), random: () => 0.5 });
    expect(again.restore(saved)).toBe(true);
    await expect(again.release('c2')).resolves.toMatchObject({ state: 'RELEASED' });
    expect(server.requestsOfType(MessageType.Release).map((p) => p.ciaddr)).toEqual([first.ip, '192.0.2.101']);
  });

  it('refuses to restore a malformed lease, and one whose id is being acquired', async () => {
    const acquiring = manager.acquire('c1', { identity });
    const lease = await acquiring;
    expect(manager.restore({ ...lease, id: 'bad', serverId: '' })).toBe(false);
    expect(manager.restore({ ...lease })).toBe(false);
    const sent = server.decodedRequests.length;
    await clock.advance(1_000);
    expect(server.decodedRequests).toHaveLength(sent);
  });
});

function encodeNak(request: DhcpPacket): Uint8Array {
  return encodePacket(buildReply(request, MessageType.Nak, { message: 'no' }));
}

const macFor = (i: number): string =>
  `02:10:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

/** A lease saved before a restart, `ageMs` old when restored, lasting `leaseS`. */
function savedLease(i: number, now: number, ageMs: number, leaseS: number): Lease {
  const mac = macFor(i);
  const requestedAt = now - ageMs;
  const ip = `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`;
  return {
    id: `r${i}`,
    identity: { mac, clientId: clientIdForMac(mac) },
    ip,
    serverId: SERVER,
    state: 'BOUND',
    binding: { ip, serverId: SERVER, requestedAt, leaseTimeSeconds: leaseS, xid: i },
    requestedAt,
    renewAt: requestedAt + leaseS * 500,
    rebindAt: requestedAt + leaseS * 875,
    expiresAt: requestedAt + leaseS * 1000,
    retryAt: null,
    recoveryAttempts: 0,
  };
}

describe('LeaseManager.restoring: a start-up reads the lease table straight into the manager', () => {
  it('holds what it is told, sends nothing until started, then resumes each lease as restore does', async () => {
    const table = manager.restoring();
    const now = clock.now();
    const valid = savedLease(1, now, 10_000, LEASE_S);
    const expired = savedLease(2, now, 120_000, LEASE_S);
    table.put(savedLease(1, now, 50_000, LEASE_S));
    table.put(expired);
    table.put(valid);
    table.put(savedLease(3, now, 0, LEASE_S));
    table.delete('r3');
    // Malformed: logged and left out, as restore does.
    table.put({ ...savedLease(4, now, 0, LEASE_S), serverId: 'nowhere' });
    table.put({ ...savedLease(5, now, 0, LEASE_S), ip: '10.0.0.256' });
    table.put({ ...savedLease(6, now, 0, LEASE_S), identity: { mac: '02:00:00:00:00', clientId: clientIdForMac(macFor(6)) } });
    expect(table.settle()).toEqual([]);
    expect([...table.values()]).toEqual([expired, valid]);
    expect(table.size).toBe(2);
    await clock.advance(20_000);
    expect(server.decodedRequests).toHaveLength(0);
    expect(manager.get('r2')?.state).toBe('BOUND');

    // Started 20 s later: lease 2 has expired, lease 1 has reached its T1.
    expect(table.start()).toBe(2);
    await clock.advance(0);
    expect(eventTypes()).toEqual(['expired']);
    await clock.advance(1_000);
    expect(eventTypes().sort()).toEqual(['expired', 'reacquired', 'renewed']);
    expect(manager.get('r1')?.state).toBe('BOUND');
    expect(manager.get('r2')?.state).toBe('BOUND');
  });

  it('of two acknowledged holders of an address keeps the one recorded later, and drops the other with a reason', () => {
    const table = manager.restoring();
    const now = clock.now();
    const first = savedLease(1, now, 0, LEASE_S);
    const second = { ...savedLease(2, now, 0, LEASE_S), ip: first.ip };
    table.put(first);
    table.put(second);
    table.put(savedLease(3, now, 0, LEASE_S));
    expect(table.settle()).toEqual([`lease r1: ${first.ip} is also held by r2`]);
    expect([...table.values()].map((l) => l.id)).toEqual(['r2', 'r3']);
    expect(manager.holdersOf(first.ip).map((l) => l.id)).toEqual(['r2']);
  });

  it('keeps an acknowledged holder of an address over an offer recorded before it', () => {
    const table = manager.restoring();
    const now = clock.now();
    const offer = { ...savedLease(1, now, 0, LEASE_S), state: 'REBOOTING' as const };
    table.put(offer);
    table.put({ ...savedLease(2, now, 0, LEASE_S), ip: offer.ip });
    expect(table.settle()).toEqual([`lease r1: ${offer.ip} is also held by r2`]);
    expect(manager.holdersOf(offer.ip).map((l) => l.id)).toEqual(['r2']);
  });

  it('is only for a manager that holds nothing yet', async () => {
    await manager.acquire('c1', { identity });
    expect(() => manager.restoring()).toThrow(/already holds leases/);
  });
});

describe('LeaseManager at scale and under outage (issue 6)', () => {
  /** A client and manager with default bounds on a fresh clock and server. */
  function setup(
    handler: Handler,
    random = seeded(1),
  ): { manager: LeaseManager; client: DhcpClient; clock: FakeClock; server: ScriptedServer; transport: MemoryTransport } {
    const clock = new FakeClock();
    const transport = new MemoryTransport();
    const server = new ScriptedServer(transport, SERVER);
    server.handler = handler;
    const log = testLog();
    const client = new DhcpClient({ transport, clock, server: SERVER, log, random });
    const manager = new LeaseManager({ client, clock, log, random });
    return { manager, client, clock, server, transport };
  }

  it('restoring 10,000 leases past T1 renews them all, paced and bounded, and spreads the next T1s', async () => {
    const LEASE = 3_600;
    const s = setup(dora((p) => getIPv4(p.options, OptionCode.RequestedIpAddress) ?? '192.0.2.100', { leaseTimeSeconds: LEASE }));
    const perMs = new Map<number, number>();
    let maxInFlight = 0;
    const serve = s.transport.onSend;
    s.transport.onSend = (sent) => {
      perMs.set(s.clock.now(), (perMs.get(s.clock.now()) ?? 0) + 1);
      maxInFlight = Math.max(maxInFlight, s.client.inFlight);
      serve?.(sent);
    };
    const renewed = new Map<string, Lease>();
    s.manager.on((e) => {
      if (e.type === 'renewed') renewed.set(e.lease.id, e.lease);
    });
    const N = 10_000;
    const t0 = s.clock.now();
    // All acquired in one burst 2,000 s ago: T1 (1,800 s) passed while the daemon was down.
    for (let i = 0; i < N; i++) s.manager.restore(savedLease(i, t0, 2_000_000, LEASE));
    expect(await s.clock.advanceUntil(() => renewed.size === N, 120_000, 1_000)).toBe(true);
    const took = s.clock.now() - t0;
    // Nothing in one instant beyond the sender's burst (10 ms worth), nothing in any second
    // beyond its rate; in fact the spread keeps it far below both.
    expect(Math.max(...perMs.values())).toBeLessThanOrEqual(DEFAULT_DATAGRAMS_PER_SECOND / 100);
    const perSecond = new Map<number, number>();
    for (const [at, n] of perMs) perSecond.set(Math.floor((at - t0) / 1000), (perSecond.get(Math.floor((at - t0) / 1000)) ?? 0) + n);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(DEFAULT_DATAGRAMS_PER_SECOND / 10);
    expect(maxInFlight).toBeLessThanOrEqual(DEFAULT_MAX_IN_FLIGHT);
    // Spread over a window that grows with the number of leases, but all renewed well before T2.
    expect(took).toBeGreaterThan(5_000);
    expect(took).toBeLessThan(60_000);
    expect(s.server.requestsOfType(MessageType.Request)).toHaveLength(N);
    // The next T1s cover a good part of the lease, not a couple of seconds.
    const next = [...renewed.values()].map((l) => l.renewAt as number);
    expect(Math.max(...next) - Math.min(...next)).toBeGreaterThan(0.15 * LEASE * 1000);
    s.client.close();
    await s.manager.stop();
  }, 30_000);

  it('restoring 2,000 leases that expired while the daemon was down spreads their first INIT-REBOOTs at the overdue rate', async () => {
    const s = setup(dora((p) => getIPv4(p.options, OptionCode.RequestedIpAddress) ?? '192.0.2.100', { leaseTimeSeconds: 3_600 }));
    const firstAt = new Map<string, number>();
    const serve = s.transport.onSend;
    s.transport.onSend = (sent) => {
      serve?.(sent);
      const p = s.server.decodedRequests.at(-1) as DhcpPacket;
      const mac = Array.from(p.chaddr.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
      if (getUint8(p.options, 53) === MessageType.Request && !firstAt.has(mac)) firstAt.set(mac, s.clock.now());
    };
    const N = 2_000;
    const t0 = s.clock.now();
    // Saved BOUND past their expiry (the daemon was down longer than the lease), and saved
    // already EXPIRED or REBOOTING with their retry due.
    for (let i = 0; i < N; i++) {
      const saved = savedLease(i, t0, 4_000_000, 3_600);
      const lease: Lease =
        i % 3 === 1 ? { ...saved, state: 'EXPIRED', retryAt: t0 - 1_000 } : i % 3 === 2 ? { ...saved, state: 'REBOOTING', retryAt: null } : saved;
      s.manager.restore(lease);
    }
    expect(await s.clock.advanceUntil(() => firstAt.size === N, 60_000, 100)).toBe(true);
    expect(s.manager.list().every((l) => l.state === 'BOUND')).toBe(true);
    // 250 a second by default (a fortieth of the datagram rate): 2,000 take about 8 s, and no
    // tenth of a second sees many more than its share.
    const times = [...firstAt.values()];
    expect(Math.max(...times) - t0).toBeGreaterThan(7_000);
    const perTenth = new Map<number, number>();
    for (const at of times) perTenth.set(Math.floor((at - t0) / 100), (perTenth.get(Math.floor((at - t0) / 100)) ?? 0) + 1);
    expect(Math.max(...perTenth.values())).toBeLessThanOrEqual(30);
    s.client.close();
    await s.manager.stop();
  });

  it('a fresh acquisition completes promptly while 100 expired leases are recovered against a silent server', async () => {
    const fresh = { mac: '02:42:c0:00:02:99', clientId: clientIdForMac('02:42:c0:00:02:99') };
    const serve = dora(() => '192.0.2.199');
    // The server answers only the new container; the expired leases' clients get silence.
    const s = setup((p) => (Array.from(p.chaddr.subarray(0, 6)).join(':') === '2:66:192:0:2:153' ? serve(p) : undefined));
    const t0 = s.clock.now();
    for (let i = 0; i < 100; i++) s.manager.restore(savedLease(i, t0, 4_000_000, 3_600));
    for (const at of [1_000, 15_000, 30_000, 50_000, 90_000]) {
      await s.clock.advance(t0 + at - s.clock.now());
      const started = s.clock.now();
      let done = false;
      const acquiring = s.manager.acquire(`fresh${at}`, { identity: fresh }).then(() => (done = true));
      expect(await s.clock.advanceUntil(() => done, 10_000, 10)).toBe(true);
      await acquiring;
      expect(s.clock.now() - started).toBeLessThanOrEqual(100);
      const released = s.manager.release(`fresh${at}`);
      await s.clock.advance(100);
      await released;
    }
    s.client.close();
    await s.manager.stop();
  });

  it("a pool's worth of background releases does not hold up Docker's release", async () => {
    const s = setup(() => undefined);
    const t0 = s.clock.now();
    for (let i = 0; i < 101; i++) s.manager.restore(savedLease(i, t0, 60_000, 3_600));
    // ReleasePool's batch at background priority, then one ReleaseAddress.
    const batch = Array.from({ length: 100 }, (_, i) => s.manager.release(`r${i}`, { priority: Priority.Upkeep }));
    await s.clock.advance(5);
    let done = false;
    const docker = s.manager.release('r100').then(() => (done = true));
    expect(await s.clock.advanceUntil(() => done, 1_000, 1)).toBe(true);
    await docker;
    expect(s.clock.now() - t0).toBeLessThanOrEqual(10);
    await s.clock.advance(1_000);
    await Promise.all(batch);
    const released = s.server.requestsOfType(MessageType.Release).map((p) => p.ciaddr);
    expect(released).toHaveLength(101);
    expect(released.indexOf(savedLease(100, t0, 0, 3_600).ip)).toBeLessThan(5);
  });

  it('release during a recovery step returns at once, stops the step and sends RELEASE last', async () => {
    const s = setup(() => undefined);
    const t0 = s.clock.now();
    const lease = savedLease(7, t0, 4_000_000, 3_600);
    s.manager.restore(lease);
    await s.clock.advance(10_000);
    expect(s.manager.get(lease.id)?.state).toBe('REBOOTING');
    let released = false;
    const releasing = s.manager.release(lease.id).then(() => (released = true));
    expect(await s.clock.advanceUntil(() => released, 5_000, 10)).toBe(true);
    await releasing;
    expect(s.clock.now() - t0 - 10_000).toBeLessThanOrEqual(100);
    const sent = s.server.decodedRequests.length;
    expect(getUint8(s.server.decodedRequests.at(-1)!.options, 53)).toBe(MessageType.Release);
    // No retransmission of the aborted step after the RELEASE.
    await s.clock.advance(120_000);
    expect(s.server.decodedRequests).toHaveLength(sent);
  });

  it('forget during a recovery step stops the step without a RELEASE', async () => {
    const s = setup(() => undefined);
    const lease = savedLease(8, s.clock.now(), 4_000_000, 3_600);
    s.manager.restore(lease);
    await s.clock.advance(10_000);
    expect(s.manager.get(lease.id)?.state).toBe('REBOOTING');
    expect(s.manager.forget(lease.id)).toMatchObject({ id: lease.id });
    await s.clock.advance(0);
    const sent = s.server.decodedRequests.length;
    await s.clock.advance(120_000);
    expect(s.server.decodedRequests).toHaveLength(sent);
    expect(s.server.requestsOfType(MessageType.Release)).toHaveLength(0);
    expect(s.client.inFlight).toBe(0);
  });

  it('forget during a reboot step whose server ACKs another address: no RELEASE after forget returns', async () => {
    const clock = new FakeClock();
    const transport = new MemoryTransport();
    const server = new ScriptedServer(transport, SERVER);
    server.handler = dora((p) => getIPv4(p.options, OptionCode.RequestedIpAddress) ?? '192.0.2.100');
    const log = testLog();
    // The client checks that an ACK is for the address asked for; this one hands the manager
    // another address, the case its reboot step guards against.
    class OtherAddressClient extends DhcpClient {
      override async reboot(...args: Parameters<DhcpClient['reboot']>): Promise<Binding> {
        return { ...(await super.reboot(...args)), ip: '192.0.2.222' };
      }
    }
    // One RELEASE a second: the step's RELEASE waits for its turn behind an earlier one.
    const client = new OtherAddressClient({ transport, clock, server: SERVER, log, random: seeded(1), releasesPerSecond: 1 });
    const manager = new LeaseManager({ client, clock, log, random: seeded(1) });
    const lease = savedLease(9, clock.now(), 4_000_000, 3_600);
    await client.release({ identity: { mac: '02:42:c0:00:02:77', clientId: clientIdForMac('02:42:c0:00:02:77') }, ip: '192.0.2.77', serverId: SERVER });
    manager.restore(lease);
    expect(await clock.advanceUntil(() => server.requestsOfType(MessageType.Request).length > 0, 1_000, 1)).toBe(true);
    await clock.advance(10);
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(1);
    // A name taken over: the new lease uses the same client id from now on.
    expect(manager.forget(lease.id)).toMatchObject({ id: lease.id });
    await clock.advance(5_000);
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(1);
    expect(manager.list()).toEqual([]);
    client.close();
    await manager.stop();
  });

  it('renews an infinite lease at least once a day', async () => {
    const s = setup(dora(() => '192.0.2.100', { leaseTimeSeconds: 0xffffffff }));
    const renewedAt: number[] = [];
    s.manager.on((e) => {
      if (e.type === 'renewed') renewedAt.push(s.clock.now());
    });
    const DAY = 86_400_000;
    const start = s.clock.now();
    await s.manager.acquire('c1', { identity });
    await s.clock.advance(10 * DAY);
    expect(renewedAt.length).toBeGreaterThanOrEqual(10);
    const gaps = renewedAt.map((at, i) => at - (i === 0 ? start : (renewedAt[i - 1] as number)));
    expect(Math.max(...gaps)).toBeLessThanOrEqual(DAY);
    expect(s.manager.get('c1')).toMatchObject({ state: 'BOUND', expiresAt: null });
    s.client.close();
    await s.manager.stop();
  });

  it('keeps retrying an infinite lease when the server is silent, without spinning', async () => {
    let up = true;
    const serve = dora(() => '192.0.2.100', { leaseTimeSeconds: 0xffffffff });
    const s = setup((p) => (up ? serve(p) : undefined));
    await s.manager.acquire('c1', { identity });
    up = false;
    await s.clock.advance(4 * 86_400_000);
    const tries = s.server.requestsOfType(MessageType.Request).length;
    expect(tries).toBeGreaterThan(4);
    expect(tries).toBeLessThan(200);
    up = true;
    await s.clock.advance(86_400_000);
    expect(s.manager.get('c1')?.state).toBe('BOUND');
    s.client.close();
    await s.manager.stop();
  });
});

describe('LeaseManager indexes (issue 7)', () => {
  const restoredLease = (pool: string, n: number): Lease => {
    const mac = `02:00:00:00:0${pool.length}:${n.toString(16).padStart(2, '0')}`;
    const requestedAt = clock.now();
    return {
      id: `${pool}#${mac}`,
      identity: { mac, clientId: clientIdForMac(mac) },
      ip: `192.0.2.${n}`,
      serverId: SERVER,
      state: 'BOUND',
      binding: { ip: `192.0.2.${n}`, serverId: SERVER, requestedAt, leaseTimeSeconds: 600, xid: 0 },
      requestedAt,
      renewAt: requestedAt + 300_000,
      rebindAt: requestedAt + 500_000,
      expiresAt: requestedAt + 600_000,
      retryAt: null,
      recoveryAttempts: 0,
    };
  };

  it('finds leases by address, pool and client id, and forgets them when they go', async () => {
    const a = restoredLease('p1', 10);
    const b = restoredLease('p1', 11);
    const c = restoredLease('p22', 12);
    for (const l of [a, b, c]) expect(manager.restore(l)).toBe(true);
    expect(manager.size).toBe(3);
    expect(manager.holdersOf('192.0.2.11').map((l) => l.id)).toEqual([b.id]);
    expect(manager.otherHolderOf('192.0.2.11', a.id)?.id).toBe(b.id);
    expect(manager.otherHolderOf('192.0.2.11', b.id)).toBeUndefined();
    expect(manager.otherHolderOf('192.0.2.13', a.id)).toBeUndefined();
    expect(manager.otherHolderOf('not an address', a.id)).toBeUndefined();
    expect(manager.holds('192.0.2.12')).toBe(true);
    expect(manager.holds('192.0.2.13')).toBe(false);
    expect(
      manager
        .leasesInPool('p1')
        .map((l) => l.id)
        .sort(),
    ).toEqual([a.id, b.id].sort());
    expect(manager.leasesInPool('p22').map((l) => l.id)).toEqual([c.id]);
    expect(manager.leasesOfClientId(c.identity.clientId).map((l) => l.id)).toEqual([c.id]);
    // A lease handed out is a value: what the caller holds does not change with the table.
    const heldC = manager.leasesOfClientId(c.identity.clientId)[0] as Lease;
    manager.forget(a.id);
    await manager.release(c.id);
    expect(heldC.state).toBe('BOUND');
    expect(manager.holds('192.0.2.10')).toBe(false);
    expect(manager.leasesInPool('p1').map((l) => l.id)).toEqual([b.id]);
    expect(manager.leasesInPool('p22')).toEqual([]);
    expect(manager.leasesOfClientId(c.identity.clientId)).toEqual([]);
    expect(manager.size).toBe(1);
  });

  it('finds a lease by any client id: the one its MAC implies (whatever the case of the MAC in the table), a name, raw bytes that spell a MAC', () => {
    const upper = { ...restoredLease('p3', 20), identity: { mac: '02:00:00:00:0A:BC', clientId: clientIdForMac('02:00:00:00:0a:bc') } };
    const named = { ...restoredLease('p3', 21), identity: { mac: '02:00:00:00:03:15', clientId: clientIdForName('web'), hostname: 'web' } };
    // A client id whose bytes read as a MAC in colon form: its key must not meet that MAC's.
    const spelled = new TextEncoder().encode('02:00:00:00:03:16');
    const raw = { ...restoredLease('p3', 22), identity: { mac: '02:00:00:00:03:16', clientId: spelled } };
    for (const l of [upper, named, raw]) expect(manager.restore(l)).toBe(true);
    expect(manager.leasesOfClientId(clientIdForMac('02:00:00:00:0a:bc')).map((l) => l.id)).toEqual([upper.id]);
    expect(manager.leasesOfClientId(clientIdForName('web')).map((l) => l.id)).toEqual([named.id]);
    expect(manager.leasesOfClientId(spelled).map((l) => l.id)).toEqual([raw.id]);
    expect(manager.leasesOfClientId(clientIdForMac('02:00:00:00:03:16'))).toEqual([]);
    for (const l of [upper, named, raw]) manager.forget(l.id);
    expect(manager.leasesOfClientId(clientIdForMac('02:00:00:00:0a:bc'))).toEqual([]);
    expect(manager.leasesOfClientId(clientIdForName('web'))).toEqual([]);
    expect(manager.leasesOfClientId(spelled)).toEqual([]);
  });

  it('tells apart the MACs whose client ids share a key, and finds addresses from 128.0.0.0 up', () => {
    // The client-id index keys a MAC by its low 30 bits: these two differ only above them.
    const low = { ...restoredLease('p5', 40), identity: { mac: '02:00:00:00:00:41', clientId: clientIdForMac('02:00:00:00:00:41') } };
    const high = { ...restoredLease('p5', 41), identity: { mac: '02:00:40:00:00:41', clientId: clientIdForMac('02:00:40:00:00:41') }, ip: '198.51.100.41' };
    for (const l of [low, high]) expect(manager.restore(l)).toBe(true);
    expect(manager.leasesOfClientId(clientIdForMac('02:00:00:00:00:41')).map((l) => l.id)).toEqual([low.id]);
    expect(manager.leasesOfClientId(clientIdForMac('02:00:40:00:00:41')).map((l) => l.id)).toEqual([high.id]);
    expect(manager.leasesOfClientId(clientIdForMac('02:00:80:00:00:41'))).toEqual([]);
    expect(manager.holdersOf('198.51.100.41').map((l) => l.id)).toEqual([high.id]);
    expect(manager.holds('198.51.100.41')).toBe(true);
    expect(manager.holdersOf('not an address')).toEqual([]);
    expect(manager.holds('198.51.100.410')).toBe(false);
    manager.forget(low.id);
    expect(manager.leasesOfClientId(clientIdForMac('02:00:40:00:00:41')).map((l) => l.id)).toEqual([high.id]);
    manager.forget(high.id);
    expect(manager.holds('198.51.100.41')).toBe(false);
  });

  it('keeps when a lease was handed out with the lease, and forgets it with the lease', () => {
    const a = restoredLease('p4', 30);
    expect(manager.restore(a)).toBe(true);
    expect(manager.handedOutAt(a.id)).toBeUndefined();
    manager.noteHandedOut(a.id, 1_700_000_000_123);
    manager.noteHandedOut('p4#nobody', 5);
    expect(manager.handedOutAt(a.id)).toBe(1_700_000_000_123);
    expect(manager.handedOutAt('p4#nobody')).toBeUndefined();
    expect([...manager.views()].find((v) => v.id === a.id)?.handedOutAt).toBe(1_700_000_000_123);
    manager.forget(a.id);
    expect(manager.handedOutAt(a.id)).toBeUndefined();
    // The row it had now serves another lease, which starts without a stamp.
    expect(manager.restore(restoredLease('p4', 31))).toBe(true);
    expect([...manager.views()].map((v) => v.handedOutAt)).not.toContain(1_700_000_000_123);
  });
});
