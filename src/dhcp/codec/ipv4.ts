/** IPv4 and MAC text <-> bytes helpers shared by the codec. Pure; no I/O. */

const DECIMAL = Array.from({ length: 256 }, (_, b) => String(b));

/** `a.b.c.d` from four bytes at `offset`. */
export function formatIPv4(bytes: Uint8Array, offset: number): string {
  // From a table of the 256 octets: no number is turned into text (four addresses a packet).
  return `${DECIMAL[bytes[offset] ?? 0]}.${DECIMAL[bytes[offset + 1] ?? 0]}.${DECIMAL[bytes[offset + 2] ?? 0]}.${DECIMAL[bytes[offset + 3] ?? 0]}`;
}

/** Whether `s` is a dotted-quad IPv4 address without leading zeros. */
export function isIPv4(s: string): boolean {
  return ipv4Number(s) >= 0;
}

/**
 * The address as an unsigned 32-bit number, or -1 when it is not a dotted quad without leading
 * zeros. One pass over the characters: this runs several times for every packet and request,
 * where the regular expression, split and map it replaces allocated an array each time.
 */
export function ipv4Number(address: string): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < address.length; i++) {
    const c = address.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && octet === 0) return -1; // a leading zero
      octet = octet * 10 + (c - 0x30);
      if (++digits > 3 || octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

/** Four bytes from `a.b.c.d`; throws `RangeError` for anything else (a programming error). */
export function parseIPv4(address: string): Uint8Array {
  const v = ipv4Number(address);
  if (v < 0) throw new RangeError(`not an IPv4 address: ${JSON.stringify(address)}`);
  return Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}

/** IPv4 address as an unsigned 32-bit number, for ordering and subnet arithmetic. */
export function ipv4ToNumber(address: string): number {
  const v = ipv4Number(address);
  if (v < 0) throw new RangeError(`not an IPv4 address: ${JSON.stringify(address)}`);
  return v;
}

/** `a.b.c.d` from an unsigned 32-bit number (`ipv4Number`'s inverse for any address it accepts). */
export function formatIPv4Number(v: number): string {
  return `${DECIMAL[(v >>> 24) & 0xff]}.${DECIMAL[(v >>> 16) & 0xff]}.${DECIMAL[(v >>> 8) & 0xff]}.${DECIMAL[v & 0xff]}`;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Lower-case `aa:bb:cc:dd:ee:ff`, or undefined when `s` is not a 48-bit MAC in colon form. */
export function normalizeMac(s: string): string | undefined {
  // Nearly every MAC here is already in that form (each message checks its client's): then it
  // is returned as is, without the three strings and the regular expression below.
  if (isNormalMac(s)) return s;
  const lower = s.trim().toLowerCase().replaceAll('-', ':');
  return MAC_RE.test(lower) ? lower : undefined;
}

/** Whether `s` is already `aa:bb:cc:dd:ee:ff` in lower case. */
function isNormalMac(s: string): boolean {
  if (s.length !== 17) return false;
  for (let i = 0; i < 17; i++) {
    const c = s.charCodeAt(i);
    if (i % 3 === 2 ? c !== 0x3a : !((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * A MAC in colon form (any case, as `normalizeMac` takes it) as a 48-bit number, exact in a
 * double, or -1 when it is not one.
 */
export function macNumber(mac: string): number {
  const norm = normalizeMac(mac);
  if (norm === undefined) return -1;
  let v = 0;
  for (let i = 0; i < 6; i++) v = v * 256 + ((hexDigit(norm.charCodeAt(i * 3)) << 4) | hexDigit(norm.charCodeAt(i * 3 + 1)));
  return v;
}

/** The lower-case colon form of a 48-bit MAC number (`macNumber`'s inverse). */
export function formatMacNumber(v: number): string {
  const hi = Math.floor(v / 0x1_0000_0000);
  const lo = v >>> 0;
  return `${HEX_BYTES[(hi >>> 8) & 0xff]}:${HEX_BYTES[hi & 0xff]}:${HEX_BYTES[lo >>> 24]}:${HEX_BYTES[(lo >>> 16) & 0xff]}:${HEX_BYTES[(lo >>> 8) & 0xff]}:${HEX_BYTES[lo & 0xff]}`;
}

/** Six bytes from a MAC in colon form; throws `RangeError` for anything else. */
export function parseMac(mac: string): Uint8Array {
  const out = new Uint8Array(6);
  parseMacInto(mac, out, 0);
  return out;
}

/** Writes the six bytes of a MAC in colon form into `out` at `offset`; throws `RangeError` for anything else. */
export function parseMacInto(mac: string, out: Uint8Array, offset: number): void {
  const v = macNumber(mac);
  if (v < 0) throw new RangeError(`not a MAC address: ${JSON.stringify(mac)}`);
  const hi = Math.floor(v / 0x1_0000_0000);
  const lo = v >>> 0;
  out[offset] = hi >>> 8;
  out[offset + 1] = hi & 0xff;
  out[offset + 2] = lo >>> 24;
  out[offset + 3] = (lo >>> 16) & 0xff;
  out[offset + 4] = (lo >>> 8) & 0xff;
  out[offset + 5] = lo & 0xff;
}

/** The value of a lower-case hex digit (the caller has checked it is one). */
export function hexDigit(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x57;
}

const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/** Colon-separated lower-case hex of any byte string (MACs, client identifiers). */
export function formatHex(bytes: Uint8Array): string {
  if (bytes.length === 0) return '';
  let out = HEX_BYTES[bytes[0] as number] as string;
  for (let i = 1; i < bytes.length; i++) out += `:${HEX_BYTES[bytes[i] as number] as string}`;
  return out;
}
