/**
 * Lets the event loop run: what a long pass over every lease awaits between chunks, so that
 * Docker's calls, replies from the DHCP server and lease timers are not held up behind it.
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Leases a pass handles in one turn of the event loop: a few ms at most. */
export const LEASES_PER_TURN = 1_000;
