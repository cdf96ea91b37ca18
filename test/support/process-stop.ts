/**
 * Stopping a daemon the tests started the way systemd stops the unit: the signal, then SIGKILL
 * once `TimeoutStopSec` has passed. A daemon still running then is a failure of its own, with
 * its log, instead of a hook that waits until the test runner gives up on it.
 */
import type { ChildProcess } from 'node:child_process';

/** The unit's TimeoutStopSec (systemd/oam-docker-ipam.service; test/unit/systemd-unit.test.ts checks they agree). */
export const UNIT_STOP_TIMEOUT_MS = 30_000;

export class StopTimeoutError extends Error {
  override readonly name = 'StopTimeoutError';
}

/**
 * Sends `signal` and resolves with `exited`'s value. A SIGTERM (or SIGINT) not obeyed within
 * `boundMs` is followed by SIGKILL, and the returned promise rejects with a StopTimeoutError
 * carrying the end of `log()` once the process is gone.
 */
export async function stopWithin<T>(proc: ChildProcess, exited: Promise<T>, o: { signal: NodeJS.Signals; log: () => string; boundMs?: number }): Promise<T> {
  if (proc.exitCode !== null || proc.signalCode !== null) return exited;
  proc.kill(o.signal);
  if (o.signal === 'SIGKILL') return exited;
  const boundMs = o.boundMs ?? UNIT_STOP_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const overran = new Promise<'overran'>((resolve) => (timer = setTimeout(() => resolve('overran'), boundMs)));
  const first = await Promise.race([exited, overran]);
  clearTimeout(timer);
  if (first !== 'overran') return first as T;
  proc.kill('SIGKILL');
  await exited;
  throw new StopTimeoutError(`the daemon (pid ${proc.pid}) was still running ${boundMs} ms after ${o.signal}; killed. Its log ends:\n${o.log().slice(-4000)}`);
}
