/**
 * How many transactions may be in flight against the server now: an AIMD window driven by
 * losses and by queueing delay, in the manner of TCP Reno with a delay signal (as Vegas and
 * LEDBAT use one). Pure logic; the caller passes the times.
 *
 * Why both signals. A DHCP datagram is retransmitted only after 4 s (RFC 2131 §4.1), so a loss
 * is known far too late to protect a burst: by then the server's receive buffer has overflowed
 * and every transaction that lost a datagram waits 4 s. A server's queue, though, shows in the
 * reply latency well before its buffer overflows: Kea drops once ~180 datagrams wait, about
 * 50–90 ms of its work. So above the initial window (which cannot overflow a buffer of that
 * size: each transaction has one datagram out), a reply whose queueing delay (latency above the
 * floor, the lowest latency seen lately) passes `QUEUE_DELAY_TARGET_MS`, or four times the floor
 * for a slow or distant server, shrinks the window by a quarter, not below the initial window;
 * a loss (a long wait without a reply) halves it, down to `MIN_WINDOW`. Either at most once
 * per round trip: only a datagram sent after the last decrease can cause another (one
 * congestion event, one reaction). A prompt reply grows the window by one while it is below its
 * slow-start threshold (doubling per round trip, to climb back fast after an outage), by
 * 1/window above it (one more slot per window's worth of replies, to probe gently above what
 * was safe). The threshold starts at the initial window and is set by the latency signal only.
 *
 * Why not only latency (Vegas proper): on a loaded host the latency of a saturated server
 * includes our own event loop and the kernel's, so a delay target tight enough to keep the
 * server's queue empty starves it; the target here only guards the server's buffer.
 */

/** Queueing delay (latency above the floor) that counts as the server falling behind. */
export const QUEUE_DELAY_TARGET_MS = 50;
/** The same, relative to the floor, for servers whose floor is itself long (remote, slow). */
const QUEUE_DELAY_FLOOR_FACTOR = 4;
/**
 * The window a client starts with, if the ceiling is higher: 64 acquisitions in flight kept Kea
 * busy without a loss in the lab, where 200 overflowed its receive buffer. Above it the window
 * is probed one slot per window's worth of prompt replies.
 */
export const INITIAL_WINDOW = 64;
/**
 * The smallest window, when the ceiling allows: what the most fragile server we measured takes
 * (dnsmasq, `DHCP_MAX_CONCURRENT=4`). With four slots one stays kept for Docker's requests and
 * upkeep keeps three, so a silent server cannot make either wait behind a recovery.
 */
const MIN_WINDOW = 4;
/** An unanswered wait shorter than this is no evidence of loss, whatever the floor. */
const SILENCE_MIN_MS = 250;
/** An unanswered wait this many times the floor is a loss. */
const SILENCE_FACTOR = 8;
/** The latency floor is the lowest of the current and the previous epoch, so it follows a slower path within two. */
const FLOOR_EPOCH_MS = 30_000;

/** Lowest latency of one kind of exchange, over the current and the previous epoch. */
class Floor {
  #current = Infinity;
  #previous = Infinity;
  #epochStartedAt: number | undefined;

  get ms(): number {
    return Math.min(this.#current, this.#previous);
  }

  sample(latencyMs: number, now: number): void {
    if (this.#epochStartedAt === undefined || now - this.#epochStartedAt >= FLOOR_EPOCH_MS) {
      this.#previous = this.#epochStartedAt === undefined ? Infinity : this.#current;
      this.#current = Infinity;
      this.#epochStartedAt = now;
    }
    this.#current = Math.min(this.#current, latencyMs);
  }
}

export class CongestionWindow {
  /** Fractional: additive increase adds 1/window per reply. */
  #size: number;
  #slowStartBelow: number;
  #lastDecreaseAt = -Infinity;
  /**
   * One floor per kind of exchange: a server may answer one kind much later by design (ISC
   * dhcpd pings an address for ~1 s before offering it, then ACKs its REQUEST at once).
   */
  readonly #floors = new Map<string, Floor>();
  readonly #min: number;
  readonly #initial: number;

  constructor(
    /** The ceiling (`DHCP_MAX_CONCURRENT`): the window never exceeds it. */
    readonly max: number,
    initial = INITIAL_WINDOW,
  ) {
    this.#min = Math.min(max, MIN_WINDOW);
    this.#size = Math.max(this.#min, Math.min(max, initial));
    this.#initial = this.#size;
    // Up to the initial window is known to be safe: climbing back to it doubles per round trip.
    this.#slowStartBelow = this.#size;
  }

  /** Transactions allowed in flight now: a whole number from `min(max, 4)` to `max`. */
  get size(): number {
    return Math.floor(this.#size);
  }

  /** Latency floor of exchanges of `kind`, in ms (Infinity before the first sample). */
  floorMs(kind: string): number {
    return this.#floors.get(kind)?.ms ?? Infinity;
  }

  /** A reply to a first attempt of kind `kind` sent at `sentAt` arrived at `now`. */
  onReply(kind: string, sentAt: number, now: number): void {
    const latencyMs = Math.max(0, now - sentAt);
    let floor = this.#floors.get(kind);
    if (floor === undefined) this.#floors.set(kind, (floor = new Floor()));
    floor.sample(latencyMs, now);
    if (latencyMs - floor.ms > Math.max(QUEUE_DELAY_TARGET_MS, floor.ms * QUEUE_DELAY_FLOOR_FACTOR)) {
      // Not below the initial window: a queue of that many cannot overflow a server's buffer
      // (each transaction has one datagram out), and on a loaded host the latency of a busy
      // server rises with our own and the kernel's scheduling, not only its queue.
      if (this.#size > this.#initial) this.#decrease(sentAt, now, 0.75, true);
      return;
    }
    this.#size = Math.min(this.max, this.#size + (this.#size < this.#slowStartBelow ? 1 : 1 / this.#size));
  }

  /**
   * A datagram of kind `kind` sent at `sentAt` got no reply in the `waitedMs` until `now`: its
   * retransmission delay, or less when the transaction's deadline came first. A wait counts as
   * a loss once it is long past what such replies take (`SILENCE_FACTOR` times the floor, at
   * least `SILENCE_MIN_MS`): requests that queued for a slot reach it with little time left
   * and would otherwise never report the silence they meet.
   */
  onSilence(kind: string, sentAt: number, waitedMs: number, now: number): void {
    const floor = this.floorMs(kind);
    if (waitedMs < Math.max(SILENCE_MIN_MS, floor === Infinity ? 0 : floor * SILENCE_FACTOR)) return;
    // Silence is as often an outage as overload: the slow-start threshold stays, so once replies
    // come back the window doubles per round trip back to what was last safe. A server that was
    // overloaded shows it in its latency on the way up, which lowers the threshold.
    this.#decrease(sentAt, now, 0.5, false);
  }

  #decrease(sentAt: number, now: number, factor: number, lowersThreshold: boolean): void {
    // Sent before the last decrease: part of the congestion already reacted to.
    if (sentAt <= this.#lastDecreaseAt) return;
    this.#lastDecreaseAt = now;
    this.#size = Math.max(lowersThreshold ? this.#initial : this.#min, this.#size * factor);
    if (lowersThreshold) this.#slowStartBelow = this.#size;
  }
}
