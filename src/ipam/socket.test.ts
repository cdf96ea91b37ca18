/**
 * The plugin over a real unix socket, the way Docker talks to it: a caller that hangs up before
 * the reply, and a shutdown with calls under way. The DHCP side is the scripted server over the
 * memory transport, answering when the test says so.
 */
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { systemClock } from '../clock.js';
import { DhcpClient } from '../dhcp/client.js';
import { MessageType, OptionCode } from '../dhcp/codec/option-codes.js';
import { encodePacket, type DhcpPacket } from '../dhcp/codec/packet.js';
import { getUint8 } from '../dhcp/codec/options.js';
import { LeaseManager } from '../lease/manager.js';
import { expectEventually } from '../../test/support/eventually.js';
import { MemoryStore } from '../../test/support/memory-store.js';
import { MemoryTransport } from '../../test/support/memory-transport.js';
import { buildReply, dora, ScriptedServer } from '../../test/support/scripted-server.js';
import { testLog } from '../../test/support/silent-log.js';
import { callPlugin } from '../../test/support/plugin-client.js';
import { IpamDriver } from './driver.js';
import { buildServer } from './server.js';

const SERVER = '192.0.2.1';
const MAC = '02:42:2a:40:ac:c9';

let dir: string;
let sock: string;
let app: FastifyInstance;
let transport: MemoryTransport;
let server: ScriptedServer;
let store: MemoryStore;
let manager: LeaseManager;
let client: DhcpClient;
/** REQUESTs the server has not answered yet; `ackHeld()` answers them. */
let held: DhcpPacket[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'd4d-socket-'));
  sock = join(dir, 'd4d.sock');
  transport = new MemoryTransport();
  server = new ScriptedServer(transport, SERVER);
  held = [];
  let next = 100;
  const answer = dora(() => `192.0.2.${next++}`, { leaseTimeSeconds: 600 });
  // OFFERs at once; ACKs only when the test releases them (a slow server).
  server.handler = (p) => {
    if (getUint8(p.options, OptionCode.MessageType) !== MessageType.Request) return answer(p);
    held.push(p);
    return undefined;
  };
  const log = testLog();
  client = new DhcpClient({ transport, clock: systemClock, server: SERVER, log, random: () => 0.5 });
  manager = new LeaseManager({ client, clock: systemClock, log });
  store = new MemoryStore();
  const driver = new IpamDriver({ manager, client, store, log, clientIdMode: 'mac', driverName: 'd4d', hostName: 'h1' });
  app = await buildServer({ driver, log });
  await app.listen({ path: sock });
});

afterEach(async () => {
  client.close();
  await app.close();
  await manager.stop();
  await rm(dir, { recursive: true, force: true });
});

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
  const res = await callPlugin(sock, 'IpamDriver.RequestPool', { AddressSpace: 'local', Pool: '192.0.2.0/24', SubPool: '', Options: {}, V6: false });
  return res.body.PoolID as string;
}

it('gives back the address of a RequestAddress whose caller hung up before the reply', async () => {
  const poolId = await newPool();
  const payload = `${JSON.stringify({ PoolID: poolId, Address: '', Options: { 'com.docker.network.endpoint.macaddress': MAC } })}\n`;
  const req = request({ socketPath: sock, method: 'POST', path: '/IpamDriver.RequestAddress', headers: { 'Content-Length': Buffer.byteLength(payload) } });
  req.on('error', () => undefined); // the hang-up below
  req.end(payload);
  await expectEventually(async () => held.length === 1, 2_000, 5);
  // dockerd restarts while we wait on DHCP: its connection closes.
  req.destroy();
  await new Promise((r) => setTimeout(r, 50));
  ackHeld();
  await expectEventually(async () => server.requestsOfType(MessageType.Release).length === 1, 2_000, 10);
  expect(server.requestsOfType(MessageType.Release)[0]?.ciaddr).toBe('192.0.2.100');
  await expectEventually(async () => manager.list().length === 0 && store.lastSaved().length === 0, 2_000, 10);
});

it('keeps the address of a caller that waited for the reply', async () => {
  const poolId = await newPool();
  const reply = callPlugin(sock, 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { 'com.docker.network.endpoint.macaddress': MAC } });
  await expectEventually(async () => held.length === 1, 2_000, 5);
  ackHeld();
  expect(await reply).toEqual({ status: 200, body: { Address: '192.0.2.100/24', Data: {} } });
  await new Promise((r) => setTimeout(r, 50));
  expect(server.requestsOfType(MessageType.Release)).toHaveLength(0);
  expect(store.lastSaved().map(([, ip]) => ip)).toEqual(['192.0.2.100']);
});
