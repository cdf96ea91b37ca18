/**
 * DHCP_SERVER_IDS with a real ISC dhcpd: requests unicast to a secondary address of the server
 * get replies whose server identifier (option 54) is its primary address. Without that
 * identifier in DHCP_SERVER_IDS every reply is dropped; with it, `probe` leases and releases.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLab, type Lab } from '../support/lab/netns.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, waitForLease, type DhcpServerFixture } from '../support/lab/servers.js';
import { run } from '../support/lab/shell.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callPlugin } from '../support/plugin-client.js';
import { BUILT_MAIN, startPlugin } from '../support/plugin-process.js';

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BUILT_MAIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

describeLab('trusted server identifiers', () => {
  let lab: Lab;
  let server: DhcpServerFixture;
  let secondary = '';
  const mac = '02:d4:ad:00:01:01';

  beforeAll(async () => {
    if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
    lab = await createLab({ name: 'sids', octet: 178 });
    secondary = lab.network(2);
    await run('ip', ['-n', lab.serverNs, 'addr', 'add', `${secondary}/24`, 'dev', lab.serverIf]);
    server = createServer('isc', lab, { leaseTimeSeconds: 60, rangeFirst: 20, rangeLast: 239 });
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await lab?.destroy();
  });

  it('drops replies from an identifier it was not told to trust', async () => {
    const r = await cli(['--config', '/dev/null', '--dhcp-server', secondary, 'probe', '--mac', mac, '--timeout', '6']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no OFFER');
  });

  it('leases with DHCP_SERVER_IDS naming the identifier the server uses', async () => {
    const r = await cli(['--config', '/dev/null', '--dhcp-server', secondary, '--dhcp-server-ids', lab.serverIp, 'probe', '--mac', mac, '--timeout', '20']);
    expect(r.code, r.stderr).toBe(0);
    const printed = JSON.parse(r.stdout) as { ip: string; server: string };
    expect(printed.server).toBe(lab.serverIp);
    // Released at the end: the RELEASE went to the server it leased from.
    await waitForLease(server, (l) => l.mac === mac && l.ip === printed.ip && !l.active, 5_000);
  });

  it('the server trusts them too: RequestAddress leases through the secondary address', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'd4d-sids-'));
    const sock = join(dir, 'plugins', 'd4dsids.sock');
    const daemon = await startPlugin(
      [
        '--config',
        '/dev/null',
        '--dhcp-server',
        secondary,
        '--dhcp-server-ids',
        lab.serverIp,
        '--driver-name',
        'd4dsids',
        '--state-dir',
        join(dir, 'state'),
        '--plugin-dir',
        join(dir, 'plugins'),
        '--reconcile-interval',
        '0',
      ],
      sock,
    );
    try {
      const pool = await callPlugin(sock, 'IpamDriver.RequestPool', { AddressSpace: 'local', Pool: `${lab.subnet}/24`, SubPool: '', Options: {}, V6: false });
      const other = '02:d4:ad:00:01:02';
      const res = await callPlugin(sock, 'IpamDriver.RequestAddress', {
        PoolID: pool.body.PoolID,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': other },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      await waitForLease(server, (l) => l.active && l.mac === other, 5_000);
      expect(await callPlugin(sock, 'IpamDriver.ReleaseAddress', { PoolID: pool.body.PoolID, Address: (res.body.Address as string).split('/')[0] })).toEqual({
        status: 200,
        body: {},
      });
    } finally {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
