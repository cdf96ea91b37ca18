/**
 * Hostile input on the plugin socket, against the built daemon as a process leasing from a real
 * Kea: the socket is root's alone; malformed calls (bad JSON, wrong types, huge strings, deep
 * nesting, binary, unknown paths, wrong methods) are each answered with an HTTP error and
 * `{"Err": …}`; thousands of connections held open at once do not stop real calls; and through
 * all of it the leases held before stay held and no new one appears. `bench/fuzz.ts api` runs
 * the same with 100,000 calls.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer as createUnixServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { callPlugin } from '../support/plugin-client.js';
import { expectEventually } from '../support/eventually.js';
import { BUILT_MAIN, startPlugin, type PluginProcess } from '../support/plugin-process.js';
import { sendBadRequests } from '../support/hostile/bad-requests.js';
import { openConnectionFlood } from '../support/hostile/connection-flood.js';
import { prng } from '../support/hostile/mutate.js';
import { createLab, type Lab } from '../support/lab/netns.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, type DhcpServerFixture } from '../support/lab/servers.js';

const run = promisify(execFile);
const LAB = 'hapi';
const DIR_PREFIX = 'd4d-hapi-';
const BODIES = Number(process.env.D4D_HOSTILE_BODIES ?? 10_000);
const CONNECTIONS = Number(process.env.D4D_HOSTILE_CONNECTIONS ?? 3_000);
const MACS = ['02:d4:ad:00:00:01', '02:d4:ad:00:00:02', '02:d4:ad:00:00:03'];

/** Connects to `socketPath` as `nobody`; resolves with "connected" or the error code. */
async function connectAsNobody(socketPath: string): Promise<string> {
  const script = `require('node:net').connect(${JSON.stringify(socketPath)}).on('connect', function () { console.log('connected'); this.destroy(); }).on('error', (e) => console.log(e.code))`;
  const { stdout } = await run('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, '-e', script], { timeout: 10_000 });
  return stdout.trim();
}

describeLab(
  'hostile input on the plugin socket',
  () => {
    let lab: Lab;
    let server: DhcpServerFixture;
    let dir: string;
    let daemon: PluginProcess | undefined;
    let poolId = '';
    const held = new Map<string, string>(); // mac -> ip
    const sock = (): string => join(dir, 'plugins', 'd4dhapi.sock');

    /** The lease table on disk as `mac ip` lines, sorted. */
    async function tableOnDisk(): Promise<string[]> {
      const table = JSON.parse(await readFile(join(dir, 'state', 'leases-d4dhapi.json'), 'utf8')) as { leases: Array<{ ip: string; mac: string }> };
      return table.leases.map((l) => `${l.mac} ${l.ip}`).sort();
    }

    /** Active leases on the server, as `mac ip` lines, sorted. */
    async function leasesOnServer(): Promise<string[]> {
      return (await server.leases())
        .filter((l) => l.active)
        .map((l) => `${l.mac} ${l.ip}`)
        .sort();
    }

    const expected = (): string[] => [...held].map(([mac, ip]) => `${mac} ${ip}`).sort();

    async function expectTableIntact(): Promise<void> {
      expect(daemon?.process.exitCode, daemon?.log().slice(-2000)).toBeNull();
      expect(await tableOnDisk()).toEqual(expected());
      // A RELEASE is paced and Kea applies it asynchronously: wait for the server to agree.
      await expectEventually(async () => JSON.stringify(await leasesOnServer()) === JSON.stringify(expected()), 5_000).catch(async () => {
        expect(await leasesOnServer()).toEqual(expected());
      });
    }

    beforeAll(async () => {
      if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
      for (const entry of await readdir(tmpdir())) {
        if (entry.startsWith(DIR_PREFIX)) await rm(join(tmpdir(), entry), { recursive: true, force: true });
      }
      dir = await mkdtemp(join(tmpdir(), DIR_PREFIX));
      // Traversable by anyone, so that only the socket's own mode can refuse `nobody`.
      await chmod(dir, 0o755);
      await writeFile(join(dir, 'none.conf'), '# empty: everything comes from flags\n');
      lab = await createLab({ name: LAB, octet: 173 });
      server = createServer('kea', lab, { leaseTimeSeconds: 600, rangeFirst: 20, rangeLast: 239 });
      await server.start();
      daemon = await startPlugin(
        [
          '--dhcp-server', lab.serverIp,
          '--listen-addr', lab.hostIp,
          '--driver-name', 'd4dhapi',
          '--state-dir', join(dir, 'state'),
          '--plugin-dir', join(dir, 'plugins'),
          '--config', join(dir, 'none.conf'),
          // No Docker here: reconciliation must find nothing to read, and so release nothing.
          '--docker-socket', join(dir, 'no-docker.sock'),
        ],
        sock(),
      );
      const pool = await callPlugin(sock(), 'IpamDriver.RequestPool', { AddressSpace: 'LocalDefault', Pool: `${lab.subnet}/24`, SubPool: '', Options: {}, V6: false });
      expect(pool.status, JSON.stringify(pool.body)).toBe(200);
      poolId = pool.body.PoolID as string;
      for (const mac of MACS) {
        const res = await callPlugin(sock(), 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { 'com.docker.network.endpoint.macaddress': mac } });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        held.set(mac, (res.body.Address as string).split('/')[0] as string);
      }
      await expectTableIntact();
    });

    afterAll(async () => {
      await daemon?.stop('SIGTERM');
      await server?.stop();
      await lab?.destroy();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    it('keeps its socket to root: mode 0600, owned by root, refused to nobody', async () => {
      const st = await stat(sock());
      expect(st.isSocket()).toBe(true);
      expect(st.mode & 0o777).toBe(0o600);
      expect([st.uid, st.gid]).toEqual([0, 0]);
      expect(await connectAsNobody(sock())).toBe('EACCES');
      // The same probe reaches a world-writable socket in the same directory: the refusal above
      // comes from the plugin socket's mode, not from the path or the probe.
      const open = createUnixServer((c) => c.destroy());
      const openPath = join(dir, 'plugins', 'world.sock');
      await new Promise<void>((resolve) => open.listen(openPath, resolve));
      try {
        await chmod(openPath, 0o666);
        expect(await connectAsNobody(openPath)).toBe('connected');
      } finally {
        await new Promise<void>((resolve) => open.close(() => resolve()));
      }
    });

    it(`answers ${BODIES} malformed calls with an HTTP error and {"Err": …}, and holds nothing new`, async () => {
      const result = await sendBadRequests(sock(), { count: BODIES, random: prng(0xa91), concurrency: 32 });
      console.info(`[hostile-api] ${result.sent} malformed calls in ${(result.elapsedMs / 1000).toFixed(1)} s: ${result.refused} refused, ${result.wrong} wrong; status ${JSON.stringify(result.byStatus)}`);
      expect(result.examples).toEqual([]);
      expect(result.refused).toBe(BODIES);
      for (const [kind, counts] of Object.entries(result.byKind)) expect(counts.sent, kind).toBeGreaterThan(0);
      expect(await callPlugin(sock(), 'IpamDriver.GetCapabilities')).toMatchObject({ status: 200 });
      await expectTableIntact();
    });

    it(`keeps answering real calls with ${CONNECTIONS} connections held open`, async () => {
      const flood = await openConnectionFlood(sock(), CONNECTIONS);
      try {
        expect(flood.open).toBe(CONNECTIONS);
        const startedAt = performance.now();
        expect(await callPlugin(sock(), 'Plugin.Activate')).toEqual({ status: 200, body: { Implements: ['IpamDriver'] } });
        // A real lease and its release, beside the flood; then the table is as it was.
        const mac = '02:d4:ad:00:00:99';
        const res = await callPlugin(sock(), 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { 'com.docker.network.endpoint.macaddress': mac } });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        const ip = (res.body.Address as string).split('/')[0] as string;
        expect(await callPlugin(sock(), 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip })).toEqual({ status: 200, body: {} });
        const calls = await Promise.all(Array.from({ length: 50 }, () => callPlugin(sock(), 'IpamDriver.GetCapabilities')));
        expect(calls.every((c) => c.status === 200)).toBe(true);
        console.info(`[hostile-api] ${flood.open} connections held (${JSON.stringify(flood.byKind)}, ${flood.connectRetries} connects retried on EAGAIN): real calls answered in ${(performance.now() - startedAt).toFixed(0)} ms; ${flood.closedByServer()} closed by the daemon`);
        expect(daemon?.process.exitCode).toBeNull();
      } finally {
        flood.close();
      }
      expect(await callPlugin(sock(), 'IpamDriver.GetCapabilities')).toMatchObject({ status: 200 });
      await expectTableIntact();
    });
  },
  { requires: ['setpriv'] },
);
