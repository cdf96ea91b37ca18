/**
 * Fault suite: the DHCP server goes away under the daemon (built, its own network namespace).
 * - Stopped (SIGSTOP) for longer than T2 and longer than the lease, then continued: each
 *   container gets its address back, and Docker's calls keep answering throughout: a release
 *   promptly, a new request with an address or an `{"Err": …}` within the acquisition bound.
 * - Lease database wiped and the server restarted: the same addresses back.
 * - Server renumbered (its pool moved, its database gone, so it refuses our addresses): a loud
 *   `address-lost` in the log and the table keeps the old address, never a silent change.
 * Leases are 8 s (T1 ≈ 4 s, T2 ≈ 7 s) so each scenario takes seconds.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectEventually } from '../support/eventually.js';
import { randomMac } from '../support/kill-soak.js';
import { createIsolatedLab, type IsolatedLab } from '../support/lab/isolated.js';
import { netnsPids } from '../support/lab/namespaces.js';
import { describeLab } from '../support/lab/prereqs.js';
import { signalPid } from '../support/lab/processes.js';
import { createServer, type DhcpServerFixture, type ServerKind } from '../support/lab/servers.js';
import { readLeaseTable, replyAddress, startNetnsDaemon, type NetnsDaemon } from '../support/netns-daemon.js';
import { callPlugin, type PluginReply } from '../support/plugin-client.js';
import { BUILT_MAIN } from '../support/plugin-process.js';

const LEASE_SECONDS = 8;
/** The daemon's acquisition deadline (DEFAULT_ACQUIRE_TIMEOUT_MS) plus slack: no call may take longer. */
const REQUEST_BOUND_MS = 65_000;
/** A release must not wait for DHCP at all (docker rm during an outage). */
const RELEASE_BOUND_MS = 3_000;

const BINARY: Record<ServerKind, string> = { kea: 'kea-dhcp4', isc: 'dhcpd', dnsmasq: 'dnsmasq' };

/** The pid of the `kind` server running in `ns`. */
async function serverPid(ns: string, kind: ServerKind): Promise<number> {
  for (const pid of await netnsPids(ns)) {
    if ((await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === BINARY[kind]) return pid;
  }
  throw new Error(`no ${BINARY[kind]} runs in ${ns}`);
}

/** Resolves with the reply (or the transport error) and how long it took. */
async function timed(call: Promise<PluginReply>): Promise<{ reply: PluginReply | undefined; error: unknown; ms: number }> {
  const start = Date.now();
  try {
    const reply = await call;
    return { reply, error: undefined, ms: Date.now() - start };
  } catch (error) {
    return { reply: undefined, error, ms: Date.now() - start };
  }
}

export function describeOutage(kind: ServerKind, name: string, octet: number): void {
  describeLab(`fault: ${kind} server down, wiped, renumbered`, () => {
    let lab: IsolatedLab;
    let server: DhcpServerFixture;
    let dir: string;
    let daemon: NetnsDaemon;
    let poolId = '';
    const sock = (): string => join(dir, 'plugins', `${name}.sock`);
    const tablePath = (): string => join(dir, 'state', `leases-${name}.journal`);
    const request = (mac: string): Promise<PluginReply> =>
      callPlugin(sock(), 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { 'com.docker.network.endpoint.macaddress': mac } });
    const release = (ip: string): Promise<PluginReply> => callPlugin(sock(), 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip });
    const activeOnServer = async (mac: string, ip: string): Promise<boolean> => (await server.leases()).some((l) => l.active && l.mac === mac && l.ip === ip);
    const inTable = async (mac: string, ip: string): Promise<boolean> => (await readLeaseTable(tablePath())).some((l) => l.mac === mac && l.ip === ip);

    /** Every address a caller holds now, across the tests. */
    const held: Array<{ mac: string; ip: string }> = [];
    async function lease(): Promise<{ mac: string; ip: string }> {
      const mac = randomMac();
      const reply = await request(mac);
      const ip = replyAddress(reply);
      if (ip === undefined) throw new Error(`RequestAddress failed: ${JSON.stringify(reply.body)}`);
      held.push({ mac, ip });
      return { mac, ip };
    }
    const allBack = async (): Promise<boolean> => {
      const leases = await server.leases();
      return held.every((h) => leases.some((l) => l.active && l.mac === h.mac && l.ip === h.ip));
    };

    beforeAll(async () => {
      if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
      lab = await createIsolatedLab({ name, octet });
      dir = await mkdtemp(join(lab.workDir, 'd4d-'));
      await writeFile(join(dir, 'none.conf'), '# empty: everything comes from flags\n');
      server = createServer(kind, lab, { leaseTimeSeconds: LEASE_SECONDS, rangeFirst: 20, rangeLast: 100 });
      await server.start();
      daemon = await startNetnsDaemon({
        netns: lab.clientNs,
        args: [
          '--dhcp-server',
          lab.serverIp,
          '--listen-addr',
          lab.hostIp,
          '--driver-name',
          name,
          '--state-dir',
          join(dir, 'state'),
          '--plugin-dir',
          join(dir, 'plugins'),
          '--config',
          join(dir, 'none.conf'),
        ],
        socketPath: sock(),
      });
      const pool = await callPlugin(sock(), 'IpamDriver.RequestPool', { AddressSpace: 'local', Pool: `${lab.subnet}/24`, SubPool: '', Options: {}, V6: false });
      poolId = pool.body.PoolID as string;
    });

    afterAll(async () => {
      if (server !== undefined) signalPid(await serverPid(lab.serverNs, kind).catch(() => 0), 'SIGCONT');
      await daemon?.stop('SIGKILL');
      await server?.stop();
      await lab?.destroy();
    });

    it('stopped past T2 and past the lease: calls keep answering, the same addresses come back', async () => {
      const a = await lease();
      const b = await lease();
      const e = await lease();
      const pid = await serverPid(lab.serverNs, kind);
      signalPid(pid, 'SIGSTOP');
      let continued = false;
      try {
        // Past T2 (7 s): the daemon is rebinding when Docker calls.
        await sleep(LEASE_SECONDS * 900);
        const released = await timed(release(b.ip));
        expect(released.error).toBeUndefined();
        expect(released.reply).toEqual({ status: 200, body: {} });
        expect(released.ms, 'ReleaseAddress during the outage').toBeLessThan(RELEASE_BOUND_MS);
        held.splice(held.indexOf(b), 1);
        // A new container during the outage: the call is pending while the server is stopped.
        const freshMac = randomMac();
        const fresh = timed(request(freshMac));
        // Past the lease.
        await sleep(LEASE_SECONDS * 600);
        expect(daemon.process.exitCode).toBe(null);
        expect(await callPlugin(sock(), 'Plugin.Activate')).toMatchObject({ status: 200 });
        // docker rm after the lease ran out: the daemon is trying to win the address back, and
        // the release must not wait for that attempt (it waited up to a minute).
        const late = await timed(release(e.ip));
        expect(late.reply).toEqual({ status: 200, body: {} });
        expect(late.ms, 'ReleaseAddress after the lease expired, server still down').toBeLessThan(RELEASE_BOUND_MS);
        held.splice(held.indexOf(e), 1);
        signalPid(pid, 'SIGCONT');
        continued = true;
        const answered = await fresh;
        expect(answered.error).toBeUndefined();
        expect(answered.ms).toBeLessThan(REQUEST_BOUND_MS);
        const ok = answered.reply?.status === 200 || typeof answered.reply?.body.Err === 'string';
        expect(ok, JSON.stringify(answered.reply)).toBe(true);
        const freshIp = answered.reply === undefined ? undefined : replyAddress(answered.reply);
        if (freshIp !== undefined) held.push({ mac: freshMac, ip: freshIp });
      } finally {
        if (!continued) signalPid(pid, 'SIGCONT');
      }
      // The same address back for the container that kept it, in the server and the table.
      await expectEventually(() => activeOnServer(a.mac, a.ip), 40_000, 250);
      expect(await inTable(a.mac, a.ip)).toBe(true);
      await expectEventually(allBack, 20_000, 250);
      expect(daemon.log()).not.toMatch(/ADDRESS LOST|address-lost/);
    });

    it('database wiped and server restarted: the same addresses back', async () => {
      const c = await lease();
      await server.stop();
      // The fixture keeps its database in <workDir>/<kind>-*/: empty it.
      for (const entry of await readdir(lab.workDir)) {
        if (!entry.startsWith(`${kind}-`)) continue;
        for (const f of await readdir(join(lab.workDir, entry))) {
          if (/leases/.test(f)) await writeFile(join(lab.workDir, entry, f), '');
        }
      }
      expect((await server.leases()).some((l) => l.mac === c.mac)).toBe(false);
      await server.start();
      // Every container's address, each at its next renewal (or recovery).
      await expectEventually(allBack, LEASE_SECONDS * 1000 + 30_000, 250);
      for (const h of held) expect(await inTable(h.mac, h.ip)).toBe(true);
      expect(held).toContainEqual(c);
      expect(daemon.log()).not.toMatch(/ADDRESS LOST|address-lost/);
    });

    it('server renumbered (it refuses our addresses): a loud address-lost, never a silent change', async () => {
      const d = await lease();
      await server.stop();
      // Another pool, a fresh database: the server no longer has our addresses to give.
      server = createServer(kind, lab, { leaseTimeSeconds: LEASE_SECONDS, rangeFirst: 150, rangeLast: 200 });
      await server.start();
      const lostLine = (): string | undefined =>
        daemon
          .log()
          .split('\n')
          .find((l) => /ADDRESS LOST|address-lost/.test(l) && l.includes(`"${d.ip}"`) && l.includes(d.mac));
      await expectEventually(async () => lostLine() !== undefined, LEASE_SECONDS * 1000 + 40_000, 250).catch((err: unknown) => {
        throw new Error(`${String(err)}; daemon log:\n${daemon.log().slice(-4000)}`);
      });
      expect(JSON.parse(lostLine() ?? '{}')).toMatchObject({ level: 50, mac: d.mac, ip: d.ip });
      // The table still says the old address: nothing changed it behind Docker's back.
      const entry = (await readLeaseTable(tablePath())).find((l) => l.mac === d.mac);
      expect(entry?.ip).toBe(d.ip);
      expect((await server.leases()).some((l) => l.active && l.mac === d.mac && l.ip !== d.ip)).toBe(false);
      expect(daemon.process.exitCode).toBe(null);
      // A new container still gets an address, from the new pool.
      const fresh = await timed(request(randomMac()));
      expect(fresh.ms).toBeLessThan(REQUEST_BOUND_MS);
      const freshIp = fresh.reply === undefined ? undefined : replyAddress(fresh.reply);
      expect(freshIp, JSON.stringify(fresh.reply?.body)).toBeDefined();
      expect(Number(freshIp?.split('.')[3])).toBeGreaterThanOrEqual(150);
    });
  });
}
