/**
 * Spaces out messages that get no reply and so are never retransmitted (DHCPRELEASE). A burst
 * of them — `docker network rm`, or many containers stopping at once — overflows the server's
 * receive buffer: in the lab, Kea silently lost the last ~25 of 200 RELEASEs sent back to back,
 * leaving those leases to linger until they expire.
 *
 * Grants go to the most urgent waiter (lowest priority number), in call order within a priority,
 * so a RELEASE Docker waits for does not queue behind a pool's worth of background ones. One
 * grant per timer turn, `intervalMs` apart on average.
 */
import type { AbortLike } from '../abort.js';
import type { Clock, TimerHandle } from '../clock.js';

interface Waiter {
  resolve: () => void;
  done: boolean;
}

interface Lane {
  waiters: Waiter[];
  head: number;
}

export class Pacer {
  /** When the next grant may be made. */
  #nextAt = -Infinity;
  /** FIFO per priority; settled (aborted) waiters are skipped. */
  readonly #lanes = new Map<number, Lane>();
  #waiting = 0;
  #timer: TimerHandle | undefined;

  constructor(
    readonly clock: Clock,
    /** Minimum gap between two grants. */
    readonly intervalMs: number,
  ) {}

  /**
   * Resolves when the caller may send: at once if nothing waits and the last grant is an
   * interval old, else at its turn, most urgent `priority` first. Rejects with the signal's
   * reason if it aborts first (its turn goes to the next waiter).
   */
  next(signal?: AbortLike, priority = 0): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const now = this.clock.now();
    if (this.#waiting === 0 && now >= this.#nextAt) {
      this.#nextAt = now + this.intervalMs;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        if (w.done) return;
        w.done = true;
        this.#waiting--;
        if (this.#waiting === 0) this.#disarm();
        reject(signal?.reason);
      };
      const w: Waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        done: false,
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      let lane = this.#lanes.get(priority);
      if (lane === undefined) {
        lane = { waiters: [], head: 0 };
        this.#lanes.set(priority, lane);
      }
      lane.waiters.push(w);
      this.#waiting++;
      this.#arm();
    });
  }

  #arm(): void {
    if (this.#timer !== undefined || this.#waiting === 0) return;
    this.#timer = this.clock.setTimeout(
      () => {
        this.#timer = undefined;
        const w = this.#shift();
        if (w !== undefined) {
          w.done = true;
          this.#waiting--;
          // From the due time, not the (possibly late) turn: the average rate holds on a busy
          // host; still at most one grant per turn, so lateness never makes a burst.
          this.#nextAt = Math.max(this.clock.now(), this.#nextAt + this.intervalMs);
          w.resolve();
        }
        this.#arm();
      },
      Math.max(0, this.#nextAt - this.clock.now()),
    );
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The most urgent live waiter, out of its lane. */
  #shift(): Waiter | undefined {
    const priorities = [...this.#lanes.keys()].sort((a, b) => a - b);
    for (const p of priorities) {
      const lane = this.#lanes.get(p) as Lane;
      let w: Waiter | undefined;
      while (lane.head < lane.waiters.length && w === undefined) {
        const next = lane.waiters[lane.head++] as Waiter;
        if (!next.done) w = next;
      }
      // A head index, not Array#shift: a pool's worth of RELEASEs can wait here.
      if (lane.head >= lane.waiters.length) this.#lanes.delete(p);
      else if (lane.head > 1024 && lane.head * 2 > lane.waiters.length) {
        lane.waiters.splice(0, lane.head);
        lane.head = 0;
      }
      if (w !== undefined) return w;
    }
    return undefined;
  }
}
