/**
 * DHCP options as raw bytes with typed getters.
 *
 * Options are kept as `Map<code, bytes>` in the order they first appeared, so that options we
 * do not understand (vendor, relay, site-specific) survive a decode/encode round trip untouched.
 * A code that appears several times is one option whose value is the concatenation of the
 * parts (RFC 3396 §5, RFC 2131 §4.1); the encoder splits values longer than 255 bytes again.
 * Getters decode lazily and throw `DecodeError` when a value has the wrong shape, so a hostile
 * option is caught by the receive path like any other malformed packet.
 */
import { DecodeError } from './decode-error.js';
import { OptionCode } from './option-codes.js';
import { formatIPv4, parseIPv4 } from './ipv4.js';

/** Raw options of one message, keyed by option code. Pad (0) and End (255) never appear. */
export type OptionMap = Map<number, Uint8Array>;
export type ReadonlyOptionMap = ReadonlyMap<number, Uint8Array>;

/**
 * Parses one option area (the `options` field, or `file`/`sname` under overload) into `into`,
 * concatenating repeated codes. `base` is the area's offset in the datagram, for error messages.
 * Values are views into `area` (a repeated code's parts are joined into new bytes): the caller
 * owns the bytes and keeps them unchanged.
 * Stops at End; running off the area without End is accepted, because the RFC 2131 §4.1 End
 * requirement is widely ignored and the bytes that were read are complete options.
 */
export function parseOptionArea(area: Uint8Array, base: number, into: OptionMap): void {
  // Parts of repeated options are joined once at the end: joining as they come would cost
  // quadratic time on a datagram of thousands of one-byte repeats. Only repeated codes get a
  // list: a reply has a dozen options, nearly never a repeat, and a list each was an array
  // per option per datagram.
  let repeated: Map<number, Uint8Array[]> | undefined;
  let i = 0;
  while (i < area.length) {
    const code = area[i] as number;
    if (code === OptionCode.Pad) {
      // Pad is a single byte with no length byte (RFC 2132 §3.1).
      i += 1;
      continue;
    }
    if (code === OptionCode.End) break;
    if (i + 1 >= area.length) {
      throw new DecodeError(`option ${code} has no length byte`, base + i);
    }
    const length = area[i + 1] as number;
    const start = i + 2;
    const end = start + length;
    if (end > area.length) {
      throw new DecodeError(`option ${code} length ${length} runs past the option area: got ${area.length - start} bytes, want ${length}`, base + i);
    }
    const part = area.subarray(start, end);
    const list = repeated?.get(code);
    if (list !== undefined) {
      list.push(part);
    } else {
      // The first part stays in `into` until the join (or for good, when it is the only one);
      // one there already came earlier in this area or from an area before it (overload).
      const previous = into.get(code);
      if (previous === undefined) into.set(code, part);
      else {
        repeated ??= new Map();
        repeated.set(code, [previous, part]);
      }
    }
    i = end;
  }
  if (repeated !== undefined) for (const [code, list] of repeated) into.set(code, concat(list));
}

/** Bytes the options take on the wire, End included but no padding. */
export function encodedOptionsLength(options: ReadonlyOptionMap): number {
  let total = 1; // End
  // forEach rather than for-of: the entries' [code, value] pairs were arrays of their own.
  options.forEach((value, code) => {
    if (isFramingCode(code)) return;
    const parts = Math.max(1, Math.ceil(value.length / 255));
    total += parts * 2 + value.length;
  });
  return total;
}

/**
 * Writes options and End into `out` at `offset`; returns the offset after End.
 * Values over 255 bytes are split into consecutive instances (RFC 3396 §6).
 */
export function writeOptions(options: ReadonlyOptionMap, out: Uint8Array, offset: number): number {
  let o = offset;
  options.forEach((value, code) => {
    if (isFramingCode(code)) return;
    if (value.length <= 255) {
      // The usual case, without a view: a view of a small value (V8 keeps those inside the
      // object) first moves its bytes to a buffer of their own, for every option of every message.
      out[o] = code;
      out[o + 1] = value.length;
      out.set(value, o + 2);
      o += 2 + value.length;
      return;
    }
    let rest = value;
    do {
      const part = rest.subarray(0, 255);
      out[o] = code;
      out[o + 1] = part.length;
      out.set(part, o + 2);
      o += 2 + part.length;
      rest = rest.subarray(part.length);
    } while (rest.length > 0);
  });
  out[o] = OptionCode.End;
  return o + 1;
}

function isFramingCode(code: number): boolean {
  return code === OptionCode.Pad || code === OptionCode.End || code === OptionCode.Overload;
}

function concat(list: readonly Uint8Array[]): Uint8Array {
  const joined = new Uint8Array(list.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of list) {
    joined.set(part, at);
    at += part.length;
  }
  return joined;
}

function exactLength(options: ReadonlyOptionMap, code: number, want: number): Uint8Array | undefined {
  const value = options.get(code);
  if (value === undefined) return undefined;
  if (value.length !== want) {
    throw new DecodeError(`option ${code} has length ${value.length}, want ${want}`, 0);
  }
  return value;
}

/** A one-byte option, e.g. the message type (RFC 2132 §9.6). */
export function getUint8(options: ReadonlyOptionMap, code: number): number | undefined {
  return exactLength(options, code, 1)?.[0];
}

/** A 32-bit unsigned option in network order, e.g. lease time (RFC 2132 §9.2). */
export function getUint32(options: ReadonlyOptionMap, code: number): number | undefined {
  const v = exactLength(options, code, 4);
  // Read by hand: a DataView over the value was an object per read, several per reply.
  return v === undefined ? undefined : (v[0] as number) * 0x1000000 + (((v[1] as number) << 16) | ((v[2] as number) << 8) | (v[3] as number));
}

/** A single IPv4 address option, e.g. server identifier (RFC 2132 §9.7). */
export function getIPv4(options: ReadonlyOptionMap, code: number): string | undefined {
  const v = exactLength(options, code, 4);
  return v === undefined ? undefined : formatIPv4(v, 0);
}

/** A list of IPv4 addresses, e.g. routers or DNS servers (RFC 2132 §3.5, §3.8). */
export function getIPv4List(options: ReadonlyOptionMap, code: number): string[] | undefined {
  const v = options.get(code);
  if (v === undefined) return undefined;
  if (v.length === 0 || v.length % 4 !== 0) {
    throw new DecodeError(`option ${code} has length ${v.length}, want a non-zero multiple of 4`, 0);
  }
  const list: string[] = [];
  for (let i = 0; i < v.length; i += 4) list.push(formatIPv4(v, i));
  return list;
}

const LATIN1 = new TextDecoder('latin1');
const UTF8 = new TextEncoder();

/** An NVT ASCII string option, e.g. domain name or NAK message (RFC 2132 §3.17, §9.9). */
export function getString(options: ReadonlyOptionMap, code: number): string | undefined {
  const v = options.get(code);
  if (v === undefined) return undefined;
  // Some servers NUL-terminate strings although RFC 2132 §2 says not to.
  const end = v.indexOf(0);
  return LATIN1.decode(end === -1 ? v : v.subarray(0, end));
}

/** Lease time in seconds (option 51), or `fallback` when absent (RFC 2132 §9.2). */
export function leaseTimeSeconds(options: ReadonlyOptionMap, fallback: number): number {
  return getUint32(options, OptionCode.LeaseTime) ?? fallback;
}

/** Builds a one-byte option value. */
export function uint8Value(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff);
}

/** Builds a big-endian 16-bit option value. */
export function uint16Value(v: number): Uint8Array {
  return Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
}

/** Builds a big-endian 32-bit option value. */
export function uint32Value(v: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, v >>> 0);
  return out;
}

/** Builds a 4-byte IPv4 option value from dotted-quad text. */
export function ipv4Value(address: string): Uint8Array {
  return parseIPv4(address);
}

/** Builds a string option value; callers pass ASCII host names and the like. */
export function stringValue(s: string): Uint8Array {
  // Host names are short ASCII, written byte by byte: the encoder's call into the runtime cost
  // more than the copy, twice per acquisition.
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return UTF8.encode(s);
    out[i] = c;
  }
  return out;
}
