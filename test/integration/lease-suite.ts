/**
 * Acceptance scenarios for the DHCP engine against one real server, steady state: acquisition,
 * requested and reserved addresses, concurrency on one socket, hostile replies, release and
 * renewal. Each server's test file calls `describeLeaseSuite` with its own lab name and subnet.
 */
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DhcpClient } from '../../src/dhcp/client.js';
import { BootOp, MessageType, OptionCode } from '../../src/dhcp/codec/option-codes.js';
import { decodePacket, encodePacket, type DhcpPacket } from '../../src/dhcp/codec/packet.js';
import { ipv4Value, uint32Value, uint8Value } from '../../src/dhcp/codec/options.js';
import { AddressUnavailableError, NoResponseError } from '../../src/dhcp/errors.js';
import { buildDiscover } from '../../src/dhcp/messages.js';
import { relayed, type SubnetOption } from '../../src/dhcp/relay.js';
import type { RelayLab } from '../support/lab/relay-lab.js';
import { UdpTransport, type DhcpTransport } from '../../src/dhcp/transport.js';
import { openEngine } from '../../src/engine.js';
import { systemClock } from '../../src/clock.js';
import { pino } from 'pino';
import { describeLab } from '../support/lab/prereqs.js';
import { expectEventually } from '../support/eventually.js';
import { waitForLease, type ServerKind, type ServerLease } from '../support/lab/servers.js';
import { identityFor, startEngineLab, testMac, type EngineLab, type EngineLabOptions } from './engine-lab.js';

/** `it` when the scenario applies to this suite's mode; otherwise nothing is registered. */
function itIf(applies: boolean): (name: string, fn: () => Promise<void>, timeout?: number) => void {
  return applies ? (name, fn, timeout) => it(name, fn, timeout) : () => undefined;
}

export interface LeaseSuiteOptions {
  kind: ServerKind;
  name: string;
  octet: number;
  leaseTimeSeconds: number;
  /** How many acquisitions run at once in the concurrency test. */
  concurrent: number;
  maxConcurrentAcquisitions?: number;
  pingCheck?: boolean;
  /** Relay mode (see `EngineLabOptions.relay`); direct mode without it. */
  relay?: EngineLabOptions['relay'];
}

const RANGE_FIRST = 20;
const RANGE_LAST = 239;

export function describeLeaseSuite(o: LeaseSuiteOptions): void {
  describeLab(`DHCP engine against ${o.kind}${o.pingCheck ? ' (ping check on)' : ''}${o.relay ? ' through a router, as a relay agent' : ''}`, () => {
    let t: EngineLab;
    const mac = (i: number): string => testMac(o.octet, i);
    const reservedMac = mac(900);

    beforeAll(async () => {
      t = await startEngineLab({
        kind: o.kind,
        name: o.name,
        octet: o.octet,
        maxConcurrentAcquisitions: o.maxConcurrentAcquisitions ?? 32,
        ...(o.relay === undefined ? {} : { relay: o.relay }),
        server: {
          leaseTimeSeconds: o.leaseTimeSeconds,
          rangeFirst: RANGE_FIRST,
          rangeLast: RANGE_LAST,
          reservations: [{ mac: reservedMac, ip: `10.231.${o.octet}.5` }],
          pingCheck: o.pingCheck ?? false,
        },
      });
    });

    afterAll(async () => {
      await t?.close();
    });

    const activeFor = (m: string, ip?: string) => (l: ServerLease) => l.active && l.mac === m && (ip === undefined || l.ip === ip);

    it('acquires an address that the server records as leased to the container MAC', async () => {
      const lease = await t.manager.acquire('one', { identity: identityFor(mac(1)), link: t.lab.subnet });
      expect(lease.serverId).toBe(t.lab.serverIp);
      const recorded = await waitForLease(t.server, activeFor(mac(1), lease.ip));
      expect(recorded.endsAt).toBeGreaterThan(Date.now());
      if (recorded.clientId !== null) expect(recorded.clientId).toBe(`01:${mac(1)}`);
      await t.manager.release('one');
    });

    it('grants a requested free address (option 50)', async () => {
      const wanted = t.lab.network(231);
      const lease = await t.manager.acquire('asked', { identity: identityFor(mac(2)), link: t.lab.subnet, requestedIp: wanted, requireRequested: true });
      expect(lease.ip).toBe(wanted);
      await waitForLease(t.server, activeFor(mac(2), wanted));
      await t.manager.release('asked');
    });

    it('gives a MAC its reserved address', async () => {
      const lease = await t.manager.acquire('reserved', { identity: identityFor(reservedMac), link: t.lab.subnet });
      expect(lease.ip).toBe(t.lab.network(5));
      await t.manager.release('reserved');
    });

    it('fails with a typed error for an address the server will not give, leaving no lease', async () => {
      const other = mac(3);
      const err = await t.manager
        .acquire('refused', { identity: identityFor(other), link: t.lab.subnet, requestedIp: t.lab.network(5), requireRequested: true })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AddressUnavailableError);
      expect(String(err)).toContain(`will not lease ${t.lab.network(5)} to ${other}`);
      expect(t.manager.get('refused')).toBeUndefined();
      await new Promise((r) => setTimeout(r, 500));
      expect((await t.server.leases()).filter(activeFor(other))).toEqual([]);
    });

    it(`runs ${o.concurrent} acquisitions at once on one socket: distinct addresses, all recorded, all released`, async () => {
      let lastLeft: string[] = [];
      const ids = Array.from({ length: o.concurrent }, (_, i) => i + 100);
      const leases = await Promise.all(ids.map((i) => t.manager.acquire(`c${i}`, { identity: identityFor(mac(i)), link: t.lab.subnet })));
      expect(new Set(leases.map((l) => l.ip)).size).toBe(o.concurrent);
      const recorded = await t.server.leases();
      for (const [k, lease] of leases.entries()) {
        expect(recorded.find(activeFor(mac(ids[k] as number), lease.ip)), `server lease for ${lease.ip}`).toBeDefined();
      }
      await Promise.all(ids.map((i) => t.manager.release(`c${i}`)));
      await expectEventually(async () => {
        const after = await t.server.leases();
        const left = leases.filter((l) => after.find((r) => r.ip === l.ip && r.active) !== undefined);
        if (left.length > 0) lastLeft = left.map((l) => l.ip);
        return left.length === 0;
      }, 5_000).catch((err: unknown) => {
        throw new Error(
          `${String(err)}; still active: ${lastLeft.join(' ')}; RELEASEs sent for them: ${t.transport.sentOfType(MessageType.Release).filter((p) => lastLeft.includes(p.ciaddr)).length}`,
        );
      });
    });

    // Registered only in the mode it is about: in the other it would only show up as skipped.
    itIf(o.relay !== undefined)(
      'names the subnet by option 82 link selection or option 118 subnet selection (82 wins); without either the server does not serve it',
      async () => {
        // A second relay agent on a second address of the host, beside the engine's.
        const relayLab = t.lab as RelayLab;
        const address = await relayLab.addUplinkAddress(131);
        const relayWith = async <T>(subnetOption: SubnetOption, use: (client: DhcpClient, socket: DhcpTransport) => Promise<T>): Promise<T> => {
          const engine = await openEngine({
            socket: { transport: await UdpTransport.open({ address, port: 67, reuseAddr: false }), server: t.lab.serverIp },
            clock: systemClock,
            log: pino({ level: 'silent' }),
            client: { initialRetransmitMs: 500, relay: { address, subnetOption } },
          });
          try {
            return await use(engine.client, engine.transport);
          } finally {
            await engine.close();
          }
        };
        for (const [k, subnetOption] of (['link-selection', 'subnet-selection', 'both'] as const).entries()) {
          const m = mac(600 + k);
          await relayWith(subnetOption, async (client) => {
            const b = await client.acquire({ identity: identityFor(m), link: t.lab.subnet, timeoutMs: 10_000 });
            expect(b.ip.startsWith(t.lab.network(0).replace(/0$/, '')), `${subnetOption}: ${b.ip}`).toBe(true);
            await waitForLease(t.server, activeFor(m, b.ip));
            await client.release({ identity: identityFor(m), ip: b.ip, serverId: b.serverId });
            await expectEventually(async () => (await t.server.leases()).find(activeFor(m, b.ip)) === undefined, 5_000);
          });
        }
        // No option naming it: the server picks the relay address's subnet, which has no pool.
        const err = await relayWith('none', (client) => client.acquire({ identity: identityFor(mac(610)), link: t.lab.subnet, timeoutMs: 3_000 })).catch(
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(NoResponseError);
        // Both options, naming different subnets: 82/5 is the one obeyed (the other names the
        // uplink, which has no pool). Sent by hand, as d4d never names two subnets.
        const offerFor = (link82: string, link118: string) =>
          relayWith('none', async (_client, socket) => {
            const xid = 0x5e1ec7 + link82.length;
            const offered = new Promise<DhcpPacket | undefined>((resolve) => {
              socket.onMessage((data) => {
                const p = decodePacket(data);
                if (p.xid === xid) resolve(p);
              });
              setTimeout(() => resolve(undefined), 2_000);
            });
            const discover = relayed(buildDiscover({ client: identityFor(mac(611)), xid, secs: 0 }), { address, subnetOption: 'link-selection' }, link82);
            discover.options.set(118, ipv4Value(link118));
            await socket.send(encodePacket(discover), t.lab.serverIp, 67);
            return offered;
          });
        expect((await offerFor(t.lab.network(0), relayLab.uplinkSubnet))?.yiaddr.startsWith(t.lab.network(0).replace(/0$/, ''))).toBe(true);
        expect(await offerFor(relayLab.uplinkSubnet, t.lab.network(0))).toBeUndefined();
      },
    );

    it('release frees the lease in the server database', async () => {
      const lease = await t.manager.acquire('rel', { identity: identityFor(mac(4)), link: t.lab.subnet });
      await waitForLease(t.server, activeFor(mac(4), lease.ip));
      await t.manager.release('rel');
      await expectEventually(async () => (await t.server.leases()).find(activeFor(mac(4), lease.ip)) === undefined, 5_000);
      const rel = t.transport.sentOfType(MessageType.Release, mac(4));
      expect(rel).toHaveLength(1);
      expect(rel[0]?.ciaddr).toBe(lease.ip);
    });

    // Direct mode only: the rogue answers on the segment's broadcast address, port 68, where
    // direct mode listens. A relay agent listens on its own address, port 67; the same checks
    // (match.ts) guard it, and hostile-rogue covers a rogue server with the real daemon.
    itIf(o.relay === undefined)('ignores garbage, truncated and spoofed replies injected during acquisitions', async () => {
      // A second client on its own socket, whose requests a rogue sees (as on a mirrored port)
      // and answers at once, ahead of the real server, with every kind of bad reply.
      const rogueIp = t.lab.network(250);
      const rogue = await openRogue(t.lab, rogueIp);
      const socket = await UdpTransport.open();
      const engine = await openEngine({
        socket: {
          transport: {
            send: async (data, address, port) => {
              await rogue.answer(decodePacket(data));
              await socket.send(data, address, port);
            },
            onMessage: (h) => socket.onMessage(h),
            close: () => socket.close(),
          },
          server: t.lab.serverIp,
        },
        clock: systemClock,
        log: pino({ level: 'silent' }),
        client: { initialRetransmitMs: 1_000 },
      });
      const { client } = engine;
      const macs = Array.from({ length: 10 }, (_, i) => mac(700 + i));
      try {
        const bindings = await Promise.all(macs.map((m) => client.acquire({ identity: identityFor(m) })));
        expect(bindings.every((b) => b.serverId === t.lab.serverIp && b.ip !== rogueIp)).toBe(true);
        expect(new Set(bindings.map((b) => b.ip)).size).toBe(macs.length);
        const recorded = await t.server.leases();
        for (const [i, b] of bindings.entries()) expect(recorded.find(activeFor(macs[i] as string, b.ip))).toBeDefined();
        // The rogue's replies really reached the socket and were dropped, each for its reason.
        expect(client.stats['foreign-server']).toBeGreaterThanOrEqual(macs.length);
        expect(client.stats['wrong-chaddr']).toBeGreaterThanOrEqual(macs.length);
        expect(client.stats['wrong-client-id']).toBeGreaterThanOrEqual(macs.length);
        expect(client.stats['unknown-xid']).toBeGreaterThanOrEqual(macs.length);
        expect(client.stats.malformed).toBeGreaterThanOrEqual(2 * macs.length);
        expect(client.stats['wrong-port']).toBeGreaterThanOrEqual(macs.length);
        expect(client.stats['wrong-address']).toBeGreaterThanOrEqual(macs.length);
        for (const [i, b] of bindings.entries()) await client.release({ identity: identityFor(macs[i] as string), ip: b.ip, serverId: b.serverId });
      } finally {
        rogue.close();
        await engine.close();
      }
    });

    it('renews: the server lease end moves forward across two renewals while a macvlan child holds the address', async () => {
      const m = mac(5);
      const { lease, done } = await t.holdAddress('renew', m);
      try {
        const first = await waitForLease(t.server, activeFor(m, lease.ip));
        const ends: number[] = [first.endsAt ?? 0];
        for (let k = 1; k <= 2; k++) {
          await t.waitForEvent((e) => e.type === 'renewed' && e.lease.id === 'renew' && countRenewals(t, 'renew') >= k, o.leaseTimeSeconds * 1000 + 5_000);
          const prev = ends[k - 1] as number;
          const now = await waitForLease(t.server, (l) => activeFor(m, lease.ip)(l) && (l.endsAt ?? 0) > prev, 5_000);
          ends.push(now.endsAt ?? 0);
        }
        expect(ends[2]).toBeGreaterThan(ends[1] as number);
        expect(ends[1]).toBeGreaterThan(ends[0] as number);
        expect(t.manager.get('renew')).toMatchObject({ state: 'BOUND', ip: lease.ip });
        // Renewals never went back to DISCOVER.
        expect(t.transport.sentOfType(MessageType.Discover, m)).toHaveLength(1);
      } finally {
        await done();
      }
    });
  });
}

function countRenewals(t: EngineLab, id: string): number {
  return t.events.filter((e) => e.type === 'renewed' && e.lease.id === id).length;
}

/**
 * A rogue DHCP server on the segment. For each request it is shown, it sends: an OFFER or ACK
 * from a foreign server identifier, replies with the wrong chaddr, the wrong xid and someone
 * else's client identifier, an ACK for an address nobody asked for, a truncated reply, random
 * bytes, and a reply from a port other than 67. It sends to the lab's subnet
 * broadcast address from the host side; the kernel delivers that to every local socket on port
 * 68, where the real server's broadcast replies arrive too, and it gets there first.
 */
async function openRogue(lab: EngineLab['lab'], rogueIp: string): Promise<{ answer(request: DhcpPacket): Promise<void>; close(): void }> {
  // From port 67, as servers send; one more socket on another port for replies that give
  // themselves away by their source port.
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  const offPort = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve) => socket.bind(67, lab.hostIp, () => resolve()));
  await new Promise<void>((resolve) => offPort.bind(0, lab.hostIp, () => resolve()));
  socket.setBroadcast(true);
  offPort.setBroadcast(true);
  const target = lab.network(255);
  const sendFrom = (s: typeof socket, bytes: Uint8Array): Promise<void> =>
    new Promise((resolve, reject) => s.send(bytes, 68, target, (err) => (err ? reject(err) : resolve())));
  const send = (bytes: Uint8Array): Promise<void> => sendFrom(socket, bytes);
  const reply = (request: DhcpPacket, serverId: string): DhcpPacket => {
    const type = request.options.get(OptionCode.MessageType)?.[0] === MessageType.Discover ? MessageType.Offer : MessageType.Ack;
    const options = new Map<number, Uint8Array>([
      [OptionCode.MessageType, uint8Value(type)],
      [OptionCode.ServerIdentifier, ipv4Value(serverId)],
      [OptionCode.LeaseTime, uint32Value(3600)],
    ]);
    return { ...request, op: BootOp.Reply, yiaddr: rogueIp, chaddr: request.chaddr.slice(), options };
  };
  return {
    async answer(request) {
      const foreign = reply(request, rogueIp);
      const wrongChaddr = { ...reply(request, lab.serverIp), chaddr: new Uint8Array(16).fill(0x66) };
      const wrongXid = { ...reply(request, lab.serverIp), xid: (request.xid ^ 0x80000000) >>> 0 };
      const wrongClientId = reply(request, lab.serverIp);
      wrongClientId.options.set(OptionCode.ClientIdentifier, Uint8Array.of(1, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66));
      const truncated = encodePacket(reply(request, lab.serverIp)).subarray(0, 243);
      const garbage = Uint8Array.from({ length: 300 }, () => Math.floor(Math.random() * 256));
      const wrongAddress = { ...reply(request, lab.serverIp), yiaddr: lab.network(251) };
      for (const p of [foreign, wrongChaddr, wrongXid, wrongClientId]) await send(encodePacket(p));
      // An ACK for another address than the one asked for (only a REQUEST names one).
      if (request.options.has(OptionCode.RequestedIpAddress)) await send(encodePacket(wrongAddress));
      await send(truncated);
      await send(garbage);
      await sendFrom(offPort, encodePacket(reply(request, lab.serverIp)));
    },
    close() {
      socket.close();
      offPort.close();
    },
  };
}
