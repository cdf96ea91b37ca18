/**
 * The operator's view of a running daemon, against a real Kea with 10 s leases: `leases`,
 * `status` (and its exit status as the DHCP server goes away and comes back), the Prometheus
 * metrics scraped while leases are acquired, renewed, left unanswered and won back, `leases`
 * from the saved table once the daemon is stopped, `check-config` probing the server, `probe
 * --debug` logging replies, and `probe --hold`'s progress line on a terminal.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectEventually } from '../support/eventually.js';
import { callPlugin } from '../support/plugin-client.js';
import { BUILT_MAIN, startPlugin, type PluginProcess } from '../support/plugin-process.js';
import { createLab, type Lab } from '../support/lab/netns.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, type DhcpServerFixture } from '../support/lab/servers.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], timeoutMs = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

const cli = (args: string[]): Promise<Run> => run(process.execPath, [BUILT_MAIN, ...args]);

/** A TCP port nobody listens on now (the kernel's pick, released again). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createTcpServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** `name{labels} value` lines of a scrape, as a map. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m !== null) out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

describeLab('operator commands: leases, status, metrics, check-config', () => {
  let lab: Lab;
  let server: DhcpServerFixture;
  let dir: string;
  let daemon: PluginProcess | undefined;
  let metricsUrl = '';
  const driver = 'd4dops';
  const macs = ['02:d4:0b:00:00:01', '02:d4:0b:00:00:02'];
  const ips: string[] = [];
  const common = (): string[] => [
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
  const scrape = async (): Promise<Map<string, number>> => samples(await (await fetch(metricsUrl)).text());

  beforeAll(async () => {
    if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
    dir = await mkdtemp(join(tmpdir(), 'd4d-ops-'));
    await writeFile(join(dir, 'none.conf'), '# empty: everything comes from flags\n');
    lab = await createLab({ name: 'opsl', octet: 110 });
    server = createServer('kea', lab, { leaseTimeSeconds: 10, rangeFirst: 20, rangeLast: 239 });
    await server.start();
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}/metrics`;
    daemon = await startPlugin(
      [
        ...common(),
        '--dhcp-server',
        lab.serverIp,
        '--docker-socket',
        join(dir, 'no-docker.sock'),
        '--reconcile-interval',
        '0',
        '--metrics-addr',
        `127.0.0.1:${port}`,
      ],
      sock(),
    );
    const pool = await callPlugin(sock(), 'IpamDriver.RequestPool', { AddressSpace: 'local', Pool: `${lab.subnet}/24`, SubPool: '', Options: {}, V6: false });
    for (const mac of macs) {
      const res = await callPlugin(sock(), 'IpamDriver.RequestAddress', {
        PoolID: pool.body.PoolID,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': mac },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      ips.push((res.body.Address as string).split('/')[0] as string);
    }
  });

  afterAll(async () => {
    await daemon?.stop();
    await server?.stop();
    await lab?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('leases lists both containers from the running daemon; status is healthy; metrics count what happened', async () => {
    const table = await cli([...common(), 'leases']);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NETWORK\/POOL\s+ADDRESS\s+MAC\s+CLIENT ID\s+STATE\s+EXPIRES IN\s+RENEWED\s+LAST ERROR$/);
    for (const [i, mac] of macs.entries()) {
      expect(lines.find((l) => l.includes(mac))).toMatch(
        new RegExp(`^${lab.subnet}/24\\s+${ips[i]}\\s+${mac}\\s+01:${mac}\\s+(BOUND|RENEWING)\\s+\\d+s\\s+\\d+s ago\\s+-$`),
      );
    }
    expect(table.stdout).not.toContain('note:');
    const json = JSON.parse((await cli([...common(), 'leases', '--json'])).stdout) as { Source: string; Leases: Array<{ Mac: string; ClientId: string }> };
    expect(json.Source).toBe('daemon');
    expect(json.Leases.map((l) => l.Mac).sort()).toEqual(macs);

    // A renewal of each (T1 is about 5 s), then the figures.
    await expectEventually(async () => ((await scrape()).get('d4d_renewals_total') ?? 0) >= 2, 15_000, 250);
    const m = await scrape();
    expect(m.get('d4d_acquisitions_total')).toBe(2);
    expect((m.get('d4d_leases{state="BOUND"}') ?? 0) + (m.get('d4d_leases{state="RENEWING"}') ?? 0)).toBe(2);
    expect(m.get('d4d_healthy')).toBe(1);
    expect(m.get('d4d_plugin_request_duration_seconds_count{call="IpamDriver.RequestAddress",code="200"}')).toBe(2);
    expect(m.get('d4d_dhcp_exchange_duration_seconds_count{step="acquire",outcome="ack"}')).toBe(2);
    expect(m.get('d4d_dhcp_exchange_duration_seconds_count{step="renew",outcome="ack"}')).toBeGreaterThanOrEqual(2);
    expect([...m.keys()].some((k) => k.startsWith('d4d_build_info{version='))).toBe(true);

    const status = await cli([...common(), 'status']);
    expect(status.code, status.stdout + status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^oam-docker-ipam \S+: healthy, up \d+s/);
    expect(status.stdout).toMatch(new RegExp(`DHCP server ${lab.serverIp.replaceAll('.', '\\.')}: reachable, last reply \\d+s ago`));
    expect(status.stdout).toContain(`\nplugin socket ${sock()}: bound by the daemon\n`);
    expect(status.stdout).toMatch(/leases: 2 \(/);
    expect(status.stdout).toMatch(/last minute: 2 acquired, [2-9]\d* renewed, 0 released, 0 failed/);
  });

  it('with the DHCP server gone: status exits 1 saying so, leases show the failed renewal, timeouts are counted; back to healthy once it returns', async () => {
    await server.stop();
    await expectEventually(async () => (await cli([...common(), 'status'])).code === 1, 15_000, 250);
    const status = await cli([...common(), 'status', '--json']);
    const reply = JSON.parse(status.stdout) as { Healthy: boolean; Problems: string[]; DhcpServer: { UnansweredSinceReply: number } };
    expect(reply.Healthy).toBe(false);
    expect(reply.Problems.join('\n')).toContain('the DHCP server is not answering');
    expect(reply.DhcpServer.UnansweredSinceReply).toBeGreaterThan(0);
    const table = await cli([...common(), 'leases']);
    expect(table.stdout).toMatch(/ago: (renew|rebind): no (renew|rebind) ACK reply from DHCP server/);
    const m = await scrape();
    expect((m.get('d4d_dhcp_timeouts_total{step="renew"}') ?? 0) + (m.get('d4d_dhcp_timeouts_total{step="rebind"}') ?? 0)).toBeGreaterThan(0);
    expect(m.get('d4d_healthy')).toBe(0);

    await server.start();
    // Kea still knows both leases: renewals, rebinds or INIT-REBOOTs get them back.
    await expectEventually(async () => (await cli([...common(), 'status'])).code === 0, 30_000, 500);
    const after = await scrape();
    expect(after.get('d4d_healthy')).toBe(1);
    expect(after.get('d4d_leases{state="EXPIRED"}')).toBe(0);
  });

  it('with the daemon stopped: leases come from the saved table with a note, and status fails', async () => {
    expect(await daemon?.stop('SIGTERM')).toBe(0);
    expect(daemon?.log()).toContain('stopped; leases kept for the next start');
    const table = await cli([...common(), 'leases']);
    expect(table.code, table.stderr).toBe(0);
    for (const mac of macs) expect(table.stdout).toContain(mac);
    expect(table.stdout).toContain(
      `note: no oam-docker-ipam server answers on ${sock()}: these are the leases as last saved in ${join(dir, 'state', `leases-${driver}.journal`)}`,
    );
    const status = await cli([...common(), 'status']);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain(`no oam-docker-ipam server answers on ${sock()}`);
  });

  it('check-config probes the server and reports subnet, router and lease time; says what to fix when nobody answers', async () => {
    const ok = await cli([...common(), '--dhcp-server', lab.serverIp, 'check-config']);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toContain(`ok      subnet ${lab.subnet}/24 (docker network create --subnet ${lab.subnet}/24)`);
    // The lab's Kea hands out no router: said as a warning, with what to do instead.
    expect(ok.stdout).toContain('warning no router (option 3) came with it: give networks --gateway yourself');
    expect(ok.stdout).toContain('ok      lease time 10 s');
    expect(ok.stdout.trimEnd().split('\n').at(-1)).toMatch(/^check-config: OK/);
    const silent = await cli([...common(), '--dhcp-server', lab.network(77), 'check-config', '--timeout', '2']);
    expect(silent.code).toBe(1);
    expect(silent.stdout).toContain(`ERROR   the DHCP server did not lease an address to`);
    expect(silent.stdout).toContain(`To fix: check that DHCP_SERVER ${lab.network(77)} is the server's address and it runs`);
  });

  it('probe --debug logs the replies it gets, and --hold shows its progress on a terminal only', async () => {
    const debug = await cli([...common(), '--dhcp-server', lab.serverIp, '--debug', 'probe', '--mac', '02:d4:0b:00:00:09']);
    expect(debug.code, debug.stderr).toBe(0);
    for (const type of ['OFFER', 'ACK']) expect(debug.stderr).toMatch(new RegExp(`"msg":"received ${type} xid=0x[0-9a-f]{8} chaddr=02:d4:0b:00:00:09`));
    const args = [BUILT_MAIN, ...common(), '--dhcp-server', lab.serverIp, 'probe', '--mac', '02:d4:0b:00:00:0a', '--hold', '2'];
    // script(1) gives the command a terminal; its typescript is the terminal's output.
    const tty = await run('script', ['-qec', [process.execPath, ...args].map((a) => `'${a}'`).join(' '), '/dev/null']);
    expect(tty.code, tty.stdout).toBe(0);
    expect(tty.stdout).toMatch(/holding \S+ for 02:d4:0b:00:00:0a: [12] s left, BOUND, renewed 0 times/);
    const piped = await cli(args.slice(1));
    expect(piped.code).toBe(0);
    expect(piped.stdout).not.toContain('holding');
    expect(JSON.parse(piped.stdout)).toMatchObject({ mac: '02:d4:0b:00:00:0a' });
  });
});
