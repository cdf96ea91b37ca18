/**
 * `oam-docker-ipam leases`: the running daemon's leases (`/d4d.Leases`), or, when no daemon
 * answers, the lease table it last saved, said so in a note. The listing is the same either
 * way; from the file, states and times are as of the last save and no last errors are known.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { daemonLeases, DaemonNotRunningError } from '../admin-client.js';
import { adminLease, type AdminLease } from '../admin-routes.js';
import { ipv4ToNumber } from '../dhcp/codec/ipv4.js';
import { DaemonError } from '../errors.js';
import { poolOf } from '../lease/manager.js';
import { readLeaseFile } from '../lease/store.js';
import { formatDuration, formatTable, truncate } from './table.js';

/** Where the listing came from. */
export interface LeaseListing {
  readonly source: 'daemon' | 'state-file';
  /** The lease table read, when not from the daemon. */
  readonly path?: string;
  readonly note?: string;
  readonly leases: readonly AdminLease[];
}

/** No daemon answers and there is no lease table to read either. */
export class NoLeaseTableError extends DaemonError {
  override readonly name = 'NoLeaseTableError';
  readonly code = 'NO_LEASE_TABLE';
}

/**
 * The daemon's leases, or the saved table's when it does not answer. Throws `NoLeaseTableError`
 * when neither can be read, and the daemon's errors other than "not running".
 */
export async function listLeases(o: { socketPath: string; stateDir: string; driverName: string; timeoutMs?: number }): Promise<LeaseListing> {
  try {
    return { source: 'daemon', leases: await daemonLeases(o.socketPath, o.timeoutMs ?? 10_000) };
  } catch (err) {
    if (!(err instanceof DaemonNotRunningError)) throw err;
  }
  // The journal, or a version 1 table that no daemon has imported yet.
  for (const name of [`leases-${o.driverName}.journal`, `leases-${o.driverName}.json`]) {
    const path = join(o.stateDir, name);
    const saved = await stat(path).catch(() => undefined);
    if (saved === undefined) continue;
    const leases = (await readLeaseFile(path)).map((l) => adminLease(poolOf(l.id), l, []));
    return {
      source: 'state-file',
      path,
      note: `no oam-docker-ipam server answers on ${o.socketPath}: these are the leases as last saved in ${path} (at ${saved.mtime.toISOString()}); states and times are as of then, and the server renews them when it starts again`,
      leases,
    };
  }
  throw new NoLeaseTableError(
    `no oam-docker-ipam server answers on ${o.socketPath}, and there is no lease table in ${o.stateDir} for driver ${o.driverName}: nothing is leased, or STATE_DIR / --driver-name differ from the server's`,
  );
}

/** The table `leases` prints, one lease a row, by network then address; then the note. */
export function formatLeases(listing: LeaseListing, now: number): string {
  const sorted = [...listing.leases].sort((a, b) => network(a).localeCompare(network(b)) || ipv4ToNumber(a.Ip) - ipv4ToNumber(b.Ip));
  const rows = sorted.map((l) => [
    network(l),
    l.Ip,
    l.Mac,
    l.ClientId ?? '-',
    l.State,
    expiresIn(l.ExpiresAt, now),
    l.GrantedAt === undefined ? '-' : `${formatDuration(now - Date.parse(l.GrantedAt))} ago`,
    l.LastError === undefined ? '-' : truncate(`${formatDuration(now - Date.parse(l.LastError.At))} ago: ${l.LastError.Message}`, 80),
  ]);
  const lines =
    rows.length === 0 ? ['no leases'] : formatTable(['NETWORK/POOL', 'ADDRESS', 'MAC', 'CLIENT ID', 'STATE', 'EXPIRES IN', 'RENEWED', 'LAST ERROR'], rows);
  if (listing.note !== undefined) lines.push(`note: ${listing.note}`);
  return `${lines.join('\n')}\n`;
}

/** The `--json` form: the listing as the daemon's wire format, with where it came from. */
export function leasesJson(listing: LeaseListing): string {
  return `${JSON.stringify({ Source: listing.source, ...(listing.path === undefined ? {} : { Path: listing.path }), ...(listing.note === undefined ? {} : { Note: listing.note }), Leases: listing.leases }, null, 2)}\n`;
}

/** The Docker network names of the lease's subnet (as last read), else its subnet. */
function network(l: AdminLease): string {
  return l.Networks.length > 0 ? l.Networks.join(',') : l.Subnet;
}

function expiresIn(at: string | null | undefined, now: number): string {
  if (at === undefined) return '-';
  if (at === null) return 'never';
  const left = Date.parse(at) - now;
  return left >= 0 ? formatDuration(left) : `expired ${formatDuration(-left)} ago`;
}
