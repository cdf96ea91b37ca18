/**
 * Which received datagrams belong to a transaction. Pure: the client decides with these
 * predicates and counts every drop by reason, because on a shared segment it is normal to see
 * replies meant for other clients ("It is normal to receive DHCP messages with an unexpected xid").
 */
import { BootOp, MessageType, OptionCode } from './codec/option-codes.js';
import type { DhcpPacket } from './codec/packet.js';
import { getIPv4, getUint32, getUint8 } from './codec/options.js';
import { bindingFromReply, type Binding } from './binding.js';

/** What a transaction waits for. */
export interface Expectation {
  xid: number;
  /** Container MAC, lower-case colon form. */
  mac: string;
  clientId: Uint8Array;
  /** Message types that complete the transaction (e.g. OFFER; or ACK and NAK). */
  types: readonly number[];
  /** Server identifiers we believe. Anything else is a rogue or misconfigured server. */
  servers: ReadonlySet<string>;
  /** For a REQUEST: the address asked for; an ACK for any other address is not ours. */
  ip?: string;
}

/** Why a datagram was dropped. */
export type DropReason =
  | 'malformed'
  | 'wrong-port'
  | 'not-a-reply'
  | 'unknown-xid'
  | 'wrong-chaddr'
  | 'wrong-client-id'
  | 'unexpected-type'
  | 'foreign-server'
  | 'wrong-address'
  | 'incomplete';

/**
 * Returns why `p` does not answer `e`, or undefined if it does. May throw `DecodeError` on a
 * malformed option value; the caller treats that as 'malformed'.
 */
export function mismatch(p: DhcpPacket, e: Expectation): DropReason | undefined {
  const verdict = acceptReply(p, e);
  return typeof verdict === 'string' ? verdict : undefined;
}

/** A reply `acceptReply` accepted, with the binding of an ACK read once (the client keeps it). */
export interface Accepted {
  binding: Binding | undefined;
}

/**
 * `mismatch()` for the client: why `p` does not answer `e`, or what it accepted. An ACK's
 * binding is read here to refuse a malformed option anyway, and handed on instead of being read
 * a second time. Its `requestedAt` is 0: the client sets when its REQUEST first went out.
 */
export function acceptReply(p: DhcpPacket, e: Expectation): DropReason | Accepted {
  if (p.op !== BootOp.Reply) return 'not-a-reply';
  if (p.xid !== e.xid) return 'unknown-xid';
  if (p.htype !== 1 || p.hlen !== 6 || !chaddrIs(p.chaddr, e.mac)) return 'wrong-chaddr';
  // Only Kea echoes option 61 by default (RFC 6842); when present it must be ours.
  const echoed = p.options.get(OptionCode.ClientIdentifier);
  if (echoed !== undefined && !sameBytes(echoed, e.clientId)) return 'wrong-client-id';
  const type = getUint8(p.options, OptionCode.MessageType);
  if (type === undefined || !e.types.includes(type)) return 'unexpected-type';
  const server = getIPv4(p.options, OptionCode.ServerIdentifier);
  // OFFER, ACK and NAK MUST carry a server identifier (RFC 2131 Table 3).
  if (server === undefined || !e.servers.has(server)) return 'foreign-server';
  if (type === MessageType.Offer || type === MessageType.Ack) {
    if (p.yiaddr === '0.0.0.0') return 'incomplete';
    // A lease of 0 s would expire on arrival and send us straight back for another.
    const leaseTime = getUint32(p.options, OptionCode.LeaseTime);
    if (leaseTime === undefined || leaseTime === 0) return 'incomplete';
  }
  if (type === MessageType.Ack && e.ip !== undefined && p.yiaddr !== e.ip) return 'wrong-address';
  // Read every option the binding will use now, so a malformed one is dropped here as a bad
  // packet instead of failing the transaction that accepted it.
  return { binding: type === MessageType.Ack ? bindingFromReply(p, 0) : undefined };
}

/**
 * Whether the first six bytes of `chaddr` spell `mac` (lower-case colon form), compared in
 * place: the text of every reply's chaddr was a string built only to be compared.
 */
function chaddrIs(chaddr: Uint8Array, mac: string): boolean {
  if (mac.length !== 17 || chaddr.length < 6) return false;
  for (let i = 0; i < 6; i++) {
    const b = chaddr[i] ?? 0;
    if (mac.charCodeAt(i * 3) !== HEX_DIGITS[b >> 4] || mac.charCodeAt(i * 3 + 1) !== HEX_DIGITS[b & 15]) return false;
    if (i < 5 && mac.charCodeAt(i * 3 + 2) !== 0x3a) return false;
  }
  return true;
}

/** Character codes of the lower-case hex digits. */
const HEX_DIGITS = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
