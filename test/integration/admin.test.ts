/**
 * The operator commands that talk to a running `oam-docker-ipam server` (no Docker engine
 * here): `probe` refuses a MAC the daemon or its lease table holds, and `reconcile` fails
 * clearly, releasing nothing, when Docker cannot be read or no daemon runs. Real Kea.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { callPlugin } from '../support/plugin-client.js';
import { BUILT_MAIN, startPlugin, type PluginProcess } from '../support/plugin-process.js';
import { createLab, type Lab } from '../support/lab/netns.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, waitForLease, type DhcpServerFixture } from '../support/lab/servers.js';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BUILT_MAIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

describeLab('operator commands against a running daemon', () => {
  let lab: Lab;
  let server: DhcpServerFixture;
  let dir: string;
  let daemon: PluginProcess | undefined;
  const driver = 'd4dadm';
  const mac = '02:d4:ad:00:00:01';
  const common = (): string[] => [
    '--dhcp-server',
    lab.serverIp,
    '--driver-name',
    driver,
    '--state-dir',
    join(dir, 'state'),
    '--plugin-dir',
    join(dir, 'plugins'),
    '--config',
    join(dir, 'none.conf'),
  ];
  const sock = (): string => join(dir, 'plugins', `${driver}.sock`);
  let ip = '';
  let poolId = '';

  beforeAll(async () => {
    if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
    dir = await mkdtemp(join(tmpdir(), 'd4d-admin-'));
    await writeFile(join(dir, 'none.conf'), '# empty: everything comes from flags\n');
    lab = await createLab({ name: 'admt', octet: 171 });
    server = createServer('kea', lab, { leaseTimeSeconds: 60, rangeFirst: 20, rangeLast: 239 });
    await server.start();
    // Docker is pointed at nothing: it is unreachable for the whole file.
    daemon = await startPlugin([...common(), '--docker-socket', join(dir, 'no-docker.sock'), '--reconcile-interval', '1', '--reconcile-grace', '1'], sock());
    const pool = await callPlugin(sock(), 'IpamDriver.RequestPool', { AddressSpace: 'local', Pool: `${lab.subnet}/24`, SubPool: '', Options: {}, V6: false });
    poolId = pool.body.PoolID as string;
    const res = await callPlugin(sock(), 'IpamDriver.RequestAddress', {
      PoolID: poolId,
      Address: '',
      Options: { 'com.docker.network.endpoint.macaddress': mac },
    });
    ip = (res.body.Address as string).split('/')[0] as string;
    await waitForLease(server, (l) => l.active && l.mac === mac && l.ip === ip);
  });

  afterAll(async () => {
    await daemon?.stop();
    await server?.stop();
    await lab?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('Docker unreachable: automatic runs and reconcile release nothing, and reconcile says why', async () => {
    // Three automatic runs (interval 1 s) well past the 1 s grace.
    await new Promise((r) => setTimeout(r, 3_500));
    const run = await cli([...common(), 'reconcile']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`cannot reach the Docker engine at ${join(dir, 'no-docker.sock')}`);
    expect(run.stdout).toBe('');
    expect(daemon?.log()).toContain('reconciliation skipped, nothing released');
    expect((await server.leases()).find((l) => l.active && l.mac === mac)?.ip).toBe(ip);
    const held = await callPlugin(sock(), 'd4d.Leases', {});
    expect(held.body).toMatchObject({ Leases: [{ Mac: mac, Ip: ip, Pool: poolId, Subnet: `${lab.subnet}/24` }] });
  });

  it('probe refuses a MAC the running daemon holds, naming its pool, and sends nothing', async () => {
    const before = (await waitForLease(server, (l) => l.active && l.mac === mac)).endsAt;
    const run = await cli([...common(), 'probe', '--mac', mac, '--timeout', '5']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${mac} holds ${ip}`);
    expect(run.stderr).toContain(`${lab.subnet}/24`);
    expect(run.stdout).toBe('');
    const after = (await server.leases()).find((l) => l.mac === mac);
    expect(after).toMatchObject({ active: true, ip });
    expect(after?.endsAt).toBe(before);
  });

  it('with the daemon stopped, probe refuses a MAC its lease table lists, and reconcile says no daemon runs', async () => {
    expect(await daemon?.stop('SIGTERM')).toBe(0);
    const run = await cli([...common(), 'probe', '--mac', mac, '--timeout', '5']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${mac} holds ${ip}`);
    expect((await server.leases()).find((l) => l.mac === mac)?.active).toBe(true);
    const rec = await cli([...common(), 'reconcile', '--dry-run']);
    expect(rec.code).toBe(1);
    expect(rec.stderr).toContain(`no oam-docker-ipam server answers on ${sock()}`);
  });
});
