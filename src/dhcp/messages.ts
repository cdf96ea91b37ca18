/**
 * Pure builders for the messages a host-side client sends on behalf of a container
 * (recipes in RFC 2131 §4.4 and Table 5, adapted where real servers require it).
 *
 * Every message carries the same client identifier, `01` + MAC by default (RFC 2131 §4.2:
 * a client that uses one must use it in all later messages), and, except RELEASE, the
 * BROADCAST flag: the container's interface does not exist yet, so a reply sent by unicast
 * to yiaddr/chaddr would never reach the host's socket.
 */
import { BootOp, FLAG_BROADCAST, MessageType, OptionCode } from './codec/option-codes.js';
import type { DhcpPacket } from './codec/packet.js';
import { ipv4Value, stringValue, uint16Value, uint8Value, type OptionMap } from './codec/options.js';
import { macNumber, parseMacInto } from './codec/ipv4.js';
import { longLivedBytes } from './codec/long-lived.js';

/** Who a message is for: the container endpoint. */
export interface ClientIdentity {
  /** Container endpoint MAC, `aa:bb:cc:dd:ee:ff`; goes into chaddr. */
  mac: string;
  /** Option 61 value (type byte included). */
  clientId: Uint8Array;
  /** Option 12, when the container has a name to announce. */
  hostname?: string;
}

/** Options we ask servers for (option 55). Repeated unchanged in every REQUEST (RFC 2131 §3.5). */
export const PARAMETER_REQUEST_LIST: readonly number[] = [
  OptionCode.SubnetMask,
  OptionCode.Router,
  OptionCode.DomainNameServer,
  OptionCode.DomainName,
  OptionCode.BroadcastAddress,
  OptionCode.LeaseTime,
  OptionCode.ServerIdentifier,
  OptionCode.RenewalTime,
  OptionCode.RebindingTime,
];

/** Largest reply we accept (option 57); a full Ethernet frame's worth. */
export const MAX_MESSAGE_SIZE = 1500;

/**
 * Client identifier `01` + MAC: what ISC, Kea and dnsmasq reservations spell as a MAC client-id.
 * By default it is made to be kept as long as a lease (long-lived.ts); `bytes` gives a copy
 * made for one use its own memory.
 */
export function clientIdForMac(mac: string, bytes: (length: number) => Uint8Array = longLivedBytes): Uint8Array {
  const out = bytes(7);
  out[0] = 1; // ARP hardware type Ethernet (RFC 2132 §9.14)
  parseMacInto(mac, out, 1);
  return out;
}

/** Whether `clientId` is the one `clientIdForMac` makes for `mac`. */
export function isClientIdForMac(clientId: Uint8Array, mac: string): boolean {
  const v = macNumberOfClientId(clientId);
  return v >= 0 && v === macNumber(mac);
}

/** The MAC of a client id `01` + MAC as a 48-bit number (`macNumber`), -1 for any other id. */
export function macNumberOfClientId(clientId: Uint8Array): number {
  if (clientId.length !== 7 || clientId[0] !== 1) return -1;
  let v = 0;
  for (let i = 1; i < 7; i++) v = v * 256 + (clientId[i] as number);
  return v;
}

/** Client identifier type 0 + text, for identities that are not hardware addresses (RFC 2132 §9.14). */
export function clientIdForName(name: string): Uint8Array {
  const text = stringValue(name);
  const out = longLivedBytes(text.length + 1);
  out.set(text, 1);
  return out;
}

interface Common {
  client: ClientIdentity;
  xid: number;
  /** Seconds since the acquisition or renewal began. */
  secs: number;
}

/**
 * What every message of a kind carries alike, built once: zero `sname` and `file` fields, the
 * message types, the parameter list and the size. Messages share these values; they are
 * encoded (copied into the datagram) and dropped, and nothing writes into a message's fields
 * or option values in place (`relayed()` makes a new option map). Built afresh, they were
 * about a third of what building a message allocated.
 */
const ZERO_SNAME = new Uint8Array(64);
const ZERO_FILE = new Uint8Array(128);
const MESSAGE_TYPE_VALUES: ReadonlyMap<number, Uint8Array> = new Map(Object.values(MessageType).map((t) => [t, uint8Value(t)]));
const PARAMETER_REQUEST_VALUE = Uint8Array.from(PARAMETER_REQUEST_LIST);
const MAX_MESSAGE_SIZE_VALUE = uint16Value(MAX_MESSAGE_SIZE);

function basePacket(c: Common, type: number, flags: number, ciaddr: string): DhcpPacket {
  const chaddr = new Uint8Array(16);
  parseMacInto(c.client.mac, chaddr, 0);
  const options: OptionMap = new Map();
  options.set(OptionCode.MessageType, MESSAGE_TYPE_VALUES.get(type) ?? uint8Value(type));
  options.set(OptionCode.ClientIdentifier, c.client.clientId);
  return {
    op: BootOp.Request,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: c.xid,
    secs: c.secs,
    flags,
    ciaddr,
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr,
    sname: ZERO_SNAME,
    file: ZERO_FILE,
    options,
  };
}

function addRequestParameters(p: DhcpPacket, c: Common): void {
  p.options.set(OptionCode.ParameterRequestList, PARAMETER_REQUEST_VALUE);
  p.options.set(OptionCode.MaxMessageSize, MAX_MESSAGE_SIZE_VALUE);
  if (c.client.hostname !== undefined && c.client.hostname !== '') {
    p.options.set(OptionCode.HostName, stringValue(c.client.hostname));
  }
}

/** DHCPDISCOVER (INIT), optionally asking for an address with option 50 (RFC 2131 §4.4.1). */
export function buildDiscover(c: Common & { requestedIp?: string }): DhcpPacket {
  const p = basePacket(c, MessageType.Discover, FLAG_BROADCAST, '0.0.0.0');
  if (c.requestedIp !== undefined) p.options.set(OptionCode.RequestedIpAddress, ipv4Value(c.requestedIp));
  addRequestParameters(p, c);
  return p;
}

/**
 * DHCPREQUEST answering an OFFER (SELECTING): same xid and secs as the DISCOVER, option 50 =
 * the offered address, option 54 = the offering server, taken from option 54 and not siaddr
 * (RFC 2131 §4.4.1; dnsmasq and ISC silently ignore a REQUEST without both).
 */
export function buildRequestForOffer(c: Common & { offeredIp: string; serverId: string }): DhcpPacket {
  const p = basePacket(c, MessageType.Request, FLAG_BROADCAST, '0.0.0.0');
  p.options.set(OptionCode.RequestedIpAddress, ipv4Value(c.offeredIp));
  p.options.set(OptionCode.ServerIdentifier, ipv4Value(c.serverId));
  addRequestParameters(p, c);
  return p;
}

/**
 * DHCPREQUEST extending a lease at T1. Deliberately not the RFC RENEWING form (ciaddr set):
 * Kea and dnsmasq unicast that ACK to ciaddr, the container, so the host never sees it. With
 * ciaddr = 0, option 50 and 54 and the BROADCAST flag all three servers broadcast an ACK that
 * extends the lease.
 */
export function buildRenew(c: Common & { ip: string; serverId: string }): DhcpPacket {
  return buildRequestForOffer({ ...c, offeredIp: c.ip });
}

/**
 * DHCPREQUEST in the INIT-REBOOT form: ciaddr = 0, option 50, no option 54 (RFC 2131 §4.3.2).
 * Used at T2 (any server may answer) and to confirm a lease restored after a restart: unlike a
 * DISCOVER it never makes a server ping — and then abandon — an address a live container uses.
 */
export function buildRebind(c: Common & { ip: string }): DhcpPacket {
  const p = basePacket(c, MessageType.Request, FLAG_BROADCAST, '0.0.0.0');
  p.options.set(OptionCode.RequestedIpAddress, ipv4Value(c.ip));
  addRequestParameters(p, c);
  return p;
}

/**
 * DHCPRELEASE: unicast to the server, ciaddr = the address, option 54, no option 50, no
 * parameter list or size (RFC 2131 §4.4.4, Table 5). The server sends no reply.
 */
export function buildRelease(c: Omit<Common, 'secs'> & { ip: string; serverId: string }): DhcpPacket {
  const p = basePacket({ ...c, secs: 0 }, MessageType.Release, 0, c.ip);
  p.options.set(OptionCode.ServerIdentifier, ipv4Value(c.serverId));
  return p;
}
