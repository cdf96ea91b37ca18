/**
 * The lease journal's records, as bytes: pure encoding and decoding, no I/O.
 *
 * A journal is a text file of lines. Each line is one record, framed so that a torn or damaged
 * line is recognised: `<crc32 of the JSON, 8 hex digits> <JSON>\n`. The first line is a header
 * naming the format and version (`{"format":"d4d-leases","version":2,…}`); the others are
 * `{"put":<stored lease>}` (the whole lease, so the last put of an id is its state),
 * `{"del":"<id>"}` and `{"pools":[…]}` (every pool record of the driver; the last one wins).
 * Replaying the records in order gives the table. A compacted journal is the same format: the
 * header, the pools, then one put per live lease.
 *
 * A crash can only tear the end of the file (appends), so a damaged LAST line is expected after
 * a crash and dropped with a warning; a damaged line before it is damage to the disk or the
 * file, reported as a problem (the caller keeps a copy aside).
 */
import * as zlib from 'node:zlib';
import type { Lease } from './lease.js';
import type { LeaseState } from './state.js';
import { decodePoolRecord, decodeStoredLease, encodeStoredLease, isObject, STORE_FORMAT, type PoolRecord } from './lease-codec.js';

/** Version 2 of the `d4d-leases` format: the journal (version 1 was one JSON document). */
export const JOURNAL_VERSION = 2;

const NEWLINE = 0x0a;

/** One encoded record line, as the bytes that go into the file. */
export interface RecordLine {
  data: Buffer;
  bytes: number;
}

const CRC_TABLE = ((): Uint32Array => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE, as zlib and gzip), with zlib's native one where Node has it (20.15+). */
export const crc32: (data: Uint8Array) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function'
    ? (data) => (zlib as unknown as { crc32(d: Uint8Array): number }).crc32(data)
    : (data) => {
        let c = 0xffffffff;
        for (const byte of data) c = (CRC_TABLE[(c ^ byte) & 0xff] as number) ^ (c >>> 8);
        return (c ^ 0xffffffff) >>> 0;
      };

/** Frames one JSON value as a record line: the JSON is encoded once, straight into the line. */
export function encodeRecord(value: unknown): RecordLine {
  const json = JSON.stringify(value);
  const data = Buffer.allocUnsafe(Buffer.byteLength(json, 'utf8') + 10);
  const end = 9 + data.write(json, 9, 'utf8');
  data.write(crc32(data.subarray(9, end)).toString(16).padStart(8, '0'), 0, 'latin1');
  data[8] = 0x20;
  data[end] = NEWLINE;
  return { data, bytes: data.length };
}

export const encodeHeader = (createdAt: number): RecordLine =>
  encodeRecord({ format: STORE_FORMAT, version: JOURNAL_VERSION, createdAt: new Date(createdAt).toISOString() });
export const encodePut = (lease: Lease): RecordLine => encodeRecord({ put: encodeStoredLease(lease) });
export const encodeDelete = (id: string): RecordLine => encodeRecord({ del: id });
export const encodePools = (pools: readonly PoolRecord[]): RecordLine => encodeRecord({ pools });

/** The leases as they are now, which a snapshot writes. */
export interface LiveLeases {
  readonly size: number;
  values(): Iterable<Lease>;
}

/**
 * What a replay builds, told each record in order: `LeaseMap`, or the lease manager's own table
 * (`LeaseManager.restoring`), so that a start-up makes each lease once, in the form it keeps,
 * instead of a `Lease` object per lease first (40 MB at 50,000 leases, all alive at the
 * start-up's peak: docs/performance.md, fourteenth measurement).
 */
export interface ReplayTable extends LiveLeases {
  /** The latest record of `lease.id`: replaces an earlier one, and moves to the end of the order. */
  put(lease: Lease): void;
  delete(id: string): void;
  /**
   * The table has been read whole: one address, one holder. Of two leases naming one address,
   * the one `laterKeepsAddress` does not pick is dropped, and said why, as a problem.
   */
  settle(): string[];
}

/** Each id's latest lease, in the order of their latest records: the table nobody else takes. */
export class LeaseMap implements ReplayTable {
  readonly #leases = new Map<string, Lease>();

  get size(): number {
    return this.#leases.size;
  }

  values(): IterableIterator<Lease> {
    return this.#leases.values();
  }

  list(): Lease[] {
    return [...this.#leases.values()];
  }

  put(lease: Lease): void {
    // Re-inserted, so the table keeps the order of the latest records.
    this.#leases.delete(lease.id);
    this.#leases.set(lease.id, lease);
  }

  delete(id: string): void {
    this.#leases.delete(id);
  }

  /**
   * A change recorded once the table is read: in place, not moved to the end. A snapshot being
   * written walks the map meanwhile, and would meet a moved lease again, and again.
   */
  set(lease: Lease): void {
    this.#leases.set(lease.id, lease);
  }

  settle(): string[] {
    const problems: string[] = [];
    const holder = new Map<string, Lease>();
    for (const lease of this.#leases.values()) {
      const owner = holder.get(lease.ip);
      if (owner === undefined) {
        holder.set(lease.ip, lease);
      } else if (laterKeepsAddress(owner.state, lease.state)) {
        problems.push(addressTaken(owner.id, owner.ip, lease.id));
        this.#leases.delete(owner.id);
        holder.set(lease.ip, lease);
      } else {
        problems.push(addressTaken(lease.id, lease.ip, owner.id));
        this.#leases.delete(lease.id);
      }
    }
    return problems;
  }
}

/** The problem `settle` reports for a lease whose address another holds. */
export const addressTaken = (id: string, ip: string, owner: string): string => `lease ${id}: ${ip} is also held by ${owner}`;

/** The server acknowledged the lease: not an offer recorded before its ACK, nor one that lapsed. */
const confirmed = (state: LeaseState): boolean => state === 'BOUND' || state === 'RENEWING' || state === 'REBINDING';

/**
 * Two leases in a replayed table name one address (a crash cut off what would have set them
 * apart): whether the one whose latest record comes later keeps it.
 * - One the server acknowledged beats one it did not. A RequestAddress records its offer while
 *   its REQUEST is out; the server may have offered the same free address to two clients and
 *   acknowledged the other, and that one's caller was told (the kill -9 soak caught the offer
 *   winning, and the container that had the address losing its lease).
 * - Of two acknowledged, the later: the server gave the address again, so the earlier holder
 *   released it or let it lapse, and the record saying so is what the crash cut off.
 * - Of two offers, the earlier: its REQUEST went out first, and of two REQUESTs for one address
 *   the server acknowledges the first. (Either way the start asks the server again with
 *   INIT-REBOOT before trusting it.)
 */
export function laterKeepsAddress(earlier: LeaseState, later: LeaseState): boolean {
  const earlierConfirmed = confirmed(earlier);
  return earlierConfirmed === confirmed(later) ? earlierConfirmed : !earlierConfirmed;
}

export interface DecodedJournal {
  /**
   * Bytes and number of the put records read, superseded ones included: their mean weighs a
   * snapshot of the live table against the journal.
   */
  putBytes: number;
  puts: number;
  pools: PoolRecord[];
  /** Damage before the last record, and records that make no sense: the caller keeps a copy aside. */
  problems: string[];
  /** Why the last record was dropped (a write torn by a crash), if it was. */
  tornTail: string | undefined;
  /** Bytes up to the end of the last whole record: appends continue from here. */
  goodBytes: number;
  /** Set when nothing can be trusted: no header, not ours, another version. */
  unreadable: string | undefined;
}

/** Eight lowercase hex digits at `at` as a number, undefined if they are not (read from the bytes: two strings and a regular expression per record were a tenth of a start-up). */
function hexWord(buf: Buffer, at: number): number | undefined {
  let v = 0;
  for (let i = at; i < at + 8; i++) {
    const c = buf[i] as number;
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (d < 0) return undefined;
    v = v * 16 + d;
  }
  return v;
}

/** The JSON of a framed line, or why it is not one. */
function unframe(buf: Buffer, start: number, end: number): unknown {
  // 8 hex digits, a space, at least "{}".
  if (end - start < 11 || buf[start + 8] !== 0x20) return new Error('bad framing');
  const want = hexWord(buf, start);
  const json = buf.subarray(start + 9, end);
  if (want === undefined || crc32(json) !== want) return new Error('checksum mismatch');
  try {
    return JSON.parse(json.toString('utf8')) as unknown;
  } catch {
    return new Error('not JSON');
  }
}

/** Replays a journal held whole into a `LeaseMap`; never throws. `JournalReader` given it in one piece. */
export function decodeJournal(buf: Buffer): DecodedJournal & { leases: Lease[] } {
  const table = new LeaseMap();
  const reader = new JournalReader(table);
  reader.push(buf);
  const out = reader.finish();
  return { ...out, leases: table.list() };
}

/**
 * Replays a journal given in pieces (`push` each, then `finish`); never throws. A start-up reads
 * the file a piece at a time into it instead of whole: at 50,000 leases a compacted journal is
 * 18 MB, and up to four times that before its compaction, all of it resident at the moment the
 * start-up peaks. A line split across pieces is carried over; nothing of a piece is kept, so the
 * caller may reuse its buffer.
 */
export class JournalReader {
  readonly #out: DecodedJournal = { putBytes: 0, puts: 0, pools: [], problems: [], tornTail: undefined, goodBytes: 0, unreadable: undefined };
  readonly #table: ReplayTable;
  /** The start of a line not ended yet (a copy). */
  #carry: Buffer | undefined;
  /** Where the next line starts in the file, and its number from 0. */
  #pos = 0;
  #index = 0;
  /**
   * A whole line that is damaged: damage to report if anything follows it, the torn end of a
   * crashed append if the file ends with it. Until then the good bytes stop before it.
   */
  #damaged: { line: number; bytes: number; why: string; next: number } | undefined;

  /** The records go into `table` as they are read (none from an unreadable file: only its header makes it so). */
  constructor(table: ReplayTable) {
    this.#table = table;
  }

  push(piece: Buffer): void {
    if (this.#out.unreadable !== undefined || piece.length === 0) return;
    const buf = this.#carry === undefined ? piece : Buffer.concat([this.#carry, piece]);
    this.#carry = undefined;
    for (let at = 0; at < buf.length; ) {
      const nl = buf.indexOf(NEWLINE, at);
      if (nl === -1) {
        this.#carry = Buffer.from(buf.subarray(at));
        return;
      }
      this.#line(buf, at, nl);
      if (this.#out.unreadable !== undefined) return;
      at = nl + 1;
    }
  }

  /** The table, once the file has ended. */
  finish(): DecodedJournal {
    const out = this.#out;
    if (out.unreadable !== undefined) return out;
    const carry = this.#carry;
    if (carry !== undefined) {
      // A last line without its newline: a header that was never finished, or an append torn
      // by a crash (whatever it holds).
      if (this.#index === 0) {
        if (!this.#header(unframe(carry, 0, carry.length))) return out;
        out.unreadable = 'header line not terminated';
        return out;
      }
      this.#reportDamage();
      out.tornTail = `last record (line ${this.#index + 1}, ${carry.length} bytes) incomplete`;
    } else if (this.#damaged !== undefined) {
      const d = this.#damaged;
      out.tornTail = `last record (line ${d.line}, ${d.bytes} bytes) ${d.why}`;
    }
    if (this.#index === 0) {
      out.unreadable = 'empty file';
      return out;
    }
    out.problems.push(...this.#table.settle());
    return out;
  }

  /** One whole line, `buf[start, end)` and its newline. */
  #line(buf: Buffer, start: number, end: number): void {
    // Something follows a damaged line: it was not the file's torn end.
    this.#reportDamage();
    const out = this.#out;
    const value = unframe(buf, start, end);
    const next = this.#pos + (end - start + 1);
    if (this.#index === 0) {
      // The header is written with the file (temp file, then rename): it is never torn.
      if (!this.#header(value)) return;
    } else if (value instanceof Error) {
      this.#damaged = { line: this.#index + 1, bytes: end - start, why: value.message, next };
      this.#pos = next;
      this.#index++;
      return;
    } else {
      const problem = apply(value, this.#table, out);
      if (problem !== undefined) out.problems.push(`record ${this.#index + 1}: ${problem}`);
      else if (isObject(value) && 'put' in value) {
        out.putBytes += end - start + 1;
        out.puts++;
      }
    }
    this.#pos = next;
    out.goodBytes = next;
    this.#index++;
  }

  /** Whether the first line is our header; says why not in `unreadable` otherwise. */
  #header(value: unknown): boolean {
    const out = this.#out;
    if (value instanceof Error || !isObject(value) || value.format !== STORE_FORMAT) {
      out.unreadable = `not a ${STORE_FORMAT} journal (first line: ${value instanceof Error ? value.message : 'not a header'})`;
      return false;
    }
    if (value.version !== JOURNAL_VERSION) {
      out.unreadable = `unsupported version ${JSON.stringify(value.version)}, want ${JOURNAL_VERSION}`;
      return false;
    }
    return true;
  }

  /** A damaged line held back turns out not to be the last: damage, reported in its place. */
  #reportDamage(): void {
    const d = this.#damaged;
    if (d === undefined) return;
    this.#out.problems.push(`record ${d.line}: ${d.why}`);
    this.#out.goodBytes = d.next;
    this.#damaged = undefined;
  }
}

function apply(value: unknown, table: ReplayTable, out: DecodedJournal): string | undefined {
  if (!isObject(value)) return 'not a record';
  if ('put' in value) {
    const lease = decodeStoredLease(value.put);
    if (typeof lease === 'string') return lease;
    table.put(lease);
    return undefined;
  }
  if ('del' in value) {
    if (typeof value.del !== 'string') return 'bad delete';
    table.delete(value.del);
    return undefined;
  }
  if ('pools' in value) {
    if (!Array.isArray(value.pools)) return 'bad pools';
    const pools = (value.pools as unknown[]).map(decodePoolRecord);
    if (pools.some((p) => p === undefined)) return 'malformed pool';
    out.pools = pools as PoolRecord[];
    return undefined;
  }
  return 'unknown record';
}
