/**
 * The DHCP engine as the daemon opens it (`openEngine`: one UDP/68 socket, one client, one lease
 * manager), pointed at a real server in a lab namespace, its socket wrapped to record what is
 * sent. Timers are real; retransmission and recovery delays are shortened so outage scenarios fit
 * in a test, the protocol logic is unchanged.
 */
import { pino } from 'pino';
import { systemClock } from '../../src/clock.js';
import type { DhcpClient } from '../../src/dhcp/client.js';
import { clientIdForMac, type ClientIdentity } from '../../src/dhcp/messages.js';
import { UdpTransport } from '../../src/dhcp/transport.js';
import { openEngine } from '../../src/engine.js';
import type { LeaseEvent } from '../../src/lease/events.js';
import type { LeaseManager } from '../../src/lease/manager.js';
import type { Lease } from '../../src/lease/lease.js';
import { RecordingTransport } from '../support/recording-transport.js';
import { createLab, type Lab } from '../support/lab/netns.js';
import { createServer, type DhcpServerFixture, type ServerKind, type ServerOptions } from '../support/lab/servers.js';
import { createRelayLab } from '../support/lab/relay-lab.js';
import { createRelayServer } from '../support/lab/relay-servers.js';
import { DEFAULT_SUBNET_OPTION, type RelayAgent, type SubnetOption } from '../../src/dhcp/relay.js';

export interface EngineLab {
  lab: Lab;
  server: DhcpServerFixture;
  transport: RecordingTransport;
  client: DhcpClient;
  manager: LeaseManager;
  events: LeaseEvent[];
  /**
   * Leases an address for `mac` under `id` and puts it on the wire as a container would (a
   * macvlan child with that MAC); `done()` removes the container and releases the lease.
   */
  holdAddress(id: string, mac: string): Promise<{ lease: Lease; done(): Promise<void> }>;
  /** Resolves with the first event matching `pred` (already seen or future), or rejects after `timeoutMs`. */
  waitForEvent(pred: (e: LeaseEvent) => boolean, timeoutMs: number): Promise<LeaseEvent>;
  close(): Promise<void>;
}

export interface EngineLabOptions {
  kind: ServerKind;
  name: string;
  octet: number;
  server: ServerOptions;
  maxConcurrentAcquisitions?: number;
  nextXid?: () => number;
  /**
   * Relay mode: a routed lab (relay-lab.ts: the server behind a router, the containers on a
   * segment where the host has no address), the engine a relay agent on the host's uplink
   * address, the server serving the containers' subnet only to requests that name it.
   */
  relay?: { infra: { octet: number }; subnetOption?: SubnetOption };
}

/** A MAC in the locally administered range, unique per lab and index. */
export function testMac(octet: number, i: number): string {
  return [
    '02',
    'd4',
    octet.toString(16).padStart(2, '0'),
    ((i >> 8) & 0xff).toString(16).padStart(2, '0'),
    (i & 0xff).toString(16).padStart(2, '0'),
    '01',
  ].join(':');
}

export function identityFor(mac: string): ClientIdentity {
  return { mac, clientId: clientIdForMac(mac) };
}

/** The lab, its server and the engine's socket, in the mode asked for. */
async function labFor(o: EngineLabOptions): Promise<{ lab: Lab; server: DhcpServerFixture; open: () => Promise<UdpTransport>; relay: RelayAgent | undefined }> {
  if (o.relay === undefined) {
    const lab = await createLab({ name: o.name, octet: o.octet });
    return { lab, server: createServer(o.kind, lab, o.server), open: () => UdpTransport.open(), relay: undefined };
  }
  const lab = await createRelayLab({ name: o.name, octet: o.octet, infra: o.relay.infra });
  return {
    lab,
    server: createRelayServer(o.kind, lab, o.server),
    // Port 67 of the relay address, not shared: the server answers there by unicast.
    open: () => UdpTransport.open({ address: lab.relayIp, port: 67, reuseAddr: false }),
    relay: { address: lab.relayIp, subnetOption: o.relay.subnetOption ?? DEFAULT_SUBNET_OPTION },
  };
}

export async function startEngineLab(o: EngineLabOptions): Promise<EngineLab> {
  const { lab, server, open, relay } = await labFor(o);
  let transport: RecordingTransport | undefined;
  try {
    await server.start();
    transport = new RecordingTransport(await open());
    const engine = await openEngine({
      socket: { transport, server: lab.serverIp },
      clock: systemClock,
      log: pino({ level: process.env.D4D_TEST_LOG ?? 'silent' }),
      client: {
        initialRetransmitMs: 1_000,
        maxConcurrentAcquisitions: o.maxConcurrentAcquisitions ?? 32,
        ...(o.nextXid ? { nextXid: o.nextXid } : {}),
        ...(relay === undefined ? {} : { relay }),
      },
      manager: { minRetryMs: 1_000, recoveryInitialMs: 1_000, recoveryMaxMs: 4_000, rebootTimeoutMs: 8_000 },
    });
    const { client, manager } = engine;
    const events: LeaseEvent[] = [];
    const waiters = new Set<() => void>();
    manager.on((e) => {
      events.push(e);
      for (const w of waiters) w();
    });
    const rt = transport;
    return {
      lab,
      server,
      transport: rt,
      client,
      manager,
      events,
      async holdAddress(id, mac) {
        // The lab's subnet, named to the server in relay mode as the driver names a network's.
        const lease = await manager.acquire(id, { identity: identityFor(mac), link: lab.subnet });
        const container = await lab.addContainer(mac, lease.ip);
        return {
          lease,
          async done() {
            await container.remove();
            await manager.release(id);
          },
        };
      },
      waitForEvent(pred, timeoutMs) {
        return new Promise((resolve, reject) => {
          const check = (): boolean => {
            const found = events.find(pred);
            if (found === undefined) return false;
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
            return true;
          };
          const timer = setTimeout(() => {
            waiters.delete(check);
            reject(new Error(`no matching lease event within ${timeoutMs} ms; events: ${events.map((e) => `${e.type}:${e.lease.ip}`).join(', ')}`));
          }, timeoutMs);
          if (!check()) waiters.add(check);
        });
      },
      async close() {
        await engine.close();
        await server.stop();
        await lab.destroy();
      },
    };
  } catch (err) {
    await transport?.close();
    await server.stop().catch(() => undefined);
    await lab.destroy();
    throw err;
  }
}
