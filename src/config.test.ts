import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig } from './config.js';

const files = (map: Record<string, string>) => (path: string) => map[path];

describe('loadConfig', () => {
  it('reads the shipped sample file, which leaves DHCP_SERVER for the operator to set', () => {
    const sample = readFileSync(new URL('../etc/oam-docker-ipam/oam-docker-ipam.conf', import.meta.url), 'utf8');
    expect(() => loadConfig({ flags: {}, env: {}, readFile: files({ [DEFAULT_CONFIG_FILE]: sample }) })).toThrow(/DHCP_SERVER/);
    const set = `${sample}\nDHCP_SERVER=192.168.1.1\n`;
    expect(loadConfig({ flags: {}, env: {}, readFile: files({ [DEFAULT_CONFIG_FILE]: set }) })).toEqual({
      debug: false,
      dhcpServer: '192.168.1.1',
      listenAddr: undefined,
      driverName: 'd4d',
      stateDir: '/var/lib/oam-docker-ipam',
      pluginDir: '/run/docker/plugins',
      clientIdMode: 'mac',
      maxConcurrent: 32,
      dhcpServerIds: [],
      dockerSocket: '/var/run/docker.sock',
      reconcileIntervalMs: 60_000,
      reconcileGraceMs: 300_000,
      configFile: DEFAULT_CONFIG_FILE,
      missingDefaultFile: undefined,
      metrics: undefined,
      dhcpServers: ['192.168.1.1'],
      dhcpMode: 'direct',
      relayAddr: undefined,
      relaySubnetOption: 'link-selection',
    });
  });

  it('reads the trusted server identifiers, the Docker socket and the reconciliation timing', () => {
    const file = 'DHCP_SERVER=10.0.0.1\nDHCP_SERVER_IDS=10.0.0.2, 10.0.9.1\nRECONCILE_INTERVAL=0\nRECONCILE_GRACE=2.5\n';
    expect(loadConfig({ flags: { dockerSocket: '/tmp/docker.sock' }, env: {}, readFile: files({ [DEFAULT_CONFIG_FILE]: file }) })).toMatchObject({
      dhcpServerIds: ['10.0.0.2', '10.0.9.1'],
      dockerSocket: '/tmp/docker.sock',
      reconcileIntervalMs: 0,
      reconcileGraceMs: 2_500,
    });
    const flags = { dhcpServer: '10.0.0.1', dhcpServerIds: '10.0.0.3', reconcileInterval: '5', reconcileGrace: '1' };
    expect(loadConfig({ flags, env: { DOCKER_SOCKET: '/run/d.sock', DHCP_SERVER_IDS: '10.0.0.4' }, readFile: () => undefined })).toMatchObject({
      dhcpServerIds: ['10.0.0.3'],
      dockerSocket: '/run/d.sock',
      reconcileIntervalMs: 5_000,
      reconcileGraceMs: 1_000,
    });
  });

  it('lets commands that only talk to the daemon run without DHCP_SERVER', () => {
    expect(loadConfig({ flags: {}, env: {}, readFile: () => undefined, requireDhcpServer: false })).toMatchObject({ dhcpServer: '', driverName: 'd4d' });
    expect(() => loadConfig({ flags: {}, env: {}, readFile: () => undefined })).toThrow('DHCP_SERVER is required');
  });

  it.each([
    {
      desc: 'a bad server identifier',
      env: { DHCP_SERVER_IDS: '10.0.0.2,server2' },
      want: 'DHCP_SERVER_IDS must be IPv4 addresses separated by commas, got "server2"',
    },
    { desc: 'an empty item', env: { DHCP_SERVER_IDS: '10.0.0.2,,10.0.0.3' }, want: 'DHCP_SERVER_IDS must be IPv4 addresses separated by commas, got ""' },
    { desc: 'a relative Docker socket', env: { DOCKER_SOCKET: 'docker.sock' }, want: 'DOCKER_SOCKET must be an absolute path, got "docker.sock"' },
    {
      desc: 'a negative interval',
      env: { RECONCILE_INTERVAL: '-1' },
      want: 'RECONCILE_INTERVAL must be seconds ≥ 0 (0 turns automatic reconciliation off), got "-1"',
    },
    {
      desc: 'a grace too short for a request in flight',
      env: { RECONCILE_GRACE: '0' },
      want: 'RECONCILE_GRACE must be seconds ≥ 1 (it must cover a request in flight), got "0"',
    },
    { desc: 'a grace in minutes', env: { RECONCILE_GRACE: '5m' }, want: 'RECONCILE_GRACE must be seconds ≥ 1 (it must cover a request in flight), got "5m"' },
  ])('refuses $desc', ({ env, want }) => {
    expect(() => loadConfig({ flags: { dhcpServer: '10.0.0.1' }, env, readFile: () => undefined })).toThrow(want);
  });

  it('lets flags win over the environment, and the environment over the file', () => {
    const file = 'DHCP_SERVER=10.0.0.1\nDRIVER_NAME=fromfile\nSTATE_DIR=/file\nIPAM_DEBUG=true\n';
    const c = loadConfig({
      flags: { dhcpServer: '10.0.0.3', debug: false },
      env: { DHCP_SERVER: '10.0.0.2', DRIVER_NAME: 'fromenv' },
      readFile: files({ [DEFAULT_CONFIG_FILE]: file }),
    });
    expect(c).toMatchObject({ dhcpServer: '10.0.0.3', driverName: 'fromenv', stateDir: '/file', debug: false });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('works without a file at the default path', () => {
    expect(loadConfig({ flags: { dhcpServer: '10.0.0.1' }, env: {}, readFile: () => undefined })).toMatchObject({
      configFile: undefined,
      missingDefaultFile: DEFAULT_CONFIG_FILE,
      driverName: 'd4d',
    });
  });

  it('with no configuration file at all, says that the default file is missing', () => {
    expect(() => loadConfig({ flags: {}, env: {}, readFile: () => undefined })).toThrow(
      `DHCP_SERVER is required: the address of the DHCP server (the default configuration file ${DEFAULT_CONFIG_FILE} is missing: create it with DHCP_SERVER=<address>, or pass --dhcp-server)`,
    );
    // A file that exists but lacks the key gets the plain advice.
    expect(() => loadConfig({ flags: {}, env: {}, readFile: files({ [DEFAULT_CONFIG_FILE]: '# empty\n' }) })).toThrow(
      'DHCP_SERVER is required: the address of the DHCP server (set it in the configuration file, or pass --dhcp-server)',
    );
  });

  it('reads METRICS_ADDR as IP:PORT, off when unset', () => {
    const base = { env: {}, readFile: () => undefined };
    expect(loadConfig({ ...base, flags: { dhcpServer: '10.0.0.1' } }).metrics).toBeUndefined();
    expect(loadConfig({ ...base, flags: { dhcpServer: '10.0.0.1', metricsAddr: '127.0.0.1:9468' } }).metrics).toEqual({ host: '127.0.0.1', port: 9468 });
    expect(loadConfig({ ...base, flags: { dhcpServer: '10.0.0.1' }, env: { METRICS_ADDR: '0.0.0.0:9100' } }).metrics).toEqual({ host: '0.0.0.0', port: 9100 });
    for (const bad of ['9468', 'localhost:9468', '127.0.0.1:0', '127.0.0.1:70000', '300.1.1.1:80']) {
      expect(() => loadConfig({ ...base, flags: { dhcpServer: '10.0.0.1', metricsAddr: bad } })).toThrow(`METRICS_ADDR must be IP:PORT`);
    }
  });

  it('reports every problem at once', () => {
    const file =
      'DHCP_SERVER=10.0.0\nLISTEN_ADDR=host\nDRIVER_NAME=a/b\nSTATE_DIR=relative\nPLUGIN_DIR=also/relative\nDHCP_CLIENT_ID=uuid\nDHCP_MAX_CONCURRENT=0\nIPAM_DEBUG=maybe\nDHCP_SERVR=typo\n';
    let err: unknown;
    try {
      loadConfig({ flags: { configFile: '/etc/x.conf' }, env: {}, readFile: files({ '/etc/x.conf': file }) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues;
    expect(issues).toHaveLength(9);
    expect(issues.join('\n')).toMatch(/unknown setting DHCP_SERVR/);
    expect(issues.join('\n')).toMatch(/DHCP_SERVER must be the server's unicast IPv4 address, got "10.0.0"/);
    expect(issues.join('\n')).toMatch(/DHCP_MAX_CONCURRENT must be a whole number from 1 to 1024, got "0"/);
    expect((err as ConfigError).message).toMatch(/^invalid configuration:\n {2}- /);
  });

  it('requires DHCP_SERVER and an existing file when one is named', () => {
    expect(() => loadConfig({ flags: { configFile: '/nope.conf' }, env: {}, readFile: () => undefined })).toThrow(
      /configuration file \/nope.conf does not exist[\s\S]*DHCP_SERVER is required/,
    );
  });
});
