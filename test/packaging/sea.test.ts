/**
 * The single executable (dist/sea/oam-docker-ipam, built by build-rpm.sh or npm run build:sea)
 * on a host without Node: a copy outside the repository, run with only a PATH that has no node
 * (as `env -i PATH=…` would), for --help, --version, probe against a real Kea, and server
 * answering Docker's calls on its socket with only the capability the systemd unit leaves it.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { USAGE } from '../../src/cli.js';
import { expectEventually } from '../support/eventually.js';
import { createLab, type Lab } from '../support/lab/netns.js';
import { describeLab, findBinary } from '../support/lab/prereqs.js';
import { createServer, waitForLease, type DhcpServerFixture } from '../support/lab/servers.js';
import { createNodeFreePath, runIsolated, type NodeFreePath } from '../support/node-free-path.js';
import { callPlugin } from '../support/plugin-client.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SEA = join(ROOT, 'dist/sea/oam-docker-ipam');

describeLab(
  'the single executable, on a host without Node',
  () => {
    let dir: string;
    let exe: string;
    let noNode: NodeFreePath;
    let lab: Lab;
    let server: DhcpServerFixture;
    let env: Record<string, string>;
    let version: string;

    /** Flags that keep every file of the run in the scratch directory. */
    const scratchFlags = (): string[] => [
      '--config',
      join(dir, 'empty.conf'),
      '--state-dir',
      join(dir, 'state'),
      '--plugin-dir',
      join(dir, 'plugins'),
      '--driver-name',
      'pksea',
    ];
    const run = (args: readonly string[], timeoutMs?: number) => runIsolated(exe, args, env, { cwd: dir, ...(timeoutMs === undefined ? {} : { timeoutMs }) });

    beforeAll(async () => {
      if (!existsSync(SEA)) throw new Error(`${SEA} is missing: run ./build-rpm.sh VERSION or npm run build:sea first`);
      version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
      dir = await mkdtemp(join(tmpdir(), 'd4d-sea-'));
      // Outside the repository: no package.json, node_modules or dist/ within reach.
      exe = join(dir, 'oam-docker-ipam');
      await copyFile(SEA, exe);
      await runIsolated('/bin/chmod', ['0755', exe], {});
      await writeFile(join(dir, 'empty.conf'), '# everything comes from flags\n');
      await mkdir(join(dir, 'state'));
      noNode = await createNodeFreePath();
      env = { PATH: noNode.path };
      lab = await createLab({ name: 'pksea', octet: 100 });
      server = createServer('kea', lab, { leaseTimeSeconds: 60, rangeFirst: 20, rangeLast: 239 });
      await server.start();
    });

    afterAll(async () => {
      await server?.stop();
      await lab?.destroy();
      await noNode?.remove();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    it('runs where no node is on PATH', async () => {
      expect(noNode.commands).toBeGreaterThan(100);
      const findNode = ['-c', 'command -v node || command -v nodejs'];
      // The check itself finds node where the machine has it (it is in /usr/bin here) …
      if (findBinary('node') !== null) expect((await runIsolated('/bin/sh', findNode, { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' })).code).toBe(0);
      // … and not on the PATH the executable runs with.
      const which = await runIsolated('/bin/sh', findNode, env);
      expect(which.stdout, 'node is reachable on the test PATH').toBe('');
      expect(which.code).not.toBe(0);
      expect(await runIsolated('/bin/sh', ['-c', 'command -v ip && command -v sh'], env)).toMatchObject({ code: 0 });
    });

    it('prints --help and --version', async () => {
      const help = await run(['--help']);
      expect(help).toEqual({ code: 0, stdout: `${USAGE}\n`, stderr: '' });
      // The version comes from the build (no package.json travels with the executable).
      expect(await run(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    });

    it('hands --node-options to Node, so an operator can raise the heap limit it is built with', async () => {
      // Node's own --version answers: the options reached Node, not the daemon's command line.
      expect(await run(['--node-options=--version'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^v\d+\.\d+\.\d+\n$/) });
      // With the heap limit a large lease table needs, the daemon's own command line is untouched.
      expect(await run(['--node-options=--max-old-space-size=4096', '--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    });

    it('leases an address with probe, holds it, then releases it', async () => {
      const mac = '02:d4:64:00:00:01';
      const probing = run(['--dhcp-server', lab.serverIp, ...scratchFlags(), 'probe', '--mac', mac, '--hold', '2'], 60_000);
      const held = await waitForLease(server, (l) => l.active && l.mac === mac, 10_000);
      const { code, stdout, stderr } = await probing;
      expect(code, stderr).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ mac, ip: held.ip, server: lab.serverIp, leaseTimeSeconds: 60 });
      await expectEventually(async () => (await server.leases()).find((l) => l.active && l.mac === mac) === undefined);
    });

    it('serves the plugin socket with only CAP_NET_BIND_SERVICE: handshake, a leased address, a release, a clean stop', async () => {
      const socket = join(dir, 'plugins', 'pksea.sock');
      // As under the unit's CapabilityBoundingSet=CAP_NET_BIND_SERVICE and NoNewPrivileges=yes.
      const setpriv = findBinary('setpriv') ?? 'setpriv';
      const args = [
        '--bounding-set',
        '-all,+net_bind_service',
        '--no-new-privs',
        exe,
        '--dhcp-server',
        lab.serverIp,
        ...scratchFlags(),
        '--reconcile-interval',
        '0',
        'server',
      ];
      const proc = spawn(setpriv, args, { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      proc.stdout.on('data', (c: Buffer) => (output += c.toString()));
      proc.stderr.on('data', (c: Buffer) => (output += c.toString()));
      const exited = new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
      try {
        await expectEventually(async () => {
          if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}:\n${output}`);
          return (await callPlugin(socket, 'Plugin.Activate').catch(() => undefined)) !== undefined;
        }, 15_000);
        expect(await callPlugin(socket, 'Plugin.Activate')).toEqual({ status: 200, body: { Implements: ['IpamDriver'] } });
        const pool = await callPlugin(socket, 'IpamDriver.RequestPool', {
          AddressSpace: 'local',
          Pool: `${lab.subnet}/24`,
          SubPool: '',
          Options: {},
          V6: false,
        });
        expect(pool.status, JSON.stringify(pool.body)).toBe(200);
        const mac = '02:d4:64:00:00:02';
        const addr = await callPlugin(socket, 'IpamDriver.RequestAddress', {
          PoolID: pool.body.PoolID,
          Address: '',
          Options: { 'com.docker.network.endpoint.macaddress': mac },
        });
        expect(addr.status, JSON.stringify(addr.body)).toBe(200);
        const ip = String(addr.body.Address).split('/')[0] ?? '';
        await waitForLease(server, (l) => l.active && l.mac === mac && l.ip === ip, 5_000);
        expect(await callPlugin(socket, 'IpamDriver.ReleaseAddress', { PoolID: pool.body.PoolID, Address: ip })).toEqual({ status: 200, body: {} });
        await expectEventually(async () => (await server.leases()).find((l) => l.active && l.mac === mac) === undefined);
      } finally {
        proc.kill('SIGTERM');
      }
      expect(await exited, output).toBe(0);
      expect(existsSync(socket)).toBe(false);
    });
  },
  { requires: ['setpriv'] },
);
