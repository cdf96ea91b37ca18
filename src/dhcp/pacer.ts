/**
 * Spaces out messages that get no reply and so are never retransmitted (DHCPRELEASE). A burst
 * of them — `docker network rm`, or many containers stopping at once — overflows the server's
 * receive buffer: in the lab, Kea silently lost the last ~25 of 200 RELEASEs sent back to back,
 * leaving those leases to linger until they expire.
 */
import { sleep, type Clock } from '../clock.js';

export class Pacer {
  #nextAt = -Infinity;

  constructor(
    readonly clock: Clock,
    /** Minimum gap between two grants. */
    readonly intervalMs: number,
  ) {}

  /** Resolves when the caller may send; grants are handed out in call order. */
  async next(signal?: AbortSignal): Promise<void> {
    const now = this.clock.now();
    const at = Math.max(now, this.#nextAt);
    this.#nextAt = at + this.intervalMs;
    if (at > now) await sleep(this.clock, at - now, signal);
  }
}
