/**
 * Time as a dependency. Everything that waits or stamps times takes a `Clock`, so timers can be
 * driven by a fake clock in tests without sleeping; `systemClock` is the one place that reads
 * the wall clock. Times are epoch milliseconds (`…At`), durations milliseconds (`…Ms`).
 */

import type { AbortLike } from './abort.js';

/** Opaque handle of a scheduled callback; only the clock that made it can read it. */
export type TimerHandle = object;

export interface Clock {
  /** Current time, epoch ms. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds (clamped to ≥ 0). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

// Node's timers take at most 2^31-1 ms (about 24.8 days); longer delays fire at once. Leases of
// months or "infinite" are common, so long waits are chained in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

class SystemTimer implements TimerHandle {
  inner: NodeJS.Timeout | undefined;
}

/** The real clock: `Date.now()` and Node timers (unref'd, so they never keep the process up alone). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const handle = new SystemTimer();
    const dueAt = Date.now() + Math.max(0, ms);
    const arm = (): void => {
      const left = dueAt - Date.now();
      if (left <= 0) {
        handle.inner = undefined;
        fn();
        return;
      }
      handle.inner = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      handle.inner.unref();
    };
    handle.inner = setTimeout(arm, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    handle.inner.unref();
    return handle;
  },
  clearTimeout(handle) {
    if (handle instanceof SystemTimer && handle.inner !== undefined) {
      clearTimeout(handle.inner);
      handle.inner = undefined;
    }
  },
};

/** Resolves after `ms` on `clock`; rejects with the signal's reason if aborted first. */
export function sleep(clock: Clock, ms: number, signal?: AbortLike): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
