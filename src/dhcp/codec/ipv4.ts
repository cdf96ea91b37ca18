/** IPv4 and MAC text <-> bytes helpers shared by the codec. Pure; no I/O. */

/** `a.b.c.d` from four bytes at `offset`. */
export function formatIPv4(bytes: Uint8Array, offset: number): string {
  return `${bytes[offset] ?? 0}.${bytes[offset + 1] ?? 0}.${bytes[offset + 2] ?? 0}.${bytes[offset + 3] ?? 0}`;
}

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Whether `s` is a dotted-quad IPv4 address without leading zeros. */
export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

/** Four bytes from `a.b.c.d`; throws `RangeError` for anything else (a programming error). */
export function parseIPv4(address: string): Uint8Array {
  if (!isIPv4(address)) throw new RangeError(`not an IPv4 address: ${JSON.stringify(address)}`);
  return Uint8Array.from(address.split('.').map(Number));
}

/** IPv4 address as an unsigned 32-bit number, for ordering and subnet arithmetic. */
export function ipv4ToNumber(address: string): number {
  const b = parseIPv4(address);
  return (((b[0] as number) << 24) | ((b[1] as number) << 16) | ((b[2] as number) << 8) | (b[3] as number)) >>> 0;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Lower-case `aa:bb:cc:dd:ee:ff`, or undefined when `s` is not a 48-bit MAC in colon form. */
export function normalizeMac(s: string): string | undefined {
  const lower = s.trim().toLowerCase().replaceAll('-', ':');
  return MAC_RE.test(lower) ? lower : undefined;
}

/** Six bytes from a MAC in colon form; throws `RangeError` for anything else. */
export function parseMac(mac: string): Uint8Array {
  const norm = normalizeMac(mac);
  if (norm === undefined) throw new RangeError(`not a MAC address: ${JSON.stringify(mac)}`);
  return Uint8Array.from(norm.split(':').map((h) => parseInt(h, 16)));
}

/** Colon-separated lower-case hex of any byte string (MACs, client identifiers). */
export function formatHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}
