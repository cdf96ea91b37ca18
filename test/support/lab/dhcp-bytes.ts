/**
 * Hand-built DHCP client packets and a minimal reply reader for lab tests and capture recording.
 *
 * Deliberately independent of the codec under test in `src/dhcp/codec`: golden captures and the
 * lab self-test must not be produced by the code they are meant to check.
 */

/** DHCP message types used here (RFC 2132 §9.6). */
export const DhcpType = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7 } as const;

/** What to put in a BOOTREQUEST. */
export interface ClientPacketSpec {
  /** Option 53 value, e.g. {@link DhcpType.REQUEST}. */
  readonly type: number;
  readonly xid: number;
  /** chaddr, `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string;
  /** Set the BROADCAST flag (RFC 2131 §4.1); default true. */
  readonly broadcast?: boolean;
  /** ciaddr; default 0.0.0.0. */
  readonly ciaddr?: string;
  /** Option 50, requested IP address. */
  readonly requestedIp?: string;
  /** Option 54, server identifier. */
  readonly serverId?: string;
  /** Option 61 bytes; default 01 + MAC (RFC 2132 §9.14); null to omit. */
  readonly clientId?: Uint8Array | null;
}

const MAGIC_COOKIE = [99, 130, 83, 99];
/** BOOTP minimum message size (RFC 951 / RFC 1542 §2.1): some relays and servers drop shorter ones. */
const MIN_PACKET_BYTES = 300;

function ipBytes(ip: string): number[] {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 address "${ip}"`);
  return parts;
}

function macBytes(mac: string): number[] {
  const parts = mac.split(':').map((h) => Number.parseInt(h, 16));
  if (parts.length !== 6 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad MAC "${mac}"`);
  return parts;
}

/** Encode a BOOTREQUEST with the options in `spec` plus a parameter request list (1, 3, 6, 51, 54, 58, 59). */
export function buildClientPacket(spec: ClientPacketSpec): Uint8Array {
  const header = new Uint8Array(236);
  const view = new DataView(header.buffer);
  header[0] = 1; // op BOOTREQUEST
  header[1] = 1; // htype Ethernet
  header[2] = 6; // hlen
  view.setUint32(4, spec.xid >>> 0);
  view.setUint16(10, spec.broadcast === false ? 0 : 0x8000);
  header.set(ipBytes(spec.ciaddr ?? '0.0.0.0'), 12);
  const mac = macBytes(spec.mac);
  header.set(mac, 28);
  const options: number[] = [...MAGIC_COOKIE, 53, 1, spec.type];
  const clientId = spec.clientId === undefined ? Uint8Array.from([1, ...mac]) : spec.clientId;
  if (clientId !== null) options.push(61, clientId.length, ...clientId);
  if (spec.requestedIp !== undefined) options.push(50, 4, ...ipBytes(spec.requestedIp));
  if (spec.serverId !== undefined) options.push(54, 4, ...ipBytes(spec.serverId));
  options.push(55, 7, 1, 3, 6, 51, 54, 58, 59, 255);
  const packet = new Uint8Array(Math.max(MIN_PACKET_BYTES, header.length + options.length));
  packet.set(header, 0);
  packet.set(options, header.length);
  return packet;
}

/** The fields of a DHCP message that lab assertions need. */
export interface MessageSummary {
  readonly xid: number;
  /** Option 53, or null if missing. */
  readonly type: number | null;
  readonly yiaddr: string;
  /** Option 54, or null. */
  readonly serverId: string | null;
}

/** Read xid, yiaddr, option 53 and option 54 of a DHCP message (no overload or RFC 3396 handling). */
export function summarizeMessage(payload: Uint8Array): MessageSummary {
  if (payload.length < 240) throw new Error(`DHCP message too short: got ${payload.length} bytes, want at least 240`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  let type: number | null = null;
  let serverId: string | null = null;
  for (let i = 240; i < payload.length; ) {
    const code = payload[i] ?? 255;
    if (code === 255) break;
    if (code === 0) {
      i += 1;
      continue;
    }
    const len = payload[i + 1] ?? 0;
    const value = payload.subarray(i + 2, i + 2 + len);
    if (code === 53) type = value[0] ?? null;
    if (code === 54 && len === 4) serverId = Array.from(value).join('.');
    i += 2 + len;
  }
  return { xid: view.getUint32(4), type, yiaddr: Array.from(payload.subarray(16, 20)).join('.'), serverId };
}
