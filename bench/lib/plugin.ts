/** RequestPool / RequestAddress over the plugin socket as Docker sends them, timed. */
import { randomBytes } from 'node:crypto';
import { callPlugin } from '../../test/support/plugin-client.js';

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

/** One RequestAddress for a fresh random MAC; `from` (performance.now()) lets an open-loop caller count from the intended start. */
export async function requestAddress(socketPath: string, poolId: string, from = performance.now()): Promise<Timed> {
  try {
    const res = await callPlugin(socketPath, 'IpamDriver.RequestAddress', {
      PoolID: poolId,
      Address: '',
      Options: { 'com.docker.network.endpoint.macaddress': randomMac() },
    });
    const ms = performance.now() - from;
    if (res.status !== 200 || typeof res.body.Address !== 'string') return { ok: false, ms, error: String(res.body.Err ?? res.status) };
    return { ok: true, ms };
  } catch (err) {
    return { ok: false, ms: performance.now() - from, error: (err as Error).message };
  }
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
  return burstOf(
    async () => {
      const from = performance.now();
      try {
        const res = await callPlugin(socketPath, 'IpamDriver.GetCapabilities');
        return res.status === 200 ? { ok: true, ms: performance.now() - from } : { ok: false, ms: performance.now() - from, error: String(res.status) };
      } catch (err) {
        return { ok: false, ms: performance.now() - from, error: (err as Error).message };
      }
    },
    n,
    window,
  );
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
