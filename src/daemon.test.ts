/**
 * The order of a stop, over a real unix socket with Docker-like keep-alive connections: the
 * plugin socket closes first, calls under way finish with DHCP still open (up to a bound, after
 * which their DHCP waits are cut short), and only then does DHCP close. The DHCP side is the
 * scripted server over the memory transport.
 */
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from './clock.js';
import { DhcpClient } from './dhcp/client.js';
import { MessageType, OptionCode } from './dhcp/codec/option-codes.js';
import { encodePacket, type DhcpPacket } from './dhcp/codec/packet.js';
import { getUint8 } from './dhcp/codec/options.js';
import { IpamDriver } from './ipam/driver.js';
import { buildServer } from './ipam/server.js';
import { LeaseManager } from './lease/manager.js';
import { stopPlugin } from './daemon.js';
import { expectEventually } from '../test/support/eventually.js';
import { MemoryStore } from '../test/support/memory-store.js';
import { MemoryTransport } from '../test/support/memory-transport.js';
import { buildReply, dora, ScriptedServer } from '../test/support/scripted-server.js';
import { testLog } from '../test/support/silent-log.js';

const SERVER = '192.0.2.1';

let dir: string;
let sock: string;
let app: FastifyInstance;
let transport: MemoryTransport;
let server: ScriptedServer;
let store: MemoryStore;
let manager: LeaseManager;
let client: DhcpClient;
let agent: Agent;
/** REQUESTs of acquisitions the server holds back while `slow` is set; `ackHeld()` answers them. */
let held: DhcpPacket[];
let slow: boolean;
const log = testLog();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'd4d-stop-'));
  sock = join(dir, 'd4d.sock');
  transport = new MemoryTransport();
  server = new ScriptedServer(transport, SERVER);
  held = [];
  slow = false;
  let next = 100;
  const answer = dora(() => `192.0.2.${next++}`, { leaseTimeSeconds: 600 });
  server.handler = (p) => {
    if (slow && getUint8(p.options, OptionCode.MessageType) === MessageType.Request) {
      held.push(p);
      return undefined;
    }
    return answer(p);
  };
  // Five RELEASEs a second: a burst of releases is still going out when the stop begins.
  client = new DhcpClient({ transport, clock: systemClock, server: SERVER, log, random: () => 0.5, releasesPerSecond: 5 });
  manager = new LeaseManager({ client, clock: systemClock, log });
  store = new MemoryStore();
  const driver = new IpamDriver({ manager, client, store, log, clientIdMode: 'mac', driverName: 'd4d', hostName: 'h1' });
  app = await buildServer({ driver, log });
  await app.listen({ path: sock });
  // Docker's plugin client keeps its connection open between calls.
  agent = new Agent({ keepAlive: true });
});

afterEach(async () => {
  agent.destroy();
  client.close();
  await app.close();
  await manager.stop();
  await rm(dir, { recursive: true, force: true });
});

const stop = (graceMs = 5_000) => stopPlugin({ app, client, manager, store, transport, log, clock: systemClock, graceMs });

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

function call(method: string, body: unknown): Promise<Reply> {
  const payload = `${JSON.stringify(body)}\n`;
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: sock, agent, method: 'POST', path: `/${method}`, headers: { 'Content-Length': Buffer.byteLength(payload) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

function ackHeld(): void {
  for (const p of held.splice(0)) {
    const asked = p.options.get(OptionCode.RequestedIpAddress);
    transport.inject(encodePacket(buildReply(p, MessageType.Ack, { yiaddr: Array.from(asked ?? []).join('.'), leaseTimeSeconds: 600 })), {
      address: SERVER,
      port: 67,
    });
  }
}

async function newPool(): Promise<string> {
  return (await call('IpamDriver.RequestPool', { AddressSpace: 'local', Pool: '192.0.2.0/24', SubPool: '', Options: {}, V6: false })).body.PoolID as string;
}

const endpoint = (poolId: string, mac: string) => ({ PoolID: poolId, Address: '', Options: { 'com.docker.network.endpoint.macaddress': mac } });

describe('stop', () => {
  it('does not wait on a connection without a call: one with half a request is closed after a short wait', async () => {
    const half = connect(sock);
    await new Promise<void>((resolve) => half.once('connect', () => resolve()));
    // Headers begun, never finished: no call, yet not an idle connection either.
    half.write('POST /IpamDriver.GetCapabilities HTTP/1.1\r\nHost: x\r\n');
    const gone = new Promise<void>((resolve) => half.once('close', () => resolve()));
    const started = Date.now();
    await stop();
    await gone;
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('sends the RELEASE of every ReleaseAddress under way before DHCP closes', async () => {
    const poolId = await newPool();
    for (const mac of ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03'])
      expect((await call('IpamDriver.RequestAddress', endpoint(poolId, mac))).status).toBe(200);
    const releases = ['192.0.2.100', '192.0.2.101', '192.0.2.102'].map((ip) => call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip }));
    // All three calls are under way (out of the lease table), and at most the first RELEASE
    // is out: the others wait their turn (paced) when the stop begins.
    await expectEventually(async () => manager.list().length === 0, 2_000, 5);
    expect(server.requestsOfType(MessageType.Release).length).toBeLessThanOrEqual(1);
    await stop();
    expect(await Promise.all(releases)).toEqual([1, 2, 3].map(() => ({ status: 200, body: {} })));
    expect(
      server
        .requestsOfType(MessageType.Release)
        .map((p) => p.ciaddr)
        .sort(),
    ).toEqual(['192.0.2.100', '192.0.2.101', '192.0.2.102']);
    expect(store.lastSaved()).toEqual([]);
    expect(transport.closed).toBe(true);
  });

  it('lets a RequestAddress waiting on DHCP finish, and saves its lease', async () => {
    const poolId = await newPool();
    slow = true;
    const reply = call('IpamDriver.RequestAddress', endpoint(poolId, '02:00:00:00:00:01'));
    await expectEventually(async () => held.length === 1, 2_000, 5);
    const stopped = stop();
    await new Promise((r) => setTimeout(r, 100));
    expect(transport.closed).toBe(false);
    ackHeld();
    expect(await reply).toEqual({ status: 200, body: { Address: '192.0.2.100/24', Data: {} } });
    await stopped;
    expect(store.lastSaved().map(([, ip]) => ip)).toEqual(['192.0.2.100']);
    expect(server.requestsOfType(MessageType.Release)).toHaveLength(0);
  });

  it('refuses new connections once the stop began', async () => {
    const poolId = await newPool();
    slow = true;
    const reply = call('IpamDriver.RequestAddress', endpoint(poolId, '02:00:00:00:00:01'));
    await expectEventually(async () => held.length === 1, 2_000, 5);
    const stopped = stop();
    await new Promise((r) => setTimeout(r, 50));
    await expect(call('IpamDriver.ReleaseAddress', { PoolID: poolId, Address: '192.0.2.100' })).rejects.toThrow(/ECONNREFUSED|ENOENT/);
    ackHeld();
    expect((await reply).status).toBe(200);
    await stopped;
  });

  it('past its bound, cuts DHCP waits short: the call fails, nothing is held, the stop ends', async () => {
    const poolId = await newPool();
    slow = true;
    const reply = call('IpamDriver.RequestAddress', endpoint(poolId, '02:00:00:00:00:01'));
    await expectEventually(async () => held.length === 1, 2_000, 5);
    const startedAt = Date.now();
    await stop(200);
    const tookMs = Date.now() - startedAt;
    expect(tookMs).toBeGreaterThanOrEqual(190);
    expect(tookMs).toBeLessThan(2_000);
    expect((await reply).status).toBe(500);
    expect(manager.list()).toEqual([]);
    expect(store.lastSaved()).toEqual([]);
  });

  it('ends at once when nothing is under way, keep-alive connections or not', async () => {
    expect((await call('Plugin.Activate', {})).status).toBe(200);
    const startedAt = Date.now();
    await stop();
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });

  it('stops reconciliation after the plugin socket closed and before DHCP closes, without holding up the socket', async () => {
    const poolId = await newPool();
    const got = await call('IpamDriver.RequestAddress', endpoint(poolId, '02:00:00:00:00:01'));
    expect(got.status).toBe(200);
    const seen: string[] = [];
    const reconciler = {
      async stop() {
        // A slow stop (a Docker read being aborted): the socket must already refuse, not answer 503.
        await new Promise((r) => setTimeout(r, 100));
        seen.push(
          await call('Plugin.Activate', {}).then(
            (r) => `answered ${r.status}`,
            (err: Error) => (/ECONNREFUSED|ENOENT/.test(err.message) ? 'refused' : err.message),
          ),
        );
        // DHCP is still open: a release under way at the stop still goes out.
        await manager.release(`${poolId}#02:00:00:00:00:01`);
        seen.push(`RELEASEs ${server.requestsOfType(MessageType.Release).length}`);
      },
    };
    await stopPlugin({ app, reconciler, client, manager, store, transport, log, clock: systemClock, graceMs: 5_000 });
    expect(seen).toEqual(['refused', 'RELEASEs 1']);
  });
});
