import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

const none = (): undefined => undefined;

describe('loadConfig: relay mode and server lists', () => {
  it('takes DHCP_SERVER as a list, the first being dhcpServer', () => {
    const c = loadConfig({ flags: {}, env: { DHCP_SERVER: '10.0.0.1, 10.0.0.2' }, readFile: none });
    expect(c.dhcpServer).toBe('10.0.0.1');
    expect(c.dhcpServers).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('names each bad entry of the list', () => {
    expect(() => loadConfig({ flags: {}, env: { DHCP_SERVER: '10.0.0.1,nope,255.255.255.255' }, readFile: none })).toThrow(
      /DHCP_SERVER must be the server's unicast IPv4 address, got "nope" \(several servers: separate them with commas\)\n.*got "255.255.255.255"/,
    );
  });

  it('defaults to direct mode; --relay and DHCP_MODE=relay select relay mode, the relay address defaulting to LISTEN_ADDR', () => {
    expect(loadConfig({ flags: { dhcpServer: '10.0.0.1' }, env: {}, readFile: none })).toMatchObject({ dhcpMode: 'direct', relayAddr: undefined });
    expect(loadConfig({ flags: { dhcpServer: '10.0.0.1', relay: true, listenAddr: '10.0.1.5' }, env: {}, readFile: none })).toMatchObject({
      dhcpMode: 'relay',
      relayAddr: '10.0.1.5',
      relaySubnetOption: 'link-selection',
    });
    const file = 'DHCP_SERVER=10.0.0.1\nDHCP_MODE=relay\nLISTEN_ADDR=10.0.1.5\nRELAY_ADDR=10.0.2.5\nRELAY_SUBNET_OPTION=both\n';
    expect(loadConfig({ flags: {}, env: {}, readFile: (p) => (p.endsWith('.conf') ? file : undefined) })).toMatchObject({
      dhcpMode: 'relay',
      relayAddr: '10.0.2.5',
      relaySubnetOption: 'both',
    });
  });

  it('refuses relay mode without a relay address, and unknown modes and subnet options, all at once', () => {
    const env = { DHCP_SERVER: '10.0.0.1', DHCP_MODE: 'relay', RELAY_SUBNET_OPTION: 'option82' };
    expect(() => loadConfig({ flags: {}, env, readFile: none })).toThrow(
      /DHCP_MODE=relay needs the relay address[\s\S]*RELAY_SUBNET_OPTION must be one of link-selection, subnet-selection, both, none, got "option82"/,
    );
    expect(() => loadConfig({ flags: {}, env: { DHCP_SERVER: '10.0.0.1', DHCP_MODE: 'relais' }, readFile: none })).toThrow(
      'DHCP_MODE must be "direct" or "relay", got "relais"',
    );
    expect(() => loadConfig({ flags: { relay: true, relayAddr: '10.0.0' }, env: { DHCP_SERVER: '10.0.0.1' }, readFile: none })).toThrow(
      'RELAY_ADDR must be an IPv4 address, got "10.0.0"',
    );
  });
});
