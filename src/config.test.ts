import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfig } from './config.js';

const files = (map: Record<string, string>) => (path: string) => map[path];

describe('loadConfig', () => {
  it('reads the shipped sample file', () => {
    const sample = readFileSync(new URL('../etc/oam-docker-ipam/oam-docker-ipam.conf', import.meta.url), 'utf8');
    expect(loadConfig({ flags: {}, env: {}, readFile: files({ [DEFAULT_CONFIG_FILE]: sample }) })).toEqual({
      debug: false,
      dhcpServer: '192.168.1.1',
      listenAddr: undefined,
      driverName: 'd4d',
      stateDir: '/var/lib/oam-docker-ipam',
      pluginDir: '/run/docker/plugins',
      clientIdMode: 'mac',
      maxConcurrent: 32,
      configFile: DEFAULT_CONFIG_FILE,
    });
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
    expect(loadConfig({ flags: { dhcpServer: '10.0.0.1' }, env: {}, readFile: () => undefined })).toMatchObject({ configFile: undefined, driverName: 'd4d' });
  });

  it('reports every problem at once', () => {
    const file = 'DHCP_SERVER=10.0.0\nLISTEN_ADDR=host\nDRIVER_NAME=a/b\nSTATE_DIR=relative\nPLUGIN_DIR=also/relative\nDHCP_CLIENT_ID=uuid\nDHCP_MAX_CONCURRENT=0\nIPAM_DEBUG=maybe\nDHCP_SERVR=typo\n';
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
    expect((err as ConfigError).message).toMatch(/^invalid configuration:\n  - /);
  });

  it('requires DHCP_SERVER and an existing file when one is named', () => {
    expect(() => loadConfig({ flags: { configFile: '/nope.conf' }, env: {}, readFile: () => undefined })).toThrow(
      /configuration file \/nope.conf does not exist[\s\S]*DHCP_SERVER is required/,
    );
  });
});
