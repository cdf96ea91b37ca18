/**
 * Durable lease table: an append-only journal (`journal.ts` has the record format).
 *
 * Every change is one small record appended to the file, never the whole table: the cost of a
 * change does not grow with the number of leases. Writes are group-committed: the records
 * queued while the previous write and fdatasync ran go out together in one write and one
 * fdatasync, and every caller waiting on one of them is answered once it is on disk.
 * `put`/`delete`/`setPools` resolve once their record is durable (RequestAddress waits for the
 * record of its offer, ReleaseAddress for its delete, before replying); `putSoon` (the bound
 * lease after its ACK, renewals and the other upkeep events) does not make anybody wait: its
 * record goes out with the next commit, at the latest `lazyFlushMs` later, and a newer record
 * of the same lease still queued replaces it (taking over who waits on it).
 *
 * A write that fails is cut off again (the file is truncated back to its last whole record
 * before the next write), so a failure never leaves damage in the middle of the journal. Its
 * records that somebody waited on fail their callers; the others stay queued and are written
 * again, at growing intervals while the failures go on (a full disk), so that the journal
 * catches up with the leases once writes succeed again.
 *
 * Compaction: once the journal is `compactRatio` times the size of the live table (and past
 * `compactMinBytes`), a snapshot (header, pools, one put per lease) is written to a temporary
 * file in the background, in chunks that each block the event loop briefly, while appends go on
 * to the old journal. The records appended meanwhile are then written to the snapshot too (a
 * replay is idempotent: the last record of an id wins), it is fsynced, renamed over the journal
 * and the directory fsynced, and appends continue in the new file. A crash at any point leaves
 * either the old journal or the new one, each complete.
 *
 * Start-up (`load`): a damaged last record is what a crash leaves and is dropped with a warning.
 * Damage before it is handled as damaged entries always were: the records are dropped with a
 * reason, a copy of the original is kept as `<name>.corrupt-<time>`, and a clean snapshot
 * replaces it. A file that cannot be read as a journal at all stops the start-up and is left as
 * it is: starting empty would silently stop renewing every running container's lease. A version
 * 1 table (one JSON document) found without a journal is imported once and kept as
 * `<name>.v1-backup`.
 */
import { constants as fsConstants } from 'node:fs';
import { copyFile, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { doublingDelayMs } from '../dhcp/backoff.js';
import { DaemonError } from '../errors.js';
import type { Lease } from './lease.js';
import {
  decodeJournal,
  encodeDelete,
  encodeHeader,
  encodePools,
  encodePut,
  JournalReader,
  LeaseMap,
  type LiveLeases,
  type RecordLine,
  type ReplayTable,
} from './journal.js';
import { decodeLeaseTable, type LoadResult, type PoolRecord } from './lease-codec.js';

export { decodeLeaseTable, encodeLeaseTable, STORE_FORMAT, STORE_VERSION, type LoadResult, type PoolRecord } from './lease-codec.js';
export { JOURNAL_VERSION, LeaseMap, type LiveLeases, type ReplayTable } from './journal.js';

/** Persistence failed (disk full, read-only, permissions). The message names the file. */
export class StoreError extends DaemonError {
  override readonly name = 'StoreError';
  readonly code = 'STORE';
}

/** What `load` says besides the leases. */
export type Loaded = Omit<LoadResult, 'leases'>;

export interface LeaseStore {
  load(): Promise<LoadResult>;
  /** Records a lease (new or changed); resolves once the record is on disk. */
  put(lease: Lease): Promise<void>;
  /** Records that a lease is gone; resolves once on disk. */
  delete(id: string): Promise<void>;
  /** Records every pool of the driver; resolves once on disk. */
  setPools(pools: readonly PoolRecord[]): Promise<void>;
  /** Records a lease without waiting: on disk with the next commit (failures are logged). */
  putSoon(lease: Lease): void;
  /** No write under way: a record put now goes to disk at once instead of waiting its turn. */
  readonly idle: boolean;
  /**
   * Compactions started so far. A compaction writes the live table (the lease manager's), which
   * holds no offer yet: a record put before one began may be missing from the file it makes.
   */
  readonly compactions: number;
  /** Resolves once everything recorded so far is on disk. */
  flush(): Promise<void>;
  /** Flushes, waits for a compaction under way, and closes the file. */
  close(): Promise<void>;
}

/** An open file of the store. */
export interface StoreFile {
  /** Writes all of `data` at the end (append mode) or at the current position. */
  write(data: Buffer): Promise<void>;
  datasync(): Promise<void>;
  sync(): Promise<void>;
  truncate(size: number): Promise<void>;
  close(): Promise<void>;
}

/** The file operations the store uses; tests replace them to inject failures and crashes. */
export interface StoreFs {
  readFile(path: string): Promise<Buffer>;
  /**
   * Reads a file a piece at a time, giving each to `onPiece` (which keeps nothing of it: the
   * buffer is reused); resolves to the file's size.
   */
  readPieces(path: string, onPiece: (piece: Buffer) => void): Promise<number>;
  /** Opens for appending, creating nothing. */
  openAppend(path: string): Promise<StoreFile>;
  /** Creates (or truncates) a file only its owner can read. */
  create(path: string): Promise<StoreFile>;
  rename(from: string, to: string): Promise<void>;
  syncDir(dir: string): Promise<void>;
  copyFile(from: string, to: string): Promise<void>;
  remove(path: string): Promise<void>;
  mkdir(dir: string): Promise<void>;
}

async function openFile(path: string, flags: string | number, durableWrites = false): Promise<StoreFile> {
  const handle = await open(path, flags, 0o600);
  return {
    async write(data) {
      for (let off = 0; off < data.length; ) off += (await handle.write(data, off, data.length - off)).bytesWritten;
    },
    // Opened with O_DSYNC, each write returns once its data (and the size that reaches it) is on
    // disk, as an fdatasync after it would: that second trip to the thread pool is saved.
    datasync: durableWrites ? () => Promise.resolve() : () => handle.datasync(),
    sync: () => handle.sync(),
    truncate: (size) => handle.truncate(size),
    close: () => handle.close(),
  };
}

/** How much of the journal a start-up reads at a time. */
const READ_PIECE_BYTES = 1 << 20;

async function readPieces(path: string, onPiece: (piece: Buffer) => void): Promise<number> {
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(READ_PIECE_BYTES);
    let size = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) return size;
      size += bytesRead;
      onPiece(buf.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

export const nodeStoreFs: StoreFs = {
  readFile: (path) => readFile(path),
  readPieces,
  openAppend: (path) => openFile(path, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_DSYNC, true),
  create: (path) => openFile(path, 'w'),
  rename,
  async syncDir(dir) {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  copyFile,
  remove: (path) => rm(path, { force: true }),
  mkdir: async (dir) => void (await mkdir(dir, { recursive: true, mode: 0o700 })),
};

export interface JournalLeaseStoreOptions {
  /** The journal, `leases-<driver>.journal`. */
  path: string;
  /** A version 1 table to import when there is no journal yet, `leases-<driver>.json`. */
  legacyPath?: string;
  log: Logger;
  fs?: StoreFs;
  now?: () => number;
  /** Compact once the journal is this many times the live table (default 4). */
  compactRatio?: number;
  /** ... and at least this big (default 1 MiB): a small journal is cheap to replay. */
  compactMinBytes?: number;
  /** Longest wait of a `putSoon` record for a commit to ride with (default 1 s). */
  lazyFlushMs?: number;
  /**
   * After a failed commit, the records nobody waited on are written again, first `lazyFlushMs`
   * later, then twice as long after each failure in a row, up to this (default 30 s). They ride
   * with the next commit too: a disk with room for one small record but not for them fails
   * that commit as well, until there is room for the lot.
   */
  retryMaxMs?: number;
  /** Leases per chunk of a snapshot, between which the event loop runs (default 100: each is encoded then, a few ms a chunk). */
  chunkLeases?: number;
  /** The journal is closed after this long without a commit (default 1 s). */
  idleCloseMs?: number;
}

type Waiter = { resolve: () => void; reject: (e: unknown) => void };

/**
 * A record not yet written. A lease recorded with `putSoon` is kept as the lease and encoded
 * when its commit comes (a newer change of the same lease before then replaces it unencoded),
 * with no promise for a caller who does not wait. A renewal's record was a string, a buffer, a
 * promise and its callbacks for up to a second; now it is the lease, which exists anyway.
 */
interface Pending {
  line: RecordLine | Lease;
  waiters: readonly Waiter[];
  /**
   * Recorded with `putSoon` (a `flush` may wait on it too): a failed write keeps it queued. A
   * record whose caller waits is theirs to undo when its write fails.
   */
  lazy: boolean;
}

const NO_WAITERS: readonly Waiter[] = [];

const POOLS_KEY = '\u0000pools';
const JOURNAL_OPEN = Symbol('journal');

export class JournalLeaseStore implements LeaseStore {
  readonly #path: string;
  readonly #log: Logger;
  readonly #fs: StoreFs;
  readonly #now: () => number;
  readonly #o: Required<Pick<JournalLeaseStoreOptions, 'compactRatio' | 'compactMinBytes' | 'lazyFlushMs' | 'retryMaxMs' | 'chunkLeases' | 'idleCloseMs'>>;
  readonly #legacyPath: string | undefined;
  /**
   * The live leases: what a snapshot writes. Until `follow()`, the table `load` read into: the
   * store's own map of each lease as last recorded (`#own`), or the caller's; then the lease
   * manager's leases, read at the snapshot. Not their
   * encoded lines: a line is 500 bytes of string per lease held for the rare compaction (25 MB
   * at 50,000 leases); a snapshot encodes them again, in small chunks. Nor a copy of each lease:
   * the manager holds its leases as objects it changes in place and hands out snapshots, so a
   * lease kept here would be a second copy of every lease (about 300 bytes each).
   */
  #own: LeaseMap | undefined;
  #live: LiveLeases;
  /**
   * Bytes and number of the put records written or read: a snapshot's size is estimated as the
   * live leases times their mean (records of leases differ little in size). Kept exactly, the
   * size of each lease's record was an object per lease (2 MB at 50,000) and a map built at
   * every start-up, for a figure that only decides when to compact.
   */
  #putBytes = 0;
  #puts = 0;
  #poolsLine: RecordLine = encodePools([]);
  /** Set once the journal exists (see `#append` for when it is actually open). */
  #file: typeof JOURNAL_OPEN | undefined;
  /** The journal, open for appending while commits keep coming; closed when idle. */
  #handle: StoreFile | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Size of the journal up to its last whole, durable record. */
  #size = 0;
  /** A write failed: cut the file back to `#size` before the next one. */
  #dirty = false;
  /** Records not yet written, by lease id (or POOLS_KEY), in the order they were last changed. */
  #pending = new Map<string, Pending>();
  /** A record someone waits on is queued: commit now, not at the lazy deadline. */
  #urgent = false;
  #lazyTimer: NodeJS.Timeout | undefined;
  /** Commits failed in a row: how long the records nobody waits on wait before the next try. */
  #failures = 0;
  #writing: Promise<void> | undefined;
  /** Serializes appends with the switch to a compacted file. */
  #lock: Promise<void> = Promise.resolve();
  #compacting: Promise<void> | undefined;
  #compactionsStarted = 0;
  /** Records appended to the old journal while a snapshot is being written. */
  #sinceSnapshot: RecordLine[] | undefined;
  /** No compaction before the journal reaches this size (backs off after a failed one). */
  #nextCompactAt = 0;
  #closed = false;

  constructor(options: JournalLeaseStoreOptions) {
    this.#path = options.path;
    this.#legacyPath = options.legacyPath;
    this.#log = options.log;
    this.#fs = options.fs ?? nodeStoreFs;
    this.#now = options.now ?? Date.now;
    this.#o = { compactRatio: 4, compactMinBytes: 1 << 20, lazyFlushMs: 1_000, retryMaxMs: 30_000, chunkLeases: 100, idleCloseMs: 1_000, ...options };
    const own = new LeaseMap();
    this.#own = own;
    this.#live = own;
  }

  get path(): string {
    return this.#path;
  }

  get idle(): boolean {
    return this.#writing === undefined && this.#compacting === undefined;
  }

  get compactions(): number {
    return this.#compactionsStarted;
  }

  /** Bytes in the journal file, and in a snapshot of the live table: for tests and figures. */
  get sizes(): { journal: number; live: number } {
    return { journal: this.#size, live: this.#liveBytes() + this.#poolsLine.bytes };
  }

  /**
   * From now on, a snapshot writes `live` (the lease manager's leases, once it has restored those
   * `load()` returned), and the store keeps no lease of its own. What `live` lists and what the
   * journal says agree but for the records still queued, which a snapshot writes after it.
   */
  follow(live: LiveLeases): void {
    this.#own = undefined;
    this.#live = live;
  }

  /**
   * Reads the table. Into `into` when given (the lease manager's table, `LeaseManager.restoring`),
   * record by record; the store then keeps no lease of its own and `into` is the live table
   * until `follow`. Without it, into a map of the store's own, whose leases come back as a list.
   */
  load(): Promise<LoadResult>;
  load(into: ReplayTable): Promise<Loaded>;
  async load(into?: ReplayTable): Promise<LoadResult | Loaded> {
    if (into !== undefined) return this.#load(into);
    const own = new LeaseMap();
    this.#own = own;
    const loaded = await this.#load(own);
    return { leases: own.list(), ...loaded };
  }

  async #load(table: ReplayTable): Promise<Loaded> {
    await this.#fs.remove(this.#tmpPath()).catch(() => undefined);
    // Read a piece at a time: the whole file at once was resident beside every decoded lease
    // at the start-up's peak (docs/performance.md, thirteenth measurement).
    const reader = new JournalReader(table);
    let size: number;
    try {
      size = await this.#fs.readPieces(this.#path, (piece) => reader.push(piece));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.#startFresh(table);
      throw new StoreError(`cannot read lease table ${this.#path}: ${(err as Error).message}`, { cause: err });
    }
    const j = reader.finish();
    if (j.unreadable !== undefined) {
      // Starting empty would silently stop renewing every running container's lease: the
      // operator decides. Nothing is changed on disk.
      throw new StoreError(
        `lease table ${this.#path} is unreadable (${j.unreadable}); nothing was changed. ` +
          'Restore it from a backup, or move it aside to start with an empty table (the leases it lists will then expire on the server)',
      );
    }
    this.#adopt(table, j.putBytes, j.puts, j.pools);
    if (j.problems.length > 0) {
      await this.#keepAside(j.problems, table.size);
      await this.#writeSnapshot();
    } else {
      if (j.tornTail !== undefined) {
        // What a crash in the middle of an append leaves: that record was never acknowledged.
        this.#log.warn({ path: this.#path, dropped: j.tornTail }, 'lease journal ended in a torn record (a crash during a write); it was dropped');
      }
      await this.#openJournal(j.goodBytes, j.goodBytes < size);
    }
    if (this.#legacyPath !== undefined) await this.#retireLegacy();
    return { pools: j.pools, problems: j.problems };
  }

  put(lease: Lease): Promise<void> {
    const line = encodePut(lease);
    this.#setLive(lease, line.bytes);
    return this.#enqueue(lease.id, line, true);
  }

  putSoon(lease: Lease): void {
    if (this.#closed) {
      this.#log.error({ id: lease.id }, `could not record a lease change: lease table ${this.#path} is closed`);
      return;
    }
    this.#own?.set(lease);
    const earlier = this.#pending.get(lease.id);
    this.#pending.delete(lease.id);
    this.#pending.set(lease.id, { line: lease, waiters: earlier?.waiters ?? NO_WAITERS, lazy: earlier?.lazy ?? true });
    this.#kick();
  }

  delete(id: string): Promise<void> {
    this.#own?.delete(id);
    return this.#enqueue(id, encodeDelete(id), true);
  }

  setPools(pools: readonly PoolRecord[]): Promise<void> {
    this.#poolsLine = encodePools(pools.map((p) => ({ id: p.id, reserved: [...p.reserved] })));
    return this.#enqueue(POOLS_KEY, this.#poolsLine, true);
  }

  async flush(): Promise<void> {
    if (this.#pending.size > 0) {
      // Rides with the last record queued.
      const last = [...this.#pending.values()].at(-1) as Pending;
      const done = new Promise<void>((resolve, reject) => {
        last.waiters = [...last.waiters, { resolve, reject }];
      });
      this.#urgent = true;
      this.#kick();
      await done;
    }
    await this.#writing;
    // The batch under way when this was called failed, and the records nobody waited on are
    // queued again, not on disk.
    if (this.#failures > 0 && this.#pending.size > 0) throw new StoreError(`cannot save lease table ${this.#path}: the last write failed`);
  }

  async close(): Promise<void> {
    await this.flush().catch(() => undefined);
    if (this.#compacting !== undefined) {
      await this.#compacting;
      // Renewals recorded while the compaction ran (seconds, at 50,000 leases) get their try.
      await this.flush().catch(() => undefined);
    }
    this.#closed = true;
    if (this.#lazyTimer !== undefined) clearTimeout(this.#lazyTimer);
    this.#lazyTimer = undefined;
    // A commit that records queued during the flush started ends first (the file is still
    // open for it); from here on nothing is queued or kept.
    await this.#writing;
    if (this.#pending.size > 0) {
      // The last tries failed: the journal keeps these leases' earlier records.
      const left = this.#pending;
      this.#pending = new Map();
      const closed = new StoreError(`lease table ${this.#path} is closed`);
      for (const p of left.values()) for (const w of p.waiters) w.reject(closed);
      this.#log.error(
        { path: this.#path, records: left.size, ids: [...left.keys()].slice(0, 20) },
        'lease table closed with lease changes it could not record',
      );
    }
    await this.#withLock(async () => {
      await this.#closeHandle();
      this.#file = undefined;
    });
  }

  #setLive(lease: Lease, recordBytes: number): void {
    this.#own?.set(lease);
    this.#putBytes += recordBytes;
    this.#puts++;
  }

  /** What a snapshot of the live leases would take, estimated (see `#putBytes`). */
  #liveBytes(): number {
    return this.#puts === 0 ? 0 : Math.round((this.#live.size * this.#putBytes) / this.#puts);
  }

  /** The batch's records, encoding the leases recorded with `putSoon` now. */
  #lines(batch: Map<string, Pending>): RecordLine[] {
    const lines: RecordLine[] = [];
    for (const p of batch.values()) {
      if ('data' in p.line) {
        lines.push(p.line);
      } else {
        const line = encodePut(p.line);
        this.#putBytes += line.bytes;
        this.#puts++;
        p.line = line;
        lines.push(line);
      }
    }
    return lines;
  }

  #enqueue(key: string, line: RecordLine, urgent: boolean): Promise<void> {
    if (this.#closed) return Promise.reject(new StoreError(`lease table ${this.#path} is closed`));
    return new Promise((resolve, reject) => {
      const earlier = this.#pending.get(key);
      // A newer record of the same lease replaces one not yet written, and takes its place at
      // the end: records go out in the order of their last change.
      this.#pending.delete(key);
      this.#pending.set(key, { line, waiters: [...(earlier?.waiters ?? []), { resolve, reject }], lazy: false });
      if (urgent) this.#urgent = true;
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#closed) return; // nothing more is written (close() says what was left)
    if (this.#writing !== undefined) return; // the running commit loop takes the new records
    if (this.#urgent) {
      if (this.#lazyTimer !== undefined) clearTimeout(this.#lazyTimer);
      this.#lazyTimer = undefined;
      this.#writing = this.#commitLoop();
    } else {
      this.#lazyTimer ??= setTimeout(() => {
        this.#lazyTimer = undefined;
        this.#urgent = true;
        this.#kick();
      }, this.#lazyDelay());
    }
  }

  /** Group commit: one write and one fdatasync for everything queued while the last one ran. */
  async #commitLoop(): Promise<void> {
    // Records queued in the same turn of the event loop go in the first batch.
    await Promise.resolve();
    while (this.#pending.size > 0 && this.#urgent) {
      const batch = this.#pending;
      this.#pending = new Map();
      this.#urgent = false;
      try {
        await this.#withLock(() => this.#append(this.#lines(batch)));
        this.#failures = 0;
        for (const p of batch.values()) for (const w of p.waiters) w.resolve();
      } catch (err) {
        const wrapped = err instanceof StoreError ? err : new StoreError(`cannot save lease table ${this.#path}: ${(err as Error).message}`, { cause: err });
        this.#failures++;
        // A caller who waited is told, and decides (a RequestAddress fails). The changes nobody
        // waits on (a bound lease, renewals, upkeep) go back in the queue, ahead of the records
        // queued since, unless a newer record of the same lease is among those: dropped, the
        // journal would keep a lease's older state until its next change, hours away with long
        // leases, and a restart meanwhile would read that.
        const again = new Map<string, Pending>();
        let lost = 0;
        for (const [key, p] of batch) {
          for (const w of p.waiters) w.reject(wrapped);
          if (!p.lazy || this.#pending.has(key)) continue;
          // Closing, there is no later try: said below.
          if (this.#closed) lost++;
          else again.set(key, { line: p.line, waiters: NO_WAITERS, lazy: true });
        }
        const kept = again.size;
        if (kept > 0) {
          for (const [key, p] of this.#pending) again.set(key, p);
          this.#pending = again;
          // Said at each failure, which come further apart the longer they go on.
          this.#log.error({ err: wrapped, records: kept, retryInMs: this.#lazyDelay() }, 'could not record lease changes; they are kept and written again');
        }
        if (lost > 0) this.#log.error({ err: wrapped, records: lost }, 'could not record lease changes before the lease table closed');
      }
      this.#maybeCompact();
    }
    this.#writing = undefined;
    // Lazy records left over wait for their deadline.
    if (this.#pending.size > 0) this.#kick();
  }

  /** How long queued records nobody waits on wait for a commit: longer after failures. */
  #lazyDelay(): number {
    return doublingDelayMs(this.#failures - 1, this.#o.lazyFlushMs, this.#o.retryMaxMs);
  }

  async #append(lines: RecordLine[]): Promise<void> {
    if (this.#file === undefined) throw new StoreError(`lease table ${this.#path} is closed`);
    // Kept open while commits keep coming (an open and a close per commit were two more trips
    // to the thread pool, a third of a lone RequestAddress's time), and closed after a second
    // without one: a file held open for writing keeps its filesystem from being remounted
    // read-only (an operator freeing a full disk, or recovering from errors).
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    this.#handle ??= await this.#fs.openAppend(this.#path);
    const file = this.#handle;
    try {
      if (this.#dirty) {
        // The last write failed part-way: cut its remains off, or the next records would follow
        // a torn one and be taken for damage at the next start.
        await file.truncate(this.#size);
        this.#dirty = false;
      }
      const data = lines.length === 1 ? (lines[0] as RecordLine).data : Buffer.concat(lines.map((l) => l.data));
      try {
        await file.write(data);
        await file.datasync();
      } catch (err) {
        this.#dirty = true;
        throw err;
      }
      this.#size += data.length;
      this.#sinceSnapshot?.push(...lines);
    } catch (err) {
      // Opened afresh for the next commit: the failure may be the file's (a remount, a
      // replaced disk), not only this write's.
      await this.#closeHandle();
      throw err;
    }
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      void this.#withLock(() => this.#closeHandle());
    }, this.#o.idleCloseMs);
    this.#idleTimer.unref();
  }

  async #closeHandle(): Promise<void> {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    const file = this.#handle;
    this.#handle = undefined;
    await file?.close().catch(() => undefined);
  }

  #withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn);
    this.#lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  #maybeCompact(): void {
    const live = this.#liveBytes() + this.#poolsLine.bytes;
    if (this.#compacting !== undefined || this.#closed) return;
    if (this.#size < this.#o.compactMinBytes || this.#size < this.#o.compactRatio * live || this.#size < this.#nextCompactAt) return;
    this.#compactionsStarted++;
    this.#compacting = this.#compact()
      .catch((err: unknown) => {
        // The old journal is intact and still appended to: try again once it has grown more.
        this.#nextCompactAt = this.#size * 2;
        this.#log.warn({ err, path: this.#path }, 'could not compact the lease journal; will try again later');
      })
      .finally(() => {
        this.#compacting = undefined;
      });
  }

  /** Writes a snapshot beside the journal while appends go on, then switches to it. */
  async #compact(): Promise<void> {
    const started = this.#now();
    const tmp = this.#tmpPath();
    this.#sinceSnapshot = [];
    let file: StoreFile | undefined;
    try {
      file = await this.#fs.create(tmp);
      const written = await this.#writeSnapshotTo(file);
      const tmpFile = file;
      await this.#withLock(async () => {
        // Nothing is appended meanwhile: the records since the snapshot began make it current.
        const tail = Buffer.concat((this.#sinceSnapshot ?? []).map((l) => l.data));
        await tmpFile.write(tail);
        await tmpFile.sync();
        await this.#switchTo(tmp, tmpFile, written + tail.length);
      });
      file = undefined;
      this.#log.info({ path: this.#path, bytes: this.#size, leases: this.#live.size, ms: this.#now() - started }, 'lease journal compacted');
    } finally {
      this.#sinceSnapshot = undefined;
      if (file !== undefined) {
        await file.close().catch(() => undefined);
        await this.#fs.remove(tmp).catch(() => undefined);
      }
    }
  }

  /** Header, pools, then every live lease in chunks, letting the event loop run in between. */
  async #writeSnapshotTo(file: StoreFile): Promise<number> {
    let written = 0;
    let chunk: Buffer[] = [encodeHeader(this.#now()).data, this.#poolsLine.data];
    const flush = async (): Promise<void> => {
      const data = Buffer.concat(chunk);
      chunk = [];
      await file.write(data);
      written += data.length;
    };
    // The map may change while we wait: entries changed after they were written come again in
    // the records appended since the snapshot began.
    for (const lease of this.#live.values()) {
      chunk.push(encodePut(lease).data);
      if (chunk.length >= this.#o.chunkLeases) await flush();
    }
    await flush();
    return written;
  }

  /** A whole snapshot, written under the lock (start-up, a cleaned table): nothing else runs. */
  async #writeSnapshot(): Promise<void> {
    const tmp = this.#tmpPath();
    let file: StoreFile | undefined;
    try {
      await this.#fs.mkdir(dirname(this.#path));
      file = await this.#fs.create(tmp);
      const written = await this.#writeSnapshotTo(file);
      await file.sync();
      await this.#switchTo(tmp, file, written);
    } catch (err) {
      await file?.close().catch(() => undefined);
      await this.#fs.remove(tmp).catch(() => undefined);
      throw new StoreError(`cannot save lease table ${this.#path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Renames a synced snapshot over the journal and appends to it from now on. */
  async #switchTo(tmp: string, file: StoreFile, size: number): Promise<void> {
    await file.close();
    // Appends go to the new file from now on (the open one is the journal being replaced).
    await this.#closeHandle();
    await this.#fs.rename(tmp, this.#path);
    await this.#fs.syncDir(dirname(this.#path));
    this.#file = JOURNAL_OPEN;
    this.#dirty = false;
    this.#size = size;
    this.#nextCompactAt = 0;
  }

  async #openJournal(goodBytes: number, torn: boolean): Promise<void> {
    this.#file = JOURNAL_OPEN;
    this.#size = goodBytes;
    // The next write cuts a torn record off first.
    this.#dirty = torn;
  }

  async #startFresh(table: ReplayTable): Promise<Loaded> {
    let result: Loaded = { pools: [], problems: [] };
    this.#adopt(table, 0, 0, []);
    if (this.#legacyPath !== undefined) {
      let text: string | undefined;
      try {
        text = (await this.#fs.readFile(this.#legacyPath)).toString('utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
          throw new StoreError(`cannot read lease table ${this.#legacyPath}: ${(err as Error).message}`, { cause: err });
      }
      if (text !== undefined) result = await this.#importLegacy(this.#legacyPath, text, table);
    }
    await this.#writeSnapshot();
    if (this.#legacyPath !== undefined) await this.#retireLegacy();
    return result;
  }

  /** Reads a version 1 table into `table`; the journal is written by the caller. */
  async #importLegacy(path: string, text: string, table: ReplayTable): Promise<Loaded> {
    const { leases, pools, problems, unreadable } = decodeLeaseTable(text);
    if (unreadable) {
      throw new StoreError(
        `lease table ${path} is unreadable (${problems.join('; ')}); nothing was changed. ` +
          'Restore it from a backup, or move it aside to start with an empty table (the leases it lists will then expire on the server)',
      );
    }
    for (const lease of leases) table.put(lease);
    problems.push(...table.settle());
    if (problems.length > 0) await this.#keepAside(problems, table.size, path);
    this.#adopt(
      table,
      leases.reduce((bytes, l) => bytes + encodePut(l).bytes, 0),
      leases.length,
      pools,
    );
    this.#log.info({ from: path, to: this.#path, leases: table.size, pools: pools.length }, 'lease table imported into the journal');
    return { pools, problems };
  }

  /** Once the journal holds its leases, the version 1 table is kept only as a backup. */
  async #retireLegacy(): Promise<void> {
    const legacy = this.#legacyPath as string;
    try {
      await this.#fs.rename(legacy, `${legacy}.v1-backup`);
      await this.#fs.syncDir(dirname(legacy));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn({ err, path: legacy }, 'could not rename the imported lease table to .v1-backup');
    }
  }

  #adopt(table: ReplayTable, putBytes: number, puts: number, pools: readonly PoolRecord[]): void {
    // The store keeps its own map up to date with what it records; a caller, its table.
    this.#own = table === this.#own ? this.#own : undefined;
    this.#live = table;
    this.#putBytes = putBytes;
    this.#puts = puts;
    this.#poolsLine = encodePools(pools);
  }

  async #keepAside(problems: string[], kept: number, path = this.#path): Promise<void> {
    const aside = `${path}.corrupt-${new Date(this.#now()).toISOString().replaceAll(':', '')}`;
    // A copy, not a move: the original stays in place until the cleaned table replaces it.
    await this.#fs.copyFile(path, aside).catch((err: unknown) => {
      throw new StoreError(`cannot keep a copy of the damaged lease table ${path}: ${(err as Error).message}`, { cause: err });
    });
    this.#log.error({ path, keptAs: aside, problems, kept }, 'lease table had damaged entries; they were dropped and the original kept aside');
  }

  #tmpPath(): string {
    return join(dirname(this.#path), `.${basename(this.#path)}.tmp-compact`);
  }
}

/**
 * The leases a table file lists, read without taking it over (the `probe` command checks them):
 * a journal (`.journal`) or a version 1 table. Damaged records are skipped; an unreadable file
 * lists nothing.
 */
export async function readLeaseFile(path: string): Promise<Lease[]> {
  const buf = await readFile(path);
  if (path.endsWith('.journal')) return decodeJournal(buf).leases;
  return decodeLeaseTable(buf.toString('utf8')).leases;
}
