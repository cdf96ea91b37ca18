/**
 * The client in relay mode and with several servers: what goes where, as a relay agent, and
 * which server answers are believed. Two scripted servers share one memory transport and each
 * answers only what was sent to its own address.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { MemoryTransport } from '../../test/support/memory-transport.js';
import { dora, type Handler } from '../../test/support/scripted-server.js';
import { testLog } from '../../test/support/silent-log.js';
import { DhcpClient } from './client.js';
import { MessageType, OptionCode } from './codec/option-codes.js';
import { decodePacket, encodePacket, type DhcpPacket } from './codec/packet.js';
import { getUint8 } from './codec/options.js';
import { NoResponseError } from './errors.js';
import { clientIdForMac } from './messages.js';

const A = '192.0.2.1';
const B = '198.51.100.1';
const RELAY = '203.0.113.5';
const identity = (n: number) => {
  const mac = `02:42:c0:00:02:${n.toString(16).padStart(2, '0')}`;
  return { mac, clientId: clientIdForMac(mac) };
};

let clock: FakeClock;
let transport: MemoryTransport;
/** What each server saw, and its handler (undefined: down). */
let servers: Map<string, { seen: DhcpPacket[]; handler: Handler | undefined }>;

function serveFrom(address: string, pick: string): void {
  const handle = dora(() => pick);
  (servers.get(address) as { handler: Handler | undefined }).handler = (p) => {
    const reply = handle(p);
    if (reply === undefined || Array.isArray(reply)) return reply;
    reply.options.set(OptionCode.ServerIdentifier, Uint8Array.from(address.split('.').map(Number)));
    reply.giaddr = p.giaddr;
    return reply;
  };
}

function makeClient(extra: Partial<ConstructorParameters<typeof DhcpClient>[0]> = {}): DhcpClient {
  let xid = 0x1000;
  return new DhcpClient({ transport, clock, server: A, otherServers: [B], log: testLog(), random: () => 0.5, nextXid: () => xid++, ...extra });
}

const typeOf = (p: DhcpPacket): number | undefined => getUint8(p.options, OptionCode.MessageType);

beforeEach(() => {
  clock = new FakeClock();
  transport = new MemoryTransport();
  servers = new Map([A, B].map((s) => [s, { seen: [], handler: undefined }]));
  transport.onSend = (sent) => {
    const server = servers.get(sent.address);
    if (server === undefined) return;
    const request = decodePacket(sent.data);
    server.seen.push(request);
    const out = server.handler?.(request);
    for (const reply of out === undefined ? [] : Array.isArray(out) ? out : [out]) transport.inject(encodePacket(reply), { address: sent.address, port: 67 });
  };
});

describe('DhcpClient with several servers', () => {
  it('sends a DISCOVER the first server leaves unanswered to the next, and later acquisitions straight there', async () => {
    serveFrom(B, '198.51.100.50');
    const client = makeClient();
    const first = client.acquire({ identity: identity(1) });
    await clock.advance(4_000);
    expect((await first).serverId).toBe(B);
    expect(servers.get(A)?.seen.map(typeOf)).toEqual([MessageType.Discover]);
    expect(servers.get(B)?.seen.map(typeOf)).toEqual([MessageType.Discover, MessageType.Request]);
    const started = clock.now();
    const second = await client.acquire({ identity: identity(2) });
    expect(second.serverId).toBe(B);
    expect(clock.now()).toBe(started);
    expect(servers.get(A)?.seen).toHaveLength(1);
  });

  it('names every server tried when none answers', async () => {
    const client = makeClient();
    const failed = client.acquire({ identity: identity(1), timeoutMs: 10_000 }).catch((e: unknown) => e);
    await clock.advance(10_000);
    const err = await failed;
    expect(err).toBeInstanceOf(NoResponseError);
    expect(String(err)).toContain(`no OFFER reply from DHCP server ${A}, ${B} for`);
  });

  it('renews with the granting server only; rebinds and INIT-REBOOTs ask every server and take any answer', async () => {
    serveFrom(A, '192.0.2.50');
    const client = makeClient();
    const binding = await client.acquire({ identity: identity(1) });
    servers.get(A)!.handler = undefined;
    serveFrom(B, '192.0.2.50');
    const held = { identity: identity(1), ip: binding.ip, serverId: binding.serverId };
    const renewal = client.renew(held, clock.now() + 10_000).catch((e: unknown) => e);
    await clock.advance(10_000);
    expect(await renewal).toBeInstanceOf(NoResponseError);
    expect(servers.get(B)?.seen.filter((p) => typeOf(p) === MessageType.Request)).toHaveLength(0);
    const rebound = await client.rebind(held, clock.now() + 60_000);
    expect(rebound).toMatchObject({ ip: binding.ip, serverId: B });
    const rebooted = await client.reboot(identity(1), binding.ip, 60_000);
    expect(rebooted.serverId).toBe(B);
    // Both servers saw the rebind and the INIT-REBOOT: ciaddr 0, option 50, no option 54.
    for (const s of [A, B]) {
      const asked = servers.get(s)?.seen.filter((p) => typeOf(p) === MessageType.Request && !p.options.has(OptionCode.ServerIdentifier));
      expect(asked?.length, s).toBe(2);
    }
  });
});

describe('DhcpClient in relay mode', () => {
  it('relays every message: giaddr, hops 1, no BROADCAST flag, the subnet named by link selection', async () => {
    serveFrom(A, '10.20.0.50');
    const client = makeClient({ otherServers: [], relay: { address: RELAY, subnetOption: 'link-selection' } });
    const binding = await client.acquire({ identity: identity(1), link: '10.20.0.0' });
    const held = { identity: identity(1), ip: binding.ip, serverId: binding.serverId };
    await client.renew(held, clock.now() + 10_000);
    await client.rebind(held, clock.now() + 10_000);
    await client.release(held);
    const seen = servers.get(A)?.seen ?? [];
    expect(seen.map(typeOf)).toEqual([MessageType.Discover, MessageType.Request, MessageType.Request, MessageType.Request, MessageType.Release]);
    for (const p of seen) expect(p).toMatchObject({ giaddr: RELAY, hops: 1, flags: 0 });
    // The acquisition names the network it was asked for; renewal, rebind and release the
    // leased address, which lies in it (and which is all they know after a restart).
    const links = seen.map((p) => Array.from(p.options.get(OptionCode.RelayAgentInformation) ?? []).join('.'));
    expect(links).toEqual(['5.4.10.20.0.0', '5.4.10.20.0.0', ...Array<string>(3).fill('5.4.10.20.0.50')]);
    expect(transport.sent.every((s) => s.port === 67)).toBe(true);
  });

  it('says what to check in relay mode when no reply comes: the subnet it named and the way back to the relay address', async () => {
    const client = makeClient({ otherServers: [], relay: { address: RELAY, subnetOption: 'link-selection' } });
    const failed = client.acquire({ identity: identity(1), link: '10.20.0.0', timeoutMs: 10_000 }).catch((e: unknown) => e);
    await clock.advance(10_000);
    const err = await failed;
    expect(err).toBeInstanceOf(NoResponseError);
    expect(String(err)).toContain('a subnet containing 10.20.0.0 (named by RELAY_SUBNET_OPTION link-selection)');
    expect(String(err)).toContain(`reach the relay address ${RELAY}`);
    // The direct-mode advice points at the host's interface, which relay mode does not use.
    expect(String(err)).not.toContain('this host interface');
  });

  it('names no subnet when it has none to name (a network learning its subnet from the server)', async () => {
    serveFrom(A, '10.20.0.50');
    const client = makeClient({ otherServers: [], relay: { address: RELAY, subnetOption: 'both' } });
    await client.acquire({ identity: identity(1) });
    const discover = servers.get(A)?.seen[0];
    expect(discover?.giaddr).toBe(RELAY);
    expect(discover?.options.has(OptionCode.RelayAgentInformation)).toBe(false);
    expect(discover?.options.has(118)).toBe(false);
  });
});
