/**
 * End to end on a real Docker engine: `docker network create -d macvlan --ipam-driver …` and
 * `docker run` get their addresses from ISC dhcpd and from Kea through `oam-docker-ipam server`.
 * The macvlan parent is the host end of the lab's veth, so containers sit on the server's
 * segment exactly as on a LAN. One file, run in sequence: there is one dockerd.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectEventually } from '../support/eventually.js';
import { BUILT_MAIN, startPlugin, type PluginProcess } from '../support/plugin-process.js';
import { containerOn, docker, ensureEngine, ensureTestImage, removeByPrefix, TEST_IMAGE, type Engine } from '../support/docker.js';
import { createLab, type Lab } from '../support/lab/netns.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, waitForLease, type DhcpServerFixture, type ServerKind, type ServerLease } from '../support/lab/servers.js';

const BIN = BUILT_MAIN;
const PLUGIN_DIR = '/run/docker/plugins';
const PREFIX = 'd4de-';

describeLab(
  'Docker end to end',
  () => {
    let engine: Engine;

    beforeAll(async () => {
      if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
      engine = await ensureEngine();
      await ensureTestImage();
      await removeByPrefix(PREFIX);
    }, 120_000);

    afterAll(async () => {
      await removeByPrefix(PREFIX).catch(() => undefined);
      await engine?.stop();
    }, 60_000);

    for (const [kind, octet] of [['kea', 61], ['isc', 62]] as Array<[ServerKind, number]>) {
      describe(`with ${kind}`, () => {
        let lab: Lab;
        let server: DhcpServerFixture;
        let stateDir: string;
        let plugin: PluginProcess | undefined;
        const driver = `d4de2e${kind}`;
        const net = `${PREFIX}${kind}`;
        const name = (c: string): string => `${PREFIX}${kind}-${c}`;
        const reservedMac = `02:d4:e2:00:${octet.toString(16)}:50`;
        const active = (mac: string, ip?: string) => (l: ServerLease) => l.active && l.mac === mac && (ip === undefined || l.ip === ip);

        async function startDriver(): Promise<void> {
          plugin = await startPlugin(['--dhcp-server', lab.serverIp, '--driver-name', driver, '--state-dir', stateDir, '--plugin-dir', PLUGIN_DIR, '--config', '/dev/null'], join(PLUGIN_DIR, `${driver}.sock`));
        }

        async function runContainer(c: string, extra: string[] = []): Promise<{ ip: string; mac: string }> {
          await docker(['run', '-d', '--name', name(c), '--net', net, ...extra, TEST_IMAGE, 'sleep', '3600']);
          return containerOn(name(c), net);
        }

        async function activeLeases(): Promise<ServerLease[]> {
          return (await server.leases()).filter((l) => l.active);
        }

        beforeAll(async () => {
          lab = await createLab({ name: `dk${kind}`, octet });
          server = createServer(kind, lab, { leaseTimeSeconds: 20, rangeFirst: 20, rangeLast: 239, reservations: [{ mac: reservedMac, ip: lab.network(50) }] });
          await server.start();
          stateDir = await mkdtemp(join(tmpdir(), 'd4d-e2e-'));
          await startDriver();
        }, 60_000);

        afterAll(async () => {
          await removeByPrefix(`${PREFIX}${kind}`).catch(() => undefined);
          await plugin?.stop();
          await server?.stop();
          await lab?.destroy();
          await rm(stateDir, { recursive: true, force: true });
        }, 60_000);

        it('creates and removes a network with an aux address, then creates the one the tests use', async () => {
          const common = ['network', 'create', '-d', 'macvlan', '--ipam-driver', driver, '--subnet', `${lab.subnet}/24`, '--gateway', lab.serverIp, '-o', `parent=${lab.hostIf}`];
          await docker([...common, '--aux-address', `printer=${lab.network(5)}`, `${net}-aux`]);
          await docker(['network', 'rm', `${net}-aux`]);
          await docker([...common, net]);
          expect((await docker(['network', 'inspect', net, '--format', '{{.IPAM.Driver}}'])).stdout.trim()).toBe(driver);
          expect(await activeLeases()).toEqual([]); // gateway and aux never became leases
        });

        it('docker run: the container gets an address the server has leased to its MAC, and reaches the server', async () => {
          const c = await runContainer('c1');
          await waitForLease(server, active(c.mac, c.ip), 5_000);
          const addr = (await docker(['exec', name('c1'), 'ip', '-4', 'addr', 'show', 'eth0'])).stdout;
          expect(addr).toContain(`${c.ip}/24`);
          await docker(['exec', name('c1'), 'ping', '-c', '1', '-W', '2', lab.serverIp]);
        });

        it('--ip gives exactly that address', async () => {
          const c = await runContainer('fixed', ['--ip', lab.network(230)]);
          expect(c.ip).toBe(lab.network(230));
          await waitForLease(server, active(c.mac, c.ip), 5_000);
          await docker(['rm', '-f', name('fixed')]);
        });

        it('--mac-address with a server reservation gives the reserved address, after restart and after rm + run too', async () => {
          const first = await runContainer('res', ['--mac-address', reservedMac]);
          expect(first).toEqual({ ip: lab.network(50), mac: reservedMac });
          await docker(['restart', '-t', '0', name('res')]);
          expect((await containerOn(name('res'), net)).ip).toBe(lab.network(50));
          await docker(['rm', '-f', name('res')]);
          expect((await runContainer('res', ['--mac-address', reservedMac])).ip).toBe(lab.network(50));
          await docker(['rm', '-f', name('res')]);
        });

        it('removing a container frees its lease', async () => {
          const c = await containerOn(name('c1'), net);
          await docker(['rm', '-f', name('c1')]);
          await expectEventually(async () => (await server.leases()).find(active(c.mac, c.ip)) === undefined);
        });

        it('plugin restart while containers run: leases keep renewing, and removal still releases them', async () => {
          const c = await runContainer('c2');
          const before = (await waitForLease(server, active(c.mac, c.ip), 5_000)).endsAt ?? 0;
          await plugin?.stop();
          await startDriver();
          await waitForLease(server, (l) => active(c.mac, c.ip)(l) && (l.endsAt ?? 0) > before + 2_000, 25_000);
          await docker(['rm', '-f', name('c2')]);
          await expectEventually(async () => (await server.leases()).find(active(c.mac, c.ip)) === undefined);
        });

        it('dockerd restart with --restart always containers leaves no lease orphaned', async () => {
          if (!engine.ours) {
            if (process.env.CI === 'true') throw new Error('a dockerd the tests did not start is running; CI must own its engine');
            console.warn('skipping the dockerd restart: the running dockerd was not started by the tests');
            return;
          }
          await runContainer('always', ['--restart', 'always']);
          await runContainer('once');
          await engine.restart();
          await expectEventually(async () => (await docker(['inspect', '--format', '{{.State.Running}}', name('always')])).stdout.trim() === 'true', 30_000);
          const now = await containerOn(name('always'), net);
          await waitForLease(server, active(now.mac, now.ip), 10_000);
          // Every address the server has leased belongs to a running container.
          await expectEventually(async () => {
            const leased = (await activeLeases()).map((l) => l.ip);
            return leased.length === 1 && leased[0] === now.ip;
          }, 15_000).catch(async (err: unknown) => {
            throw new Error(`${String(err)}: server leases ${JSON.stringify(await activeLeases())}, running ${now.ip}`);
          });
        });

        it('network rm after the containers are gone releases everything', async () => {
          await removeByPrefix(`${PREFIX}${kind}-`);
          await docker(['network', 'rm', net]);
          await expectEventually(async () => (await activeLeases()).length === 0);
        });
      });
    }
  },
  { requires: ['dockerd', 'busybox'] },
);

