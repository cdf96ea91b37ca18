/**
 * Mutations of real DHCP datagrams, for fuzzing the decoder and the receive path.
 *
 * Every mutator takes a seed datagram (one of the captures in `test/fixtures/captures`) and a
 * seeded PRNG, so any failing case can be replayed from `(seed index, rng seed, iteration)`.
 * Some mutations keep the meaning of the packet (RFC 3396 splits, reordered options, inserted
 * Pad): for those the mutator also returns the packet the result must decode to, which gives the
 * fuzzer an oracle beyond "did not crash".
 */
import { capturePath, readDhcpPayloads } from '../captures.js';
import { decodePacket, type DhcpPacket } from '../../../src/dhcp/codec/packet.js';
export { prng } from '../prng.js';

export type Random = () => number;

/** Integer in [0, n). */
export function below(random: Random, n: number): number {
  return Math.floor(random() * n);
}

function pick<T>(random: Random, list: readonly T[]): T {
  return list[below(random, list.length)] as T;
}

function randomBytes(random: Random, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = below(random, 256);
  return out;
}

/** Every DHCP payload of every capture (DISCOVER, OFFER, REQUEST, ACK, NAK of three servers). */
export function loadCaptureSeeds(): Uint8Array[] {
  const seeds: Uint8Array[] = [];
  for (const server of ['isc', 'kea', 'dnsmasq']) {
    for (const name of ['dora', 'nak']) seeds.push(...readDhcpPayloads(capturePath(server, name)));
  }
  return seeds;
}

/** Offset of the options field: the 236-byte BOOTP header plus the magic cookie. */
const OPTIONS_OFFSET = 240;

/** One option as found on the wire. */
interface Tlv {
  code: number;
  value: Uint8Array;
}

/** The option TLVs of the options field, up to End; null if the field does not parse. */
function splitTlvs(bytes: Uint8Array): Tlv[] | null {
  const tlvs: Tlv[] = [];
  let i = OPTIONS_OFFSET;
  while (i < bytes.length) {
    const code = bytes[i] as number;
    if (code === 0) {
      i += 1;
      continue;
    }
    if (code === 255) return tlvs;
    if (i + 1 >= bytes.length) return null;
    const length = bytes[i + 1] as number;
    if (i + 2 + length > bytes.length) return null;
    tlvs.push({ code, value: bytes.slice(i + 2, i + 2 + length) });
    i += 2 + length;
  }
  return tlvs;
}

/** The header and cookie followed by `tlvs`, End and `tail` (padding or garbage). */
function joinTlvs(bytes: Uint8Array, tlvs: readonly Tlv[], tail: Uint8Array = new Uint8Array(0), pads: readonly number[] = []): Uint8Array {
  const padCount = pads.reduce((n, p) => n + p, 0);
  const length = OPTIONS_OFFSET + tlvs.reduce((n, t) => n + 2 + t.value.length, 0) + padCount + 1 + tail.length;
  const out = new Uint8Array(length);
  out.set(bytes.subarray(0, OPTIONS_OFFSET));
  let o = OPTIONS_OFFSET;
  for (const [i, t] of tlvs.entries()) {
    o += pads[i] ?? 0; // Pad options are zero bytes, already there
    out[o] = t.code;
    out[o + 1] = t.value.length;
    out.set(t.value, o + 2);
    o += 2 + t.value.length;
  }
  out[o] = 255;
  out.set(tail, o + 1);
  return out;
}

/** A mutated datagram; `sameAs` is set when the mutation must not change what it decodes to. */
export interface Mutant {
  kind: MutationKind;
  bytes: Uint8Array;
  sameAs?: DhcpPacket;
}

export const MUTATION_KINDS = [
  'bit-flips',
  'byte-sets',
  'truncate',
  'append-garbage',
  'length-lie',
  'overlong-option',
  'random-bytes',
  'random-options',
  'duplicate-option',
  'reorder-options',
  'rfc3396-split',
  'overload',
  'header-fields',
] as const;
export type MutationKind = (typeof MUTATION_KINDS)[number];

/** Splits `value` into 1..n consecutive parts (RFC 3396 §5: the receiver concatenates them). */
function splitValue(random: Random, value: Uint8Array): Uint8Array[] {
  if (value.length === 0) return [value];
  const parts: Uint8Array[] = [];
  let rest = value;
  while (rest.length > 0) {
    const n = 1 + below(random, rest.length);
    parts.push(rest.subarray(0, n));
    rest = rest.subarray(n);
  }
  return parts;
}

/** Applies mutation `kind` to `seed`. Pure apart from the PRNG. */
export function mutate(kind: MutationKind, seed: Uint8Array, random: Random): Mutant {
  const bytes = seed.slice();
  switch (kind) {
    case 'bit-flips': {
      for (let n = 1 + below(random, 8); n > 0; n--) {
        const at = below(random, bytes.length);
        bytes[at] = (bytes[at] as number) ^ (1 << below(random, 8));
      }
      return { kind, bytes };
    }
    case 'byte-sets': {
      // Bias towards the options field, where the parser branches.
      for (let n = 1 + below(random, 4); n > 0; n--) {
        const at = random() < 0.7 ? OPTIONS_OFFSET + below(random, Math.max(1, bytes.length - OPTIONS_OFFSET)) : below(random, bytes.length);
        if (at < bytes.length) bytes[at] = pick(random, [0, 1, 0x34, 0x35, 0x36, 0x7f, 0x80, 0xfe, 0xff, below(random, 256)]);
      }
      return { kind, bytes };
    }
    case 'truncate':
      return { kind, bytes: bytes.subarray(0, below(random, bytes.length)) };
    case 'append-garbage':
      return { kind, bytes: concat(bytes, randomBytes(random, 1 + below(random, 1200))) };
    case 'length-lie': {
      const tlvs = splitTlvs(bytes);
      if (tlvs === null || tlvs.length === 0) return { kind, bytes };
      // Rewrite one option's length byte to anything: shorter swallows the next option's
      // header, longer runs into End, padding or past the datagram.
      let o = OPTIONS_OFFSET;
      const target = below(random, tlvs.length);
      for (let t = 0; t < target; t++) {
        while (bytes[o] === 0) o++;
        o += 2 + (bytes[o + 1] as number);
      }
      while (bytes[o] === 0) o++;
      bytes[o + 1] = pick(random, [0, 1, 3, 5, 254, 255, below(random, 256)]);
      return { kind, bytes };
    }
    case 'overlong-option': {
      const tlvs = splitTlvs(bytes) ?? [];
      // A long run of maximal instances of one code: RFC 3396 concatenation of tens of KB,
      // or a code the getters read with a fixed width (51, 53, 54) made huge.
      const code = pick(random, [1, 3, 6, 15, 51, 53, 54, 56, 58, 61, 82, below(random, 254) + 1]);
      // Mostly a few parts, now and then up to 200 (51 KB); constant fill keeps a million cheap.
      const count = 1 + below(random, random() < 0.9 ? 8 : 200);
      const extra: Tlv[] = Array.from({ length: count }, () => ({ code, value: new Uint8Array(below(random, 256)).fill(below(random, 256)) }));
      return { kind, bytes: joinTlvs(bytes, random() < 0.5 ? [...extra, ...tlvs] : [...tlvs, ...extra]) };
    }
    case 'random-bytes':
      return { kind, bytes: randomBytes(random, below(random, 1500)) };
    case 'random-options': {
      const tlvs: Tlv[] = Array.from({ length: below(random, 40) }, () => ({ code: 1 + below(random, 254), value: randomBytes(random, below(random, 20)) }));
      return { kind, bytes: joinTlvs(bytes, tlvs, random() < 0.3 ? randomBytes(random, below(random, 64)) : new Uint8Array(0)) };
    }
    case 'duplicate-option': {
      const tlvs = splitTlvs(bytes);
      if (tlvs === null || tlvs.length === 0) return { kind, bytes };
      const copy = pick(random, tlvs);
      const at = below(random, tlvs.length + 1);
      return { kind, bytes: joinTlvs(bytes, [...tlvs.slice(0, at), { code: copy.code, value: copy.value }, ...tlvs.slice(at)]) };
    }
    case 'reorder-options': {
      const tlvs = splitTlvs(bytes);
      if (tlvs === null) return { kind, bytes };
      // Distinct codes only: swapping two parts of one split option would change its value.
      const seen = new Set<number>();
      const distinct = tlvs.filter((t) => {
        if (seen.has(t.code)) return false;
        seen.add(t.code);
        return true;
      });
      if (distinct.length !== tlvs.length) return { kind, bytes };
      for (let i = distinct.length - 1; i > 0; i--) {
        const j = below(random, i + 1);
        [distinct[i], distinct[j]] = [distinct[j] as Tlv, distinct[i] as Tlv];
      }
      // Pad bytes between options are legal anywhere (RFC 2132 §3.1).
      const pads = distinct.map(() => (random() < 0.2 ? 1 + below(random, 4) : 0));
      return { kind, bytes: joinTlvs(bytes, distinct, new Uint8Array(0), pads), ...sameAsSeed(seed) };
    }
    case 'rfc3396-split': {
      const tlvs = splitTlvs(bytes);
      if (tlvs === null) return { kind, bytes };
      const split = tlvs.flatMap((t) => (random() < 0.5 ? splitValue(random, t.value).map((value) => ({ code: t.code, value })) : [t]));
      return { kind, bytes: joinTlvs(bytes, split), ...sameAsSeed(seed) };
    }
    case 'overload': {
      // Option 52 with any value, and sname/file filled with option TLVs or garbage.
      const tlvs = splitTlvs(bytes) ?? [];
      const value = random() < 0.8 ? Uint8Array.of(pick(random, [1, 2, 3])) : randomBytes(random, below(random, 3));
      const out = joinTlvs(bytes, [{ code: 52, value }, ...tlvs]);
      for (const [start, size] of [
        [108, 128],
        [44, 64],
      ] as const) {
        const area = random() < 0.5 ? randomBytes(random, size) : areaOfOptions(random, size);
        out.set(area, start);
      }
      return { kind, bytes: out };
    }
    case 'header-fields': {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const field = below(random, 5);
      if (field === 0 && bytes.length > 2)
        bytes[2] = pick(random, [0, 6, 16, 17, 255]); // hlen
      else if (field === 1 && bytes.length > 1)
        bytes[0] = pick(random, [0, 1, 2, 3, 255]); // op
      else if (field === 2 && bytes.length >= 240)
        view.setUint32(236, random() < 0.5 ? 0x63825364 : (random() * 2 ** 32) >>> 0); // cookie
      else if (field === 3 && bytes.length > 1)
        bytes[1] = pick(random, [0, 1, 6, 255]); // htype
      else if (bytes.length >= 8) view.setUint32(4, (random() * 2 ** 32) >>> 0); // xid
      return { kind, bytes };
    }
  }
}

/** `size` bytes of plausible option TLVs, ending with End or running off the area. */
function areaOfOptions(random: Random, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let o = 0;
  while (o < size - 2 && random() < 0.9) {
    const length = below(random, 16);
    out[o] = 1 + below(random, 254);
    out[o + 1] = length;
    out.set(randomBytes(random, Math.min(length, size - o - 2)), o + 2);
    o += 2 + length;
  }
  if (o < size && random() < 0.7) out[o] = 255;
  return out;
}

function sameAsSeed(seed: Uint8Array): { sameAs?: DhcpPacket } {
  try {
    return { sameAs: decodePacket(seed) };
  } catch {
    return {};
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
