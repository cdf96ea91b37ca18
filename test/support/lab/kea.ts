/**
 * Kea 2.2 (kea-dhcp4) fixture: JSON config writer and memfile CSV reader.
 *
 * Behaviour worth knowing when writing tests against it:
 * - Ready line: `DHCP4_STARTED`; the raw sockets are open by then (`DHCPSRV_CFGMGR_ADD_IFACE`).
 * - It needs writable `KEA_PIDFILE_DIR` and `KEA_LOCKFILE_DIR` (logger lock), here the temp dir.
 * - memfile with `persist: true` appends one CSV row per change; with `lfc-interval: 0` the file
 *   is never compacted, so the last row per address is the current state.
 * - A RELEASE deletes the lease. The memfile records the deletion by appending the lease once
 *   more with `valid_lifetime` 0 and `expire` set to the last client contact time, e.g.
 *   `…,01:02:aa:bb:cc:dd:01,0,1795430379,1,0,0,,0,` after a udhcpc SIGUSR2 release. On reload
 *   Kea forgets such a lease: after a restart another client was granted the released address.
 *   The reader does the same and leaves a released address out (no `active: false` row).
 * - `state`: 0 default (bound), 1 declined, 2 expired-reclaimed (Kea reclaims expired leases
 *   every 10 s by default); only state 0 counts as active.
 * - An INIT-REBOOT REQUEST (option 50, no 54) for another address than the client's lease, or
 *   for an address outside the subnet, gets a NAK. A SELECTING REQUEST (50 + 54) for another
 *   free address gets an ACK, and the client's old lease is deleted.
 * - No ping check in 2.2, so `pingCheck` changes nothing.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { latestPerIp, normalizeColonHex } from './lease-text.js';
import type { Lab } from './netns.js';
import type { ServerDriver, ServerLease, ServerOptions } from './server-types.js';

/** Lease file name inside the fixture dir. */
const LEASE_FILE = 'kea-leases4.csv';
/** `valid_lifetime` that Kea uses for an infinite lease (0xffffffff). */
const INFINITE_LIFETIME = 0xffff_ffff;

/** Render the kea-dhcp4 JSON config for `lab` and `opts`, with its lease file in `dir`. */
export function renderKeaConfig(lab: Lab, opts: ServerOptions, dir: string): string {
  const config = {
    Dhcp4: {
      'interfaces-config': { interfaces: [lab.serverIf] },
      'lease-database': { type: 'memfile', persist: true, name: join(dir, LEASE_FILE), 'lfc-interval': 0 },
      'valid-lifetime': opts.leaseTimeSeconds,
      subnet4: [
        {
          id: 1,
          subnet: `${lab.subnet}/${lab.prefixLength}`,
          pools: [{ pool: `${lab.network(opts.rangeFirst)} - ${lab.network(opts.rangeLast)}` }],
          reservations: (opts.reservations ?? []).map((r) => ({ 'hw-address': r.mac.toLowerCase(), 'ip-address': r.ip })),
        },
      ],
      loggers: [{ name: 'kea-dhcp4', severity: 'INFO', output_options: [{ output: 'stdout' }] }],
    },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** Parse a Kea memfile lease4 CSV; see the module comment for how releases appear. */
export function parseKeaLeases(csv: string, now: number): ServerLease[] {
  const lines = csv.split('\n').filter((line) => line.trim() !== '');
  const header = (lines[0] ?? '').split(',');
  const col = (name: string): number => {
    const index = header.indexOf(name);
    if (index < 0) throw new Error(`Kea lease file has no "${name}" column: ${lines[0] ?? '(empty)'}`);
    return index;
  };
  const [iAddress, iHw, iCid, iValid, iExpire, iState] = ['address', 'hwaddr', 'client_id', 'valid_lifetime', 'expire', 'state'].map(col) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const rows = lines.slice(1).map((line) => line.split(','));
  const latest = latestPerIp(rows.map((cells) => ({ ip: cells[iAddress] ?? '', cells })));
  const leases: ServerLease[] = [];
  for (const { ip, cells } of latest) {
    const valid = Number(cells[iValid]);
    if (valid === 0) continue; // deletion marker written for a RELEASE
    const hw = cells[iHw] ?? '';
    const cid = cells[iCid] ?? '';
    const endsAt = valid === INFINITE_LIFETIME ? null : Number(cells[iExpire]) * 1000;
    leases.push({
      ip,
      mac: hw === '' ? null : normalizeColonHex(hw),
      clientId: cid === '' ? null : normalizeColonHex(cid),
      endsAt,
      active: cells[iState] === '0' && (endsAt === null || endsAt > now),
    });
  }
  return leases;
}

/** Kea driver for the common fixture. */
export const keaDriver: ServerDriver = {
  kind: 'kea',
  binary: 'kea-dhcp4',
  readyLine: /DHCP4_STARTED/,
  // Kea only warns and carries on serving nothing when it cannot open its raw socket.
  failLine: /DHCPSRV_OPEN_SOCKET_FAIL|DHCPSRV_NO_SOCKETS_OPEN/,
  async prepare(dir, lab, opts) {
    const conf = join(dir, 'kea-dhcp4.json');
    await writeFile(conf, renderKeaConfig(lab, opts, dir));
    // A pid file left by a killed run makes Kea refuse to start if its pid has been reused
    // (DHCP4_ALREADY_RUNNING); the fixture has already checked that no server runs in the netns.
    await rm(join(dir, 'kea-dhcp4.kea-dhcp4.pid'), { force: true });
    return { args: ['-c', conf], env: { KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir } };
  },
  async readLeases(dir, now) {
    const text = await readFile(join(dir, LEASE_FILE), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    return text === '' ? [] : parseKeaLeases(text, now);
  },
};
