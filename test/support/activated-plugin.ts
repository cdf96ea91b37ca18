/**
 * `oam-docker-ipam server` on a socket systemd holds (systemd/oam-docker-ipam.socket): the socket
 * is bound by `systemd-socket-activate`, systemd's own tool, and kept open across starts of the
 * daemon by test/support/activation-holder.cjs, which passes it as systemd does.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { callPlugin } from './plugin-client.js';
import { BUILT_MAIN } from './plugin-process.js';
import { StopTimeoutError, UNIT_STOP_TIMEOUT_MS } from './process-stop.js';

const HOLDER = new URL('./activation-holder.cjs', import.meta.url).pathname;
/** The name systemd gives the descriptor of oam-docker-ipam.socket. */
export const SOCKET_FD_NAME = 'oam-docker-ipam.socket';

export interface ActivatedPlugin {
  readonly socketPath: string;
  /** Starts the daemon on the held socket; resolves with its pid once it answers Plugin.Activate. */
  start(timeoutMs?: number): Promise<number>;
  /** SIGTERM to the daemon; resolves with its exit code (or signal), the socket still held; past the unit's stop timeout it is killed and this rejects. */
  stop(): Promise<string>;
  /** Starts the daemon without waiting for it to answer; resolves with the next exit (code or signal). */
  startAndWaitForExit(timeoutMs?: number): Promise<string>;
  /** Whether a daemon runs now. */
  running(): boolean;
  /** The daemons' output so far. */
  log(): string;
  /** Stops a running daemon and the holder; removes the socket file. */
  close(): Promise<void>;
}

/**
 * Binds `socketPath` (mode 0600, as the socket unit does) through systemd-socket-activate. The
 * holder starts on the first connection to the socket, as systemd-socket-activate does; `start`
 * makes it.
 */
export async function holdPluginSocket(socketPath: string, daemonArgs: readonly string[]): Promise<ActivatedPlugin> {
  await rm(socketPath, { force: true });
  const proc = spawn(
    'systemd-socket-activate',
    ['-l', socketPath, `--fdname=${SOCKET_FD_NAME}`, process.execPath, HOLDER, process.execPath, BUILT_MAIN, ...daemonArgs, 'server'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let spawnError: Error | undefined;
  proc.once('error', (err) => (spawnError = err));
  let output = '';
  proc.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const gone = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  const lines: string[] = [];
  let holderRan = false;
  /** The daemon's pid while one runs. */
  let pid: number | undefined;
  const waiting: Array<() => void> = [];
  if (proc.stdout !== null) {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      holderRan = true;
      if (line.startsWith('started ')) pid = Number(line.slice('started '.length));
      if (line.startsWith('exited ')) pid = undefined;
      lines.push(line);
      for (const wake of waiting.splice(0)) wake();
    });
  }
  /** The next holder line starting with `prefix`, consumed. */
  async function next(prefix: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = lines.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return (lines.splice(i, 1)[0] ?? '').slice(prefix.length);
      const left = deadline - Date.now();
      if (left <= 0) throw new StopTimeoutError(`no "${prefix.trim()}" from the socket holder within ${timeoutMs} ms:\n${output.slice(-4000)}`);
      await Promise.race([new Promise<void>((resolve) => waiting.push(resolve)), sleep(left)]);
    }
  }
  const killDaemon = (): void => {
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  const deadline = Date.now() + 5_000;
  while (!existsSync(socketPath)) {
    if (spawnError !== undefined || proc.exitCode !== null || Date.now() > deadline) {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      throw new Error(`systemd-socket-activate did not bind ${socketPath}: ${spawnError?.message ?? ''}\n${output}`);
    }
    await sleep(20);
  }
  // What the socket unit's SocketMode=0600 makes of it (systemd-socket-activate leaves it 0644).
  await chmod(socketPath, 0o600);
  return {
    socketPath,
    async start(timeoutMs = 15_000) {
      proc.stdin?.write('start\n');
      // The first call is what makes systemd-socket-activate start the holder; it waits in the
      // socket's queue until the daemon answers it.
      const answered = await Promise.race([callPlugin(socketPath, 'Plugin.Activate').then(() => true), sleep(timeoutMs).then(() => false)]);
      if (!answered) throw new Error(`the daemon did not answer on ${socketPath} within ${timeoutMs} ms:\n${output.slice(-4000)}`);
      return Number(await next('started ', 1_000));
    },
    async startAndWaitForExit(timeoutMs = 15_000) {
      proc.stdin?.write('start\n');
      // A connection starts the holder the first time; this one is never answered.
      callPlugin(socketPath, 'Plugin.Activate').catch(() => undefined);
      await next('started ', timeoutMs);
      return next('exited ', timeoutMs);
    },
    running: () => pid !== undefined,
    async stop() {
      proc.stdin?.write('stop\n');
      try {
        return await next('exited ', UNIT_STOP_TIMEOUT_MS);
      } catch (err) {
        // As systemd would at TimeoutStopSec: killed, and the stop is a failure.
        killDaemon();
        await next('exited ', 5_000).catch(() => undefined);
        throw err;
      }
    },
    log: () => output,
    async close() {
      proc.stdin?.end();
      // Without a connection ever, systemd-socket-activate is still waiting for one: nothing runs.
      const ended = holderRan && (await Promise.race([gone.then(() => true), sleep(UNIT_STOP_TIMEOUT_MS).then(() => false)]));
      if (!ended) {
        killDaemon();
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        await gone;
      }
      await rm(socketPath, { force: true });
    },
  };
}
