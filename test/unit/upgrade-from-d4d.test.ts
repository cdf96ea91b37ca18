/**
 * docs/operator-guide.md promises that D4D's configuration file, flags and command keep working.
 * These are D4D's own: the file its RPM installed (two versions of it), the file its README told
 * operators to write, and the command line its systemd unit ran. What d4d refuses, the guide
 * says to change, and the refusal names it.
 */
import { describe, expect, it } from 'vitest';
import { parseCli } from '../../src/cli.js';
import { ConfigError, loadConfig } from '../../src/config.js';

const fromFile = (text: string) => loadConfig({ flags: {}, env: {}, readFile: () => text });

describe('upgrading from D4D', () => {
  it("takes D4D's packaged file with the server filled in; its LISTEN_ADDR=0.0.0.0 means any address", () => {
    const config = fromFile('# [ipam]\nIPAM_DEBUG=true\nDHCP_SERVER=192.168.59.203\nLISTEN_ADDR=0.0.0.0');
    expect(config).toMatchObject({ debug: true, dhcpServer: '192.168.59.203', listenAddr: undefined, driverName: 'd4d' });
  });

  it("takes the file D4D's README showed, inline comments and all", () => {
    const config = fromFile('# [ipam]\n# [ipam]\nIPAM_DEBUG=true\nDHCP_SERVER=192.168.59.203  #the DHCP server\nLISTEN_ADDR=0.0.0.0         #local address\n');
    expect(config).toMatchObject({ debug: true, dhcpServer: '192.168.59.203', listenAddr: undefined });
  });

  it('keeps the plugin name talkingdata when DRIVER_NAME says so', () => {
    expect(fromFile('DHCP_SERVER=192.168.59.203\nDRIVER_NAME=talkingdata').driverName).toBe('talkingdata');
  });

  it('refuses the leftover IPAM_CLUSTER_STORE of an older packaged file, naming it', () => {
    expect(() => fromFile('IPAM_DEBUG=true\nIPAM_CLUSTER_STORE=http://127.0.0.1:2379\nDHCP_SERVER=192.168.59.203')).toThrow(ConfigError);
    expect(() => fromFile('IPAM_CLUSTER_STORE=http://127.0.0.1:2379\nDHCP_SERVER=192.168.59.203')).toThrow(/unknown setting IPAM_CLUSTER_STORE/);
  });

  it("parses D4D's global flags and server command, its unit's --debug=VALUE included", () => {
    expect(parseCli(['--debug', '--dhcp-server=192.168.59.203', '--listen-addr=192.168.59.202', 'server'])).toMatchObject({
      kind: 'server',
      flags: { debug: true, dhcpServer: '192.168.59.203', listenAddr: '192.168.59.202' },
    });
    expect(parseCli(['--debug=true', '--dhcp-server=192.168.59.203', 'server'])).toMatchObject({ kind: 'server', flags: { debug: true } });
    expect(parseCli(['--debug=false', '--dhcp-server=192.168.59.203', 'server'])).toEqual({ kind: 'server', flags: { dhcpServer: '192.168.59.203' } });
    expect(() => parseCli(['--debug=', '--dhcp-server=192.168.59.203', 'server'])).toThrow(/--debug/);
  });
});
