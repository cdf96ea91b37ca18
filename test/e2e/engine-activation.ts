/**
 * The plugin socket held by systemd (systemd/oam-docker-ipam.socket), with a real engine: while
 * the daemon is down for longer than Docker's ~15 s of retries, `docker rm -f` and `docker run`
 * wait in the socket instead of failing or dropping their call; once the daemon is back, the
 * removed container's lease is released and the new one has its own. Without the socket Docker
 * gives up on both (the reconcile suite shows the lease then waits for reconciliation).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { type ActivatedPlugin, holdPluginSocket } from '../support/activated-plugin.js';
import { CLEANUP_TIMEOUT_MS, type DockerEngine, TEST_IMAGE } from '../support/docker-engines.js';
import { activeFor, PLUGIN_DIR, startDriverLab, type DriverLab } from '../support/docker-lab.js';
import type { resultRecorder } from '../support/docker-results.js';
import { expectEventually } from '../support/eventually.js';
import { waitForLease } from '../support/lab/servers.js';

type Recorder = ReturnType<typeof resultRecorder>;

const LAB = { octet: 98 };
/** Longer than Docker's retries of a call whose dial fails (1 + 2 + 4 + 8 s). */
const DOWN_MS = 20_000;

export function activationSuite(engine: () => DockerEngine, rec: Recorder): void {
  describe('the plugin socket held by systemd', () => {
    let dl: DriverLab;
    let held: ActivatedPlugin | undefined;
    let prefix = '';
    const name = (c: string): string => `${prefix}${c}`;
    const net = (): string => `${prefix}net`;
    const docker = (args: readonly string[], timeoutMs?: number) => engine().docker(args, timeoutMs);

    beforeAll(async () => {
      const e = engine();
      const tag = e.id.slice(-2);
      prefix = `d4d${tag}act-`;
      await e.removeByPrefix(prefix);
      dl = await startDriverLab({
        engine: e,
        name: `a${tag}`,
        octet: LAB.octet,
        kind: 'kea',
        driver: `d4da${tag}`,
        server: { leaseTimeSeconds: 600, rangeFirst: 20, rangeLast: 239 },
      });
      // The lab's own plugin binds the socket itself: this suite's is systemd's.
      await dl.plugin()?.stop();
      held = await holdPluginSocket(`${PLUGIN_DIR}/${dl.driver}.sock`, dl.commonArgs());
      await held.start();
      await docker([...dl.macvlanArgs(), net()]);
    }, 90_000);

    afterAll(async () => {
      // A scenario that failed while the daemon was down: Docker's removals below would wait in
      // the socket for it (the test holder, unlike systemd, starts it only when asked).
      if (held !== undefined && !held.running())
        await held.start().catch((err: unknown) => console.warn(`[${engine().id}] plugin start in cleanup: ${String(err)}`));
      await engine()
        .removeByPrefix(prefix)
        .catch((err: unknown) => console.warn(`[${engine().id}] cleanup of ${prefix}: ${String(err)}`));
      await held?.close();
      await dl?.destroy();
    }, CLEANUP_TIMEOUT_MS);

    rec.scenario(
      'docker rm -f and docker run while the plugin is down past Docker retries: both wait in the socket, and nothing is lost',
      'socket-activation-restart',
      'kea',
      async () => {
        await docker(['run', '-d', '--name', name('old'), '--net', net(), TEST_IMAGE, 'sleep', '3600']);
        const old = await engine().containerOn(name('old'), net());
        await waitForLease(dl.server, activeFor(old.mac, old.ip), 5_000);

        expect(await held?.stop()).toBe('0');
        const rm = docker(['rm', '-f', name('old')], 120_000);
        const run = docker(['run', '-d', '--name', name('new'), '--net', net(), TEST_IMAGE, 'sleep', '3600'], 120_000);
        const settled: string[] = [];
        void rm.then(
          () => settled.push('rm'),
          (err: unknown) => settled.push(`rm failed: ${String(err)}`),
        );
        void run.then(
          () => settled.push('run'),
          (err: unknown) => settled.push(`run failed: ${String(err)}`),
        );
        await sleep(DOWN_MS);
        // Past the point where Docker stops retrying a dial, nothing has failed: the run waits
        // for its address (the removal's release may wait too, or be under way in dockerd).
        expect(settled.filter((s) => s.includes('failed'))).toEqual([]);
        expect(settled).not.toContain('run');

        await held?.start();
        await rm;
        await run;
        const fresh = await engine().containerOn(name('new'), net());
        await waitForLease(dl.server, activeFor(fresh.mac, fresh.ip), 5_000);
        await expectEventually(async () => !(await dl.activeLeases()).some((l) => l.ip === old.ip && l.mac === old.mac), 10_000);
        expect((await dl.activeLeases()).map((l) => l.ip)).toEqual([fresh.ip]);
        await docker(['rm', '-f', name('new')]);
        await expectEventually(async () => (await dl.activeLeases()).length === 0, 10_000);
      },
      180_000,
    );
  });
}
