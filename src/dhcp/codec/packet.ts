/**
 * DHCPv4 message encoding and decoding (RFC 2131 §2, RFC 2132, RFC 3396).
 *
 * Pure: bytes in, values out. `decodePacket` is total: whatever the input, it returns a packet
 * or throws `DecodeError`, never anything else, because it runs on every datagram that reaches
 * UDP/68 from anyone on the segment.
 */
import { DecodeError } from './decode-error.js';
import { OptionCode } from './option-codes.js';
import { formatIPv4, formatHex, ipv4ToNumber } from './ipv4.js';
import { encodedOptionsLength, parseOptionArea, writeOptions, type OptionMap } from './options.js';

/** A decoded (or to-be-encoded) DHCPv4 message. Addresses are dotted quads. */
export interface DhcpPacket {
  /** 1 = BOOTREQUEST, 2 = BOOTREPLY. */
  op: number;
  /** Hardware type; 1 = Ethernet. */
  htype: number;
  /** Hardware address length; 6 for Ethernet, at most 16. */
  hlen: number;
  hops: number;
  /** Transaction id, unsigned 32-bit. */
  xid: number;
  /** Seconds since the client began acquisition or renewal. */
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** Client hardware address field, always 16 bytes (only the first `hlen` are meaningful). */
  chaddr: Uint8Array;
  /** Server host name field, 64 bytes, zero-filled. */
  sname: Uint8Array;
  /** Boot file name field, 128 bytes, zero-filled. */
  file: Uint8Array;
  options: OptionMap;
}

/** Fixed BOOTP header length before the magic cookie (RFC 2131 §2). */
export const HEADER_LENGTH = 236;
/** The magic cookie 99.130.83.99 that opens the options field (RFC 2131 §3). */
export const MAGIC_COOKIE = 0x63825363;
/**
 * Minimum length of an encoded message. BOOTP (RFC 951) messages were 300 bytes and some
 * servers and relay agents still drop shorter ones, so we pad with zeros (Pad options).
 */
export const MIN_PACKET_LENGTH = 300;
const OPTIONS_OFFSET = HEADER_LENGTH + 4;
const SNAME_OFFSET = 44;
const FILE_OFFSET = 108;

/** Decodes one DHCP datagram. Throws `DecodeError` (only) on malformed input. */
export function decodePacket(input: Uint8Array): DhcpPacket {
  if (input.length < OPTIONS_OFFSET) {
    throw new DecodeError(`datagram too short: got ${input.length} bytes, want at least ${OPTIONS_OFFSET}`, input.length);
  }
  // One private copy of the datagram, and every field and option a view into it: the packet
  // shares nothing with the caller's bytes (a pooled buffer may be reused, a test may mutate
  // its input), at one allocation per datagram instead of one per field and option, which was
  // most of what a renewal allocated.
  const data = privateCopy(input);
  const cookie = readUint32(data, HEADER_LENGTH);
  if (cookie !== MAGIC_COOKIE) {
    throw new DecodeError(`bad magic cookie: got 0x${cookie.toString(16).padStart(8, '0')}, want 0x${MAGIC_COOKIE.toString(16)}`, HEADER_LENGTH);
  }
  const hlen = data[2] as number;
  if (hlen > 16) throw new DecodeError(`hardware address length ${hlen} exceeds 16`, 2);

  let sname = data.subarray(SNAME_OFFSET, SNAME_OFFSET + 64);
  let file = data.subarray(FILE_OFFSET, FILE_OFFSET + 128);
  const options: OptionMap = new Map();
  parseOptionArea(data.subarray(OPTIONS_OFFSET), OPTIONS_OFFSET, options);

  // Option overload (RFC 2132 §9.3): `file`, then `sname`, carry further options. Their content
  // is moved into `options` and the fields are cleared, so the packet has one source of truth
  // and re-encodes (without overload) to the same options.
  const overload = options.get(OptionCode.Overload);
  if (overload !== undefined) {
    if (overload.length !== 1 || overload[0] === undefined || overload[0] < 1 || overload[0] > 3) {
      throw new DecodeError(`bad option overload value: got ${formatHex(overload)}, want 1, 2 or 3`, OPTIONS_OFFSET);
    }
    options.delete(OptionCode.Overload);
    const mode = overload[0];
    if (mode & 1) {
      parseOptionArea(file, FILE_OFFSET, options);
      // Fresh zeros, not a fill: the options just read are views into these bytes.
      file = new Uint8Array(128);
      refuseNestedOverload(options, 'file', FILE_OFFSET);
    }
    if (mode & 2) {
      parseOptionArea(sname, SNAME_OFFSET, options);
      sname = new Uint8Array(64);
      refuseNestedOverload(options, 'sname', SNAME_OFFSET);
    }
  }

  return {
    op: data[0] as number,
    htype: data[1] as number,
    hlen,
    hops: data[3] as number,
    xid: readUint32(data, 4),
    secs: readUint16(data, 8),
    flags: readUint16(data, 10),
    ciaddr: formatIPv4(data, 12),
    yiaddr: formatIPv4(data, 16),
    siaddr: formatIPv4(data, 20),
    giaddr: formatIPv4(data, 24),
    chaddr: data.subarray(28, 44),
    sname,
    file,
    options,
  };
}

/**
 * Decoded datagrams are copied into slabs of their own: an ArrayBuffer per datagram (memory
 * outside the heap, tracked and freed one by one) cost more than decoding the datagram. A slab
 * is freed once every packet cut from it is dropped; a packet lives for one exchange (what is
 * kept of a reply is read out of it as numbers and text). Not Node's pool of small buffers: a
 * packet kept longer would hold a slab shared with everything else.
 */
const COPY_SLAB_BYTES = 64 * 1024;
/** Larger datagrams (jumbo frames) get a buffer of their own. */
const MAX_SLAB_COPY_BYTES = 4 * 1024;
let copySlab = new ArrayBuffer(COPY_SLAB_BYTES);
let copyUsed = 0;

function privateCopy(input: Uint8Array): Uint8Array {
  if (input.length > MAX_SLAB_COPY_BYTES) return input.slice();
  if (copyUsed + input.length > COPY_SLAB_BYTES) {
    copySlab = new ArrayBuffer(COPY_SLAB_BYTES);
    copyUsed = 0;
  }
  const out = new Uint8Array(copySlab, copyUsed, input.length);
  out.set(input);
  copyUsed += input.length;
  return out;
}

function readUint16(data: Uint8Array, at: number): number {
  return ((data[at] as number) << 8) | (data[at + 1] as number);
}

function readUint32(data: Uint8Array, at: number): number {
  return (data[at] as number) * 0x1000000 + (((data[at + 1] as number) << 16) | ((data[at + 2] as number) << 8) | (data[at + 3] as number));
}

/**
 * The overload option may appear only in the options field (RFC 2131 §4.1). One found in `sname`
 * or `file` would stay in the map as option 52, which the encoder never writes, so the packet
 * would not re-encode to itself; no server sends it, so it is refused like any malformed packet.
 */
function refuseNestedOverload(options: OptionMap, field: 'file' | 'sname', offset: number): void {
  if (options.has(OptionCode.Overload)) {
    throw new DecodeError(`option overload found inside the overloaded ${field} field; it may only appear in the options field`, offset);
  }
}

/** Length `encodePacket` will produce for `p`, padding included. */
export function encodedLength(p: DhcpPacket): number {
  return Math.max(MIN_PACKET_LENGTH, OPTIONS_OFFSET + encodedOptionsLength(p.options));
}

/** Encodes a packet. Never uses option overload; pads to `MIN_PACKET_LENGTH`. */
export function encodePacket(p: DhcpPacket): Uint8Array {
  // From Node's pool of small buffers (one allocation of its own per datagram was measurable),
  // zeroed, as a plain Uint8Array view; addresses written in place, without a byte array each.
  const length = encodedLength(p);
  const pooled = Buffer.allocUnsafe(length).fill(0);
  const out = new Uint8Array(pooled.buffer, pooled.byteOffset, length);
  out[0] = p.op;
  out[1] = p.htype;
  out[2] = p.hlen;
  out[3] = p.hops;
  writeUint32(out, 4, p.xid >>> 0);
  const secs = Math.min(Math.max(0, Math.floor(p.secs)), 0xffff);
  out[8] = secs >>> 8;
  out[9] = secs & 0xff;
  out[10] = (p.flags >>> 8) & 0xff;
  out[11] = p.flags & 0xff;
  writeUint32(out, 12, ipv4ToNumber(p.ciaddr));
  writeUint32(out, 16, ipv4ToNumber(p.yiaddr));
  writeUint32(out, 20, ipv4ToNumber(p.siaddr));
  writeUint32(out, 24, ipv4ToNumber(p.giaddr));
  // The fields are copied whole when they have their exact size (always, but for hand-made
  // packets): a view of a small array (V8 keeps those inside the object) would first move its
  // bytes to a buffer of their own.
  out.set(fitted(p.chaddr, 16), 28);
  out.set(fitted(p.sname, 64), SNAME_OFFSET);
  out.set(fitted(p.file, 128), FILE_OFFSET);
  writeUint32(out, HEADER_LENGTH, MAGIC_COOKIE);
  writeOptions(p.options, out, OPTIONS_OFFSET);
  return out;
}

/** `field` cut to `size` bytes, itself when it is no longer. */
function fitted(field: Uint8Array, size: number): Uint8Array {
  return field.length <= size ? field : field.subarray(0, size);
}

/** Big-endian, as every DHCP field. */
function writeUint32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = (v >>> 16) & 0xff;
  out[at + 2] = (v >>> 8) & 0xff;
  out[at + 3] = v & 0xff;
}

/** The client hardware address as `aa:bb:…` text, `hlen` bytes long. */
export function chaddrText(p: DhcpPacket): string {
  return formatHex(p.chaddr.subarray(0, p.hlen));
}
