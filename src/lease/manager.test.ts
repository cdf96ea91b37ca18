import { beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { MemoryTransport } from '../../test/support/memory-transport.js';
import { buildReply, dora, ScriptedServer, type Handler } from '../../test/support/scripted-server.js';
import { testLog } from '../../test/support/silent-log.js';
import { DhcpClient } from '../dhcp/client.js';
import { MessageType, OptionCode } from '../dhcp/codec/option-codes.js';
import { getIPv4, getUint8 } from '../dhcp/codec/options.js';
import { encodePacket, type DhcpPacket } from '../dhcp/codec/packet.js';
import { clientIdForMac } from '../dhcp/messages.js';
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
  manager = new LeaseManager({ client, clock, log, random: () => 0.5, minRetryMs: 5_000, recoveryInitialMs: 4_000, recoveryMaxMs: 16_000, rebootTimeoutMs: 20_000 });
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
    server.handler = (p) => (getUint8(p.options, 53) === MessageType.Request && p.options.has(54) && server.decodedRequests.length > 2 && nak ? ((nak = false), buildReply(p, MessageType.Nak, { message: 'lease lost' })) : normal(p));
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
    await clock.advance(0);
    expect(eventTypes()).toEqual(['expired', 'reacquired']);
    const [first] = server.decodedRequests;
    expect(getUint8(first!.options, 53)).toBe(MessageType.Request);
    expect(first!.options.has(54)).toBe(false);
    expect(manager.get('c9')).toMatchObject({ state: 'BOUND', ip: '192.0.2.55' });
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
