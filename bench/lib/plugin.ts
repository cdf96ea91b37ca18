/** RequestPool / RequestAddress over the plugin socket as Docker sends them, timed. */
import { randomBytes } from 'node:crypto';
import { callPlugin, type PluginReply } from '../../test/support/plugin-client.js';

/** A random locally administered unicast MAC, as Docker generates for containers. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfc) | 0x02;
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

export async function requestPool(socketPath: string, cidr: string): Promise<string> {
  const res = await callPlugin(socketPath, 'IpamDriver.RequestPool', { AddressSpace: 'local', Pool: cidr, SubPool: '', Options: {}, V6: false });
  if (res.status !== 200 || typeof res.body.PoolID !== 'string') throw new Error(`RequestPool ${cidr} failed: ${JSON.stringify(res.body)}`);
  return res.body.PoolID;
}

export interface Timed {
  readonly ok: boolean;
  readonly ms: number;
  readonly error?: string;
}

/**
 * One plugin call, timed from `from` (performance.now(); an open-loop caller passes the planned
 * start) to its reply. A refusal or a broken connection is a result, not an exception: `ok` only
 * when `accept` finds the reply good (it returns why not otherwise).
 */
export async function timedCall(
  call: () => Promise<PluginReply>,
  accept: (reply: PluginReply) => string | undefined,
  from = performance.now(),
): Promise<Timed> {
  try {
    const reply = await call();
    const ms = performance.now() - from;
    const error = accept(reply);
    return error === undefined ? { ok: true, ms } : { ok: false, ms, error };
  } catch (err) {
    return { ok: false, ms: performance.now() - from, error: (err as Error).message };
  }
}

/** One RequestAddress for a fresh random MAC; `from` as for `timedCall`. */
export function requestAddress(socketPath: string, poolId: string, from = performance.now()): Promise<Timed> {
  return timedCall(
    () =>
      callPlugin(socketPath, 'IpamDriver.RequestAddress', {
        PoolID: poolId,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': randomMac() },
      }),
    (res) => (res.status === 200 && typeof res.body.Address === 'string' ? undefined : String(res.body.Err ?? res.status)),
    from,
  );
}

/** One GetCapabilities: the HTTP call alone, with nothing behind it; `from` as for `timedCall`. */
export function emptyCall(socketPath: string, from = performance.now()): Promise<Timed> {
  return timedCall(
    () => callPlugin(socketPath, 'IpamDriver.GetCapabilities'),
    (res) => (res.status === 200 ? undefined : String(res.status)),
    from,
  );
}

/**
 * `n` RequestAddress calls with at most `window` in flight (all at once when window >= n), as
 * many networks or hosts would send them. Returns every call's latency and the wall time.
 */
export function burst(socketPath: string, poolId: string, n: number, window = n): Promise<{ seconds: number; results: Timed[] }> {
  return burstOf(() => requestAddress(socketPath, poolId), n, window);
}

/**
 * `n` GetCapabilities calls, `window` in flight: the HTTP call alone, with nothing behind it,
 * the floor under what a RequestAddress costs the daemon and this client.
 */
export function emptyBurst(socketPath: string, n: number, window = n): Promise<{ seconds: number; results: Timed[] }> {
  return burstOf(() => emptyCall(socketPath), n, window);
}

async function burstOf(one: () => Promise<Timed>, n: number, window: number): Promise<{ seconds: number; results: Timed[] }> {
  const results: Timed[] = [];
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < n) {
      next += 1;
      results.push(await one());
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, n) }, () => worker()));
  return { seconds: (performance.now() - t0) / 1000, results };
}
