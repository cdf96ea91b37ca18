/** The built `oam-docker-ipam probe` command against a real Kea, as an operator would run it. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLab, type Lab } from '../support/lab/netns.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, waitForLease, type DhcpServerFixture } from '../support/lab/servers.js';

const BIN = new URL('../../dist/main.js', import.meta.url).pathname;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

describeLab('oam-docker-ipam probe', () => {
  let lab: Lab;
  let server: DhcpServerFixture;
  const mac = '02:d4:29:00:00:01';

  beforeAll(async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
    lab = await createLab({ name: 'clit', octet: 41 });
    server = createServer('kea', lab, {
      leaseTimeSeconds: 60,
      rangeFirst: 20,
      rangeLast: 239,
      reservations: [{ mac: '02:d4:29:00:00:09', ip: lab.network(9) }],
    });
    await server.start();
  });

  afterAll(async () => {
    await server?.stop();
    await lab?.destroy();
  });

  it('leases an address, prints it, keeps it while holding, then releases it', async () => {
    const running = cli(['--dhcp-server', lab.serverIp, 'probe', '--mac', mac, '--hold', '2']);
    const held = await waitForLease(server, (l) => l.active && l.mac === mac, 5_000);
    const { code, stdout, stderr } = await running;
    expect(code, stderr).toBe(0);
    const printed = JSON.parse(stdout) as Record<string, unknown>;
    expect(printed).toMatchObject({ mac, clientId: `01:${mac}`, ip: held.ip, server: lab.serverIp, leaseTimeSeconds: 60, subnetMask: '255.255.255.0' });
    await new Promise((r) => setTimeout(r, 300));
    expect((await server.leases()).find((l) => l.active && l.mac === mac)).toBeUndefined();
  });

  it('fails with exit status 1 and a clear message when the requested address is not available', async () => {
    const { code, stdout, stderr } = await cli(['--dhcp-server', lab.serverIp, 'probe', '--mac', mac, '--ip', lab.network(9), '--timeout', '10']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain(`will not lease ${lab.network(9)} to ${mac}`);
  });

  it('fails with exit status 2 on bad usage, and 1 on a bad setting', async () => {
    const usage = await cli(['--dhcp-server', lab.serverIp, 'probe', '--mac', 'zz', '--timeout', '0']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--mac: not a MAC address: "zz"; --timeout: want seconds > 0, got "0"');
    expect(usage.stderr).toContain('Usage: oam-docker-ipam');
    const setting = await cli(['--dhcp-server', 'nope', '--state-dir', 'relative', 'probe']);
    expect(setting.code).toBe(1);
    expect(setting.stderr).toContain('DHCP_SERVER must be the server\'s unicast IPv4 address, got "nope"');
    expect(setting.stderr).toContain('STATE_DIR must be an absolute path, got "relative"');
  });
});
