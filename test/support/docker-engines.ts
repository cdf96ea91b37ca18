/**
 * The Docker engines the end-to-end suite runs against, each a dockerd the tests start on its
 * own socket, data root, exec root and cgroup parent, so that two engines (and a system dockerd)
 * never share state:
 *
 * - `docker20`: Debian bookworm's docker.io 20.10 (`/usr/sbin/dockerd`, `/usr/bin/docker` at API
 *   1.41), with the system's containerd 1.6 and runc 1.1.
 * - `docker28`: docker.io 28.5.2, containerd 2.1.9 and Compose v2 2.40.3 unpacked from Debian's
 *   unstable suite by scripts/docker28.sh (or trixie's 26.1.5 when unstable lost them: its
 *   engine.env says so, and the suite prints it), with bookworm's runc 1.1 and docker-init.
 *
 * Both run with `--bridge none --iptables=false`: macvlan needs neither, and the host's firewall
 * is left alone. Compose is the v28 client's plugin, pointed at either engine.
 *
 * A crashed run leaves a dockerd, its containerd and shims, container processes, mounts and an
 * exec root behind: {@link startEngine} removes what an earlier run of the same engine left, found
 * by its pid file, its exec root and its cgroup parent, before it starts a new one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { expectEventually } from './eventually.js';
import { describeLab } from './lab/prereqs.js';
import { pidAlive, signalPid } from './lab/processes.js';
import { run, type RunResult } from './lab/shell.js';

export type EngineId = 'docker20' | 'docker28';
export const ENGINE_IDS: readonly EngineId[] = ['docker20', 'docker28'];

export const TEST_IMAGE = 'local/busybox:latest';
/** Where scripts/docker28.sh unpacks the current engine. */
export const DOCKER28_DIR = process.env.D4D_DOCKER28_DIR ?? '/var/lib/d4d-lab/docker28';

/** What an engine is, as the suite prints and records it. */
export interface EngineVersions {
  /** `20.10.24`, `28.5.2`. */
  readonly docker: string;
  readonly api: string;
  readonly containerd: string;
  readonly runc: string;
  /** Compose v2 plugin version (the v28 client's, used against either engine). */
  readonly compose: string;
  /** Debian suite the engine came from. */
  readonly suite: string;
  /** Why the current engine is not the pinned one (trixie fallback), or ''. */
  readonly fallback: string;
}

interface EngineSpec {
  readonly id: EngineId;
  readonly dockerd: string;
  readonly client: string;
  /** Prepended to PATH for dockerd: where its containerd and shim are. */
  readonly pathPrefix: readonly string[];
  /** Client environment on top of DOCKER_HOST (20.10's daemon refuses newer API versions). */
  readonly clientEnv: Readonly<Record<string, string>>;
  readonly extraFlags: readonly string[];
  readonly suite: string;
}

function spec(id: EngineId): EngineSpec {
  if (id === 'docker20') {
    return {
      id,
      dockerd: '/usr/sbin/dockerd',
      client: '/usr/bin/docker',
      pathPrefix: [],
      clientEnv: { DOCKER_API_VERSION: '1.41' },
      extraFlags: [],
      suite: 'bookworm',
    };
  }
  const env = readEngineEnv();
  return {
    id,
    dockerd: join(DOCKER28_DIR, 'usr/sbin/dockerd'),
    client: join(DOCKER28_DIR, 'usr/bin/docker'),
    pathPrefix: [join(DOCKER28_DIR, 'usr/bin')],
    clientEnv: {},
    extraFlags: ['--ip6tables=false'],
    suite: env.D4D_ENGINE_SUITE ?? 'unknown',
  };
}

/** scripts/docker28.sh's record of what it installed. */
function readEngineEnv(): Record<string, string> {
  const file = join(DOCKER28_DIR, 'engine.env');
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined) out[m[1]] = (m[2] ?? '').replace(/^'(.*)'$/, '$1');
  }
  return out;
}

/** Why engine `id` cannot run here, or undefined when it can. */
export function engineMissing(id: EngineId): string | undefined {
  const s = spec(id);
  if (!existsSync(s.dockerd) || !existsSync(s.client)) {
    return id === 'docker28'
      ? `Docker 28 is not installed in ${DOCKER28_DIR} (run scripts/setup.sh as root)`
      : 'docker.io is not installed (apt-get install docker.io)';
  }
  if (!existsSync(composePlugin())) return `the Compose v2 plugin is missing from ${DOCKER28_DIR} (run scripts/setup.sh as root)`;
  return undefined;
}

function composePlugin(): string {
  return join(DOCKER28_DIR, 'usr/libexec/docker/cli-plugins/docker-compose');
}

/** Paths of one engine's own state: nothing is shared with the system's dockerd or the other engine. */
function paths(id: EngineId): EnginePaths {
  return {
    socket: `/run/d4d-${id}.sock`,
    dataRoot: `/var/lib/d4d-${id}`,
    execRoot: `/run/d4d-${id}`,
    pidFile: `/run/d4d-${id}.pid`,
    cgroupParent: `d4d-${id}`,
  };
}

export interface ContainerInfo {
  ip: string;
  mac: string;
}

/** A dockerd started by the tests. */
export interface DockerEngine {
  readonly id: EngineId;
  readonly socket: string;
  readonly versions: EngineVersions;
  /** `Docker 28.5.2`, for titles and logs. */
  readonly label: string;
  /** The engine's own client against this engine. */
  docker(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** `docker compose …` (the v28 client and its Compose plugin) against this engine. */
  compose(args: readonly string[], options?: { cwd?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<RunResult>;
  /** SIGTERM, wait for the exit (containers with a restart policy take a few seconds), start again. */
  restart(): Promise<void>;
  /** SIGKILL dockerd (its containerd and the containers survive it), wait for the exit. */
  kill9(): Promise<void>;
  /** Start after a stop or kill9. */
  start(): Promise<void>;
  /** Resolves once dockerd has exited (its pid file is gone). */
  exited(): Promise<void>;
  stop(): Promise<void>;
  /** Builds `local/busybox` from busybox-static unless this engine has it. */
  ensureTestImage(): Promise<void>;
  /** Removes containers and networks whose names start with `prefix` (leftovers of a crashed run). */
  removeByPrefix(prefix: string): Promise<void>;
  /** The address and MAC a container has on `network`. */
  containerOn(name: string, network: string): Promise<ContainerInfo>;
  /** dockerd's log so far, for failure messages. */
  log(): string;
}

/**
 * A suite's clean-up (its containers removed, each removal a ReleaseAddress through the plugin,
 * then its networks, plugin and DHCP server) under CI, where the integration tests run beside
 * the engines on two cores: one took over two minutes there, against seconds alone.
 */
export const REMOVE_TIMEOUT_MS = 180_000;
export const CLEANUP_TIMEOUT_MS = 240_000;

/** Where a lab engine keeps its socket, state and processes. */
export interface EnginePaths {
  readonly socket: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly pidFile: string;
  readonly cgroupParent: string;
}

/** dockerd's command line for a lab engine: its own socket and roots, no bridge, no iptables (macvlan needs neither). */
export function dockerdArgs(p: EnginePaths, extraFlags: readonly string[]): string[] {
  return [
    '-H',
    `unix://${p.socket}`,
    '--data-root',
    p.dataRoot,
    '--exec-root',
    p.execRoot,
    '--pidfile',
    p.pidFile,
    '--cgroup-parent',
    p.cgroupParent,
    '--bridge',
    'none',
    '--iptables=false',
    ...extraFlags,
    '--log-level',
    'warn',
  ];
}

/** Start engine `id` after removing whatever an earlier run of it left behind. */
export async function startEngine(id: EngineId): Promise<DockerEngine> {
  const missing = engineMissing(id);
  if (missing !== undefined) throw new Error(missing);
  const s = spec(id);
  const p = paths(id);
  await removeEngineLeftovers(id);
  const configDir = await mkdtemp(join(tmpdir(), `d4d-${id}-cli-`));
  await mkdir(join(configDir, 'cli-plugins'));
  await symlink(composePlugin(), join(configDir, 'cli-plugins', 'docker-compose'));
  const clientEnv = { ...s.clientEnv, DOCKER_HOST: `unix://${p.socket}`, DOCKER_CONFIG: configDir };
  const docker = (args: readonly string[], timeoutMs = 60_000): Promise<RunResult> => run(s.client, args, { timeoutMs, env: clientEnv });

  let proc: ChildProcess | undefined;
  let log = '';
  const up = (): Promise<boolean> =>
    docker(['version', '--format', '{{.Server.Version}}'], 10_000).then(
      () => true,
      () => false,
    );
  const start = async (): Promise<void> => {
    await mkdir(p.execRoot, { recursive: true });
    const args = dockerdArgs(p, s.extraFlags);
    const child = spawn(s.dockerd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: [...s.pathPrefix, process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'].join(':') },
    });
    proc = child;
    log += `--- ${new Date().toISOString()} ${s.dockerd} ${args.join(' ')}\n`;
    child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
    const deadline = Date.now() + 60_000;
    while (!(await up())) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${id} dockerd did not start:\n${log.slice(-4000)}`);
      await sleep(200);
    }
  };
  const exited = async (): Promise<void> => {
    const child = proc;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  };
  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    const child = proc;
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = exited();
    signalPid(child.pid, sig);
    await gone;
  };
  await start();
  const versions = await readVersions(docker, s);
  const engine: DockerEngine = {
    id,
    socket: p.socket,
    versions,
    label: `Docker ${versions.docker}`,
    docker,
    compose: (args, options = {}) =>
      run(s.id === 'docker28' ? s.client : spec('docker28').client, ['compose', ...args], {
        timeoutMs: options.timeoutMs ?? 180_000,
        env: { DOCKER_HOST: `unix://${p.socket}`, DOCKER_CONFIG: configDir, ...options.env },
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      }),
    async restart() {
      await signal('SIGTERM');
      await start();
    },
    async kill9() {
      await signal('SIGKILL');
      await forgetZombieContainerd(p.execRoot);
    },
    start,
    exited,
    async stop() {
      await signal('SIGTERM');
      // Its containerd is stopped by dockerd; a killed dockerd's is not.
      await removeEngineLeftovers(id);
      await rm(configDir, { recursive: true, force: true });
    },
    ensureTestImage: () => ensureTestImage(docker),
    async removeByPrefix(prefix) {
      const ids = (await docker(['ps', '-aq', '--filter', `name=^${prefix}`])).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await docker(['rm', '-f', ...ids], REMOVE_TIMEOUT_MS);
      const nets = (await docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').filter((n) => n.startsWith(prefix));
      for (const n of nets) await docker(['network', 'rm', n]).catch(() => undefined);
    },
    async containerOn(name, network) {
      const out = await docker([
        'inspect',
        '--format',
        `{{(index .NetworkSettings.Networks "${network}").IPAddress}} {{(index .NetworkSettings.Networks "${network}").MacAddress}}`,
        name,
      ]);
      const [ip, mac] = out.stdout.trim().split(' ');
      return { ip: ip ?? '', mac: (mac ?? '').toLowerCase() };
    },
    log: () => log,
  };
  console.info(`[${id}] ${describeVersions(versions)}`);
  return engine;
}

/** One line: engine, containerd, runc, Compose, and where they came from (a fallback loudly). */
export function describeVersions(v: EngineVersions): string {
  const fallback = v.fallback === '' ? '' : ` — FALLBACK: ${v.fallback}`;
  return `Docker ${v.docker} (API ${v.api}), containerd ${v.containerd}, runc ${v.runc}, Compose ${v.compose}, from Debian ${v.suite}${fallback}`;
}

async function readVersions(docker: (args: readonly string[], timeoutMs?: number) => Promise<RunResult>, s: EngineSpec): Promise<EngineVersions> {
  const out = await docker(['version', '--format', '{{json .Server}}']);
  const server = JSON.parse(out.stdout) as { Version: string; ApiVersion: string; Components?: Array<{ Name: string; Version: string }> };
  const component = (name: string): string => (server.Components?.find((c) => c.Name.toLowerCase() === name)?.Version ?? '?').replace(/[+~].*$/, '');
  const compose = (await run(composePlugin(), ['version', '--short']).catch(() => ({ stdout: '?' }))).stdout.trim().replace(/-.*$/, '');
  const env = s.id === 'docker28' ? readEngineEnv() : {};
  return {
    docker: server.Version.replace(/[+~].*$/, ''),
    api: server.ApiVersion,
    containerd: component('containerd'),
    runc: component('runc'),
    compose,
    suite: s.suite,
    fallback: env.D4D_ENGINE_FALLBACK ?? '',
  };
}

/**
 * Everything an earlier run of engine `id` may have left: its dockerd (by pid file), its
 * containerd and shims (by exec root on their command line), container processes (by cgroup
 * parent), mounts under its roots, the exec root and the data root.
 */
export async function removeEngineLeftovers(id: EngineId): Promise<void> {
  const p = paths(id);
  const pid = Number.parseInt((await readFile(p.pidFile, 'utf8').catch(() => '')).trim(), 10);
  if (Number.isInteger(pid) && pid > 0 && pidAlive(pid) && (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes(p.execRoot)) {
    signalPid(pid, 'SIGTERM');
    await expectEventually(async () => !pidAlive(pid), 30_000, 100).catch(() => signalPid(pid, 'SIGKILL'));
  }
  const killed: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(`${p.execRoot}/`) || cmdline.includes(p.socket)) killed.push(Number(entry));
  }
  killed.push(...(await cgroupPids(p.cgroupParent)));
  for (const k of killed) if (k !== process.pid) signalPid(k, 'SIGKILL');
  await expectEventually(async () => killed.every((k) => !pidAlive(k)), 10_000, 100).catch(() => undefined);
  const mounts = (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    // dockerd bind-mounts its data root onto itself (private propagation) and leaves it mounted.
    .filter((m) => m === p.dataRoot || m.startsWith(`${p.dataRoot}/`) || m === p.execRoot || m.startsWith(`${p.execRoot}/`))
    .reverse();
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
  await rm(p.execRoot, { recursive: true, force: true });
  // Containers and networks a crashed run left in the data root would make the next dockerd
  // start wait ~15 s per endpoint for a plugin that is gone: every run starts from an empty
  // engine (the test image is imported again, in about a second).
  await rm(p.dataRoot, { recursive: true, force: true });
  await rm(p.socket, { force: true });
  await rm(p.pidFile, { force: true });
  for (const entry of await readdir(tmpdir())) {
    if (entry.startsWith(`d4d-${id}-cli-`)) await rm(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

/**
 * A killed dockerd's containerd dies with it, and becomes a zombie of pid 1. Where pid 1 reaps
 * late (a minimal init, as on the VMs the suite runs on), dockerd 20.10 finds that pid alive
 * through the pid file, takes containerd for "still running" and times out dialling it. Under
 * a reaping init the pid would be gone: so is the pid file here, once the process is a zombie.
 */
async function forgetZombieContainerd(execRoot: string): Promise<void> {
  const pidFile = join(execRoot, 'containerd', 'containerd.pid');
  const pid = Number.parseInt((await readFile(pidFile, 'utf8').catch(() => '')).trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) return;
  const state = async (): Promise<string> => (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')).replace(/^.*\) /s, '').slice(0, 1);
  await expectEventually(async () => ['', 'Z'].includes(await state()), 10_000, 50).catch(() => undefined);
  if ((await state()) === 'Z') await rm(pidFile, { force: true });
}

/** Pids of processes in cgroup `parent` under any v1 controller or the v2 tree. */
async function cgroupPids(parent: string): Promise<number[]> {
  const found = new Set<number>();
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(dir, e.name));
      else if (e.name === 'cgroup.procs') {
        for (const line of (await readFile(join(dir, e.name), 'utf8').catch(() => '')).split('\n')) if (/^\d+$/.test(line)) found.add(Number(line));
      }
    }
  };
  const roots = ['/sys/fs/cgroup'];
  for (const c of await readdir('/sys/fs/cgroup').catch(() => [])) roots.push(join('/sys/fs/cgroup', c));
  for (const r of roots) if (existsSync(join(r, parent))) await walk(join(r, parent));
  return [...found];
}

/** Builds `local/busybox` from the static busybox binary unless the engine has it. */
async function ensureTestImage(docker: (args: readonly string[], timeoutMs?: number) => Promise<RunResult>): Promise<void> {
  if (
    await docker(['image', 'inspect', TEST_IMAGE]).then(
      () => true,
      () => false,
    )
  )
    return;
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((b) => existsSync(b));
  if (busybox === undefined) throw new Error('busybox is not installed (apt-get install busybox-static)');
  const root = await mkdtemp(join(tmpdir(), 'd4d-image-'));
  try {
    await mkdir(join(root, 'bin'));
    await copyFile(busybox, join(root, 'bin', 'busybox'));
    for (const applet of ['sh', 'ip', 'sleep', 'cat', 'ping', 'ifconfig', 'true']) await symlink('busybox', join(root, 'bin', applet));
    const tar = join(root, '..', `${root.split('/').pop() ?? 'image'}.tar`);
    await run('tar', ['-C', root, '-cf', tar, '.']);
    await docker(['import', tar, TEST_IMAGE], 60_000);
    await rm(tar, { force: true });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/**
 * `describe` for a suite on engine `id`: the engine is started before the suite's tests and
 * stopped after them. Without root, the lab's binaries or the engine, the suite is skipped with
 * a warning, except under `CI=true`, where it fails and says why: neither engine may be skipped.
 */
export function describeEngine(id: EngineId, title: string, fn: (engine: () => DockerEngine) => void): void {
  const missing = engineMissing(id);
  if (missing !== undefined) {
    if (process.env.CI === 'true') {
      describe(title, () => {
        it(`has the ${id} engine (required under CI=true)`, () => {
          throw new Error(missing);
        });
      });
      return;
    }
    console.warn(`[e2e] skipping "${title}": ${missing}`);
    describe.skip(`${title} (skipped: ${missing})`, () =>
      fn(() => {
        throw new Error(missing);
      }));
    return;
  }
  describeLab(
    title,
    () => {
      let engine: DockerEngine | undefined;
      beforeAll(async () => {
        engine = await startEngine(id);
        await engine.ensureTestImage();
      }, 120_000);
      afterAll(async () => {
        await engine?.stop();
      }, 120_000);
      fn(() => {
        if (engine === undefined) throw new Error(`${id} did not start`);
        return engine;
      });
    },
    { requires: ['busybox'] },
  );
}
