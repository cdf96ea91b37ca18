/**
 * dnsmasq 2.90 fixture: command line and lease file reader.
 *
 * Behaviour worth knowing when writing tests against it:
 * - Leases shorter than 120 s are refused, so the lease time is raised to 120 s.
 * - `--port=0` turns DNS off; `--bind-interfaces --interface=<veth>` keeps it on the lab link.
 * - Ready line: "DHCP, sockets bound exclusively to interface <veth>".
 * - The lease file is rewritten as a whole (`expiry mac ip hostname clientid`, `*` for none,
 *   expiry 0 = infinite); a released lease disappears from it. The file is written in the main
 *   loop around the time the reply goes out, so poll briefly (`waitForLease`) rather than read
 *   once right after an ACK.
 * - Not authoritative. An INIT-REBOOT for a lease it does not know gets silence (rfc2131.c:
 *   `if (!lease && !option_bool(OPT_AUTHORITATIVE)) return 0`). An INIT-REBOOT for another
 *   address than the client's lease gets a NAK ("wrong address"), and so does one outside the
 *   subnet ("wrong network"). A SELECTING REQUEST for another free address gets an ACK.
 * - With the ping check on, all DHCP processing stalls 3 s per new address.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isColonHex, latestPerIp, normalizeColonHex } from './lease-text.js';
import type { Lab } from './netns.js';
import type { ServerDriver, ServerLease, ServerOptions } from './server-types.js';

/** dnsmasq's minimum lease time, in seconds. */
export const DNSMASQ_MIN_LEASE_SECONDS = 120;
const LEASE_FILE = 'dnsmasq.leases';

/** Command-line arguments for `lab` and `opts`, with the lease and pid files in `dir`. */
export function dnsmasqArgs(lab: Lab, opts: ServerOptions, dir: string): string[] {
  const leaseTime = Math.max(DNSMASQ_MIN_LEASE_SECONDS, opts.leaseTimeSeconds);
  return [
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--port=0',
    `--interface=${lab.serverIf}`,
    '--bind-interfaces',
    `--dhcp-range=${lab.network(opts.rangeFirst)},${lab.network(opts.rangeLast)},${lab.netmask},${leaseTime}`,
    `--dhcp-leasefile=${join(dir, LEASE_FILE)}`,
    `--pid-file=${join(dir, 'dnsmasq.pid')}`,
    // Stay root so the lease file in the (0700) temp dir stays writable.
    '--user=root',
    '--log-facility=-',
    '--log-dhcp',
    ...(opts.pingCheck === true ? [] : ['--no-ping']),
    ...(opts.reservations ?? []).map((r) => `--dhcp-host=${r.mac.toLowerCase()},${r.ip}`),
  ];
}

/** Parse a dnsmasq lease file; `now` (epoch ms) decides `active`. */
export function parseDnsmasqLeases(text: string, now: number): ServerLease[] {
  const leases: ServerLease[] = [];
  for (const line of text.split('\n')) {
    const [expiry, mac, ip, , clientId] = line.trim().split(/\s+/);
    // Skip blank lines and the `duid …` line DHCPv6 would add.
    if (expiry === undefined || !/^\d+$/.test(expiry) || ip === undefined || mac === undefined) continue;
    const endsAt = expiry === '0' ? null : Number(expiry) * 1000;
    leases.push({
      ip,
      mac: isColonHex(mac) ? normalizeColonHex(mac) : null,
      clientId: clientId !== undefined && isColonHex(clientId) ? normalizeColonHex(clientId) : null,
      endsAt,
      active: endsAt === null || endsAt > now,
    });
  }
  return latestPerIp(leases);
}

/** dnsmasq driver for the common fixture. */
export const dnsmasqDriver: ServerDriver = {
  kind: 'dnsmasq',
  binary: 'dnsmasq',
  readyLine: /DHCP, sockets bound exclusively to interface/,
  prepare: async (dir, lab, opts) => ({ args: dnsmasqArgs(lab, opts, dir) }),
  async readLeases(dir, now) {
    const text = await readFile(join(dir, LEASE_FILE), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    return parseDnsmasqLeases(text, now);
  },
};
