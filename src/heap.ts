/**
 * A full collection of the JavaScript heap, for the one moment the daemon knows better than
 * V8's heuristics: a start-up has just replayed its journal.
 *
 * The replay makes a decoded lease per record and the text of every line, all garbage a moment
 * later, and the heap has grown to hold them. V8 collects the old generation when allocation
 * pushes it to, and a quiet daemon's memory reducer later; when renewals fall due at once (a
 * restart in a renewal wave) neither comes first, and the renewals' own garbage grows the heap
 * on top of the replay's: 151–157 MB resident at 50,000 leases, against 143–148 MB with the
 * replay's collected first (docs/performance.md, fifteenth measurement). One collection right
 * after the replay costs about 20 ms at 50,000 leases, once.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DaemonError } from './errors.js';

/** The runtime gives no way to collect on request (a V8 that ignores `--expose-gc`). */
export class NoCollectorError extends DaemonError {
  override readonly name = 'NoCollectorError';
  readonly code = 'NO_GC';
}

let gc: (() => void) | undefined;

/**
 * Collects the whole heap now. V8's `gc()` is only given to contexts made once `--expose-gc` is
 * set, so it is taken from a fresh one: the daemon's own global stays as it was.
 */
export function collectGarbage(): void {
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    // Read with typeof: a bare `gc` would throw a ReferenceError of its own where there is none.
    const found: unknown = runInNewContext("typeof gc === 'function' ? gc : undefined");
    if (typeof found !== 'function') throw new NoCollectorError('V8 gave no gc() with --expose-gc');
    gc = found as () => void;
  }
  gc();
}
