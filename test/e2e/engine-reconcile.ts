/**
 * Reconciliation with a real Docker engine and Kea: leases Docker let go while the plugin could
 * not hear it are released, the others kept; nothing is released while Docker is unreachable
 * or in a dry run; a dockerd restart with a RequestAddress in flight leaves no lease behind.
 * Kea's lease time (120 s) outlasts every phase, so a free lease here was RELEASEd, not expired.
 * The plugin reads the engine under test through its own socket (--docker-socket).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readLeaseTable } from '../support/netns-daemon.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { expectEventually } from '../support/eventually.js';
import { TEST_IMAGE, type DockerEngine } from '../support/docker-engines.js';
import type { resultRecorder } from '../support/docker-results.js';
import { netnsPids } from '../support/lab/namespaces.js';
import { createLab, type Lab } from '../support/lab/netns.js';
import { signalPid } from '../support/lab/processes.js';
import { createServer, waitForLease, type DhcpServerFixture, type ServerLease } from '../support/lab/servers.js';
import { BUILT_MAIN, startPlugin, type PluginProcess } from '../support/plugin-process.js';

type Recorder = ReturnType<typeof resultRecorder>;

const PLUGIN_DIR = '/run/docker/plugins';
const LAN = { octet: 97 };
const GRACE_S = 3;

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BUILT_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export function reconcileSuite(engine: () => DockerEngine, rec: Recorder): void {
  describe('reconciliation with Docker', () => {
    let lab: Lab;
    let server: DhcpServerFixture;
    let stateDir: string;
    let plugin: PluginProcess | undefined;
    let PREFIX = '';
    let DRIVER = '';
    let NET = '';
    const docker = (args: readonly string[], timeoutMs?: number) => engine().docker(args, timeoutMs);
    const containerOn = (c: string, net: string) => engine().containerOn(c, net);
    const name = (c: string): string => `${PREFIX}${c}`;
    const common = (dockerSocket = engine().socket): string[] => [
      '--dhcp-server',
      lab.serverIp,
      '--driver-name',
      DRIVER,
      '--state-dir',
      stateDir,
      '--plugin-dir',
      PLUGIN_DIR,
      '--docker-socket',
      dockerSocket,
      '--config',
      '/dev/null',
    ];
    const held: Record<string, { ip: string; mac: string }> = {};

    async function startDriver(extra: string[], dockerSocket?: string): Promise<void> {
      plugin = await startPlugin([...common(dockerSocket), ...extra], join(PLUGIN_DIR, `${DRIVER}.sock`));
    }
    const activeFor = async (ip: string): Promise<ServerLease | undefined> => (await server.leases()).find((l) => l.active && l.ip === ip);
    async function runContainer(c: string): Promise<void> {
      await docker(['run', '-d', '--name', name(c), '--stop-timeout', '1', '--net', NET, TEST_IMAGE, 'sleep', '3600']);
      held[c] = await containerOn(name(c), NET);
      await waitForLease(server, (l) => l.active && l.ip === held[c]?.ip && l.mac === held[c]?.mac, 5_000);
    }

    beforeAll(async () => {
      if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
      const tag = engine().id.slice(-2);
      PREFIX = `d4d${tag}rc-`;
      DRIVER = `d4drc${tag}`;
      NET = `${PREFIX}net`;
      await engine().removeByPrefix(PREFIX);
      lab = await createLab({ name: `r${tag}`, octet: LAN.octet });
      server = createServer('kea', lab, { leaseTimeSeconds: 120, rangeFirst: 20, rangeLast: 239 });
      await server.start();
      stateDir = await mkdtemp(join(tmpdir(), 'd4d-reconcile-'));
      await startDriver(['--reconcile-interval', '1', '--reconcile-grace', String(GRACE_S)]);
      await docker([
        'network',
        'create',
        '-d',
        'macvlan',
        '--ipam-driver',
        DRIVER,
        '--subnet',
        `${lab.subnet}/24`,
        '--gateway',
        lab.serverIp,
        '-o',
        `parent=${lab.hostIf}`,
        NET,
      ]);
      for (const c of ['c1', 'c2', 'c3']) await runContainer(c);
    }, 120_000);

    afterAll(async () => {
      await engine()
        .removeByPrefix(PREFIX)
        .catch(() => undefined);
      await plugin?.stop();
      await server?.stop();
      await lab?.destroy();
      if (stateDir !== undefined) await rm(stateDir, { recursive: true, force: true });
    }, 90_000);

    rec.scenario('keeps the leases of running containers across automatic runs', 'reconcile-keeps', 'kea', async () => {
      await new Promise((r) => setTimeout(r, (GRACE_S + 2) * 1000));
      for (const c of ['c1', 'c2', 'c3']) expect(await activeFor(held[c]?.ip ?? ''), c).toBeDefined();
      expect(plugin?.log()).not.toContain('lease released');
    });

    rec.scenario(
      'containers removed while the plugin is dead keep their leases until the plugin is back',
      'reconcile-plugin-dead',
      'kea',
      async () => {
        await plugin?.stop('SIGKILL');
        // dockerd retries the ReleaseAddress against the dead socket (~15 s), gives up, removes them.
        const rm = await docker(['rm', '-f', name('c2'), name('c3')], 120_000);
        expect(rm.stdout).toContain(name('c2'));
        for (const c of ['c2', 'c3']) expect(await activeFor(held[c]?.ip ?? ''), `${c} still leased on the server`).toBeDefined();
      },
      150_000,
    );

    rec.scenario('Docker unreachable: nothing is released, however long', 'reconcile-docker-unreachable', 'kea', async () => {
      await startDriver(['--reconcile-interval', '1', '--reconcile-grace', '1'], join(stateDir, 'no-docker.sock'));
      await new Promise((r) => setTimeout(r, 4_000));
      for (const c of ['c1', 'c2', 'c3']) expect(await activeFor(held[c]?.ip ?? ''), c).toBeDefined();
      expect(plugin?.log()).toContain('reconciliation skipped, nothing released');
      expect(plugin?.log()).not.toContain('lease released');
      await plugin?.stop();
    });

    rec.scenario('reconcile --dry-run lists what it would release and releases nothing', 'reconcile-dry-run', 'kea', async () => {
      await startDriver(['--reconcile-interval', '0', '--reconcile-grace', String(GRACE_S)]);
      const first = await cli([...common(), 'reconcile', '--dry-run']);
      expect(first.code, first.stderr).toBe(0);
      // First sighting: both are within the grace.
      expect(first.stdout).toMatch(new RegExp(`${held.c2?.ip}\\s.*kept until`));
      expect(first.stdout).toContain(
        'would release 0 leases; 2 missing from Docker for less than the grace (3 s), kept for now; 1 in use by Docker endpoints.',
      );
      await new Promise((r) => setTimeout(r, GRACE_S * 1000 + 200));
      const second = await cli([...common(), 'reconcile', '--dry-run']);
      expect(second.code, second.stderr).toBe(0);
      for (const c of ['c2', 'c3'])
        expect(second.stdout).toMatch(new RegExp(`${NET}\\s+${lab.subnet}/24\\s+${held[c]?.mac}\\s+${held[c]?.ip}\\s+no endpoint\\s.*would release`));
      expect(second.stdout).not.toContain(held.c1?.ip ?? 'missing');
      expect(second.stdout).toContain('would release 2 leases');
      for (const c of ['c1', 'c2', 'c3']) expect(await activeFor(held[c]?.ip ?? ''), c).toBeDefined();
      const table = (await readLeaseTable(join(stateDir, `leases-${DRIVER}.journal`))).map((l) => l.ip);
      for (const c of ['c2', 'c3']) expect(table).toContain(held[c]?.ip ?? 'missing');
      await plugin?.stop();
    });

    rec.scenario(
      "after the restart, automatic reconciliation frees exactly the removed containers' leases",
      'reconcile-releases',
      'kea',
      async () => {
        await startDriver(['--reconcile-interval', '1', '--reconcile-grace', String(GRACE_S)]);
        await expectEventually(
          async () => (await activeFor(held.c2?.ip ?? '')) === undefined && (await activeFor(held.c3?.ip ?? '')) === undefined,
          (GRACE_S + 10) * 1000,
          250,
        );
        expect(await activeFor(held.c1?.ip ?? '')).toBeDefined();
        // Kea frees the address on the RELEASE; the daemon says so once the lease table has
        // the release too, a moment later.
        for (const c of ['c2', 'c3']) {
          const said = new RegExp(`"mac":"${held[c]?.mac}","ip":"${held[c]?.ip}","reason":"no-endpoint".*lease released: no Docker endpoint has its address`);
          await expectEventually(async () => said.test(plugin?.log() ?? ''), 5_000, 50).catch((err: unknown) => {
            throw new Error(`${String(err)}: the release of ${c} was not logged; log:\n${plugin?.log().slice(-3000)}`);
          });
        }
        const table = (await readLeaseTable(join(stateDir, `leases-${DRIVER}.journal`))).map((l) => l.ip);
        expect(table).toContain(held.c1?.ip ?? 'missing');
        for (const c of ['c2', 'c3']) expect(table).not.toContain(held[c]?.ip ?? 'missing');
      },
      60_000,
    );

    rec.scenario(
      'dockerd restarted while a RequestAddress waits for DHCP: no lease is left that Docker does not have',
      'reconcile-dockerd-restart-in-flight',
      'kea',
      async () => {
        // A container that comes back after the restart, so Docker has an endpoint to keep.
        await docker(['run', '-d', '--name', name('always'), '--restart', 'always', '--stop-timeout', '1', '--net', NET, TEST_IMAGE, 'sleep', '3600']);
        const inFlightMac = '02:d4:72:00:00:04';
        const kea = [];
        for (const pid of await netnsPids(lab.serverNs)) {
          if ((await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === 'kea-dhcp4') kea.push(pid);
        }
        expect(kea.length).toBeGreaterThan(0);
        for (const pid of kea) signalPid(pid, 'SIGSTOP');
        let stopped = true;
        try {
          // The start hangs in RequestAddress: the DHCP server does not answer.
          const run = docker(['run', '-d', '--name', name('c4'), '--mac-address', inFlightMac, '--net', NET, TEST_IMAGE, 'sleep', '3600'], 120_000).catch(
            (err: unknown) => err,
          );
          await new Promise((r) => setTimeout(r, 3_000));
          // dockerd goes down with the call unanswered (its connection to the plugin closes when
          // the process exits, which removes its pid file); only then does the server answer: a
          // retransmitted DISCOVER gets a lease for a caller that has gone. The server must be
          // back before dockerd restarts the --restart always container (it blocks start-up).
          const down = engine().exited();
          const restarting = engine().restart();
          await down;
          for (const pid of kea) signalPid(pid, 'SIGCONT');
          stopped = false;
          await restarting;
          await run;
        } finally {
          if (stopped) for (const pid of kea) signalPid(pid, 'SIGCONT');
        }
        // What Docker has: the --restart always container (the others were stopped with dockerd).
        const inDocker = async (): Promise<string[]> => {
          const out = await docker(['network', 'inspect', NET, '--format', '{{range .Containers}}{{.IPv4Address}} {{end}}']);
          return out.stdout
            .trim()
            .split(/\s+/)
            .filter(Boolean)
            .map((a) => a.split('/')[0] as string);
        };
        await expectEventually(async () => (await inDocker()).length === 1, 60_000, 500).catch(async (err: unknown) => {
          const ps = await docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}']);
          const state = await docker(['inspect', '--format', '{{.State.Status}} {{.State.Error}} restarts={{.RestartCount}}', name('always')]);
          throw new Error(`${String(err)}: the --restart always container is not back: ${state.stdout}\n${ps.stdout}\n${plugin?.log().slice(-4000)}`);
        });
        await expectEventually(
          async () => {
            const docker = (await inDocker()).sort();
            const leased = (await server.leases())
              .filter((l) => l.active)
              .map((l) => l.ip)
              .sort();
            return JSON.stringify(docker) === JSON.stringify(leased);
          },
          (GRACE_S + 30) * 1000,
          500,
        ).catch(async (err: unknown) => {
          throw new Error(
            `${String(err)}: Docker has ${JSON.stringify(await inDocker())}, server leases ${JSON.stringify((await server.leases()).filter((l) => l.active))}\n${plugin?.log().slice(-3000)}`,
          );
        });
        expect((await inDocker()).length).toBe(1);
        expect((await server.leases()).find((l) => l.active && l.mac === inFlightMac)).toBeUndefined();
        // Which way it went, for the record: leased after the caller had gone, then released.
        const bound = plugin?.log().includes(`"event":"bound","pool"`) && new RegExp(`"event":"bound"[^\n]*"mac":"${inFlightMac}"`).test(plugin?.log() ?? '');
        console.info(`[${engine().id}] in-flight request: ${bound ? 'leased after dockerd had gone, then released' : 'never leased'}`);
        if (process.env.D4D_TEST_LOG === 'debug') console.info(plugin?.log().slice(-6000));
      },
      240_000,
    );
  });
}
