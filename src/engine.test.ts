/**
 * The composed engine over the memory transport and a scripted server: an acquisition goes
 * through it with the caller's options in force, and close() leaves nothing running (no renewal
 * armed, the socket closed, leases kept) in the order the daemon's stop relies on.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../test/support/fake-clock.js';
import { MemoryTransport } from '../test/support/memory-transport.js';
import { dora, ScriptedServer } from '../test/support/scripted-server.js';
import { testLog } from '../test/support/silent-log.js';
import { MessageType, OptionCode } from './dhcp/codec/option-codes.js';
import { getUint8 } from './dhcp/codec/options.js';
import { ClientClosedError, NoResponseError } from './dhcp/errors.js';
import { clientIdForMac } from './dhcp/messages.js';
import { openEngine, type Engine } from './engine.js';
import type { LeaseStepObserver } from './lease/observer.js';

const SERVER = '192.0.2.1';
const MAC = '02:42:c0:00:02:09';
const identity = { mac: MAC, clientId: clientIdForMac(MAC) };
const LEASE_S = 600;

let clock: FakeClock;
let transport: MemoryTransport;
let server: ScriptedServer;

const requestTypes = (): Array<number | undefined> => server.decodedRequests.map((p) => getUint8(p.options, OptionCode.MessageType));

let online: boolean;

async function open(o: { serverId?: string; extraServerIds?: string[]; observer?: LeaseStepObserver } = {}): Promise<Engine> {
  const answer = dora(() => '192.0.2.100', { leaseTimeSeconds: LEASE_S, ...(o.serverId === undefined ? {} : { serverId: o.serverId }) });
  server.handler = (p) => (online ? answer(p) : undefined);
  return openEngine({
    socket: { transport, server: SERVER },
    clock,
    log: testLog(),
    client: { random: () => 0.5, ...(o.extraServerIds === undefined ? {} : { extraServerIds: o.extraServerIds }) },
    manager: { random: () => 0.5, ...(o.observer === undefined ? {} : { observer: o.observer }) },
  });
}

beforeEach(() => {
  clock = new FakeClock();
  transport = new MemoryTransport();
  server = new ScriptedServer(transport, SERVER);
  online = true;
});

describe('openEngine', () => {
  it('leases an address through the composed client and manager, and renews it at T1', async () => {
    const engine = await open();
    const lease = await engine.manager.acquire('c1', { identity });
    expect(lease).toMatchObject({ state: 'BOUND', ip: '192.0.2.100', serverId: SERVER });
    expect(engine.transport).toBe(transport);
    expect(engine.description).toEqual({ server: SERVER });
    expect(requestTypes()).toEqual([MessageType.Discover, MessageType.Request]);
    expect(server.decodedRequests.every((p) => p.xid !== 0)).toBe(true);
    await clock.advance((LEASE_S / 2) * 1000);
    expect(requestTypes()).toEqual([MessageType.Discover, MessageType.Request, MessageType.Request]);
    await engine.close();
  });

  it("hands the caller's client options to the client: a server identifier trusted only through extraServerIds", async () => {
    // A multi-homed server answering from another identifier: dropped unless the caller trusts it.
    const untrusting = await open({ serverId: '192.0.2.9' });
    const attempt = untrusting.client.acquire({ identity, timeoutMs: 2_000 }).catch((err: unknown) => err);
    await clock.advance(3_000);
    expect(await attempt).toBeInstanceOf(NoResponseError);
    expect(untrusting.client.stats['foreign-server']).toBeGreaterThan(0);
    await untrusting.close();

    transport = new MemoryTransport();
    server = new ScriptedServer(transport, SERVER);
    const trusting = await open({ serverId: '192.0.2.9', extraServerIds: ['192.0.2.9'] });
    const lease = await trusting.manager.acquire('c1', { identity });
    expect(lease.serverId).toBe('192.0.2.9');
    await trusting.close();
  });

  it("hands the caller's manager options to the manager: its observer is told of a renewal the server left unanswered", async () => {
    const failed: string[] = [];
    const engine = await open({ observer: { stepFailed: (lease, step, err) => failed.push(`${lease.id} ${step} ${err.code}`) } });
    await engine.manager.acquire('c1', { identity });
    online = false;
    await clock.advance((LEASE_S / 2) * 1000 + 60_000);
    expect(failed[0]).toMatch(/^c1 renew /);
    await engine.close();
  });

  it('close() stops renewals, keeps the leases, then closes the socket, and runs the hook in between', async () => {
    const engine = await open();
    await engine.manager.acquire('c1', { identity });
    expect(clock.pending).toBeGreaterThan(0); // the renewal at T1 is armed
    const sentBefore = server.decodedRequests.length;
    const seenByHook: Array<{ armed: number; socketClosed: boolean }> = [];
    await engine.close({
      beforeSocketClose: async () => {
        seenByHook.push({ armed: clock.pending, socketClosed: transport.closed });
      },
    });
    // Renewals stopped before the hook ran; the socket closed after it.
    expect(seenByHook).toEqual([{ armed: 0, socketClosed: false }]);
    expect(transport.closed).toBe(true);
    // Past T1, T2 and the expiry: nothing is sent, not even a RELEASE, and the lease is still held.
    await clock.advance(2 * LEASE_S * 1000);
    expect(server.decodedRequests).toHaveLength(sentBefore);
    expect(engine.manager.get('c1')?.state).toBe('BOUND');
  });

  it('close() ends an acquisition under way at once, with nothing more sent for it', async () => {
    const engine = await open();
    online = false;
    const attempt = engine.manager.acquire('c1', { identity }).catch((err: unknown) => err);
    await clock.advance(1);
    const sentBefore = server.decodedRequests.length;
    expect(sentBefore).toBe(1); // the first DISCOVER
    await engine.close();
    expect(await attempt).toBeInstanceOf(ClientClosedError);
    await clock.advance(120_000);
    expect(server.decodedRequests).toHaveLength(sentBefore);
  });

  it('close() twice closes once', async () => {
    const engine = await open();
    let hooks = 0;
    const first = engine.close({ beforeSocketClose: async () => void hooks++ });
    const second = engine.close({ beforeSocketClose: async () => void hooks++ });
    expect(second).toBe(first);
    await first;
    expect(hooks).toBe(1);
  });
});
