/** What an ACK grants: the address and the parameters that came with it. */
import { OptionCode } from './codec/option-codes.js';
import type { DhcpPacket } from './codec/packet.js';
import { getIPv4, getIPv4List, getString, getUint32 } from './codec/options.js';

/** The outcome of a successful DHCPREQUEST. */
export interface Binding {
  ip: string;
  /** Server identifier (option 54) of the server that granted it. */
  serverId: string;
  /** When the REQUEST that was acknowledged was first sent, epoch ms: the lease starts then (RFC 2131 §4.4.1). */
  requestedAt: number;
  /** Option 51; 0xffffffff means infinite. */
  leaseTimeSeconds: number;
  /** Option 58, if the server sent one. */
  renewalTimeSeconds?: number;
  /** Option 59, if the server sent one. */
  rebindingTimeSeconds?: number;
  subnetMask?: string;
  routers?: string[];
  dnsServers?: string[];
  domainName?: string;
  /** xid of the transaction, for logs. */
  xid: number;
}

/**
 * Reads a binding out of an ACK that `mismatch()` accepted (so 51 and 54 are present), or out
 * of the OFFER before it, which carries the same fields (what the lease will be once acknowledged).
 */
export function bindingFromReply(ack: DhcpPacket, requestedAt: number): Binding {
  const b: Binding = {
    ip: ack.yiaddr,
    serverId: getIPv4(ack.options, OptionCode.ServerIdentifier) ?? '0.0.0.0',
    requestedAt,
    leaseTimeSeconds: getUint32(ack.options, OptionCode.LeaseTime) ?? 0,
    xid: ack.xid,
  };
  const t1 = getUint32(ack.options, OptionCode.RenewalTime);
  const t2 = getUint32(ack.options, OptionCode.RebindingTime);
  const mask = getIPv4(ack.options, OptionCode.SubnetMask);
  const routers = getIPv4List(ack.options, OptionCode.Router);
  const dns = getIPv4List(ack.options, OptionCode.DomainNameServer);
  const domain = getString(ack.options, OptionCode.DomainName);
  if (t1 !== undefined) b.renewalTimeSeconds = t1;
  if (t2 !== undefined) b.rebindingTimeSeconds = t2;
  if (mask !== undefined) b.subnetMask = mask;
  if (routers !== undefined) b.routers = routers;
  if (dns !== undefined) b.dnsServers = dns;
  if (domain !== undefined) b.domainName = domain;
  return b;
}
