import { beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { MemoryTransport } from '../../test/support/memory-transport.js';
import { buildReply, dora, ScriptedServer } from '../../test/support/scripted-server.js';
import { testLog } from '../../test/support/silent-log.js';
import { DhcpClient } from './client.js';
import { MessageType, OptionCode, FLAG_BROADCAST } from './codec/option-codes.js';
import { encodePacket } from './codec/packet.js';
import { getIPv4, getUint8, ipv4Value } from './codec/options.js';
import { AddressUnavailableError, ClientClosedError, NakError, NoResponseError } from './errors.js';
import { clientIdForMac } from './messages.js';

const SERVER = '192.0.2.1';
const MAC = '02:42:c0:00:02:07';
const identity = { mac: MAC, clientId: clientIdForMac(MAC) };

let clock: FakeClock;
let transport: MemoryTransport;
let server: ScriptedServer;
let client: DhcpClient;

function makeClient(extra: Partial<ConstructorParameters<typeof DhcpClient>[0]> = {}): DhcpClient {
  let xid = 0x1000;
  return new DhcpClient({ transport, clock, server: SERVER, log: testLog(), random: () => 0.5, nextXid: () => xid++, ...extra });
}

beforeEach(() => {
  clock = new FakeClock();
  transport = new MemoryTransport();
  server = new ScriptedServer(transport, SERVER);
  client = makeClient();
});

describe('DhcpClient.acquire', () => {
  it('completes DISCOVER/OFFER/REQUEST/ACK with the RFC 2131 SELECTING fields', async () => {
    server.handler = dora(() => '192.0.2.100', { leaseTimeSeconds: 600 });
    const started = clock.now();
    const binding = await client.acquire({ identity });
    expect(binding).toMatchObject({ ip: '192.0.2.100', serverId: SERVER, leaseTimeSeconds: 600, requestedAt: started });
    const [discover, request] = server.decodedRequests;
    expect(transport.sent.map((s) => `${s.address}:${s.port}`)).toEqual([`${SERVER}:67`, `${SERVER}:67`]);
    expect(discover?.flags).toBe(FLAG_BROADCAST);
    expect(request?.xid).toBe(discover?.xid);
    expect(request?.secs).toBe(discover?.secs);
    expect(getIPv4(request!.options, OptionCode.RequestedIpAddress)).toBe('192.0.2.100');
    expect(getIPv4(request!.options, OptionCode.ServerIdentifier)).toBe(SERVER);
    expect(request?.ciaddr).toBe('0.0.0.0');
    expect(request?.options.get(OptionCode.ClientIdentifier)).toEqual(identity.clientId);
  });

  it('retransmits the DISCOVER at 4 s then 8 s (RFC 2131 §4.1)', async () => {
    let discovers = 0;
    const handle = dora(() => '192.0.2.100');
    server.handler = (p) => (getUint8(p.options, 53) === MessageType.Discover && ++discovers < 3 ? undefined : handle(p));
    const done = client.acquire({ identity });
    await clock.advance(3_999);
    expect(server.decodedRequests).toHaveLength(1);
    await clock.advance(1);
    expect(server.decodedRequests).toHaveLength(2);
    await clock.advance(7_999);
    expect(server.decodedRequests).toHaveLength(2);
    await clock.advance(1);
    await expect(done).resolves.toMatchObject({ ip: '192.0.2.100' });
    const sentDiscovers = server.requestsOfType(MessageType.Discover);
    expect(new Set(sentDiscovers.map((p) => p.xid)).size).toBe(1);
    expect(sentDiscovers.map((p) => p.secs)).toEqual([0, 4, 12]);
  });

  it('fails with NoResponseError at its deadline, naming server and MAC', async () => {
    const done = client.acquire({ identity, timeoutMs: 10_000 });
    const failed = expect(done).rejects.toThrow(NoResponseError);
    await clock.advance(10_000);
    await failed;
    await expect(done).rejects.toThrow(`no OFFER reply from DHCP server ${SERVER} for ${MAC}`);
    expect(client.inFlight).toBe(0);
  });

  it('ignores spoofed, foreign and malformed replies and completes with the real server', async () => {
    const real = dora(() => '192.0.2.100');
    server.handler = (p) => {
      const rogue = [
        buildReply(p, MessageType.Offer, { yiaddr: '198.51.100.66', serverId: '198.51.100.1' }), // rogue server
        { ...buildReply(p, MessageType.Offer, { yiaddr: '198.51.100.67' }), xid: p.xid ^ 1 }, // wrong xid
        { ...buildReply(p, MessageType.Offer, { yiaddr: '198.51.100.68' }), chaddr: new Uint8Array(16).fill(7) }, // wrong chaddr
        (() => {
          const r = buildReply(p, MessageType.Offer, { yiaddr: '198.51.100.69' });
          r.options.set(OptionCode.ClientIdentifier, Uint8Array.of(1, 9, 9, 9, 9, 9, 9));
          return r;
        })(), // someone else's client id
        { ...buildReply(p, MessageType.Offer), op: 1 }, // a request, not a reply
      ];
      for (const r of rogue) transport.inject(encodePacket(r));
      transport.inject(encodePacket(buildReply(p, MessageType.Offer)).subarray(0, 250)); // truncated
      transport.inject(Uint8Array.from({ length: 300 }, (_, i) => i & 0xff)); // garbage
      return real(p);
    };
    await expect(client.acquire({ identity })).resolves.toMatchObject({ ip: '192.0.2.100' });
    // While the REQUEST is out, the rogue OFFER is dropped for its type before its server is checked.
    expect(client.stats).toMatchObject({
      'foreign-server': 1,
      'unexpected-type': 1,
      'unknown-xid': 2,
      'wrong-chaddr': 2,
      'wrong-client-id': 2,
      'not-a-reply': 2,
      malformed: 4,
      accepted: 2,
    });
  });

  it('takes one answer per transaction: a duplicate read in the same turn is a counted stray', async () => {
    // The server answered a retransmission too, and both replies were read before the
    // transaction woke: the second must not count as accepted.
    const real = dora(() => '192.0.2.100');
    server.handler = (p) => {
      const reply = real(p);
      for (const r of reply === undefined ? [] : Array.isArray(reply) ? reply : [reply]) transport.inject(encodePacket(r));
      return reply;
    };
    await expect(client.acquire({ identity })).resolves.toMatchObject({ ip: '192.0.2.100' });
    expect(client.stats).toMatchObject({ accepted: 2 });
    expect(client.stats['unknown-xid'] + client.stats['unexpected-type']).toBe(2);
  });

  it('believes extra server identifiers only when configured', async () => {
    client = makeClient({ extraServerIds: ['192.0.2.2'] });
    server.handler = dora(() => '192.0.2.100', { serverId: '192.0.2.2' });
    await expect(client.acquire({ identity })).resolves.toMatchObject({ serverId: '192.0.2.2' });
  });

  it('starts over after a NAK while selecting (dnsmasq "address in use")', async () => {
    let naks = 1;
    const handle = dora(() => '192.0.2.101');
    server.handler = (p) =>
      getUint8(p.options, 53) === MessageType.Request && naks-- > 0 ? buildReply(p, MessageType.Nak, { message: 'address in use' }) : handle(p);
    const done = client.acquire({ identity });
    await clock.advance(2_000);
    await expect(done).resolves.toMatchObject({ ip: '192.0.2.101' });
    expect(server.requestsOfType(MessageType.Discover)).toHaveLength(2);
  });

  it('says what each offer grants once its REQUEST is out, before the ACK', async () => {
    let naks = 1;
    let next = 110;
    const handle = dora(() => `192.0.2.${next++}`, { leaseTimeSeconds: 600 });
    server.handler = (p) =>
      getUint8(p.options, 53) === MessageType.Request && naks-- > 0 ? buildReply(p, MessageType.Nak, { message: 'address in use' }) : handle(p);
    const told: Array<{ ip: string; serverId: string; leaseTimeSeconds: number; requestedAt: number; sent: number }> = [];
    let settled = false;
    const done = client.acquire({ identity, onRequesting: (b) => told.push({ ...b, sent: settled ? -1 : transport.sent.length }) });
    void done.finally(() => (settled = true));
    await clock.advance(2_000);
    const binding = await done;
    // One call per offer: the first was NAKed, the second acknowledged. Each came once its
    // REQUEST had gone out (a DISCOVER and a REQUEST each time), before the acquisition ended.
    expect(told.map((t) => [t.ip, t.serverId, t.leaseTimeSeconds, t.sent])).toEqual([
      ['192.0.2.110', SERVER, 600, 2],
      ['192.0.2.111', SERVER, 600, 4],
    ]);
    expect(told[1]?.requestedAt).toBe(binding.requestedAt);
    expect(binding.ip).toBe('192.0.2.111');
  });

  it('asks for a requested address with option 50', async () => {
    server.handler = dora((p) => getIPv4(p.options, OptionCode.RequestedIpAddress) ?? '192.0.2.100');
    await expect(client.acquire({ identity, requestedIp: '192.0.2.77', requireRequested: true })).resolves.toMatchObject({ ip: '192.0.2.77' });
    expect(getIPv4(server.decodedRequests[0]!.options, OptionCode.RequestedIpAddress)).toBe('192.0.2.77');
  });

  it('refuses another address than the one required, without requesting it', async () => {
    server.handler = dora(() => '192.0.2.100');
    const err = await client.acquire({ identity, requestedIp: '192.0.2.77', requireRequested: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AddressUnavailableError);
    expect(String(err)).toContain('will not lease 192.0.2.77 to 02:42:c0:00:02:07 (it offered 192.0.2.100 instead)');
    expect(server.requestsOfType(MessageType.Request)).toHaveLength(0);
  });

  it('gives every concurrent acquisition its own xid and answer', async () => {
    let next = 100;
    server.handler = dora(() => `192.0.2.${next++}`);
    const macs = Array.from({ length: 50 }, (_, i) => `02:00:00:00:01:${i.toString(16).padStart(2, '0')}`);
    const all = Promise.all(macs.map((mac) => client.acquire({ identity: { mac, clientId: clientIdForMac(mac) } })));
    // 100 datagrams: more than the sender lets out back to back, so time must move.
    await clock.advance(100);
    const bindings = await all;
    expect(new Set(bindings.map((b) => b.ip)).size).toBe(50);
    expect(new Set(server.requestsOfType(MessageType.Discover).map((p) => p.xid)).size).toBe(50);
  });

  it('draws a new xid when the source repeats one in flight', async () => {
    client = makeClient({
      nextXid: (() => {
        const seq = [5, 5, 5, 6];
        let i = 0;
        return () => seq[Math.min(i++, 3)] as number;
      })(),
    });
    const both = Promise.allSettled([
      client.acquire({ identity, timeoutMs: 1000 }),
      client.acquire({ identity: { mac: '02:00:00:00:00:09', clientId: clientIdForMac('02:00:00:00:00:09') }, timeoutMs: 1000 }),
    ]);
    await clock.advance(0);
    expect(server.decodedRequests.map((p) => p.xid)).toEqual([5, 6]);
    await clock.advance(1000);
    await both;
  });

  it('limits concurrent acquisitions', async () => {
    client = makeClient({ maxConcurrentAcquisitions: 2 });
    const id = (i: number) => ({ mac: `02:00:00:00:00:0${i}`, clientId: clientIdForMac(`02:00:00:00:00:0${i}`) });
    const all = Promise.allSettled([
      client.acquire({ identity: id(1), timeoutMs: 1000 }),
      client.acquire({ identity: id(2), timeoutMs: 1000 }),
      client.acquire({ identity: id(3), timeoutMs: 5000 }),
    ]);
    await clock.advance(0);
    expect(server.decodedRequests).toHaveLength(2);
    await clock.advance(1000);
    await clock.advance(0);
    expect(server.decodedRequests).toHaveLength(3);
    await clock.advance(5000);
    await all;
  });

  it('counts time queued for a slot against the acquisition timeout', async () => {
    client = makeClient({ maxConcurrentAcquisitions: 1 });
    const first = client.acquire({ identity, timeoutMs: 10_000 }).catch((e: unknown) => e);
    const queued = client
      .acquire({ identity: { mac: '02:00:00:00:00:09', clientId: clientIdForMac('02:00:00:00:00:09') }, timeoutMs: 3_000 })
      .catch((e: unknown) => e);
    await clock.advance(10_000);
    expect(await queued).toBeInstanceOf(NoResponseError);
    expect(await first).toBeInstanceOf(NoResponseError);
    // The queued one never got to send anything.
    expect(server.decodedRequests.every((p) => p.chaddr[5] === 0x07)).toBe(true);
  });

  it('fails transactions in flight when closed', async () => {
    const done = client.acquire({ identity });
    await clock.advance(0);
    client.close();
    await expect(done).rejects.toThrow(ClientClosedError);
  });
});

describe('DhcpClient renew, rebind, reboot, release', () => {
  const held = { identity, ip: '192.0.2.100', serverId: SERVER };

  it('renews with ciaddr 0, options 50 and 54 and the BROADCAST flag', async () => {
    server.handler = dora(() => '192.0.2.100');
    await expect(client.renew(held, clock.now() + 30_000)).resolves.toMatchObject({ ip: '192.0.2.100' });
    const [req] = server.decodedRequests;
    expect(req).toMatchObject({ ciaddr: '0.0.0.0', flags: FLAG_BROADCAST });
    expect(getIPv4(req!.options, OptionCode.RequestedIpAddress)).toBe('192.0.2.100');
    expect(getIPv4(req!.options, OptionCode.ServerIdentifier)).toBe(SERVER);
  });

  it('rebinds in the INIT-REBOOT form, without option 54', async () => {
    server.handler = dora(() => '192.0.2.100');
    await client.rebind(held, clock.now() + 30_000);
    const [req] = server.decodedRequests;
    expect(req?.ciaddr).toBe('0.0.0.0');
    expect(req?.options.has(OptionCode.ServerIdentifier)).toBe(false);
    expect(getIPv4(req!.options, OptionCode.RequestedIpAddress)).toBe('192.0.2.100');
  });

  it('reports a NAK on renewal as NakError with the server message', async () => {
    server.handler = (p) => buildReply(p, MessageType.Nak, { message: 'wrong address' });
    await expect(client.renew(held, clock.now() + 30_000)).rejects.toThrow(new NakError(SERVER, MAC, '192.0.2.100', 'wrong address'));
  });

  it('reboot falls back to DISCOVER with option 50 after two silent INIT-REBOOT requests', async () => {
    const handle = dora(() => '192.0.2.100');
    server.handler = (p) => (getUint8(p.options, 53) === MessageType.Request && !p.options.has(OptionCode.ServerIdentifier) ? undefined : handle(p));
    const done = client.reboot(identity, '192.0.2.100', 60_000);
    await clock.advance(12_000);
    await expect(done).resolves.toMatchObject({ ip: '192.0.2.100' });
    const types = server.decodedRequests.map((p) => getUint8(p.options, 53));
    expect(types).toEqual([MessageType.Request, MessageType.Request, MessageType.Discover, MessageType.Request]);
    expect(getIPv4(server.decodedRequests[2]!.options, OptionCode.RequestedIpAddress)).toBe('192.0.2.100');
  });

  it('release is unicast to the server with ciaddr, option 54 and no option 50', async () => {
    await client.release(held);
    const [rel] = server.decodedRequests;
    expect(transport.sent[0]).toMatchObject({ address: SERVER, port: 67 });
    expect(rel).toMatchObject({ ciaddr: '192.0.2.100', flags: 0 });
    expect(getUint8(rel!.options, 53)).toBe(MessageType.Release);
    expect(getIPv4(rel!.options, OptionCode.ServerIdentifier)).toBe(SERVER);
    expect(rel?.options.has(OptionCode.RequestedIpAddress)).toBe(false);
    expect(rel?.options.has(OptionCode.ParameterRequestList)).toBe(false);
    expect(rel?.options.get(OptionCode.ClientIdentifier)).toEqual(identity.clientId);
  });

  it('drops an ACK from another server during renewal (only the lease server counts)', async () => {
    server.handler = (p) => [buildReply(p, MessageType.Nak, { serverId: '198.51.100.1' }), buildReply(p, MessageType.Ack, { yiaddr: '192.0.2.100' })];
    await expect(client.renew(held, clock.now() + 30_000)).resolves.toMatchObject({ serverId: SERVER });
    expect(client.stats['foreign-server']).toBe(1);
  });

  it('ignores an ACK with a malformed option instead of failing', async () => {
    server.handler = (p) => {
      const bad = buildReply(p, MessageType.Ack, { yiaddr: '192.0.2.100' });
      bad.options.set(OptionCode.Router, Uint8Array.of(1, 2, 3));
      transport.inject(encodePacket(bad));
      return buildReply(p, MessageType.Ack, { yiaddr: '192.0.2.100' });
    };
    await expect(client.renew(held, clock.now() + 30_000)).resolves.toMatchObject({ ip: '192.0.2.100' });
    expect(client.stats.malformed).toBe(1);
  });

  it('keeps the value of option 50 as sent', () => {
    expect(ipv4Value('192.0.2.100')).toEqual(Uint8Array.of(192, 0, 2, 100));
  });
});

describe('DhcpClient hardening', () => {
  it('drops replies that do not come from port 67', async () => {
    const real = dora(() => '192.0.2.100');
    server.handler = (p) => {
      transport.inject(
        encodePacket(buildReply(p, getUint8(p.options, 53) === MessageType.Discover ? MessageType.Offer : MessageType.Ack, { yiaddr: '192.0.2.66' })),
        { address: SERVER, port: 31337 },
      );
      return real(p);
    };
    await expect(client.acquire({ identity })).resolves.toMatchObject({ ip: '192.0.2.100' });
    expect(client.stats['wrong-port']).toBe(2);
  });

  it('drops an ACK for another address than the one requested', async () => {
    server.handler = (p) =>
      getUint8(p.options, 53) === MessageType.Discover
        ? buildReply(p, MessageType.Offer, { yiaddr: '192.0.2.100' })
        : [buildReply(p, MessageType.Ack, { yiaddr: '192.0.2.1' }), buildReply(p, MessageType.Ack, { yiaddr: '192.0.2.100' })];
    await expect(client.acquire({ identity })).resolves.toMatchObject({ ip: '192.0.2.100' });
    expect(client.stats['wrong-address']).toBe(1);
    server.handler = (p) => [buildReply(p, MessageType.Ack, { yiaddr: '192.0.2.200' }), buildReply(p, MessageType.Ack, { yiaddr: '192.0.2.100' })];
    await expect(client.renew({ identity, ip: '192.0.2.100', serverId: SERVER }, clock.now() + 30_000)).resolves.toMatchObject({ ip: '192.0.2.100' });
    expect(client.stats['wrong-address']).toBe(2);
  });

  it('drops OFFERs and ACKs with a lease time of 0', async () => {
    let zero = true;
    const real = dora(() => '192.0.2.100');
    server.handler = (p) => {
      if (!zero) return real(p);
      zero = false;
      return buildReply(p, MessageType.Offer, { leaseTimeSeconds: 0 });
    };
    const done = client.acquire({ identity });
    await clock.advance(5_000);
    await expect(done).resolves.toMatchObject({ leaseTimeSeconds: 600 });
    expect(client.stats.incomplete).toBe(1);
  });

  it('repeats the DISCOVER secs in the SELECTING REQUEST even when the OFFER is late', async () => {
    const real = dora(() => '192.0.2.100');
    let discovers = 0;
    server.handler = (p) => (getUint8(p.options, 53) === MessageType.Discover && ++discovers === 1 ? undefined : real(p));
    const done = client.acquire({ identity });
    await clock.advance(4_000);
    await done;
    const [, second, request] = server.decodedRequests;
    expect(second?.secs).toBe(4);
    expect(request?.secs).toBe(4);
  });

  it('uses a new xid for each DISCOVER round', async () => {
    client = makeClient({ initialRetransmitMs: 1_000 });
    let requests = 0;
    const real = dora(() => '192.0.2.100');
    server.handler = (p) => (getUint8(p.options, 53) === MessageType.Request && ++requests <= 4 ? undefined : real(p));
    const done = client.acquire({ identity });
    await clock.advance(20_000);
    await done;
    const discovers = server.requestsOfType(MessageType.Discover);
    expect(discovers).toHaveLength(2);
    expect(discovers[0]?.xid).not.toBe(discovers[1]?.xid);
  });

  it('matches replies for a MAC given in upper case', async () => {
    server.handler = dora(() => '192.0.2.100');
    const upper = { mac: MAC.toUpperCase(), clientId: clientIdForMac(MAC) };
    await expect(client.acquire({ identity: upper })).resolves.toMatchObject({ ip: '192.0.2.100' });
  });

  it('release survives a send error (the lease then simply expires)', async () => {
    transport.send = async () => Promise.reject(new Error('ENETUNREACH'));
    await expect(client.release({ identity, ip: '192.0.2.100', serverId: SERVER })).resolves.toBeUndefined();
  });

  it('close() during a send ends the transaction with ClientClosedError', async () => {
    let unblock!: () => void;
    transport.send = () => new Promise<void>((resolve) => (unblock = resolve));
    const done = client.acquire({ identity }).catch((e: unknown) => e);
    await clock.advance(0);
    client.close();
    unblock();
    await clock.advance(0);
    expect(await done).toBeInstanceOf(ClientClosedError);
  });
});

describe('DhcpClient sender: one bounded, paced, prioritized path for every send (issue 6)', () => {
  const idn = (i: number) => {
    const mac = `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
    return { mac, clientId: clientIdForMac(mac) };
  };

  it('counts renewals, rebinds and reboots against the transactions in flight', async () => {
    client = makeClient({ maxInFlight: 4 });
    let most = 0;
    const serve = transport.onSend;
    transport.onSend = (s) => {
      most = Math.max(most, client.inFlight);
      serve?.(s);
    };
    const deadline = clock.now() + 100_000;
    const all = Promise.allSettled([
      ...Array.from({ length: 10 }, (_, i) => client.renew({ identity: idn(i), ip: `192.0.2.${i + 10}`, serverId: SERVER }, deadline)),
      ...Array.from({ length: 10 }, (_, i) => client.rebind({ identity: idn(i + 10), ip: `192.0.2.${i + 30}` }, deadline)),
      // Recoveries come after upkeep: this one gets its turn once the renewals are done.
      client.reboot(idn(20), '192.0.2.50', 200_000),
    ]);
    await clock.advance(0);
    // Background work leaves a slot free for Docker's requests.
    expect(client.inFlight).toBe(3);
    await clock.advance(200_000);
    await all;
    expect(most).toBeLessThanOrEqual(3);
    // Every one of them got its turn.
    expect(new Set(server.decodedRequests.map((p) => p.chaddr[5])).size).toBe(21);
  });

  it('paces every datagram, retransmissions and RELEASEs included', async () => {
    client = makeClient({ maxInFlight: 64, maxDatagramsPerSecond: 100 });
    const at: number[] = [];
    const serve = transport.onSend;
    transport.onSend = (s) => {
      at.push(clock.now());
      serve?.(s);
    };
    const t0 = clock.now();
    const deadline = clock.now() + 20_000;
    const renewals = Promise.allSettled(
      Array.from({ length: 60 }, (_, i) => client.renew({ identity: idn(i), ip: `192.0.2.${i + 10}`, serverId: SERVER }, deadline)),
    );
    const releases = Promise.all(Array.from({ length: 60 }, (_, i) => client.release({ identity: idn(i + 100), ip: `192.0.2.${i + 100}`, serverId: SERVER })));
    await clock.advance(30_000);
    await renewals;
    await releases;
    expect(at.length).toBe(180);
    for (let s = 0; s < 30; s++) {
      const inSecond = at.filter((x) => x >= t0 + s * 1000 && x < t0 + (s + 1) * 1000).length;
      expect(inSecond).toBeLessThanOrEqual(100 + 2);
    }
    expect(Math.max(...[...new Set(at)].map((x) => at.filter((y) => y === x).length))).toBeLessThanOrEqual(2);
  });

  it('serves a new acquisition before queued renewals and recoveries', async () => {
    // The option's former name still sets the bound.
    client = makeClient({ maxConcurrentAcquisitions: 4 });
    server.handler = (p) => (p.chaddr[5] === 0x07 ? dora(() => '192.0.2.100')(p) : undefined);
    const deadline = clock.now() + 60_000;
    const background = Promise.allSettled([
      ...Array.from({ length: 20 }, (_, i) => client.reboot(idn(i), `192.0.2.${i + 10}`, 60_000)),
      ...Array.from({ length: 20 }, (_, i) => client.renew({ identity: idn(i + 20), ip: `192.0.2.${i + 40}`, serverId: SERVER }, deadline)),
    ]);
    // Past the INIT-REBOOT tries: the recoveries are in their DISCOVER phase.
    await clock.advance(15_000);
    let done = false;
    const fresh = client.acquire({ identity }).then((b) => {
      done = true;
      return b;
    });
    await clock.advance(10);
    expect(done).toBe(true);
    await expect(fresh).resolves.toMatchObject({ ip: '192.0.2.100' });
    await clock.advance(200_000);
    await background;
  });

  it('aborts a transaction and its retransmissions on its signal', async () => {
    const stop = new AbortController();
    const renewal = client.renew({ identity, ip: '192.0.2.100', serverId: SERVER }, clock.now() + 60_000, { signal: stop.signal }).catch((e: unknown) => e);
    await clock.advance(1_000);
    stop.abort();
    await clock.advance(0);
    expect(await renewal).toBeInstanceOf(Error);
    expect(client.inFlight).toBe(0);
    const sent = server.decodedRequests.length;
    await clock.advance(60_000);
    expect(server.decodedRequests).toHaveLength(sent);
  });

  it('a step aborted after its turn to send came, before it ran, sends nothing (RELEASE and REQUEST)', async () => {
    // One datagram of burst: after the first RELEASE the next datagram waits for a token.
    client = makeClient({ maxDatagramsPerSecond: 100 });
    const other = { identity: idn(1), ip: '192.0.2.101', serverId: SERVER };
    for (const step of ['release', 'renew'] as const) {
      await clock.advance(1_000); // a full bucket
      await client.release(other);
      const stop = new AbortController();
      const opts = { signal: stop.signal };
      const held = { identity, ip: '192.0.2.100', serverId: SERVER };
      const done = (step === 'release' ? client.release(held, opts) : client.renew(held, clock.now() + 60_000, opts)).catch((e: unknown) => e);
      await clock.advance(2); // past the RELEASE pacer: now it waits for a token
      const due = clock.nextDueAt() as number;
      // Aborted at the very instant its token comes, after the grant and before the send.
      clock.setTimeout(() => stop.abort(), due - clock.now());
      const sent = server.decodedRequests.length;
      await clock.advance(60_000);
      expect(await done).toBeInstanceOf(Error);
      expect(server.decodedRequests.slice(sent).map((p) => getUint8(p.options, 53))).toEqual([]);
    }
  });

  it('says so when the only replies came from an untrusted server identifier', async () => {
    server.handler = dora(() => '192.0.2.100', { serverId: '10.0.0.2' });
    const done = client.acquire({ identity, timeoutMs: 20_000 }).catch((e: unknown) => e);
    await clock.advance(20_000);
    const err = await done;
    expect(err).toBeInstanceOf(NoResponseError);
    expect(String((err as Error).message)).toMatch(
      /no OFFER reply from DHCP server 192\.0\.2\.1 .*: 3 replies came from server identifier 10\.0\.0\.2, which is not trusted: add it to DHCP_SERVER_IDS/,
    );
    expect((err as NoResponseError).untrusted).toEqual(new Map([['10.0.0.2', 3]]));
  });
});
