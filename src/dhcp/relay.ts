/**
 * Relay mode: every message d4d sends goes out as a BOOTP relay agent would forward the
 * container's own (RFC 2131 §4.1, RFC 1542 §4.1): `giaddr` = the host's relay address, `hops`
 * = 1, from UDP port 67. Servers answer a relayed message by unicast to giaddr:67 whatever
 * its ciaddr and flags say, so nothing needs port 68, the BROADCAST flag or a shared segment;
 * the host and the server may sit on different subnets with routers between them.
 *
 * A server picks the subnet of a relayed request from giaddr unless the request names one.
 * The containers' subnet is not the relay address's, so d4d names it: the link-selection
 * sub-option of option 82 (RFC 3527) and/or the subnet-selection option 118 (RFC 3011), with
 * an address inside the subnet. ISC dhcpd 4.4.3, Kea 2.2 and dnsmasq 2.90 honour both and
 * prefer 82/5 when both are present (ISC `locate_network`, Kea `CfgSubnets4::initSelector`,
 * dnsmasq `dhcp_reply`; checked in the lab, see docs/relay.md). Without either, a server falls
 * back to giaddr: that is how a network created without `--subnet` learns its subnet, when the
 * server maps the relay address to one.
 *
 * Pure: the client calls `relayed()` on each message it built and sends the result.
 */
import type { DhcpPacket } from './codec/packet.js';
import { OptionCode } from './codec/option-codes.js';
import { ipv4Value } from './codec/options.js';

/** Option 118, subnet selection (RFC 3011). */
export const SUBNET_SELECTION_OPTION = 118;
/** Sub-option 5 of option 82, link selection (RFC 3527). */
export const LINK_SELECTION_SUBOPTION = 5;

/** How a relayed request names the containers' subnet (`RELAY_SUBNET_OPTION`). */
export const SUBNET_OPTIONS = ['link-selection', 'subnet-selection', 'both', 'none'] as const;
export type SubnetOption = (typeof SUBNET_OPTIONS)[number];

/** Default: option 82 sub-option 5, the relay agent's own way to name a link (RFC 3527 §1). */
export const DEFAULT_SUBNET_OPTION: SubnetOption = 'link-selection';

/** The relay agent d4d acts as. */
export interface RelayAgent {
  /** giaddr: this host's address the server answers to (UDP 67), and routes back to. */
  readonly address: string;
  /** How the containers' subnet is named to the server. */
  readonly subnetOption: SubnetOption;
}

/**
 * `p` as the relay agent forwards it: giaddr, hops 1, no BROADCAST flag (replies go to giaddr
 * anyway, RFC 2131 §4.1), and `link` (any address inside the containers' subnet) named by the
 * agent's subnet option. Without `link` the server decides from giaddr alone. Option 82 is put
 * last, as RFC 3046 §2.1 wants of a relay agent. Returns a copy; `p` is untouched.
 */
export function relayed(p: DhcpPacket, agent: RelayAgent, link: string | undefined): DhcpPacket {
  const options = new Map(p.options);
  // Re-inserted below so that they come last, whatever the builder put in.
  options.delete(OptionCode.RelayAgentInformation);
  options.delete(SUBNET_SELECTION_OPTION);
  if (link !== undefined) {
    const address = ipv4Value(link);
    if (agent.subnetOption === 'subnet-selection' || agent.subnetOption === 'both') options.set(SUBNET_SELECTION_OPTION, address);
    if (agent.subnetOption === 'link-selection' || agent.subnetOption === 'both') {
      options.set(OptionCode.RelayAgentInformation, Uint8Array.of(LINK_SELECTION_SUBOPTION, address.length, ...address));
    }
  }
  return { ...p, giaddr: agent.address, hops: 1, flags: 0, options };
}
