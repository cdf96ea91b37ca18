/**
 * The stop's last log line: "leases kept for the next start" only when there are leases to keep
 * (it used to be printed after a run that never leased anything).
 */
import { fastify } from 'fastify';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { systemClock } from './clock.js';
import { stopPlugin } from './daemon.js';
import { DhcpClient } from './dhcp/client.js';
import { clientIdForMac } from './dhcp/messages.js';
import { LeaseManager } from './lease/manager.js';
import { MemoryStore } from '../test/support/memory-store.js';
import { MemoryTransport } from '../test/support/memory-transport.js';

async function lastLine(leases: number): Promise<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  const transport = new MemoryTransport();
  const client = new DhcpClient({ transport, clock: systemClock, server: '192.0.2.1', log });
  const manager = new LeaseManager({ client, clock: systemClock, log });
  for (let i = 0; i < leases; i++) {
    const mac = `02:00:00:00:00:0${i + 1}`;
    const now = Date.now();
    manager.restore({
      id: `pool#${mac}`,
      identity: { mac, clientId: clientIdForMac(mac) },
      ip: `192.0.2.${10 + i}`,
      serverId: '192.0.2.1',
      state: 'BOUND',
      binding: { ip: `192.0.2.${10 + i}`, serverId: '192.0.2.1', requestedAt: now, leaseTimeSeconds: 600, xid: 1 },
      requestedAt: now,
      renewAt: now + 300_000,
      rebindAt: now + 525_000,
      expiresAt: now + 600_000,
      retryAt: null,
      recoveryAttempts: 0,
    });
  }
  await stopPlugin({ app: fastify(), client, manager, store: new MemoryStore(), transport, log, clock: systemClock, graceMs: 1_000 });
  return lines.at(-1) ?? {};
}

describe('the stop log line', () => {
  it('says no leases are held when there are none', async () => {
    expect(await lastLine(0)).toMatchObject({ msg: 'stopped; no leases held', leases: 0 });
  });

  it('says the leases are kept when there are some', async () => {
    expect(await lastLine(2)).toMatchObject({ msg: 'stopped; leases kept for the next start', leases: 2 });
  });
});
