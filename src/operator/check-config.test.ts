/** check-config's findings without a DHCP server: settings, what they point to, a probe's binding. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { testLog } from '../../test/support/silent-log.js';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../config.js';
import { TransportError } from '../dhcp/errors.js';
import { checkConfig, describeBinding, type CheckConfigOptions } from './check-config.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'd4d-check-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(o: Partial<CheckConfigOptions>): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await checkConfig({
    flags: {},
    env: {},
    probe: false,
    timeoutMs: 1_000,
    clock: new FakeClock(),
    log: testLog(),
    openDhcp: async () => {
      throw new TransportError('cannot bind 0.0.0.0:68/udp: permission denied; run as root or grant CAP_NET_BIND_SERVICE');
    },
    print: (l) => lines.push(l),
    readFile: () => undefined,
    interfaces: () => ({
      eth0: [{ family: 'IPv4', address: '10.231.110.254', netmask: '255.255.255.0', mac: '02:00:00:00:00:01', internal: false, cidr: '10.231.110.254/24' }],
    }),
    ...o,
  });
  return { code, lines };
}

describe('checkConfig', () => {
  it('lists every configuration problem and probes nothing', async () => {
    const { code, lines } = await run({ flags: { dhcpServer: 'nope', stateDir: 'rel' }, probe: true });
    expect(code).toBe(1);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^ERROR {3}DHCP_SERVER must be the server's unicast IPv4 address, got "nope"/);
    expect(lines.slice(1)).toEqual(['ERROR   STATE_DIR must be an absolute path, got "rel"', 'check-config: 2 errors, 0 warnings']);
  });

  it('with no file at all, warns that the default file is missing, and checks what the settings point to', async () => {
    const { code, lines } = await run({
      flags: { dhcpServer: '10.231.110.1', listenAddr: '10.231.110.254', stateDir: join(dir, 'state'), pluginDir: dir, dockerSocket: join(dir, 'docker.sock') },
    });
    expect(code).toBe(0);
    expect(lines).toContain(
      `warning no configuration file: the default ${DEFAULT_CONFIG_FILE} is missing, so settings come from flags and the environment only (the sample is etc/oam-docker-ipam/oam-docker-ipam.conf)`,
    );
    expect(lines).toContain('ok      LISTEN_ADDR 10.231.110.254 is on interface eth0');
    expect(lines).toContain(`ok      STATE_DIR ${join(dir, 'state')} does not exist yet: the server creates it`);
    expect(lines).toContain(`ok      PLUGIN_DIR ${dir} is writable`);
    expect(lines.some((l) => l.startsWith(`warning DOCKER_SOCKET ${join(dir, 'docker.sock')} is not a socket`))).toBe(true);
    expect(lines.at(-1)).toBe('check-config: OK (2 warnings)');
  });

  it('fails on a LISTEN_ADDR this host lacks and a state directory that is a file', async () => {
    await writeFile(join(dir, 'file'), '');
    const { code, lines } = await run({
      flags: { dhcpServer: '10.231.110.1', listenAddr: '10.9.9.9', stateDir: join(dir, 'file'), pluginDir: dir },
      probe: true,
    });
    expect(code).toBe(1);
    expect(lines.filter((l) => l.startsWith('ERROR'))).toEqual([
      "ERROR   LISTEN_ADDR 10.9.9.9 is not an address of this host (see ip -4 addr): the server would refuse to start; set this host's address on the DHCP server's network",
      `ERROR   STATE_DIR ${join(dir, 'file')} is not a directory: point STATE_DIR at a directory for the lease table`,
    ]);
    expect(lines).toContain('(the DHCP server is not probed until the errors above are fixed)');
  });

  it('says why the probe could not run', async () => {
    const { code, lines } = await run({ flags: { dhcpServer: '10.231.110.1', stateDir: dir, pluginDir: dir }, probe: true });
    expect(code).toBe(1);
    expect(lines).toContain('ERROR   cannot probe the DHCP server: cannot bind 0.0.0.0:68/udp: permission denied; run as root or grant CAP_NET_BIND_SERVICE');
  });
});

describe('describeBinding', () => {
  it('reports subnet, router and lease time in the terms of docker network create', () => {
    const config = loadConfig({ flags: { dhcpServer: '10.231.110.1' }, env: {}, readFile: () => undefined });
    const findings = describeBinding(
      {
        ip: '10.231.110.57',
        serverId: '10.231.110.1',
        requestedAt: 0,
        leaseTimeSeconds: 120,
        renewalTimeSeconds: 60,
        subnetMask: '255.255.255.0',
        routers: ['10.231.110.1'],
        dnsServers: ['10.231.110.53'],
        xid: 1,
      },
      '02:11:22:33:44:55',
      config,
    );
    expect(findings.map((f) => `${f.level} ${f.text}`)).toEqual([
      'ok the DHCP server 10.231.110.1 leased 10.231.110.57 to 02:11:22:33:44:55 (client id 01:02:11:22:33:44:55) and took it back',
      'ok subnet 10.231.110.0/24 (docker network create --subnet 10.231.110.0/24)',
      'ok router 10.231.110.1 (--gateway 10.231.110.1)',
      'ok lease time 120 s (renew at 60 s)',
      'ok DNS 10.231.110.53',
    ]);
    const bare = describeBinding({ ip: '10.0.0.5', serverId: '10.0.0.2', requestedAt: 0, leaseTimeSeconds: 0xffffffff, xid: 1 }, '02:11:22:33:44:55', config);
    expect(bare.filter((f) => f.level === 'warning').map((f) => f.text)).toEqual([
      'no usable subnet mask (option 1) came with it: create networks with --subnet and --gateway',
      'no router (option 3) came with it: give networks --gateway yourself',
      'the server identifies itself as 10.0.0.2, not 10.231.110.1',
    ]);
    expect(bare.map((f) => f.text)).toContain('lease time infinite');
  });
});
