/**
 * The plugin socket held by systemd (systemd/oam-docker-ipam.socket), against a real Kea: bound
 * by systemd-socket-activate and kept across restarts of the daemon as systemd keeps it. A call
 * made while no daemon runs waits in the socket's queue and is answered by the next start, where
 * Docker, finding the socket gone or refusing, gives up after about 15 s. A passed socket that is
 * not the one Docker looks for, or that others may connect to, is refused with what to change.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ActivatedPlugin, holdPluginSocket } from '../support/activated-plugin.js';
import { expectEventually } from '../support/eventually.js';
import { PLUGIN_BACKLOG } from '../../src/daemon.js';
import { createLab, type Lab } from '../support/lab/netns.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, waitForLease, type DhcpServerFixture } from '../support/lab/servers.js';
import { run } from '../support/lab/shell.js';
import { callPlugin, type PluginReply } from '../support/plugin-client.js';
import { BUILT_MAIN } from '../support/plugin-process.js';

const DRIVER = 'd4dsact';

/** Whether `p` is still unsettled after `ms`. */
async function pendingAfter(p: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = Symbol('settled');
  return (
    (await Promise.race([
      p.then(
        () => settled,
        () => settled,
      ),
      sleep(ms).then(() => 'pending'),
    ])) === 'pending'
  );
}

describeLab(
  'the plugin socket from systemd (socket activation)',
  () => {
    let lab: Lab;
    let server: DhcpServerFixture;
    let dir: string;
    let plugin: ActivatedPlugin | undefined;
    const plugins = (): string => join(dir, 'plugins');
    const sock = (): string => join(plugins(), `${DRIVER}.sock`);
    const args = (driver = DRIVER): string[] => [
      '--dhcp-server',
      lab.serverIp,
      '--listen-addr',
      lab.hostIp,
      '--driver-name',
      driver,
      '--state-dir',
      join(dir, 'state'),
      '--plugin-dir',
      plugins(),
      '--docker-socket',
      join(dir, 'no-docker.sock'),
      '--config',
      join(dir, 'none.conf'),
    ];

    beforeAll(async () => {
      if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
      dir = await mkdtemp(join(tmpdir(), 'd4d-activation-'));
      await mkdir(plugins(), { recursive: true });
      await writeFile(join(dir, 'none.conf'), '# empty: everything comes from flags\n');
      lab = await createLab({ name: 'sact', octet: 52 });
      server = createServer('kea', lab, { leaseTimeSeconds: 120, rangeFirst: 20, rangeLast: 239 });
      await server.start();
      plugin = await holdPluginSocket(sock(), args());
    });

    afterAll(async () => {
      await plugin?.close();
      await server?.stop();
      await lab?.destroy();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    it('a call made before the daemon runs waits in the socket and is answered once it has started', async () => {
      const before = await stat(sock());
      const early = callPlugin(sock(), 'IpamDriver.GetCapabilities');
      expect(await pendingAfter(early, 1_000)).toBe(true);
      await plugin?.start();
      expect(await early).toEqual({ status: 200, body: { RequiresMACAddress: true, RequiresRequestReplay: false } });
      expect(plugin?.log()).toContain('"socketFromSystemd":true');
      // systemd's socket, as it made it: the same file, root-only, and its queue as deep as the
      // daemon's own would be (listen() on the passed socket sets it for systemd's copy too).
      const after = await stat(sock());
      expect([after.ino, after.mode & 0o777]).toEqual([before.ino, 0o600]);
      const listening = (await run('ss', ['-xlnH', 'src', sock()])).stdout.trim().split(/\s+/);
      expect(listening[3], listening.join(' ')).toBe(String(PLUGIN_BACKLOG));
      // And the operator is told.
      const status = await run(process.execPath, [
        BUILT_MAIN,
        '--driver-name',
        DRIVER,
        '--plugin-dir',
        plugins(),
        '--config',
        join(dir, 'none.conf'),
        'status',
      ]);
      expect(status.stdout).toContain(`\nplugin socket ${sock()}: held by systemd (oam-docker-ipam.socket): calls wait through a restart\n`);
    });

    it('across a restart: a ReleaseAddress made while no daemon runs waits, and the next start releases the lease', async () => {
      const pool = await callPlugin(sock(), 'IpamDriver.RequestPool', { AddressSpace: 'local', Pool: `${lab.subnet}/24`, SubPool: '', Options: {}, V6: false });
      expect(pool.status).toBe(200);
      const poolId = String(pool.body.PoolID);
      const mac = '02:d4:52:00:00:01';
      const got = await callPlugin(sock(), 'IpamDriver.RequestAddress', {
        PoolID: poolId,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': mac },
      });
      expect(got.status).toBe(200);
      const ip = String(got.body.Address).split('/')[0] ?? '';
      await waitForLease(server, (l) => l.active && l.mac === mac && l.ip === ip, 5_000);

      expect(await plugin?.stop()).toBe('0');
      // The socket stays, and still takes connections: the call waits rather than failing.
      expect(existsSync(sock())).toBe(true);
      const release: Promise<PluginReply> = callPlugin(sock(), 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip });
      expect(await pendingAfter(release, 2_000)).toBe(true);
      expect((await server.leases()).some((l) => l.active && l.ip === ip)).toBe(true);

      await plugin?.start();
      expect(await release).toEqual({ status: 200, body: {} });
      await expectEventually(async () => !(await server.leases()).some((l) => l.ip === ip && l.active), 5_000);
    });

    it('refuses a passed socket that is not the one Docker looks for, saying what to change', async () => {
      const other = await holdPluginSocket(join(plugins(), 'other.sock'), args('d4dsother'));
      try {
        expect(await other.startAndWaitForExit()).toBe('1');
        expect(other.log()).toContain(
          `systemd passed the socket ${join(plugins(), 'other.sock')}, but Docker looks for this plugin at ${join(plugins(), 'd4dsother.sock')} (DRIVER_NAME)`,
        );
      } finally {
        await other.close();
      }
    });

    it('refuses a passed socket others may connect to, or whose file is gone', async () => {
      const path = join(plugins(), 'd4dsopen.sock');
      const open = await holdPluginSocket(path, args('d4dsopen'));
      try {
        await chmod(path, 0o666);
        expect(await open.startAndWaitForExit()).toBe('1');
        expect(open.log()).toContain(`the plugin socket ${path} is mode 0666 owned by uid 0: others could take addresses from it; set SocketMode=0600`);
        // What a daemon that bound the socket itself leaves when it stops after systemd took the
        // path over: a listening socket Docker cannot find.
        await rm(path);
        expect(await open.startAndWaitForExit()).toBe('1');
        expect(open.log()).toContain(`the passed socket's file ${path} cannot be read (ENOENT`);
        expect(open.log()).toContain('with the service stopped, restart oam-docker-ipam.socket');
      } finally {
        await open.close();
      }
    });
  },
  { requires: ['systemd-socket-activate'] },
);
