/**
 * `npm run demo` as a user meets it: the demo script started by tsx in the foreground of a
 * terminal, stopped with Ctrl-C (SIGINT to its whole process group, which is what a terminal
 * sends) at a step, or killed and cleaned up with `down`. After each, nothing of it may be left:
 * containers, network, plugin daemon and socket, a dockerd it started, the DHCP server, its
 * namespaces and links. Holds the machine's one Docker engine: run under the Docker lock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { docker, ensureEngine } from '../support/docker.js';
import { listNetns } from '../support/lab/namespaces.js';
import { describeLab } from '../support/lab/prereqs.js';
import { run } from '../support/lab/shell.js';
import { BUILT_MAIN } from '../support/plugin-process.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const SOCKET = '/run/docker/plugins/d4d-demo.sock';
const RECORD = '/run/d4d-demo/run.json';
const PREFIX = 'd4ddemo-';
const CONTAINERS = ['web', 'worker', 'db', 'fixed'].map((c) => `${PREFIX}${c}`);

interface Demo {
  readonly proc: ChildProcess;
  output(): string;
  /** Resolves once the output matches `pattern`; rejects if the demo exits first or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

/** The demo (or `down`) as a terminal runs it: tsx's CLI, leader of its own process group. */
function startDemo(args: readonly string[]): Demo {
  const proc = spawn(TSX, ['scripts/docker-demo.ts', ...args], { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  let done = false;
  void exited.then(() => (done = true));
  return {
    proc,
    output: () => out,
    exited,
    async waitFor(pattern, timeoutMs = 180_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (done || Date.now() > deadline) throw new Error(`demo ${done ? 'exited' : 'timed out'} before ${String(pattern)}:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

/** Ctrl-C: SIGINT to every process of the group, as the terminal does. */
function ctrlC(demo: Demo): void {
  process.kill(-(demo.proc.pid ?? 0), 'SIGINT');
}

/**
 * Pids of the running dockerd processes on the default socket, the one the demo uses (other
 * suites start engines of their own with -H on sockets of their own).
 */
async function dockerdPids(): Promise<Set<number>> {
  const { stdout } = await run('ps', ['-eo', 'pid=,args=']);
  const lines = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^\d+ \S*dockerd(\s|$)/.test(l) && !/\s(-H|--host)[\s=]/.test(l));
  return new Set(lines.map((l) => Number.parseInt(l, 10)));
}

/** Command lines of processes that belong to the demo: its worker, daemon and DHCP server. */
async function demoProcesses(): Promise<string[]> {
  const { stdout } = await run('ps', ['-eo', 'pid=,args=']);
  return stdout.split('\n').filter((l) => /--demo-worker|--driver-name d4d-demo|lab-ddemo-/.test(l));
}

describeLab(
  'the Docker demo (npm run demo)',
  () => {
    let engineBefore = false;
    let dockerdsBefore = new Set<number>();

    beforeAll(async () => {
      if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
      engineBefore = await docker(['info'], 10_000).then(
        () => true,
        () => false,
      );
      dockerdsBefore = await dockerdPids();
    });

    afterAll(async () => {
      // Whatever a failed test left: the demo's own clean-up, then the check is the test's job.
      await new Promise<void>((resolve) => startDemo(['down']).exited.then(() => resolve()));
    }, 180_000);

    /** Nothing of the demo left, checked directly (not through the demo's own report). */
    async function expectNothingLeft(): Promise<void> {
      expect((await listNetns()).filter((ns) => ns.startsWith('ddemo-'))).toEqual([]);
      const { stdout: links } = await run('ip', ['-o', 'link', 'show']);
      expect(links.split('\n').filter((l) => /^\d+:\s+ddemo/.test(l))).toEqual([]);
      expect(await demoProcesses()).toEqual([]);
      expect(existsSync(SOCKET)).toBe(false);
      // A dockerd that ran before the demo is still running; one the demo started is gone.
      expect([...(await dockerdPids())].filter((p) => !dockerdsBefore.has(p))).toEqual([]);
      if (engineBefore)
        expect(
          await docker(['info'], 10_000).then(
            () => true,
            () => false,
          ),
        ).toBe(true);
      // Containers and networks: ask an engine (started for the question when none runs).
      const engine = await ensureEngine();
      try {
        const containers = (await docker(['ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n').filter((n) => n.startsWith(PREFIX));
        const networks = (await docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').filter((n) => n.startsWith(PREFIX));
        expect({ containers, networks }).toEqual({ containers: [], networks: [] });
      } finally {
        await engine.stop();
      }
    }

    it('Ctrl-C while it waits removes everything, in order, and reports each part', async () => {
      const demo = startDemo(['kea']);
      await demo.waitFor(/Press Enter or Ctrl-C/);
      const shown = demo.output();
      // Each container beside the server's lease for its MAC, all four agreeing.
      for (const c of CONTAINERS) expect(shown).toMatch(new RegExp(`${c}\\s+(\\S+)\\s+\\S+\\s+\\1, active, ends in \\d+ s`));
      expect(shown).toContain('--dhcp-server 10.231.140.1 probe');
      expect(shown).toContain('/run/d4d-demo/oam-docker-ipam.log');
      // The daemon's JSON log went to its file, not between the steps.
      expect(shown.split('\n').filter((l) => l.trimStart().startsWith('{'))).toEqual([]);
      expect(readFileSync('/run/d4d-demo/oam-docker-ipam.log', 'utf8')).toContain('"msg":"serving IPAM driver');

      ctrlC(demo);
      expect(await demo.exited, demo.output()).toBe(0);
      const teardown = demo.output().slice(shown.length);
      expect(teardown).not.toContain('FAILED');
      const order = [
        ...CONTAINERS.slice()
          .reverse()
          .map((c) => `removed container ${c}`),
        'kea holds no active lease',
        `removed network ${PREFIX}lan`,
        'stopped oam-docker-ipam server',
        ...(engineBefore ? [] : ['stopped dockerd']),
        'stopped kea-dhcp4',
        'removed network namespace ddemo-srv',
      ];
      const positions = order.map((line) => teardown.indexOf(line));
      expect(
        positions.every((p) => p >= 0),
        teardown,
      ).toBe(true);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
      expect(teardown).not.toContain('still removing');
      await expectNothingLeft();
    });

    it('Ctrl-C while containers start removes what had started by then', async () => {
      const demo = startDemo(['kea']);
      await demo.waitFor(/^4\. docker network create/m);
      ctrlC(demo);
      expect(await demo.exited, demo.output()).toBe(0);
      expect(demo.output()).not.toContain('FAILED');
      expect(demo.output()).toContain(`removed network ${PREFIX}lan`);
      expect(demo.output()).not.toContain('Press Enter');
      await expectNothingLeft();
    });

    it('after a killed run, down removes what was left and says only that; a second down finds nothing', async () => {
      const demo = startDemo(['kea']);
      await demo.waitFor(/Press Enter or Ctrl-C/);
      const record = JSON.parse(readFileSync(RECORD, 'utf8')) as { worker: { pid: number }; dockerd?: { pid: number } };
      process.kill(record.worker.pid, 'SIGKILL');
      await demo.exited;
      expect(demo.output()).toContain('the demo was killed (SIGKILL)');

      const down = startDemo(['down']);
      expect(await down.exited, down.output()).toBe(0);
      const said = down
        .output()
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('Removing what'));
      const required = [
        ...CONTAINERS.map((c) => `removed container ${c}`),
        `removed network ${PREFIX}lan`,
        expect.stringMatching(/^stopped oam-docker-ipam server \(pid \d+\)$/),
        ...(record.dockerd === undefined ? [] : [`stopped dockerd (pid ${record.dockerd.pid}), which the demo had started`]),
        'removed network namespace ddemo-srv',
        'removed link ddemoh',
        "removed the demo daemon's lease table /run/d4d-demo/state",
      ];
      expect(said).toEqual(expect.arrayContaining(required));
      // Kea logs to a pipe of the killed demo, so it may have died of SIGPIPE already: then down
      // must not claim to have stopped it.
      const extra = said.length - required.length;
      expect(extra, said.join('\n')).toBeLessThanOrEqual(1);
      if (extra === 1) expect(said).toContainEqual(expect.stringMatching(/^stopped kea-dhcp4 \(pid \d+\), which ran in the lab's namespace$/));
      expect(record.dockerd === undefined).toBe(engineBefore);
      await expectNothingLeft();

      const again = startDemo(['down']);
      expect(await again.exited).toBe(0);
      expect(again.output()).toContain('nothing to remove');
      expect(again.output()).not.toMatch(/removed|stopped/);
    });
  },
  { requires: ['dockerd', 'busybox'] },
);
