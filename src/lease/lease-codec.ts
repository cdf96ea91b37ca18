/**
 * How a lease is written down: the stored form of one lease (`encodeStoredLease` /
 * `decodeStoredLease`, shared by the journal and the version 1 table), and the version 1 table
 * itself (one JSON document), which is still read to migrate it and by the `probe` command.
 */
import { formatHex, hexDigit, isIPv4, normalizeMac } from '../dhcp/codec/ipv4.js';
import type { Binding } from '../dhcp/binding.js';
import { longLivedBytes } from '../dhcp/codec/long-lived.js';
import type { Lease } from './lease.js';
import { internBinding, internString } from './intern.js';
import { LeaseState } from './state.js';

/** Identifies our files, so a stray JSON file is not mistaken for a lease table. */
export const STORE_FORMAT = 'd4d-leases';
/** The version 1 table: one JSON document rewritten whole at every change. */
export const STORE_VERSION = 1;

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

/** Optional binding fields kept in the table (the xid belongs to one transaction only). */
const STORED_BINDING_KEYS = ['renewalTimeSeconds', 'rebindingTimeSeconds', 'subnetMask', 'routers', 'dnsServers', 'domainName'] as const;

export type StoredLease = Pick<Binding, 'leaseTimeSeconds' | (typeof STORED_BINDING_KEYS)[number]> & {
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
  const stored = leases.map(encodeStoredLease);
  return `${JSON.stringify({ format: STORE_FORMAT, version: STORE_VERSION, savedAt: new Date(savedAt).toISOString(), leases: stored, pools }, null, 1)}\n`;
}

/** A lease as stored: plain JSON values (client id in hex, no xid, no retry state). */
export function encodeStoredLease(l: Lease): StoredLease {
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
    const lease = decodeStoredLease(entry);
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
    const pool = decodePoolRecord(entry);
    if (pool === undefined) problems.push(`pool ${i}: malformed`);
    else pools.push(pool);
  });
  return { leases, pools, problems, unreadable: false };
}

/** States a stored lease may be in (a released lease is deleted, never stored). */
const STORED_STATES: ReadonlySet<string> = new Set(Object.values(LeaseState).filter((s) => s !== 'RELEASED'));

/** A stored lease back as a lease, or what is wrong with it. */
export function decodeStoredLease(entry: unknown): Lease | string {
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
  if (state === undefined || !STORED_STATES.has(state)) return `${id}: bad state`;
  if (requestedAt === undefined || leaseTimeSeconds === undefined) return `${id}: bad times`;
  if (renewAt === undefined || rebindAt === undefined || expiresAt === undefined) return `${id}: bad times`;
  const routers = ipList('routers');
  const dnsServers = ipList('dnsServers');
  if (routers === false || dnsServers === false) return `${id}: bad address list`;
  const subnetMask = str('subnetMask');
  if (subnetMask !== undefined && !isIPv4(subnetMask)) return `${id}: bad subnetMask`;

  const binding: Binding = { ip, serverId: internString(serverId), requestedAt, leaseTimeSeconds, xid: 0 };
  const t1 = num('renewalTimeSeconds');
  const t2 = num('rebindingTimeSeconds');
  const domainName = str('domainName');
  if (t1 !== undefined) binding.renewalTimeSeconds = t1;
  if (t2 !== undefined) binding.rebindingTimeSeconds = t2;
  if (subnetMask !== undefined) binding.subnetMask = subnetMask;
  if (routers !== undefined) binding.routers = routers;
  if (dnsServers !== undefined) binding.dnsServers = dnsServers;
  if (domainName !== undefined) binding.domainName = domainName;
  internBinding(binding);
  const hostname = str('hostname');
  // A lease caught mid-step resumes from BOUND: nextStep() then picks renew, rebind or expire
  // from its times, and an EXPIRED or REBOOTING lease is asked back with INIT-REBOOT.
  const resumed = state === 'EXPIRED' || state === 'REBOOTING' ? state : 'BOUND';
  return {
    id,
    identity: {
      mac,
      // Packed with the other client ids (long-lived.ts), not an ArrayBuffer of its own per lease.
      clientId: colonHexBytes(clientIdHex),
      ...(hostname === undefined ? {} : { hostname }),
    },
    ip,
    serverId: binding.serverId,
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

/**
 * "01:02:…" (checked by the caller) to bytes kept as long as the lease (long-lived.ts), read
 * straight into them: a string without the colons and a buffer between were a tenth of a start-up
 * with 50,000 leases.
 */
function colonHexBytes(text: string): Uint8Array {
  const out = longLivedBytes((text.length + 1) / 3);
  for (let i = 0; i < out.length; i++) out[i] = (hexDigit(text.charCodeAt(3 * i)) << 4) | hexDigit(text.charCodeAt(3 * i + 1));
  return out;
}

/** A pool record, or undefined when malformed. */
export function decodePoolRecord(entry: unknown): PoolRecord | undefined {
  if (!isObject(entry) || typeof entry.id !== 'string' || !Array.isArray(entry.reserved) || !entry.reserved.every((ip) => typeof ip === 'string' && isIPv4(ip)))
    return undefined;
  return { id: entry.id, reserved: entry.reserved as string[] };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
