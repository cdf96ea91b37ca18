/**
 * Durable lease table: every lease the daemon holds, in one versioned JSON file.
 *
 * A save writes a temporary file in the same directory, fsyncs it, renames it over the old
 * file and fsyncs the directory, so after a crash the file is either the old table or the new
 * one, never a mix (the scheme of write-file-atomic). Saves are serialized and coalesced: a
 * save requested while another runs waits for it, then writes the newest table once.
 *
 * A file that cannot be read as a lease table at all stops the start-up with an error and is
 * left as it is: starting empty would silently stop renewing every running container's lease.
 * Entries that are individually malformed are dropped with a reason, the rest are kept, and a
 * copy of the original is kept as `<name>.corrupt-<time>`.
 */
import { copyFile, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { DaemonError } from '../errors.js';
import { isIPv4, normalizeMac, formatHex } from '../dhcp/codec/ipv4.js';
import type { Binding } from '../dhcp/binding.js';
import type { Lease } from './lease.js';
import { LeaseState } from './state.js';

/** Identifies our files, so a stray JSON file is not mistaken for a lease table. */
export const STORE_FORMAT = 'd4d-leases';
export const STORE_VERSION = 1;

/** Persistence failed (disk full, read-only, permissions). The message names the file. */
export class StoreError extends DaemonError {
  override readonly name = 'StoreError';
  readonly code = 'STORE';
}

/** Addresses a Docker network reserved (gateway, aux addresses): never to be leased. */
export interface PoolRecord {
  id: string;
  reserved: string[];
}

export interface LoadResult {
  leases: Lease[];
  pools: PoolRecord[];
  /** What was wrong with the file, when something was; the bad file was kept aside. */
  problems: string[];
}

export interface LeaseStore {
  load(): Promise<LoadResult>;
  /** Writes `leases` with the latest pool records; resolves once on disk. */
  save(leases: readonly Lease[]): Promise<void>;
  /** Replaces the pool records written by the next `save`. */
  setPools(pools: readonly PoolRecord[]): void;
}

/** The file operations the store uses; tests replace them to inject failures. */
export interface StoreFs {
  readFile(path: string): Promise<string>;
  writeDurably(path: string, data: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  syncDir(dir: string): Promise<void>;
}

export const nodeStoreFs: StoreFs = {
  readFile: (path) => readFile(path, 'utf8'),
  async writeDurably(path, data) {
    const handle = await open(path, 'w', 0o600);
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
  rename,
  async syncDir(dir) {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};

export class JsonFileLeaseStore implements LeaseStore {
  readonly #path: string;
  readonly #log: Logger;
  readonly #fs: StoreFs;
  readonly #now: () => number;
  #writing: Promise<void> | undefined;
  #poolRecords: readonly PoolRecord[] = [];
  #pending: { leases: readonly Lease[]; waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> } | undefined;

  constructor(options: { path: string; log: Logger; fs?: StoreFs; now?: () => number }) {
    this.#path = options.path;
    this.#log = options.log;
    this.#fs = options.fs ?? nodeStoreFs;
    this.#now = options.now ?? Date.now;
  }

  get path(): string {
    return this.#path;
  }

  async load(): Promise<LoadResult> {
    let text: string;
    try {
      text = await this.#fs.readFile(this.#path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { leases: [], pools: [], problems: [] };
      throw new StoreError(`cannot read lease table ${this.#path}: ${(err as Error).message}`, { cause: err });
    }
    const { leases, pools, problems, unreadable } = decodeLeaseTable(text);
    this.#poolRecords = pools;
    if (unreadable) {
      // Starting empty would silently stop renewing every running container's lease: the
      // operator decides. Nothing is changed on disk.
      throw new StoreError(
        `lease table ${this.#path} is unreadable (${problems.join('; ')}); nothing was changed. ` +
          'Restore it from a backup, or move it aside to start with an empty table (the leases it lists will then expire on the server)',
      );
    }
    if (problems.length > 0) {
      const aside = `${this.#path}.corrupt-${new Date(this.#now()).toISOString().replaceAll(':', '')}`;
      // A copy, not a move: the original stays in place until the cleaned table replaces it.
      await copyFile(this.#path, aside).catch((err: unknown) => {
        throw new StoreError(`cannot keep a copy of the damaged lease table ${this.#path}: ${(err as Error).message}`, { cause: err });
      });
      this.#log.error({ path: this.#path, keptAs: aside, problems, kept: leases.length }, 'lease table had damaged entries; they were dropped and the original kept aside');
      await this.save(leases);
    }
    return { leases, pools, problems };
  }

  setPools(pools: readonly PoolRecord[]): void {
    this.#poolRecords = pools.map((p) => ({ id: p.id, reserved: [...p.reserved] }));
  }

  /** Resolves once `leases` (or a newer table) is on disk. */
  save(leases: readonly Lease[]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#pending === undefined) this.#pending = { leases, waiters: [] };
      this.#pending.leases = leases;
      this.#pending.waiters.push({ resolve, reject });
      this.#writing ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending !== undefined) {
      const batch = this.#pending;
      this.#pending = undefined;
      try {
        await this.#write(batch.leases);
        for (const w of batch.waiters) w.resolve();
      } catch (err) {
        for (const w of batch.waiters) w.reject(err);
      }
    }
    this.#writing = undefined;
  }

  async #write(leases: readonly Lease[]): Promise<void> {
    const dir = dirname(this.#path);
    const tmp = join(dir, `.${basename(this.#path)}.tmp-${process.pid}`);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await this.#fs.writeDurably(tmp, encodeLeaseTable(leases, this.#now(), this.#poolRecords));
      await this.#fs.rename(tmp, this.#path);
      await this.#fs.syncDir(dir);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw new StoreError(`cannot save lease table ${this.#path}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** Optional binding fields kept in the table (the xid belongs to one transaction only). */
const STORED_BINDING_KEYS = ['renewalTimeSeconds', 'rebindingTimeSeconds', 'subnetMask', 'routers', 'dnsServers', 'domainName'] as const;

type StoredLease = Pick<Binding, 'leaseTimeSeconds' | (typeof STORED_BINDING_KEYS)[number]> & {
  id: string;
  mac: string;
  clientId: string;
  hostname?: string;
  ip: string;
  serverId: string;
  state: string;
  requestedAt: number;
  renewAt: number | null;
  rebindAt: number | null;
  expiresAt: number | null;
};

/** The file's text for a lease table. */
export function encodeLeaseTable(leases: readonly Lease[], savedAt: number, pools: readonly PoolRecord[] = []): string {
  const stored = leases.map((l): StoredLease => {
    const b = l.binding;
    return {
      id: l.id,
      mac: l.identity.mac,
      clientId: formatHex(l.identity.clientId),
      ...(l.identity.hostname === undefined ? {} : { hostname: l.identity.hostname }),
      ip: l.ip,
      serverId: l.serverId,
      state: l.state,
      requestedAt: l.requestedAt,
      renewAt: l.renewAt,
      rebindAt: l.rebindAt,
      expiresAt: l.expiresAt,
      leaseTimeSeconds: b.leaseTimeSeconds,
      ...Object.fromEntries(STORED_BINDING_KEYS.filter((k) => b[k] !== undefined).map((k) => [k, b[k]])),
    };
  });
  return `${JSON.stringify({ format: STORE_FORMAT, version: STORE_VERSION, savedAt: new Date(savedAt).toISOString(), leases: stored, pools }, null, 1)}\n`;
}

/**
 * Parses a lease table; never throws. Whatever is wrong is returned in `problems`;
 * `unreadable` says nothing could be trusted (not JSON, not ours, another version).
 */
export function decodeLeaseTable(text: string): LoadResult & { unreadable: boolean } {
  const unreadable = (problem: string): LoadResult & { unreadable: boolean } => ({ leases: [], pools: [], problems: [problem], unreadable: true });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return unreadable(`not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc) || doc.format !== STORE_FORMAT) return unreadable(`not a ${STORE_FORMAT} file`);
  if (doc.version !== STORE_VERSION) return unreadable(`unsupported version ${JSON.stringify(doc.version)}, want ${STORE_VERSION}`);
  if (!Array.isArray(doc.leases)) return unreadable('"leases" is not a list');
  const leases: Lease[] = [];
  const problems: string[] = [];
  const seen = new Map<string, string>();
  doc.leases.forEach((entry: unknown, i: number) => {
    const lease = decodeLease(entry);
    if (typeof lease === 'string') {
      problems.push(`lease ${i}: ${lease}`);
      return;
    }
    // One address, one holder: a table naming an address twice cannot be trusted for either.
    const owner = seen.get(lease.ip);
    if (owner !== undefined) {
      problems.push(`lease ${i}: ${lease.ip} is also held by ${owner}`);
      return;
    }
    seen.set(lease.ip, lease.id);
    leases.push(lease);
  });
  // Pool records came later than the format's first files: absent means none.
  const pools: PoolRecord[] = [];
  if (doc.pools !== undefined && !Array.isArray(doc.pools)) problems.push('"pools" is not a list');
  (Array.isArray(doc.pools) ? (doc.pools as unknown[]) : []).forEach((entry, i) => {
    if (!isObject(entry) || typeof entry.id !== 'string' || !Array.isArray(entry.reserved) || !entry.reserved.every((ip) => typeof ip === 'string' && isIPv4(ip))) {
      problems.push(`pool ${i}: malformed`);
      return;
    }
    pools.push({ id: entry.id, reserved: entry.reserved as string[] });
  });
  return { leases, pools, problems, unreadable: false };
}

function decodeLease(entry: unknown): Lease | string {
  if (!isObject(entry)) return 'not an object';
  const e = entry;
  const str = (k: string): string | undefined => (typeof e[k] === 'string' ? (e[k] as string) : undefined);
  const num = (k: string): number | undefined => (typeof e[k] === 'number' && Number.isFinite(e[k]) ? (e[k] as number) : undefined);
  const time = (k: string): number | null | undefined => (e[k] === null ? null : num(k));
  const ipList = (k: string): string[] | undefined | false =>
    e[k] === undefined ? undefined : Array.isArray(e[k]) && (e[k] as unknown[]).every((v) => typeof v === 'string' && isIPv4(v)) ? (e[k] as string[]) : false;

  const id = str('id');
  const mac = normalizeMac(str('mac') ?? '');
  const clientIdHex = str('clientId');
  const ip = str('ip');
  const serverId = str('serverId');
  const state = str('state');
  const requestedAt = num('requestedAt');
  const leaseTimeSeconds = num('leaseTimeSeconds');
  const [renewAt, rebindAt, expiresAt] = [time('renewAt'), time('rebindAt'), time('expiresAt')];
  if (id === undefined || id === '') return 'missing id';
  if (mac === undefined) return `${id}: bad mac`;
  if (clientIdHex === undefined || !/^[0-9a-f]{2}(:[0-9a-f]{2})+$/.test(clientIdHex)) return `${id}: bad clientId`;
  if (ip === undefined || !isIPv4(ip)) return `${id}: bad ip`;
  if (serverId === undefined || !isIPv4(serverId)) return `${id}: bad serverId`;
  if (state === undefined || !(Object.values(LeaseState) as string[]).includes(state) || state === 'RELEASED') return `${id}: bad state`;
  if (requestedAt === undefined || leaseTimeSeconds === undefined) return `${id}: bad times`;
  if (renewAt === undefined || rebindAt === undefined || expiresAt === undefined) return `${id}: bad times`;
  const routers = ipList('routers');
  const dnsServers = ipList('dnsServers');
  if (routers === false || dnsServers === false) return `${id}: bad address list`;
  const subnetMask = str('subnetMask');
  if (subnetMask !== undefined && !isIPv4(subnetMask)) return `${id}: bad subnetMask`;

  const binding: Binding = { ip, serverId, requestedAt, leaseTimeSeconds, xid: 0 };
  const t1 = num('renewalTimeSeconds');
  const t2 = num('rebindingTimeSeconds');
  const domainName = str('domainName');
  if (t1 !== undefined) binding.renewalTimeSeconds = t1;
  if (t2 !== undefined) binding.rebindingTimeSeconds = t2;
  if (subnetMask !== undefined) binding.subnetMask = subnetMask;
  if (routers !== undefined) binding.routers = routers;
  if (dnsServers !== undefined) binding.dnsServers = dnsServers;
  if (domainName !== undefined) binding.domainName = domainName;
  const hostname = str('hostname');
  // A lease caught mid-step resumes from BOUND: nextStep() then picks renew, rebind or expire
  // from its times, and an EXPIRED or REBOOTING lease is asked back with INIT-REBOOT.
  const resumed = state === 'EXPIRED' || state === 'REBOOTING' ? state : 'BOUND';
  return {
    id,
    identity: {
      mac,
      clientId: Uint8Array.from(clientIdHex.split(':').map((h) => parseInt(h, 16))),
      ...(hostname === undefined ? {} : { hostname }),
    },
    ip,
    serverId,
    state: resumed,
    binding,
    requestedAt,
    renewAt,
    rebindAt,
    expiresAt,
    retryAt: null,
    recoveryAttempts: 0,
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

