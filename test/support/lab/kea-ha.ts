/**
 * Two Kea 2.2 servers as one DHCP service: the high-availability hook (libdhcp_ha, with
 * libdhcp_lease_cmds) in hot-standby mode. The primary answers every client and sends each
 * lease to the standby before it ACKs; the standby answers nobody until it sees the primary
 * gone (no heartbeat answer for `max-response-delay`; `max-unacked-clients` 0 makes it take
 * over at once), then serves every client, the primary's leases included.
 *
 * The peers talk over the hook's own HTTP listener (multi-threading with
 * `http-dedicated-listener`), so no kea-ctrl-agent is needed. Lease files are the plain Kea
 * fixture's, so `leases()` reads each server's own copy.
 */
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expectEventually } from '../eventually.js';
import { keaDriver } from './kea.js';
import type { Lab } from './netns.js';
import { createServerFixture } from './server-fixture.js';
import type { DhcpServerFixture, ServerOptions } from './server-types.js';

const HOOKS = '/usr/lib/x86_64-linux-gnu/kea/hooks';
/** Port of each peer's HA listener. */
const HA_PORT = 8001;

/** Why the HA pair cannot run here, or undefined. */
export function keaHaMissing(): string | undefined {
  for (const lib of ['libdhcp_ha.so', 'libdhcp_lease_cmds.so'])
    if (!existsSync(join(HOOKS, lib))) return `${join(HOOKS, lib)} is missing (kea-dhcp4-server ships it)`;
  return undefined;
}

/** kea-dhcp4.json of peer `self` (0 = primary, 1 = standby) of the pair on `peers`. */
export function renderKeaHaConfig(peers: readonly [Lab, Lab], self: 0 | 1, opts: ServerOptions, dir: string): string {
  const lab = peers[self];
  const names = ['primary', 'standby'] as const;
  const config = {
    Dhcp4: {
      'interfaces-config': { interfaces: [lab.serverIf] },
      'lease-database': { type: 'memfile', persist: true, name: join(dir, 'kea-leases4.csv'), 'lfc-interval': 0 },
      'valid-lifetime': opts.leaseTimeSeconds,
      'multi-threading': { 'enable-multi-threading': true, 'thread-pool-size': 2, 'packet-queue-size': 64 },
      'hooks-libraries': [
        { library: join(HOOKS, 'libdhcp_lease_cmds.so') },
        {
          library: join(HOOKS, 'libdhcp_ha.so'),
          parameters: {
            'high-availability': [
              {
                'this-server-name': names[self],
                mode: 'hot-standby',
                'heartbeat-delay': 1000,
                'max-response-delay': 2000,
                'max-ack-delay': 1000,
                'max-unacked-clients': 0,
                'sync-timeout': 10000,
                'multi-threading': { 'enable-multi-threading': true, 'http-dedicated-listener': true, 'http-listener-threads': 1, 'http-client-threads': 1 },
                peers: peers.map((p, i) => ({
                  name: names[i],
                  url: `http://${p.serverIp}:${HA_PORT}/`,
                  role: i === 0 ? 'primary' : 'standby',
                  'auto-failover': true,
                })),
              },
            ],
          },
        },
      ],
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

export interface KeaHaPair {
  readonly primary: DhcpServerFixture;
  readonly standby: DhcpServerFixture;
  /** Starts both and waits until both are in the hot-standby state (the standby synced). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The pair on two fleet servers (each a `Lab` view of its own namespace). */
export function createKeaHaPair(peers: readonly [Lab, Lab], opts: ServerOptions): KeaHaPair {
  const fixture = (self: 0 | 1): DhcpServerFixture =>
    createServerFixture(
      {
        ...keaDriver,
        async prepare(dir) {
          const conf = join(dir, 'kea-dhcp4.json');
          await writeFile(conf, renderKeaHaConfig(peers, self, opts, dir));
          await rm(join(dir, 'kea-dhcp4.kea-dhcp4.pid'), { force: true });
          return { args: ['-c', conf], env: { KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir } };
        },
      },
      peers[self],
      opts,
    );
  const primary = fixture(0);
  const standby = fixture(1);
  const inHotStandby = (f: DhcpServerFixture): boolean => /transitions from \S+ to HOT-STANDBY state/i.test(f.log());
  return {
    primary,
    standby,
    async start() {
      await Promise.all([primary.start(), standby.start()]);
      await expectEventually(async () => inHotStandby(primary) && inHotStandby(standby), 30_000, 100).catch(() => {
        throw new Error(`the Kea HA pair did not reach hot-standby:\n--- primary\n${primary.log().slice(-3000)}\n--- standby\n${standby.log().slice(-3000)}`);
      });
    },
    async stop() {
      await Promise.all([primary.stop(), standby.stop()]);
    },
  };
}
