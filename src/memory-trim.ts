/**
 * Gives memory back to the system once a burst of plugin calls is over.
 *
 * Why the daemon does it itself: V8 keeps the heap pages a collection frees in a pool and hands
 * them back to the system only in a memory-reducing collection. Its memory reducer is meant to
 * start one when a process goes quiet, but in Node 24's V8 (the packaged executable) it judges
 * the allocation rate of an idle process high every time it looks ("high alloc" under
 * `--trace-memory-reducer`, for as long as we watched), so it never does. 50,000 addresses
 * taken in one burst left the executable at 189 MB resident with 50 MB of live heap: about
 * 28 MB in the pool, the rest new space and old space grown for the burst
 * (docs/performance.md, tenth measurement). Node 20's reducer does run after a burst, and there
 * nothing is done (`memoryReducingCollection`).
 *
 * When: the plugin has had no call for a whole check interval, the resident size has grown by
 * `growthBytes` since the last trim (or the start), and V8 holds at least `slackBytes` of
 * committed heap that is not in use (none to speak of once its own reducer has run: then nothing
 * is done). Renewals do not count as activity: a host holding many leases renews all the time,
 * and a renewal delayed by the collection's pause loses nothing. The pause is that of a full
 * collection of the live heap (about 130 ms at 50,000 leases here), once after a burst, and not
 * again until memory has grown as much again.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from './clock.js';

export const DEFAULT_TRIM_CHECK_MS = 10_000;
export const DEFAULT_TRIM_GROWTH_BYTES = 32 * 1024 * 1024;
export const DEFAULT_TRIM_SLACK_BYTES = 16 * 1024 * 1024;

/** Memory as one check sees it. */
export interface MemorySample {
  readonly rssBytes: number;
  /** V8's committed heap less what is in use. */
  readonly heapSlackBytes: number;
}

/** The process's own figures. */
export function processMemory(): MemorySample {
  const { total_heap_size: total, used_heap_size: used } = getHeapStatistics();
  return { rssBytes: process.memoryUsage.rss(), heapSlackBytes: total - used };
}

/** What the last check saw. */
export interface TrimState {
  /** The plugin's call count at the last check. */
  readonly calls: number;
  /** Resident size after the last trim, or at the start. */
  readonly baselineBytes: number;
}

export interface TrimThresholds {
  readonly growthBytes: number;
  readonly slackBytes: number;
}

/** Pure: trim now? Only after a whole interval without a call, and only if there is memory to give back. */
export function shouldTrim(state: TrimState, calls: number, m: MemorySample, t: TrimThresholds): boolean {
  return calls === state.calls && m.rssBytes - state.baselineBytes >= t.growthBytes && m.heapSlackBytes >= t.slackBytes;
}

export interface MemoryTrimOptions {
  clock: Clock;
  /** Plugin calls answered so far: activity is a change of it. */
  calls: () => number;
  /** `processMemory` outside tests. */
  memory: () => MemorySample;
  /** A memory-reducing collection (`memoryReducingCollection()`). */
  collect: () => void;
  log: Logger;
  checkMs?: number;
  growthBytes?: number;
  slackBytes?: number;
}

export class MemoryTrim {
  readonly #o: MemoryTrimOptions & Required<Pick<MemoryTrimOptions, 'checkMs' | 'growthBytes' | 'slackBytes'>>;
  #state: TrimState;
  #timer: TimerHandle | undefined;

  constructor(options: MemoryTrimOptions) {
    this.#o = { checkMs: DEFAULT_TRIM_CHECK_MS, growthBytes: DEFAULT_TRIM_GROWTH_BYTES, slackBytes: DEFAULT_TRIM_SLACK_BYTES, ...options };
    this.#state = { calls: options.calls(), baselineBytes: options.memory().rssBytes };
  }

  start(): void {
    this.#arm();
  }

  stop(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    const { clock, log } = this.#o;
    const calls = this.#o.calls();
    const before = this.#o.memory();
    if (!shouldTrim(this.#state, calls, before, this.#o)) {
      // A baseline above the current size would make the next burst look smaller than it is.
      this.#state = { calls, baselineBytes: Math.min(this.#state.baselineBytes, before.rssBytes) };
      return;
    }
    const startedAt = clock.now();
    this.#o.collect();
    const pauseMs = clock.now() - startedAt;
    // Pages go back to the system as the collection ends; the size read now is the new baseline.
    const after = this.#o.memory();
    this.#state = { calls, baselineBytes: after.rssBytes };
    log.info(
      { rssBeforeMB: mb(before.rssBytes), rssAfterMB: mb(after.rssBytes), heapSlackBeforeMB: mb(before.heapSlackBytes), pauseMs },
      'memory given back after a burst of plugin calls',
    );
  }

  #arm(): void {
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#check();
      this.#arm();
    }, this.#o.checkMs);
  }
}

function mb(bytes: number): number {
  return Math.round(bytes / 1e5) / 10;
}

interface GcOptions {
  type: 'major';
  execution: 'sync';
  /** `last-resort`: V8's memory-reducing collection, the one that empties the page pool. */
  flavor: 'last-resort';
}

/**
 * V8's memory-reducing collection, reached without starting Node with `--expose-gc` (a flag the
 * packaged executable's code cache was not built with; Node would reject the cache): the flag is
 * set only while a fresh context is made, and `gc` is taken from that context. Undefined before
 * V8 12: Node 20's V8 ignores these options (a call collected nothing here), a plain full
 * collection there leaves the pages pooled too, and its own memory reducer does run after a burst.
 */
export function memoryReducingCollection(v8Version = process.versions.v8): (() => void) | undefined {
  if (Number(v8Version.split('.')[0]) < 12) return undefined;
  setFlagsFromString('--expose-gc');
  let gc: unknown;
  try {
    gc = runInNewContext('gc');
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
  if (typeof gc !== 'function') return undefined;
  // Checked to be a function just above; V8 defines its options.
  const collect = gc as (options: GcOptions) => void;
  return () => collect({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
