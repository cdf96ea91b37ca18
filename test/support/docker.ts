/**
 * A real Docker engine for end-to-end tests: uses a running dockerd, or starts one (and stops
 * it afterwards); builds the `local/busybox` test image from busybox-static, since no image can
 * be pulled here. Uses /usr/bin/docker, the engine's own client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, symlink, copyFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunResult } from './lab/shell.js';

export const DOCKER = '/usr/bin/docker';
export const TEST_IMAGE = 'local/busybox:latest';

export function docker(args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return run(DOCKER, args, { timeoutMs, env: { ...process.env, DOCKER_API_VERSION: '1.41' } });
}

async function engineUp(): Promise<boolean> {
  return docker(['info', '--format', '{{.ServerVersion}}'], 10_000).then(
    () => true,
    () => false,
  );
}

export interface Engine {
  /** Whether this process started dockerd (and so may restart it). */
  readonly ours: boolean;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The Docker engine to test against; starts dockerd when none answers. */
export async function ensureEngine(): Promise<Engine> {
  if (await engineUp()) return { ours: false, restart: () => Promise.reject(new Error('dockerd was not started by the tests')), stop: async () => undefined };
  let proc: ChildProcess | undefined;
  let log = '';
  const start = async (): Promise<void> => {
    proc = spawn('dockerd', ['--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (c: Buffer) => (log += c.toString()));
    proc.stderr?.on('data', (c: Buffer) => (log += c.toString()));
    const deadline = Date.now() + 60_000;
    while (!(await engineUp())) {
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`dockerd did not start:\n${log.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const stop = async (): Promise<void> => {
    const p = proc;
    if (p === undefined || p.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    ours: true,
    async restart() {
      await stop();
      await start();
    },
    stop,
  };
}

/** Builds `local/busybox` from the static busybox binary unless it exists. */
export async function ensureTestImage(): Promise<void> {
  if (
    await docker(['image', 'inspect', TEST_IMAGE]).then(
      () => true,
      () => false,
    )
  )
    return;
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
  if (busybox === undefined) throw new Error('busybox is not installed (apt-get install busybox-static)');
  const root = await mkdtemp(join(tmpdir(), 'd4d-image-'));
  try {
    await mkdir(join(root, 'bin'));
    await copyFile(busybox, join(root, 'bin', 'busybox'));
    for (const applet of ['sh', 'ip', 'sleep', 'cat', 'ping', 'ifconfig', 'true']) await symlink('busybox', join(root, 'bin', applet));
    await run('sh', ['-c', `tar -C ${root} -c . | ${DOCKER} import - ${TEST_IMAGE}`], { timeoutMs: 60_000 });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Removes containers and networks whose names start with `prefix` (leftovers of a crashed run). */
export async function removeByPrefix(prefix: string): Promise<void> {
  const ids = (await docker(['ps', '-aq', '--filter', `name=^${prefix}`])).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) await docker(['rm', '-f', ...ids]);
  const nets = (await docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').filter((n) => n.startsWith(prefix));
  for (const n of nets) await docker(['network', 'rm', n]).catch(() => undefined);
}

export interface ContainerInfo {
  ip: string;
  mac: string;
}

/** The address and MAC a container has on `network`. */
export async function containerOn(name: string, network: string): Promise<ContainerInfo> {
  const out = await docker([
    'inspect',
    '--format',
    `{{(index .NetworkSettings.Networks "${network}").IPAddress}} {{(index .NetworkSettings.Networks "${network}").MacAddress}}`,
    name,
  ]);
  const [ip, mac] = out.stdout.trim().split(' ');
  return { ip: ip ?? '', mac: (mac ?? '').toLowerCase() };
}
