/**
 * Relay mode with a real Docker 20.10: a Docker host that has no address on its containers'
 * VLAN and reaches the DHCP server only through a router. `docker network create` without
 * `--subnet` learns the VLAN's subnet and router from the server, which maps the relay address
 * to it (ISC shared-network, Kea relay.ip-addresses, dnsmasq --shared-network); Docker accepts
 * the pool because no route of the host overlaps it. Containers get leases, reach the server
 * through the router, and give them back when removed. dockerd and the daemon run in the relay
 * lab's host namespace.
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNetnsEngine, type NetnsEngine } from '../support/docker-netns.js';
import { expectEventually } from '../support/eventually.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createRelayLab, type RelayLab } from '../support/lab/relay-lab.js';
import { createRelayServer } from '../support/lab/relay-servers.js';
import { waitForLease, type ServerKind, type ServerLease } from '../support/lab/servers.js';
import { startNetnsDaemon, type NetnsDaemon } from '../support/netns-daemon.js';
import { BUILT_MAIN } from '../support/plugin-process.js';

const PLUGIN_DIR = '/run/docker/plugins';
const DRIVER = 'd4drelaye2e';

describeLab(
  'relay mode with Docker 20.10: a network without --subnet on a VLAN where the host has no address',
  () => {
    let lab: RelayLab;
    let engine: NetnsEngine;
    let daemon: NetnsDaemon | undefined;
    let dir: string;

    beforeAll(async () => {
      if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
      lab = await createRelayLab({ name: 'rdk', octet: 137, infra: { octet: 138 }, hostNs: true });
      dir = await mkdtemp(join(lab.workDir, 'd4d-'));
      engine = await startNetnsEngine('rdk', lab.hostNs as string);
      daemon = await startNetnsDaemon({
        netns: lab.hostNs as string,
        args: [
          '--dhcp-server',
          lab.serverIp,
          '--relay',
          '--relay-addr',
          lab.relayIp,
          '--driver-name',
          DRIVER,
          '--state-dir',
          join(dir, 'state'),
          '--plugin-dir',
          PLUGIN_DIR,
          '--config',
          '/dev/null',
          '--docker-socket',
          engine.socket,
        ],
        socketPath: join(PLUGIN_DIR, `${DRIVER}.sock`),
      });
    }, 120_000);

    afterAll(async () => {
      await daemon?.stop('SIGTERM');
      await engine?.stop();
      await lab?.destroy();
    }, 120_000);

    for (const kind of ['kea', 'isc', 'dnsmasq'] as ServerKind[]) {
      describe(`with ${kind}`, () => {
        const net = `rdk-${kind}`;
        const active = (mac: string, ip?: string) => (l: ServerLease) => l.active && l.mac === mac && (ip === undefined || l.ip === ip);
        let server: ReturnType<typeof createRelayServer>;

        beforeAll(async () => {
          server = createRelayServer(kind, lab, { leaseTimeSeconds: 120, rangeFirst: 20, rangeLast: 239, mapRelay: true });
          await server.start();
        }, 60_000);

        afterAll(async () => {
          await engine.docker(['rm', '-f', `${net}-c1`]).catch(() => undefined);
          await engine.docker(['network', 'rm', net]).catch(() => undefined);
          await server.stop();
        }, 60_000);

        it('network create without --subnet: the VLAN subnet and its router, learned through the relay', async () => {
          await engine.docker(['network', 'create', '-d', 'macvlan', '--ipam-driver', DRIVER, '-o', `parent=${lab.hostIf}`, net]);
          const ipam = (await engine.docker(['network', 'inspect', net, '--format', '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}'])).stdout.trim();
          expect(ipam).toBe(`${lab.subnet}/24 ${lab.gateway}`);
          // The learning probe gave its address back.
          await expectEventually(async () => (await server.leases()).filter((l) => l.active).length === 0, 10_000);
        });

        it('docker run: a lease from the server, the address on eth0, the server reachable through the router; rm frees it', async () => {
          await engine.docker(['run', '-d', '--name', `${net}-c1`, '--net', net, 'local/busybox:latest', 'sleep', '3600']);
          const c = await engine.containerOn(`${net}-c1`, net);
          expect(c.ip.startsWith(lab.network(0).replace(/0$/, ''))).toBe(true);
          await waitForLease(server, active(c.mac, c.ip), 5_000);
          expect((await engine.docker(['exec', `${net}-c1`, 'ip', '-4', 'addr', 'show', 'eth0'])).stdout).toContain(`${c.ip}/24`);
          await engine.docker(['exec', `${net}-c1`, 'ping', '-c', '1', '-W', '2', lab.serverIp]);
          await engine.docker(['rm', '-f', `${net}-c1`]);
          await expectEventually(async () => (await server.leases()).find(active(c.mac, c.ip)) === undefined, 10_000);
          await engine.docker(['network', 'rm', net]);
        });
      });
    }
  },
  { requires: ['dockerd', 'busybox'] },
);
