/**
 * The one gate every DHCP datagram passes, shared by all of a client's work: acquisitions with
 * their retransmissions, renewals, rebinds, INIT-REBOOT recoveries and RELEASEs.
 *
 * Two bounds, both served in priority order (FIFO within a priority):
 * - **Transactions in flight.** A transaction (one acquire, renew, rebind or reboot step) holds a
 *   slot from its first datagram to its answer or its deadline. Servers cope with a bounded
 *   window and lose the rest: with 200 acquisitions in flight Kea's receive buffer overflowed and
 *   throughput fell from ~2,000 to 40 leases/s; dnsmasq does not reserve what it offers and
 *   NAKs concurrent clients. Work that Docker waits for may use every slot; renewals and
 *   recoveries (background work) leave a quarter of them free for it, and recoveries of expired
 *   leases, which against a silent server hold their slot for up to a minute, use at most a
 *   quarter. So a `docker run` never queues behind lease upkeep, however much of it there is.
 * - **Datagrams per second**, a token bucket with a burst of 10 ms worth. The window above keeps
 *   a live server busy but not flooded; the rate bounds what a restart with thousands of overdue
 *   leases, or retransmissions to a silent server, can put on the wire in any second.
 *   Messages that get no reply and so are never retransmitted (DHCPRELEASE) are further spaced
 *   at their own rate, also most urgent first: 200 back-to-back RELEASEs made Kea lose the last ~25.
 */
import type { AbortLike } from '../abort.js';
import type { Clock, TimerHandle } from '../clock.js';
import { Pacer } from './pacer.js';

/** Who waits for a send, most urgent first. */
export const Priority = {
  /** Requests Docker is waiting on: new acquisitions, releases, probes. */
  Docker: 0,
  /** Keeping held leases alive: renew at T1, rebind at T2. */
  Upkeep: 1,
  /** Winning back expired or refused leases (INIT-REBOOT, then DISCOVER): best effort. */
  Recovery: 2,
} as const;
export type Priority = (typeof Priority)[keyof typeof Priority];

/** Transactions in flight at once (`DHCP_MAX_CONCURRENT`): 32 kept Kea at ~2,000 leases/s. */
export const DEFAULT_MAX_IN_FLIGHT = 32;
/**
 * Datagrams per second at most. The window of transactions in flight is what keeps a server
 * from being flooded (each transaction has one datagram out at a time, so a live server paces
 * us by its answers); this rate caps what can go on the wire whatever happens. It was set above
 * what Kea took then (perfdhcp ~3,900 DORA/s, ~7,800 datagrams/s) so that it never slows a
 * server that keeps up: at 5,000/s, 200 RequestAddress calls at once got 35 % fewer addresses
 * per second than without the cap. Later Kea took ~8,000 DORA/s in the lab (16,000
 * datagrams/s), and this cap allows the plugin 5,000 addresses/s; its own CPU held bursts of
 * 1,000 and 10,000 calls to 2,400–3,000/s there, and a cap of 40,000 made none faster
 * (docs/performance.md, eighth measurement). Raise it when the plugin outgrows it.
 */
export const DEFAULT_DATAGRAMS_PER_SECOND = 10_000;
/** DHCPRELEASEs per second at most (never retransmitted, so never sent in bursts). */
export const DEFAULT_RELEASES_PER_SECOND = 500;
/**
 * Datagrams the bucket may release back to back after an idle spell: 10 ms worth. At the default
 * rate that is 100, more than the transactions in flight, so a burst of new transactions is not
 * held back by a timer turn (on a loaded host a turn can take much longer than its 1 ms).
 */
const BURST_MS = 10;

export interface SenderOptions {
  clock: Clock;
  /** Transactions in flight at once; default `DEFAULT_MAX_IN_FLIGHT`. */
  maxInFlight?: number;
  /** Datagrams per second at most; default `DEFAULT_DATAGRAMS_PER_SECOND`. */
  datagramsPerSecond?: number;
  /** Unanswered datagrams (RELEASE) per second at most; default `DEFAULT_RELEASES_PER_SECOND`. */
  releasesPerSecond?: number;
}

/** A transaction waited for a slot past its deadline without sending anything. */
export class QueueDeadlineError extends Error {
  override readonly name = 'QueueDeadlineError';

  constructor() {
    super('no transaction slot before the deadline');
  }
}

interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  done: boolean;
}

/** FIFO lanes, one per priority; `shift()` takes from the most urgent non-empty lane. */
class Lanes {
  readonly #lanes: Waiter[][] = [[], [], []];
  readonly #heads = [0, 0, 0];

  push(p: Priority, w: Waiter): void {
    (this.#lanes[p] as Waiter[]).push(w);
  }

  /** The first live waiter of lane `p`, dropping settled (aborted) ones. */
  peek(p: Priority): Waiter | undefined {
    const lane = this.#lanes[p] as Waiter[];
    let head = this.#heads[p] as number;
    while (head < lane.length && (lane[head] as Waiter).done) head++;
    // Compact now and then so a long-lived lane does not grow without bound.
    if (head > 1024 && head * 2 > lane.length) {
      lane.splice(0, head);
      head = 0;
    }
    this.#heads[p] = head;
    return lane[head];
  }

  shift(p: Priority): Waiter | undefined {
    const w = this.peek(p);
    if (w !== undefined) this.#heads[p] = (this.#heads[p] as number) + 1;
    return w;
  }

  /** The most urgent priority with a live waiter. */
  first(): Priority | undefined {
    for (const p of [Priority.Docker, Priority.Upkeep, Priority.Recovery]) if (this.peek(p) !== undefined) return p;
    return undefined;
  }

  /** Whether some waiter of priority `p` or more urgent is queued. */
  anyAtOrAbove(p: Priority): boolean {
    const f = this.first();
    return f !== undefined && f <= p;
  }
}

export class Sender {
  readonly maxInFlight: number;
  readonly datagramsPerSecond: number;
  readonly #clock: Clock;
  readonly #limits: Record<Priority, number>;
  readonly #recoveryLimit: number;
  readonly #active: Record<Priority, number> = [0, 0, 0];
  #inFlight = 0;
  readonly #slotWaiters = new Lanes();
  readonly #burst: number;
  #tokens: number;
  #refilledAt: number;
  #timer: TimerHandle | undefined;
  readonly #sendWaiters = new Lanes();
  readonly #releasePacer: Pacer;

  constructor(o: SenderOptions) {
    const max = o.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    const rate = o.datagramsPerSecond ?? DEFAULT_DATAGRAMS_PER_SECOND;
    const releases = o.releasesPerSecond ?? DEFAULT_RELEASES_PER_SECOND;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxInFlight must be a positive integer, got ${max}`);
    if (!(rate > 0)) throw new RangeError(`datagramsPerSecond must be positive, got ${rate}`);
    if (!(releases > 0)) throw new RangeError(`releasesPerSecond must be positive, got ${releases}`);
    this.#clock = o.clock;
    this.maxInFlight = max;
    this.datagramsPerSecond = rate;
    // A quarter of the slots (at least one, when there are two or more) is kept for Docker's
    // requests; with a single slot nothing can be kept aside.
    const reserved = max >= 2 ? Math.max(1, Math.floor(max / 4)) : 0;
    this.#limits = [max, max - reserved, max - reserved];
    this.#recoveryLimit = Math.max(1, Math.floor(max / 4));
    this.#burst = Math.max(1, Math.floor((rate * BURST_MS) / 1000));
    this.#tokens = this.#burst;
    this.#refilledAt = o.clock.now();
    this.#releasePacer = new Pacer(o.clock, 1000 / releases);
  }

  /** Transactions holding a slot now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Runs `task` holding one transaction slot. Waits for the slot behind more urgent work and
   * earlier work of the same priority; rejects with the signal's reason if aborted while
   * waiting, or with `QueueDeadlineError` if `deadlineAt` passes first.
   */
  async transaction<T>(priority: Priority, signal: AbortLike, deadlineAt: number, task: () => Promise<T>): Promise<T> {
    if (signal.aborted) throw signal.reason;
    if (this.#slotWaiters.anyAtOrAbove(priority) || !this.#admissible(priority)) {
      await this.#queue(this.#slotWaiters, priority, signal, deadlineAt);
    } else {
      this.#take(priority);
    }
    try {
      return await task();
    } finally {
      this.#active[priority]--;
      this.#inFlight--;
      this.#admit();
    }
  }

  /** Resolves when one datagram may go on the wire; more urgent datagrams go first. */
  datagram(priority: Priority, signal: AbortLike): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    if (this.takeDatagram()) return Promise.resolve();
    const queued = this.#queue(this.#sendWaiters, priority, signal, Infinity);
    this.#arm();
    return queued;
  }

  /**
   * `datagram()` when it need not wait: takes a token and returns true if one is there and no
   * datagram is queued; otherwise takes nothing. Spares the sender of each datagram a promise
   * and a turn of the event loop.
   */
  takeDatagram(): boolean {
    if (this.#sendWaiters.first() !== undefined) return false;
    this.#refill();
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }

  /**
   * Like `datagram()`, for a datagram that gets no reply (RELEASE): also spaced at its own rate,
   * most urgent first there too, so Docker's RELEASE does not wait behind a pool's worth of
   * background ones.
   */
  async unanswered(priority: Priority, signal: AbortLike): Promise<void> {
    await this.#releasePacer.next(signal, priority);
    await this.datagram(priority, signal);
  }

  #admissible(p: Priority): boolean {
    return this.#inFlight < this.#limits[p] && (p !== Priority.Recovery || this.#active[p] < this.#recoveryLimit);
  }

  #take(p: Priority): void {
    this.#active[p]++;
    this.#inFlight++;
  }

  /** Hands free slots to waiters, most urgent first. */
  #admit(): void {
    for (const p of [Priority.Docker, Priority.Upkeep, Priority.Recovery]) {
      while (this.#admissible(p)) {
        const w = this.#slotWaiters.shift(p);
        if (w === undefined) break;
        this.#take(p);
        w.done = true;
        w.resolve();
      }
      // Lower priorities have tighter limits: if this lane still waits, so do they.
      if (this.#slotWaiters.peek(p) !== undefined) return;
    }
  }

  #queue(lanes: Lanes, p: Priority, signal: AbortLike, deadlineAt: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let deadline: TimerHandle | undefined;
      const onAbort = (): void => settle(signal.reason);
      const settle = (reason?: unknown): void => {
        if (w.done) return;
        w.done = true;
        finish();
        reject(reason);
      };
      const finish = (): void => {
        signal.removeEventListener('abort', onAbort);
        if (deadline !== undefined) this.#clock.clearTimeout(deadline);
      };
      const w: Waiter = {
        resolve: () => {
          finish();
          resolve();
        },
        reject,
        done: false,
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (deadlineAt !== Infinity) {
        deadline = this.#clock.setTimeout(() => settle(new QueueDeadlineError()), deadlineAt - this.#clock.now());
      }
      lanes.push(p, w);
    });
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) * this.datagramsPerSecond) / 1000);
    this.#refilledAt = now;
  }

  /** Arms the timer that grants queued datagrams as tokens come in. */
  #arm(): void {
    if (this.#timer !== undefined || this.#sendWaiters.first() === undefined) return;
    const waitMs = Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.datagramsPerSecond));
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#refill();
      for (;;) {
        const p = this.#sendWaiters.first();
        if (p === undefined || this.#tokens < 1) break;
        const w = this.#sendWaiters.shift(p) as Waiter;
        this.#tokens--;
        w.done = true;
        w.resolve();
      }
      this.#arm();
    }, waitMs);
  }
}
