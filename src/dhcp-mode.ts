/**
 * The DHCP side as the settings ask for it, for every command that talks DHCP (`server`,
 * `probe`, `check-config`, through `openEngine` in engine.ts): the socket of the mode, and the
 * client options that go with it.
 *
 * - direct (default): the wildcard socket on UDP/68, shared with the host's DHCP client;
 *   requests carry the BROADCAST flag and need the server on this host's segment.
 * - relay: a socket on RELAY_ADDR:67, not shared; every message goes as a relay agent forwards
 *   it (dhcp/relay.ts), and the server answers by unicast, across routers.
 *
 * Either way DHCP_SERVER's list is the client's: the first server, then the others.
 */
import { networkInterfaces } from 'node:os';
import type { Config } from './config.js';
import { ConfigError } from './config.js';
import type { DhcpClientOptions } from './dhcp/client.js';
import { UdpTransport } from './dhcp/transport.js';

/** Server port, where a relay agent receives the servers' answers (RFC 2131 §4.1). */
const RELAY_PORT = 67;

export interface DhcpMode {
  transport: UdpTransport;
  /** To spread into `new DhcpClient({...})`. */
  clientOptions: Pick<DhcpClientOptions, 'otherServers' | 'relay'>;
  /** One line for the start-up log. */
  description: Record<string, unknown>;
}

/**
 * Opens the socket of the configured mode. Rejects with a `TransportError` naming the port's
 * holder, or a `ConfigError` when the relay address is not this host's.
 */
export async function openDhcpMode(config: Config, onError: (err: Error) => void): Promise<DhcpMode> {
  const otherServers = config.dhcpServers.slice(1);
  if (config.dhcpMode === 'relay') {
    const address = config.relayAddr;
    if (address === undefined) throw new ConfigError(['DHCP_MODE=relay needs RELAY_ADDR (or LISTEN_ADDR)']);
    if (!isLocalAddress(address)) {
      throw new ConfigError([`RELAY_ADDR ${address} is not an address of this host (see ip -4 addr): servers answer the relay agent there`]);
    }
    const transport = await UdpTransport.open({ address, port: RELAY_PORT, reuseAddr: false, onError });
    return {
      transport,
      clientOptions: { otherServers, relay: { address, subnetOption: config.relaySubnetOption } },
      description: { mode: 'relay', relayAddr: address, subnetOption: config.relaySubnetOption, dhcpServers: config.dhcpServers },
    };
  }
  const transport = await UdpTransport.open({ onError });
  return { transport, clientOptions: { otherServers }, description: { mode: 'direct', dhcpServers: config.dhcpServers } };
}

function isLocalAddress(address: string): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.family === 'IPv4' && a.address === address) === true);
}
