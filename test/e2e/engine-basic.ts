/**
 * What every user does, on one engine, against ISC dhcpd, Kea and dnsmasq: `docker network create
 * -d macvlan --ipam-driver …`, `docker run` (address leased to the container's MAC), `--ip`,
 * `--mac-address` with a server reservation (the per-network form on API ≥ 1.44), removal,
 * a plugin restart while containers run, a dockerd restart and a dockerd kill -9 with
 * `--restart always` containers, and `docker network rm`: no lease is ever left that Docker does
 * not have.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import type { DockerEngine } from '../support/docker-engines.js';
import { TEST_IMAGE, CLEANUP_TIMEOUT_MS } from '../support/docker-engines.js';
import { activeFor, startDriverLab, type DriverLab } from '../support/docker-lab.js';
import type { resultRecorder } from '../support/docker-results.js';
import { expectEventually } from '../support/eventually.js';
import { waitForLease, type ServerKind } from '../support/lab/servers.js';

type Recorder = ReturnType<typeof resultRecorder>;

/** Lab subnets of this suite, one per server (the engines run one after another). */
const LABS: ReadonlyArray<{ kind: ServerKind; octet: number }> = [
  { kind: 'kea', octet: 90 },
  { kind: 'isc', octet: 91 },
  { kind: 'dnsmasq', octet: 92 },
];

export function basicSuite(engine: () => DockerEngine, rec: Recorder): void {
  for (const { kind, octet } of LABS) {
    describe(`with ${kind}`, () => {
      let dl: DriverLab;
      let prefix = '';
      const name = (c: string): string => `${prefix}${c}`;
      const net = (): string => `${prefix}net`;
      const reservedMac = `02:d4:e2:00:${octet.toString(16)}:50`;
      const docker = (args: readonly string[], timeoutMs?: number) => engine().docker(args, timeoutMs);

      async function runContainer(c: string, extra: string[] = []): Promise<{ ip: string; mac: string }> {
        await docker(['run', '-d', '--name', name(c), '--net', net(), ...extra, TEST_IMAGE, 'sleep', '3600']);
        return engine().containerOn(name(c), net());
      }

      beforeAll(async () => {
        const e = engine();
        prefix = `d4d${e.id.slice(-2)}${kind.slice(0, 3)}-`;
        await e.removeByPrefix(prefix);
        const labName = `b${e.id.slice(-2)}${kind.slice(0, 3)}`;
        dl = await startDriverLab({
          engine: e,
          name: labName,
          octet,
          kind,
          driver: `d4d${labName}`,
          server: { leaseTimeSeconds: 20, rangeFirst: 20, rangeLast: 239, reservations: [{ mac: reservedMac, ip: `10.231.${octet}.50` }] },
        });
      }, 60_000);

      afterAll(async () => {
        await engine()
          .removeByPrefix(prefix)
          .catch(() => undefined);
        await dl?.destroy();
      }, CLEANUP_TIMEOUT_MS);

      rec.scenario('creates and removes a network with an aux address, then the one the tests use', 'network-create-rm', kind, async () => {
        await docker([...dl.macvlanArgs(), '--aux-address', `printer=${dl.lab.network(5)}`, `${net()}-aux`]);
        await docker(['network', 'rm', `${net()}-aux`]);
        await docker([...dl.macvlanArgs(), net()]);
        expect((await docker(['network', 'inspect', net(), '--format', '{{.IPAM.Driver}}'])).stdout.trim()).toBe(dl.driver);
        expect(await dl.activeLeases()).toEqual([]); // gateway and aux never became leases
      });

      rec.scenario('docker run: the container gets an address the server leased to its MAC, and reaches the server', 'run-lease', kind, async () => {
        const c = await runContainer('c1');
        await waitForLease(dl.server, activeFor(c.mac, c.ip), 5_000);
        const addr = (await docker(['exec', name('c1'), 'ip', 'addr', 'show', 'eth0'])).stdout;
        expect(addr).toContain(`${c.ip}/24`);
        expect(addr.toLowerCase()).toContain(c.mac);
        await docker(['exec', name('c1'), 'ping', '-c', '1', '-W', '2', dl.lab.serverIp]);
      });

      rec.scenario('--ip gives exactly that address', 'fixed-ip', kind, async () => {
        // An address of the server's range that no container holds: dnsmasq picks addresses by
        // a hash of the MAC, so c1 may well hold any given one.
        const held = new Set((await dl.activeLeases()).map((l) => l.ip));
        const wanted = [230, 229, 228, 227].map((i) => dl.lab.network(i)).find((ip) => !held.has(ip)) ?? dl.lab.network(226);
        const c = await runContainer('fixed', ['--ip', wanted]);
        expect(c.ip).toBe(wanted);
        await waitForLease(dl.server, activeFor(c.mac, c.ip), 5_000);
        await docker(['rm', '-f', name('fixed')]);
        await expectEventually(async () => (await dl.server.leases()).find(activeFor(c.mac, c.ip)) === undefined);
      });

      rec.scenario(
        '--mac-address with a server reservation gives the reserved address, after restart and after rm + run too',
        'mac-reservation',
        kind,
        async () => {
          const first = await runContainer('res', ['--mac-address', reservedMac]);
          expect(first).toEqual({ ip: dl.lab.network(50), mac: reservedMac });
          await docker(['restart', '-t', '0', name('res')]);
          expect(await engine().containerOn(name('res'), net())).toEqual({ ip: dl.lab.network(50), mac: reservedMac });
          await docker(['rm', '-f', name('res')]);
          // API ≥ 1.44 carries the MAC per network (`--network name=…,mac-address=…`); 1.41 only
          // has the container-wide --mac-address, for the primary network.
          const perNetwork = Number(engine().versions.api) >= 1.44;
          if (perNetwork)
            await docker(['run', '-d', '--name', name('res'), '--network', `name=${net()},mac-address=${reservedMac}`, TEST_IMAGE, 'sleep', '3600']);
          const again = perNetwork ? await engine().containerOn(name('res'), net()) : await runContainer('res', ['--mac-address', reservedMac]);
          expect(again).toEqual({ ip: dl.lab.network(50), mac: reservedMac });
          await docker(['rm', '-f', name('res')]);
          return perNetwork ? 'per network (API ≥ 1.44)' : 'container-wide, primary network (API 1.41)';
        },
      );

      rec.scenario('removing a container frees its lease', 'rm-releases', kind, async () => {
        const c = await engine().containerOn(name('c1'), net());
        await docker(['rm', '-f', name('c1')]);
        await expectEventually(async () => (await dl.server.leases()).find(activeFor(c.mac, c.ip)) === undefined);
      });

      if (kind !== 'dnsmasq') {
        // dnsmasq will not lease for less than 120 s: a renewal would take a minute to see.
        rec.scenario('plugin restart while containers run: leases keep renewing, and removal still releases them', 'plugin-restart', kind, async () => {
          const c = await runContainer('c2');
          const before = (await waitForLease(dl.server, activeFor(c.mac, c.ip), 5_000)).endsAt ?? 0;
          await dl.plugin()?.stop();
          await dl.startPlugin();
          await waitForLease(dl.server, (l) => activeFor(c.mac, c.ip)(l) && (l.endsAt ?? 0) > before + 2_000, 25_000);
          await docker(['rm', '-f', name('c2')]);
          await expectEventually(async () => (await dl.server.leases()).find(activeFor(c.mac, c.ip)) === undefined);
        });
      }

      /** Every address the server has leased belongs to a running container of this lab, and each has one. */
      async function leasesMatchDocker(timeoutMs: number): Promise<string[]> {
        const running = async (): Promise<string[]> => {
          const out = await docker(['network', 'inspect', net(), '--format', '{{range .Containers}}{{.IPv4Address}} {{end}}']);
          return out.stdout
            .trim()
            .split(/\s+/)
            .filter(Boolean)
            .map((a) => a.split('/')[0] ?? '')
            .sort();
        };
        let last = { docker: [] as string[], leased: [] as string[] };
        await expectEventually(
          async () => {
            last = { docker: await running(), leased: (await dl.activeLeases()).map((l) => l.ip).sort() };
            return JSON.stringify(last.docker) === JSON.stringify(last.leased);
          },
          timeoutMs,
          250,
        ).catch((err: unknown) => {
          throw new Error(
            `${String(err)}: Docker has ${JSON.stringify(last.docker)}, the server leases ${JSON.stringify(last.leased)}\n${dl.plugin()?.log().slice(-3000) ?? ''}`,
          );
        });
        return last.docker;
      }

      if (kind !== 'dnsmasq') {
        // busybox sleep is the containers' pid 1 and ignores SIGTERM: a short stop timeout keeps
        // dockerd's shutdown from waiting 10 s for each of them.
        rec.scenario('dockerd restart with --restart always containers leaves no lease orphaned', 'dockerd-restart', kind, async () => {
          await runContainer('always', ['--restart', 'always', '--stop-timeout', '1']);
          await runContainer('once', ['--stop-timeout', '1']);
          await engine().restart();
          await expectEventually(async () => (await docker(['inspect', '--format', '{{.State.Running}}', name('always')])).stdout.trim() === 'true', 30_000);
          const now = await engine().containerOn(name('always'), net());
          await waitForLease(dl.server, activeFor(now.mac, now.ip), 10_000);
          expect(await leasesMatchDocker(15_000)).toEqual([now.ip]);
          await docker(['rm', '-f', name('always'), name('once')]);
        });
      }

      if (kind === 'kea') {
        rec.scenario(
          'dockerd kill -9 with containers running: after the restart Docker and the server agree, and removal frees every lease',
          'dockerd-kill9',
          kind,
          async () => {
            await runContainer('k-always', ['--restart', 'always', '--stop-timeout', '1']);
            const plain = await runContainer('k-plain', ['--stop-timeout', '1']);
            await waitForLease(dl.server, activeFor(plain.mac, plain.ip), 5_000);
            await engine().kill9();
            await engine().start();
            await expectEventually(
              async () => (await docker(['inspect', '--format', '{{.State.Running}}', name('k-always')])).stdout.trim() === 'true',
              60_000,
              250,
            );
            const now = await engine().containerOn(name('k-always'), net());
            expect(await leasesMatchDocker(30_000)).toEqual([now.ip]);
            await docker(['rm', '-f', name('k-always'), name('k-plain')]);
            await expectEventually(async () => (await dl.activeLeases()).length === 0, 10_000);
          },
        );
      }

      rec.scenario('network rm after the containers are gone releases everything', 'network-rm', kind, async () => {
        await engine().removeByPrefix(`${prefix}`);
        await expectEventually(async () => (await docker(['network', 'ls', '-q', '--filter', `name=^${net()}$`])).stdout.trim() === '');
        await expectEventually(async () => (await dl.activeLeases()).length === 0);
      });
    });
  }
}
