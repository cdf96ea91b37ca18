/**
 * The daemon under test as users run it: the built `dist/main.js server`, a process of its own
 * (so its RSS, CPU and writes are its own), inside the lab's client namespace. Its JSON log
 * (stderr) is read line by line when the benchmark counts lease events, instead of being kept
 * whole (at 50,000 leases a lease period logs tens of megabytes); otherwise it is written to
 * `daemon.log` in its directory by a process of its own.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { callPlugin } from '../../test/support/plugin-client.js';
import { BUILT_MAIN } from '../../test/support/plugin-process.js';
import { unitEnvironment } from '../../test/support/unit-environment.js';

export interface BenchDaemonOptions {
  readonly netns: string;
  readonly dhcpServer: string;
  /** Holds `state/` (the lease table) and `plugins/` (the socket). */
  readonly dir: string;
  readonly driverName: string;
  /** Called with every lease event the daemon logs (bound, renewed, reacquired, released) and its time. */
  readonly onLeaseEvent?: (event: string, atMs: number) => void;
  readonly extraArgs?: readonly string[];
  /**
   * Node's own flags for the daemon (e.g. `--cpu-prof`, which NODE_OPTIONS refuses), after the
   * V8 flags the packaged executable runs with (`PACKAGED_V8_FLAGS`).
   */
  readonly nodeArgs?: readonly string[];
  /**
   * An executable to run instead of `node dist/main.js`: the single executable the packages
   * install (`npm run build:sea`, dist/sea/oam-docker-ipam), its own Node and a bundle.
   */
  readonly binary?: string;
  /** Variables for the daemon's environment alone, beside the benchmark's and the unit's. */
  readonly env?: Readonly<Record<string, string>>;
}

export interface BenchDaemon {
  readonly pid: number;
  readonly socketPath: string;
  /** When the process was spawned (performance.now() ms) and when its socket first answered Plugin.Activate. */
  readonly spawnedAt: number;
  readonly servingAt: number;
  /** The last 20 kB of its output, for failure messages. */
  tail(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * The V8 flags the single executable carries (packaging/sea-config.json `execArgv`): the heap
 * limits the packages ship with. `node dist/main.js` runs with them too, so a benchmark measures
 * the daemon as it is installed, whichever Node runs it.
 */
export const PACKAGED_V8_FLAGS: readonly string[] = (
  JSON.parse(readFileSync(new URL('../../packaging/sea-config.json', import.meta.url), 'utf8')) as { execArgv: string[] }
).execArgv;

/**
 * The environment the systemd unit gives the daemon (its `Environment=` lines: the allocator's
 * settings), so a benchmark's daemon allocates as an installed one does.
 */
export const PACKAGED_ENV: Readonly<Record<string, string>> = unitEnvironment(
  readFileSync(new URL('../../systemd/oam-docker-ipam.service', import.meta.url), 'utf8'),
);

function envText(): string {
  return Object.entries(PACKAGED_ENV)
    .map(([k, v]) => `${k}=${v} `)
    .join('');
}

/** Built file and its age, printed by every benchmark: the figures are those of that build. */
export function buildInfo(): string {
  if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
  return `${envText()}node ${PACKAGED_V8_FLAGS.join(' ')} ${BUILT_MAIN} built ${statSync(BUILT_MAIN).mtime.toISOString()}`;
}

/** The same for a single executable given with --binary. */
export function binaryInfo(path: string): string {
  if (!existsSync(path)) throw new Error(`${path} is missing: run npm run build:sea first`);
  return `${envText()}${path} built ${statSync(path).mtime.toISOString()}`;
}

export function daemonPaths(dir: string, driverName: string): { stateDir: string; pluginDir: string; socketPath: string } {
  const pluginDir = join(dir, 'plugins');
  return { stateDir: join(dir, 'state'), pluginDir, socketPath: join(pluginDir, `${driverName}.sock`) };
}

/** Spawn the daemon and resolve once Plugin.Activate answers (polled every 5 ms, so launch-to-serving is measured to a few ms). */
export async function startBenchDaemon(o: BenchDaemonOptions, timeoutMs = 60_000): Promise<BenchDaemon> {
  const { stateDir, pluginDir, socketPath } = daemonPaths(o.dir, o.driverName);
  await mkdir(stateDir, { recursive: true });
  if (o.binary !== undefined && (o.nodeArgs ?? []).length > 0) throw new Error('nodeArgs are for node dist/main.js, not for a single executable');
  // biome-ignore format: one flag and its value per line
  const args = [
    ...(o.binary === undefined ? [process.execPath, ...PACKAGED_V8_FLAGS, ...(o.nodeArgs ?? []), BUILT_MAIN] : [o.binary]),
    '--dhcp-server', o.dhcpServer,
    '--driver-name', o.driverName,
    '--state-dir', stateDir,
    '--plugin-dir', pluginDir,
    '--config', '/dev/null',
    // No Docker here: reconciliation would only log that it cannot read the engine.
    '--reconcile-interval', '0',
    '--docker-socket', join(o.dir, 'no-docker.sock'),
    ...(o.extraArgs ?? []),
    'server',
  ];
  // Without lease events to read, the log goes to a file through a reader process of its own, as
  // it goes to journald under systemd: each write still wakes a reader, but not this process,
  // which times the calls (reading every line here cost the client CPU in every call it timed).
  const logPath = join(o.dir, 'daemon.log');
  const reader = o.onLeaseEvent === undefined ? spawn('sh', ['-c', 'exec cat > "$0"', logPath], { stdio: ['pipe', 'ignore', 'inherit'] }) : undefined;
  const spawnedAt = performance.now();
  // `ip netns exec` execs in place: the child's pid is the daemon's, for /proc and signals.
  const output = reader?.stdin ?? 'pipe';
  const proc = spawn('ip', ['netns', 'exec', o.netns, ...args], { stdio: ['ignore', output, output], env: { ...process.env, ...PACKAGED_ENV, ...o.env } });
  if (proc.pid === undefined) throw new Error('could not spawn the daemon');
  // The daemon holds the pipe now; once it exits, the reader sees the end of it and exits too.
  reader?.stdin?.destroy();
  let tail = '';
  const keep = (line: string): void => {
    tail = `${tail}${line}\n`.slice(-20_000);
  };
  const readTail = (): string => {
    if (reader === undefined) return tail;
    try {
      return readFileSync(logPath, 'utf8').slice(-20_000);
    } catch {
      return '';
    }
  };
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  const readerDone = reader === undefined ? Promise.resolve() : new Promise<void>((resolve) => reader.once('close', () => resolve()));
  const onLeaseEvent = o.onLeaseEvent;
  if (onLeaseEvent !== undefined) {
    for (const stream of [proc.stdout, proc.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on('line', (line) => {
        if (line.includes('"event":"')) {
          const m = /"event":"(\w+)"/.exec(line);
          const t = /"time":(\d+)/.exec(line);
          if (m?.[1] !== undefined) onLeaseEvent(m[1], t?.[1] !== undefined ? Number(t[1]) : Date.now());
          return;
        }
        keep(line);
      });
    }
  }
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (
    !(await callPlugin(socketPath, 'Plugin.Activate').then(
      (r) => r.status === 200,
      () => false,
    ))
  ) {
    if (gone || Date.now() > deadline) {
      proc.kill('SIGKILL');
      await readerDone;
      throw new Error(`daemon did not come up on ${socketPath}:\n${readTail()}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const servingAt = performance.now();
  return {
    pid: proc.pid,
    socketPath,
    spawnedAt,
    servingAt,
    tail: readTail,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const code = await exited;
      await readerDone;
      return code;
    },
  };
}
