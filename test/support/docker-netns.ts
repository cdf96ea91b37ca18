/**
 * Docker 20.10 (Debian's docker.io: /usr/sbin/dockerd, /usr/bin/docker at API 1.41), or the
 * Docker 28 that scripts/docker28.sh unpacks (docker-engines.ts), run inside a lab namespace, as the engine of one lab host: its own socket, data root, exec root, pid file
 * and cgroup parent, all named after `name`, so several can run beside each other and beside
 * the engines of docker-engines.ts. `--bridge none --iptables=false`: macvlan needs neither.
 *
 * `killForGood()` is a host that dies: dockerd, its containerd and shims and every container
 * process are SIGKILLed (a killed dockerd alone leaves its containers running).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectEventually } from './eventually.js';
import { pidAlive, signalPid } from './lab/processes.js';
import { run, type RunResult } from './lab/shell.js';
import { DOCKER28_DIR, dockerdArgs, type EnginePaths } from './docker-engines.js';

export const NETNS_TEST_IMAGE = 'local/busybox:latest';
export type NetnsEngineKind = 'docker20' | 'docker28';

/** Binaries and environment of each engine (as docker-engines.ts runs them in the root namespace). */
function binaries(kind: NetnsEngineKind): { dockerd: string; docker: string; clientEnv: Record<string, string>; path: string; extraFlags: string[] } {
  const path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  if (kind === 'docker20') return { dockerd: '/usr/sbin/dockerd', docker: '/usr/bin/docker', clientEnv: { DOCKER_API_VERSION: '1.41' }, path, extraFlags: [] };
  return {
    dockerd: join(DOCKER28_DIR, 'usr/sbin/dockerd'),
    docker: join(DOCKER28_DIR, 'usr/bin/docker'),
    clientEnv: {},
    // Its containerd 2, shim and docker-init first; bookworm's runc.
    path: `${join(DOCKER28_DIR, 'usr/bin')}:${path}`,
    extraFlags: ['--ip6tables=false'],
  };
}

export interface NetnsEngine {
  readonly name: string;
  readonly kind: NetnsEngineKind;
  /** `Docker 28.5.2`. */
  readonly label: string;
  readonly socket: string;
  docker(args: readonly string[], timeoutMs?: number): Promise<RunResult>;
  /** The address and MAC a container has on `network`. */
  containerOn(container: string, network: string): Promise<{ ip: string; mac: string }>;
  /** SIGKILL dockerd, containerd, shims and containers: the host is gone. */
  killForGood(): Promise<void>;
  stop(): Promise<void>;
  log(): string;
}

/** Why a netns engine of `kind` cannot run here, or undefined. */
export function netnsEngineMissing(kind: NetnsEngineKind = 'docker20'): string | undefined {
  const b = binaries(kind);
  if (existsSync(b.dockerd) && existsSync(b.docker)) return undefined;
  return kind === 'docker20' ? 'docker.io is not installed (apt-get install docker.io)' : `Docker 28 is not installed in ${DOCKER28_DIR} (scripts/docker28.sh)`;
}

function paths(name: string): EnginePaths {
  return {
    socket: `/run/d4d-${name}.sock`,
    dataRoot: `/var/lib/d4d-${name}`,
    execRoot: `/run/d4d-${name}`,
    pidFile: `/run/d4d-${name}.pid`,
    cgroupParent: `d4d-${name}`,
  };
}

/** Kill what an engine `name` left: dockerd, containerd, shims (by exec root or socket), containers (by cgroup); unmount and remove its exec root (the data root is removed at the next start). */
export async function removeNetnsEngineLeftovers(name: string): Promise<void> {
  const p = paths(name);
  const victims: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(p.execRoot) || cmdline.includes(p.socket)) victims.push(Number(entry));
  }
  victims.push(...(await cgroupPids(p.cgroupParent)));
  for (const pid of victims) if (pid !== process.pid) signalPid(pid, 'SIGKILL');
  await expectEventually(async () => victims.every((pid) => !pidAlive(pid)), 10_000, 100).catch(() => undefined);
  const mounts = (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === p.dataRoot || m.startsWith(`${p.dataRoot}/`) || m.startsWith(`${p.execRoot}/`) || m === p.execRoot)
    .reverse();
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
  await rm(p.execRoot, { recursive: true, force: true });
  await rm(p.socket, { force: true });
  await rm(p.pidFile, { force: true });
}

async function cgroupPids(parent: string): Promise<number[]> {
  const found = new Set<number>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(dir, e.name));
      else if (e.name === 'cgroup.procs') {
        for (const line of (await readFile(join(dir, e.name), 'utf8').catch(() => '')).split('\n')) if (/^\d+$/.test(line)) found.add(Number(line));
      }
    }
  };
  const roots = ['/sys/fs/cgroup', ...(await readdir('/sys/fs/cgroup').catch(() => [])).map((c) => join('/sys/fs/cgroup', c))];
  for (const r of roots) if (existsSync(join(r, parent))) await walk(join(r, parent));
  return [...found];
}

/** Starts dockerd `name` in network namespace `netns` and imports the test image into it. */
export async function startNetnsEngine(name: string, netns: string, kind: NetnsEngineKind = 'docker20'): Promise<NetnsEngine> {
  const missing = netnsEngineMissing(kind);
  if (missing !== undefined) throw new Error(missing);
  const b = binaries(kind);
  const p = paths(name);
  await removeNetnsEngineLeftovers(name);
  // A fresh engine each time: a kept data root would bring back an earlier run's networks and
  // containers, whose plugin is gone (only the test image is lost, and imported again below).
  await rm(p.dataRoot, { recursive: true, force: true });
  await mkdir(p.execRoot, { recursive: true });
  const env = { DOCKER_HOST: `unix://${p.socket}`, ...b.clientEnv };
  const docker = (args: readonly string[], timeoutMs = 60_000): Promise<RunResult> => run(b.docker, args, { timeoutMs, env });
  const args = dockerdArgs(p, b.extraFlags);
  // nsenter, not `ip netns exec`: that remounts /sys in a mount namespace of its own, hiding
  // the cgroup hierarchies under /sys/fs/cgroup (dockerd: "Devices cgroup isn't mounted").
  const child: ChildProcess = spawn('nsenter', [`--net=/run/netns/${netns}`, b.dockerd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: b.path },
  });
  let log = '';
  child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (log += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 60_000;
  while (
    !(await docker(['version', '--format', '{{.Server.Version}}'], 10_000).then(
      () => true,
      () => false,
    ))
  ) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await removeNetnsEngineLeftovers(name);
      throw new Error(`dockerd ${name} did not start in ${netns}:\n${log.slice(-4000)}`);
    }
    await sleep(200);
  }
  await importTestImage(docker);
  const version = (await docker(['version', '--format', '{{.Server.Version}}'])).stdout.trim();
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(30_000)]);
    }
    await removeNetnsEngineLeftovers(name);
  };
  return {
    name,
    kind,
    label: `Docker ${version}`,
    socket: p.socket,
    docker,
    async containerOn(container, network) {
      const out = await docker([
        'inspect',
        '--format',
        `{{(index .NetworkSettings.Networks "${network}").IPAddress}} {{(index .NetworkSettings.Networks "${network}").MacAddress}}`,
        container,
      ]);
      const [ip, mac] = out.stdout.trim().split(' ');
      return { ip: ip ?? '', mac: (mac ?? '').toLowerCase() };
    },
    async killForGood() {
      await removeNetnsEngineLeftovers(name);
      await exited;
    },
    stop,
    log: () => log,
  };
}

async function importTestImage(docker: (args: readonly string[], timeoutMs?: number) => Promise<RunResult>): Promise<void> {
  if (
    await docker(['image', 'inspect', NETNS_TEST_IMAGE]).then(
      () => true,
      () => false,
    )
  )
    return;
  const busybox = ['/bin/busybox', '/usr/bin/busybox'].find((b) => existsSync(b));
  if (busybox === undefined) throw new Error('busybox is not installed (apt-get install busybox-static)');
  const root = await mkdtemp(join(tmpdir(), 'd4d-image-'));
  try {
    await mkdir(join(root, 'rootfs', 'bin'), { recursive: true });
    await copyFile(busybox, join(root, 'rootfs', 'bin', 'busybox'));
    for (const applet of ['sh', 'ip', 'sleep', 'cat', 'ping', 'ifconfig', 'true']) await symlink('busybox', join(root, 'rootfs', 'bin', applet));
    await run('tar', ['-C', join(root, 'rootfs'), '-cf', join(root, 'image.tar'), '.']);
    await docker(['import', join(root, 'image.tar'), NETNS_TEST_IMAGE], 60_000);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
