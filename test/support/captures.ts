/**
 * Reader for the packet captures under `test/fixtures/captures/`: a minimal classic-pcap parser
 * that returns the DHCP payloads (UDP ports 67/68 over IPv4) in capture order.
 *
 * Supports both byte orders, microsecond and nanosecond timestamps, and the link types tcpdump
 * produces here: Ethernet (1, with optional 802.1Q tags), Linux cooked v1 (113) and v2 (276).
 * pcapng is rejected with a hint (`tcpdump -w` writes classic pcap; re-save with
 * `editcap -F pcap`).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const LINKTYPE_ETHERNET = 1;
const LINKTYPE_LINUX_SLL = 113;
const LINKTYPE_LINUX_SLL2 = 276;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_VLAN = [0x8100, 0x88a8];
const IPPROTO_UDP = 17;
const DHCP_PORTS = new Set([67, 68]);

/** Absolute path of `test/fixtures/captures/<server>/<name>.pcap`. */
export function capturePath(server: string, name: string): string {
  return fileURLToPath(new URL(`../fixtures/captures/${server}/${name}.pcap`, import.meta.url));
}

/** Byte order and link type from a classic pcap global header. */
function readGlobalHeader(file: Uint8Array, path: string): { littleEndian: boolean; linkType: number } {
  if (file.length < 24) throw new Error(`${path}: too short for a pcap header (${file.length} bytes)`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = view.getUint32(0, false);
  let littleEndian: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) littleEndian = false;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) littleEndian = true;
  else if (magic === 0x0a0d0d0a) throw new Error(`${path}: pcapng is not supported; re-save it as classic pcap`);
  else throw new Error(`${path}: bad pcap magic 0x${magic.toString(16)}`);
  // The link type's upper bits may carry FCS flags (pcap-savefile(5)); only the low 16 name it.
  return { littleEndian, linkType: view.getUint32(20, littleEndian) & 0xffff };
}

/** Offset of the IPv4 header inside a link-layer frame, or null if the frame is not IPv4. */
function ipv4Offset(frame: Uint8Array, linkType: number): number | null {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (linkType === LINKTYPE_ETHERNET) {
    let offset = 12;
    while (offset + 2 <= frame.length && ETHERTYPE_VLAN.includes(view.getUint16(offset))) offset += 4;
    if (offset + 2 > frame.length) return null;
    return view.getUint16(offset) === ETHERTYPE_IPV4 ? offset + 2 : null;
  }
  if (linkType === LINKTYPE_LINUX_SLL) {
    return frame.length >= 16 && view.getUint16(14) === ETHERTYPE_IPV4 ? 16 : null;
  }
  if (linkType === LINKTYPE_LINUX_SLL2) {
    return frame.length >= 20 && view.getUint16(0) === ETHERTYPE_IPV4 ? 20 : null;
  }
  throw new Error(`unsupported pcap link type ${linkType} (want 1, 113 or 276)`);
}

/** UDP payload of an unfragmented IPv4/UDP datagram on port 67 or 68, else null. */
function dhcpPayload(frame: Uint8Array, ipOffset: number): Uint8Array | null {
  const ip = frame.subarray(ipOffset);
  if (ip.length < 20) return null;
  const view = new DataView(ip.buffer, ip.byteOffset, ip.byteLength);
  const versionIhl = view.getUint8(0);
  const headerLength = (versionIhl & 0x0f) * 4;
  if (versionIhl >> 4 !== 4 || headerLength < 20 || view.getUint8(9) !== IPPROTO_UDP) return null;
  // Fragments (MF set or non-zero offset) cannot be reassembled here; DHCP never fragments in the lab.
  if ((view.getUint16(6) & 0x3fff) !== 0) return null;
  const totalLength = Math.min(view.getUint16(2), ip.length);
  if (totalLength < headerLength + 8) return null;
  const srcPort = view.getUint16(headerLength);
  const dstPort = view.getUint16(headerLength + 2);
  if (!DHCP_PORTS.has(srcPort) && !DHCP_PORTS.has(dstPort)) return null;
  const udpLength = view.getUint16(headerLength + 4);
  const end = Math.min(headerLength + udpLength, totalLength);
  return ip.slice(headerLength + 8, end);
}

/**
 * Read the classic pcap file at `path` and return the UDP payloads of its IPv4 packets to or from
 * port 67 or 68, in capture order. Other packets are skipped; a truncated record ends the file.
 */
export function readDhcpPayloads(path: string): Uint8Array[] {
  const file = new Uint8Array(readFileSync(path));
  const { littleEndian, linkType } = readGlobalHeader(file, path);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const payloads: Uint8Array[] = [];
  let offset = 24;
  while (offset + 16 <= file.length) {
    const capturedLength = view.getUint32(offset + 8, littleEndian);
    const start = offset + 16;
    if (start + capturedLength > file.length) break;
    const frame = file.subarray(start, start + capturedLength);
    offset = start + capturedLength;
    const ipOffset = ipv4Offset(frame, linkType);
    if (ipOffset === null) continue;
    const payload = dhcpPayload(frame, ipOffset);
    if (payload !== null) payloads.push(payload);
  }
  return payloads;
}
