/**
 * DHCP server fixtures for lab tests: ISC dhcpd, Kea and dnsmasq, each run inside the lab's
 * server netns with its config and lease DB in a fresh temp dir.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { dnsmasqDriver } from './dnsmasq.js';
import { iscDriver } from './isc.js';
import { keaDriver } from './kea.js';
import type { Lab } from './netns.js';
import { createServerFixture } from './server-fixture.js';
import type { DhcpServerFixture, ServerDriver, ServerKind, ServerLease, ServerOptions } from './server-types.js';

export type { DhcpServerFixture, Reservation, ServerKind, ServerLease, ServerOptions } from './server-types.js';
export { SERVER_KINDS } from './server-types.js';

const DRIVERS: Readonly<Record<ServerKind, ServerDriver>> = {
  isc: iscDriver,
  kea: keaDriver,
  dnsmasq: dnsmasqDriver,
};

/** Create (but do not start) a `kind` server fixture on `lab`. */
export function createServer(kind: ServerKind, lab: Lab, opts: ServerOptions): DhcpServerFixture {
  return createServerFixture(DRIVERS[kind], lab, opts);
}

/**
 * Poll `server.leases()` until one lease satisfies `predicate`. Servers write their lease DB
 * around the time they send the reply (dnsmasq just after), so a single read can be too early.
 *
 * @throws Error with the leases seen last and the server log after `timeoutMs`.
 */
export async function waitForLease(server: DhcpServerFixture, predicate: (lease: ServerLease) => boolean, timeoutMs = 2_000): Promise<ServerLease> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leases = await server.leases();
    const found = leases.find(predicate);
    if (found !== undefined) return found;
    if (Date.now() > deadline) {
      throw new Error(`no matching ${server.kind} lease within ${timeoutMs} ms; leases: ${JSON.stringify(leases)}\nserver log:\n${server.log()}`);
    }
    await sleep(25);
  }
}

/** One lease of a server's table as a line for people: MAC, address, state, end. */
export function formatServerLease(l: ServerLease): string {
  return `${String(l.mac).padEnd(17)}  ${l.ip.padEnd(15)} ${l.active ? 'active' : 'free  '}  ends ${l.endsAt === null ? 'never' : new Date(l.endsAt).toISOString()}`;
}
