/**
 * When the daemon is unhealthy, for `oam-docker-ipam status` (its exit status) and the
 * `d4d_healthy` metric. Pure. Unhealthy means either:
 *
 * - the DHCP server is silent: an exchange (acquire, renew, rebind, reboot) that sent at least
 *   one datagram ended with no reply at all, and no reply has arrived since;
 * - a lease is EXPIRED or REBOOTING: its container uses an address the server does not lease to
 *   it now (it expired, or the server refused to extend it), and d4d is asking for it back.
 *
 * Renewing and rebinding leases are not unhealthy by themselves (they still hold their address);
 * a server that stopped answering shows as the first point long before any lease expires.
 */
import type { LeaseState } from '../lease/state.js';

export interface HealthInput {
  readonly lastReplyAt: number | undefined;
  readonly lastUnansweredAt: number | undefined;
  readonly unansweredSinceReply: number;
  readonly leasesByState: Readonly<Record<LeaseState, number>>;
}

export interface Health {
  readonly healthy: boolean;
  /** What is wrong, each with where to look; empty when healthy. */
  readonly problems: readonly string[];
}

export function assessHealth(i: HealthInput): Health {
  const problems: string[] = [];
  if (i.unansweredSinceReply > 0) {
    const n = i.unansweredSinceReply;
    const since = i.lastReplyAt === undefined ? 'it has never replied' : `its last reply was at ${iso(i.lastReplyAt)}`;
    problems.push(
      `the DHCP server is not answering: ${n} exchange${n === 1 ? '' : 's'} got no reply (the last at ${iso(i.lastUnansweredAt)}) and ${since}; ` +
        'check that it runs and serves this subnet (oam-docker-ipam check-config probes it)',
    );
  }
  const lapsed = i.leasesByState.EXPIRED + i.leasesByState.REBOOTING;
  if (lapsed > 0) {
    problems.push(
      `${lapsed} lease${lapsed === 1 ? ' is' : 's are'} EXPIRED or REBOOTING: ${lapsed === 1 ? 'its container uses an address' : 'their containers use addresses'} the DHCP server does not lease now; see oam-docker-ipam leases`,
    );
  }
  return { healthy: problems.length === 0, problems };
}

function iso(at: number | undefined): string {
  return at === undefined ? '?' : new Date(at).toISOString();
}
