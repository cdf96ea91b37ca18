/**
 * The decoder fuzz loop shared by the unit test (tens of thousands of cases) and `bench/fuzz.ts`
 * (a million and more): mutate a captured datagram, run it through everything the receive path
 * runs on a datagram, and classify the outcome.
 *
 * Allowed outcomes are "decoded" and "DecodeError". Anything else is a failure: another exception
 * anywhere on the receive path, a decoded packet that does not re-encode to itself, or a
 * meaning-preserving mutation (RFC 3396 split, reordered options) that decodes differently.
 */
import { DecodeError } from '../../../src/dhcp/codec/decode-error.js';
import { describePacket, summarizePacket } from '../../../src/dhcp/codec/describe.js';
import { getIPv4, getIPv4List, getString, getUint32, getUint8 } from '../../../src/dhcp/codec/options.js';
import { chaddrText, decodePacket, encodePacket, type DhcpPacket } from '../../../src/dhcp/codec/packet.js';
import { mismatch } from '../../../src/dhcp/match.js';
import { below, loadCaptureSeeds, mutate, MUTATION_KINDS, prng, type MutationKind, type Mutant } from './mutate.js';

export type Outcome = 'decoded' | 'decode-error';

/** A case the decoder or the receive path got wrong, with what is needed to replay it. */
export interface FuzzFailure {
  kind: MutationKind;
  iteration: number;
  seedIndex: number;
  problem: string;
  hex: string;
}

export interface DecoderFuzzResult {
  packets: number;
  decoded: number;
  decodeErrors: number;
  failures: FuzzFailure[];
  /** Failures beyond the first `maxFailures` kept in full are only counted here. */
  failureCount: number;
  byKind: Record<MutationKind, { decoded: number; decodeErrors: number }>;
  elapsedMs: number;
}

class OracleFailure extends Error {
  override readonly name = 'OracleFailure';
}

/** Only DecodeError may escape `f`; anything else becomes an OracleFailure naming `where`. */
function onlyDecodeErrors(where: string, f: () => void): void {
  try {
    f();
  } catch (err) {
    if (err instanceof DecodeError) return;
    throw new OracleFailure(`${where} threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
}

type Getter = (options: ReadonlyMap<number, Uint8Array>, code: number) => unknown;
/** The getter the daemon uses for each option it reads (RFC 2132 shapes); others read as text. */
const GETTER_BY_CODE = new Map<number, Getter>([
  [1, getIPv4],
  [3, getIPv4List],
  [6, getIPv4List],
  [15, getString],
  [50, getIPv4],
  [51, getUint32],
  [53, getUint8],
  [54, getIPv4],
  [56, getString],
  [58, getUint32],
  [59, getUint32],
]);
const ALL_TYPES = [1, 2, 3, 4, 5, 6, 7, 8] as const;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

function sameOptions(a: ReadonlyMap<number, Uint8Array>, b: ReadonlyMap<number, Uint8Array>): boolean {
  if (a.size !== b.size) return false;
  for (const [code, value] of a) {
    const other = b.get(code);
    if (other === undefined || !sameBytes(other, value)) return false;
  }
  return true;
}

function samePacket(a: DhcpPacket, b: DhcpPacket): string | undefined {
  for (const field of ['op', 'htype', 'hlen', 'hops', 'xid', 'secs', 'flags', 'ciaddr', 'yiaddr', 'siaddr', 'giaddr'] as const) {
    if (a[field] !== b[field]) return `${field} ${String(a[field])} != ${String(b[field])}`;
  }
  for (const field of ['chaddr', 'sname', 'file'] as const) {
    if (!sameBytes(a[field], b[field])) return `${field} differs`;
  }
  return sameOptions(a.options, b.options) ? undefined : 'options differ';
}

/**
 * Runs `m` through decode, the log renderings, every typed getter, the matcher (as if the packet
 * answered a transaction of its own xid and chaddr, so it goes as deep as an ACK's binding) and
 * a re-encode. Returns the outcome or throws OracleFailure.
 */
export function exercise(m: Mutant): Outcome {
  let p: DhcpPacket;
  try {
    p = decodePacket(m.bytes);
  } catch (err) {
    if (err instanceof DecodeError) {
      if (m.sameAs !== undefined) throw new OracleFailure(`meaning-preserving ${m.kind} was refused: ${err.message}`);
      return 'decode-error';
    }
    throw new OracleFailure(`decodePacket threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
  try {
    summarizePacket(p);
    describePacket(p);
  } catch (err) {
    throw new OracleFailure(`log rendering threw ${String(err)}`);
  }
  for (const code of p.options.keys()) {
    const read = GETTER_BY_CODE.get(code) ?? getString;
    onlyDecodeErrors(`${read.name}(${code})`, () => read(p.options, code));
  }
  onlyDecodeErrors('mismatch', () => {
    let server: string | undefined;
    onlyDecodeErrors('server id', () => (server = getIPv4(p.options, 54)));
    mismatch(p, {
      xid: p.xid,
      mac: chaddrText(p),
      clientId: p.options.get(61) ?? new Uint8Array(0),
      types: ALL_TYPES,
      servers: new Set(server === undefined ? [] : [server]),
    });
  });
  let again: DhcpPacket;
  try {
    again = decodePacket(encodePacket(p));
  } catch (err) {
    throw new OracleFailure(`re-encoding a decoded packet failed: ${String(err)}`);
  }
  const roundTrip = samePacket(p, again);
  if (roundTrip !== undefined) throw new OracleFailure(`decode(encode(p)) != p: ${roundTrip}`);
  if (m.sameAs !== undefined) {
    const same = samePacket(m.sameAs, p);
    if (same !== undefined) throw new OracleFailure(`meaning-preserving ${m.kind} decoded differently: ${same}`);
  }
  return 'decoded';
}

export interface DecoderFuzzOptions {
  packets: number;
  /** PRNG seed; the same seed replays the same cases. */
  seed: number;
  /** Failures kept in full (default 20). */
  maxFailures?: number;
  seeds?: readonly Uint8Array[];
}

/** Feeds `packets` mutants of the captures to `exercise` and counts the outcomes. */
export function runDecoderFuzz(o: DecoderFuzzOptions): DecoderFuzzResult {
  const seeds = o.seeds ?? loadCaptureSeeds();
  if (seeds.length === 0) throw new Error('no capture seeds found under test/fixtures/captures');
  const random = prng(o.seed);
  const byKind = Object.fromEntries(MUTATION_KINDS.map((k) => [k, { decoded: 0, decodeErrors: 0 }])) as DecoderFuzzResult['byKind'];
  const result: DecoderFuzzResult = { packets: 0, decoded: 0, decodeErrors: 0, failures: [], failureCount: 0, byKind, elapsedMs: 0 };
  const startedAt = performance.now();
  // Capturing a stack for each of the millions of DecodeErrors the getters throw is most of the
  // run time, and stacks are not what this loop checks.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    fuzzLoop(o, seeds, random, result);
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  result.elapsedMs = performance.now() - startedAt;
  return result;
}

function fuzzLoop(o: DecoderFuzzOptions, seeds: readonly Uint8Array[], random: () => number, result: DecoderFuzzResult): void {
  const { byKind } = result;
  for (let i = 0; i < o.packets; i++) {
    const seedIndex = below(random, seeds.length);
    const kind = MUTATION_KINDS[i % MUTATION_KINDS.length] as MutationKind;
    const m = mutate(kind, seeds[seedIndex] as Uint8Array, random);
    // Stacked mutations now and then, on top of those that may break the packet anyway; a stacked
    // mutation keeps its own `sameAs` (the decoding of its input), which is still right.
    const mutant =
      m.sameAs === undefined && random() < 0.15
        ? { ...mutate(MUTATION_KINDS[below(random, MUTATION_KINDS.length)] as MutationKind, m.bytes, random), kind }
        : m;
    result.packets++;
    try {
      const outcome = exercise(mutant);
      if (outcome === 'decoded') {
        result.decoded++;
        byKind[kind].decoded++;
      } else {
        result.decodeErrors++;
        byKind[kind].decodeErrors++;
      }
    } catch (err) {
      result.failureCount++;
      if (result.failures.length < (o.maxFailures ?? 20)) {
        result.failures.push({
          kind,
          iteration: i,
          seedIndex,
          problem: err instanceof Error ? err.message : String(err),
          hex: Buffer.from(mutant.bytes).toString('hex'),
        });
      }
    }
  }
}
