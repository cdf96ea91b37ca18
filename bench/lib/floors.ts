/**
 * What every RequestAddress pays before any of the daemon's own work, measured in the same run
 * so an added latency can be read against them: a durable append to the filesystem that holds
 * the lease table (the journal's write, opened O_DSYNC as the store opens it), and a call over
 * the plugin socket that does nothing (the HTTP round trip, client side included).
 */
import { constants } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { emptyCall } from './plugin.js';

/**
 * Runs `one` `count` times, one after another, and returns what each took in ms. With
 * `perSecond`, one run per 1/perSecond s, as requests arriving at that rate come: whatever a
 * run wakes (a disk, a thread, another process) has gone idle since the last one.
 */
async function paced(count: number, perSecond: number, one: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    if (perSecond > 0) {
      const due = start + (i * 1000) / perSecond;
      const now = performance.now();
      if (due > now) await new Promise((r) => setTimeout(r, due - now));
    }
    const t = performance.now();
    await one();
    out.push(performance.now() - t);
  }
  return out;
}

/**
 * `count` appends of a `bytes`-byte record, each waited for as the journal waits; latencies in
 * ms. With `perSecond`, paced: a disk left idle between writes takes longer to acknowledge one
 * (0.27–0.54 ms p50 every 10 ms on the lab machine, against 0.15–0.27 back to back), and every
 * request at that rate pays it.
 */
export async function durableAppendMs(dir: string, count: number, bytes = 360, perSecond = 0): Promise<number[]> {
  const path = join(dir, 'append-floor.tmp');
  const file = await open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC, 0o600);
  const record = Buffer.alloc(bytes, 0x61);
  try {
    return await paced(count, perSecond, async () => {
      await file.write(record);
    });
  } finally {
    await file.close();
    await rm(path, { force: true });
  }
}

/**
 * `count` GetCapabilities calls one after another: the plugin socket's round trip (this
 * client, the daemon's HTTP server and back); latencies in ms. With `perSecond`, paced: the
 * daemon and this client have gone to sleep between calls, as between requests at that rate.
 */
export function socketRoundTripMs(socketPath: string, count: number, perSecond = 0): Promise<number[]> {
  return paced(count, perSecond, async () => {
    const call = await emptyCall(socketPath);
    if (!call.ok) throw new Error(`GetCapabilities failed: ${call.error ?? ''}`);
  });
}
