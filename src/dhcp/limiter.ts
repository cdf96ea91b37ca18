/**
 * Bounds how many acquisitions run against one server at once. dnsmasq does not reserve the
 * addresses it offers and stalls all DHCP for 3 s per ping, so a burst of DISCOVERs ends in
 * NAKs ("address in use"); ISC drops DISCOVERs under load. Waiters are served in FIFO order.
 */
export class Limiter {
  #active = 0;
  readonly #waiters: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}`);
  }

  /** Runs `task` when a slot is free. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.limit) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    } else {
      this.#active++;
    }
    try {
      return await task();
    } finally {
      const next = this.#waiters.shift();
      // The slot passes straight to the next waiter, so #active stays counted.
      if (next) next();
      else this.#active--;
    }
  }

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiters.length;
  }
}
