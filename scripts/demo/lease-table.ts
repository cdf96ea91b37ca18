/**
 * One table, one row per container (or per MAC d4d leased for): the address it has beside the
 * DHCP server's own lease record for its MAC, so the two can be compared at a glance.
 */
import type { ServerKind, ServerLease } from '../../test/support/lab/servers.js';

/** One container, or one lease d4d holds. */
export interface TableRow {
  readonly name: string;
  /** The address the container has (Docker's view, or d4d's lease). */
  readonly ip: string;
  readonly mac: string;
  /** Why this row is special ("reserved for its MAC", "asked for with --ip"), if it is. */
  readonly note?: string;
}

/** What a server keeps no lease record for, so that an empty cell is explained, not alarming. */
export interface TableOptions {
  readonly kind: ServerKind;
  /** Epoch ms, for "ends in". */
  readonly now: number;
  /** MACs of fixed-address hosts: ISC dhcpd writes no lease for them. */
  readonly fixedMacs?: ReadonlySet<string>;
}

/** The server's record for `mac`: the active one if there is one, else the latest. */
export function serverRowFor(mac: string, leases: readonly ServerLease[]): ServerLease | undefined {
  const mine = leases.filter((l) => l.mac === mac.toLowerCase());
  return mine.find((l) => l.active) ?? mine.at(-1);
}

function describeLease(row: TableRow, lease: ServerLease | undefined, o: TableOptions): string {
  if (lease === undefined) {
    if (o.kind === 'isc' && o.fixedMacs?.has(row.mac.toLowerCase()) === true) return '(no record: dhcpd keeps none for a fixed-address host)';
    return '(no record for this MAC)';
  }
  const state = lease.active ? 'active' : 'not active';
  const ends = lease.endsAt === null ? 'never ends' : `ends in ${Math.max(0, Math.round((lease.endsAt - o.now) / 1000))} s`;
  const verdict = lease.ip === row.ip ? '' : `  <- NOT the address ${row.ip}`;
  return `${lease.ip}, ${state}, ${ends}${verdict}`;
}

/** The table as lines, header first, columns padded to their widest cell. */
export function leaseTable(rows: readonly TableRow[], leases: readonly ServerLease[], o: TableOptions): string[] {
  const cells = [
    ['container', 'address', 'MAC', `${o.kind}'s lease for that MAC`, ''],
    ...rows.map((r) => [r.name, r.ip, r.mac, describeLease(r, serverRowFor(r.mac, leases), o), r.note === undefined ? '' : `(${r.note})`]),
  ];
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((c) => (c[i] ?? '').length))) ?? [];
  return cells.map((c) =>
    c
      .map((cell, i) => (i === c.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}
