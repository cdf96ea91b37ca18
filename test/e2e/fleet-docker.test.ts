/**
 * A fleet with real engines: two hosts on one LAN, each a network namespace with its own
 * Docker engine (20.10 on the first; 28.5 on the second when scripts/docker28.sh installed it,
 * else 20.10 again, said in the output) and its own daemon, one Kea for both. Containers started on both at once get
 * distinct addresses; then one host dies for good (daemon, dockerd, containerd and containers
 * killed): its leases run out on the server and the other host's new containers get them, each
 * address on one container only.
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { netnsEngineMissing, startNetnsEngine, type NetnsEngine, type NetnsEngineKind } from '../support/docker-netns.js';
import { expectEventually } from '../support/eventually.js';
import { startFleetDaemon, type FleetDaemon } from '../support/fleet-daemon.js';
import { createFleetLab, type FleetLab } from '../support/lab/fleet-lab.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, type DhcpServerFixture, type ServerLease } from '../support/lab/servers.js';
import { BUILT_MAIN } from '../support/plugin-process.js';

const PLUGIN_DIR = '/run/docker/plugins';
const LEASE_SECONDS = 10;
const NET = 'fdk';
/** The second host's engine: the current Docker when it is installed. */
const SECOND: NetnsEngineKind = netnsEngineMissing('docker28') === undefined ? 'docker28' : 'docker20';

describeLab(
  `a fleet of two Docker hosts (20.10 and ${SECOND === 'docker28' ? '28' : '20.10 again: Docker 28 is not installed'}) on one LAN with one Kea`,
  () => {
    let lab: FleetLab;
    let server: DhcpServerFixture;
    const engines: NetnsEngine[] = [];
    const daemons: Array<FleetDaemon | undefined> = [];
    const run = (j: number, name: string): Promise<unknown> =>
      (engines[j - 1] as NetnsEngine).docker(['run', '-d', '--name', name, '--net', NET, 'local/busybox:latest', 'sleep', '3600'], 120_000);
    const on = (j: number, name: string) => (engines[j - 1] as NetnsEngine).containerOn(name, NET);
    const active = async (): Promise<ServerLease[]> => (await server.leases()).filter((l) => l.active);
    const first = new Map<string, { host: number; ip: string; mac: string }>();

    beforeAll(async () => {
      if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
      lab = await createFleetLab({ name: 'fdk', octet: 139, servers: 1, hosts: 2 });
      // .20–.49: 30 addresses, so that a dead host's must be reused.
      server = createServer('kea', lab.servers[0] as FleetLab['servers'][0], { leaseTimeSeconds: LEASE_SECONDS, rangeFirst: 20, rangeLast: 49 });
      await server.start();
      for (const host of lab.hosts) {
        const engine = await startNetnsEngine(`fdk${host.index}`, host.ns, host.index === 1 ? 'docker20' : SECOND);
        engines.push(engine);
        console.info(`[fleet] host ${host.index}: ${engine.label}`);
        const dir = await mkdtemp(join(lab.workDir, `h${host.index}-`));
        const daemon = await startFleetDaemon({
          host,
          hostName: `fdk${host.index}`,
          dir,
          pluginDir: PLUGIN_DIR,
          args: ['--dhcp-server', lab.network(1), '--listen-addr', host.ip, '--docker-socket', engine.socket],
        });
        daemons.push(daemon);
        await engine.docker([
          'network',
          'create',
          '-d',
          'macvlan',
          '--ipam-driver',
          daemon.driver,
          '--subnet',
          `${lab.subnet}/24`,
          '--gateway',
          lab.network(254),
          '-o',
          'parent=eth0',
          NET,
        ]);
      }
    }, 180_000);

    afterAll(async () => {
      for (const d of daemons) await d?.stop('SIGTERM');
      for (const e of engines) await e.stop();
      await server?.stop();
      await lab?.destroy();
    }, 180_000);

    it('docker run on both hosts at once: every container its own address, leased to its MAC', async () => {
      const names = [1, 2].flatMap((j) => Array.from({ length: 10 }, (_, i) => ({ host: j, name: `fdk${j}-c${i}` })));
      await Promise.all(names.map((n) => run(n.host, n.name)));
      for (const n of names) first.set(n.name, { host: n.host, ...(await on(n.host, n.name)) });
      expect(new Set([...first.values()].map((c) => c.ip)).size).toBe(names.length);
      const leases = await active();
      for (const [name, c] of first) expect(leases.find((l) => l.ip === c.ip)?.mac, name).toBe(c.mac);
    });

    it('a host that dies for good: its addresses expire on the server and go to the other host, each to one container', async () => {
      await daemons[1]?.stop('SIGKILL');
      daemons[1] = undefined;
      await (engines[1] as NetnsEngine).killForGood();
      const deadIps = [...first.values()].filter((c) => c.host === 2).map((c) => c.ip);
      await expectEventually(async () => (await active()).every((l) => !deadIps.includes(l.ip)), (LEASE_SECONDS + 5) * 1000, 250);
      // 10 more than the free addresses: at least 8 of the dead host's are handed out again.
      const more = Array.from({ length: 18 }, (_, i) => `fdk1-d${i}`);
      await Promise.all(more.map((name) => run(1, name)));
      const now = new Map<string, { ip: string; mac: string }>();
      for (const [name, c] of first) if (c.host === 1) now.set(name, c);
      for (const name of more) now.set(name, await on(1, name));
      expect(new Set([...now.values()].map((c) => c.ip)).size).toBe(now.size);
      expect(deadIps.filter((ip) => [...now.values()].some((c) => c.ip === ip)).length).toBeGreaterThanOrEqual(8);
      const leases = await active();
      for (const [name, c] of now) expect(leases.find((l) => l.ip === c.ip)?.mac, name).toBe(c.mac);
    });
  },
  { requires: ['dockerd', 'busybox', 'unshare', 'nsenter'] },
);
