/**
 * Docker Compose v2 with d4d, using the user's recipe in docs/compose.yaml as it is (a network
 * with `driver: macvlan`, `driver_opts.parent` and `ipam: {driver, config: [{subnet, gateway}]}`),
 * with only the image swapped for the local test image: `up -d --scale web=50`, scale down to 10,
 * `down`. While a replica runs, its address is distinct and active in Kea's lease database for
 * its MAC; once it is gone, so is its lease.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { COMPOSE_RECIPE, writeTestImageOverride } from '../support/compose-recipe.js';
import { CLEANUP_TIMEOUT_MS, type DockerEngine } from '../support/docker-engines.js';
import { startDriverLab, type DriverLab } from '../support/docker-lab.js';
import type { resultRecorder } from '../support/docker-results.js';
import { expectEventually } from '../support/eventually.js';

type Recorder = ReturnType<typeof resultRecorder>;

const LAN = { octet: 95 };

export function composeSuite(engine: () => DockerEngine, rec: Recorder): void {
  describe('Compose', () => {
    let dl: DriverLab;
    let dir = '';
    let project = '';
    /** Set once the scenario's own `compose down` has finished. */
    let downDone = false;
    const compose = (args: string[], timeoutMs = 300_000) =>
      engine().compose(['-p', project, '-f', COMPOSE_RECIPE, '-f', join(dir, 'test-image.yaml'), ...args], {
        env: { LAN_PARENT: dl.lab.hostIf, LAN_SUBNET: `${dl.lab.subnet}/24`, LAN_GATEWAY: dl.lab.serverIp, D4D_DRIVER: dl.driver },
        timeoutMs,
      });

    /** The replicas running now: name, address and MAC on the project's network. */
    async function replicas(): Promise<Array<{ name: string; ip: string; mac: string }>> {
      const ids = (await engine().docker(['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`])).stdout.split('\n').filter(Boolean);
      if (ids.length === 0) return [];
      const net = `${project}_lan`;
      const out = await engine().docker([
        'inspect',
        '--format',
        `{{.Name}} {{(index .NetworkSettings.Networks "${net}").IPAddress}} {{(index .NetworkSettings.Networks "${net}").MacAddress}}`,
        ...ids,
      ]);
      return out.stdout
        .trim()
        .split('\n')
        .map((line) => {
          const [n, ip, mac] = line.trim().split(' ');
          return { name: (n ?? '').replace(/^\//, ''), ip: ip ?? '', mac: (mac ?? '').toLowerCase() };
        });
    }

    /** Every replica's address distinct and active for its MAC in the server's database, and nothing else active. */
    async function expectLeasesAreReplicas(count: number): Promise<void> {
      const running = await replicas();
      expect(running).toHaveLength(count);
      expect(new Set(running.map((r) => r.ip)).size).toBe(count);
      let last = '';
      await expectEventually(
        async () => {
          const active = await dl.activeLeases();
          const leased = new Map(active.map((l) => [l.ip, l.mac]));
          const missing = running.filter((r) => leased.get(r.ip) !== r.mac);
          last = `${missing.length} replicas without their lease (${JSON.stringify(missing.slice(0, 3))}), ${active.length} active leases for ${count} replicas`;
          return missing.length === 0 && active.length === count;
        },
        15_000,
        250,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}: ${last}`);
      });
    }

    beforeAll(async () => {
      const e = engine();
      const tag = e.id.slice(-2);
      project = `d4d${tag}compose`;
      await e.removeByPrefix(project);
      dl = await startDriverLab({
        engine: e,
        name: `c${tag}`,
        octet: LAN.octet,
        kind: 'kea',
        driver: `d4dc${tag}`,
        server: { leaseTimeSeconds: 600, rangeFirst: 20, rangeLast: 239 },
      });
      dir = await mkdtemp(join(tmpdir(), 'd4d-compose-'));
      // No image can be pulled here: the recipe's service runs the local busybox image instead.
      await writeTestImageOverride(dir);
    }, 90_000);

    afterAll(async () => {
      // Only when the scenario did not get to its own `down`; removeByPrefix then removes by
      // name whatever is left, so a `down` that does not finish in time is reported and passed.
      if (dir !== '' && !downDone) {
        await compose(['down', '-t', '0'], 60_000).catch((err: unknown) => console.warn(`[${engine().id}] compose down in cleanup: ${String(err)}`));
      }
      await engine()
        .removeByPrefix(project)
        .catch((err: unknown) => console.warn(`[${engine().id}] cleanup of ${project}: ${String(err)}`));
      await dl?.destroy();
      if (dir !== '') await rm(dir, { recursive: true, force: true });
    }, CLEANUP_TIMEOUT_MS);

    rec.scenario(
      'docs/compose.yaml: up --scale web=50, scale to 10, down; every replica has its own active lease, gone replicas none',
      'compose-scale',
      'kea',
      async () => {
        const up = Date.now();
        await compose(['up', '-d', '--scale', 'web=50']);
        const upMs = Date.now() - up;
        await expectLeasesAreReplicas(50);
        const gw = (
          await engine().docker([
            'network',
            'inspect',
            `${project}_lan`,
            '--format',
            '{{.IPAM.Driver}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Options.parent}}',
          ])
        ).stdout.trim();
        expect(gw).toBe(`${dl.driver} ${dl.lab.subnet}/24 ${dl.lab.serverIp} ${dl.lab.hostIf}`);
        const before = await replicas();

        await compose(['up', '-d', '--scale', 'web=10', '-t', '0']);
        await expectLeasesAreReplicas(10);
        const kept = new Set((await replicas()).map((r) => r.ip));
        const active = new Set((await dl.activeLeases()).map((l) => l.ip));
        for (const gone of before.filter((r) => !kept.has(r.ip))) expect(active.has(gone.ip), `${gone.name} ${gone.ip}`).toBe(false);

        await compose(['down', '-t', '0']);
        downDone = true;
        expect(await replicas()).toEqual([]);
        await expectEventually(async () => (await dl.activeLeases()).length === 0, 15_000);
        expect((await engine().docker(['network', 'ls', '-q', '--filter', `name=^${project}_lan$`])).stdout.trim()).toBe('');
        console.info(`[${engine().id}] compose up --scale web=50: ${(upMs / 1000).toFixed(1)} s`);
        return `Compose ${engine().versions.compose}`;
      },
      400_000,
    );
  });
}
