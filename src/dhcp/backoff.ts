/**
 * Retransmission schedules, as pure iterables of delays in milliseconds.
 * Randomness is injected (`random()` in [0, 1)) so tests can pin the fuzz.
 */

/** First retransmission delay and its cap (RFC 2131 §4.1: "4 seconds … up to 64 seconds"). */
export const INITIAL_RETRANSMIT_MS = 4_000;
export const MAX_RETRANSMIT_MS = 64_000;
/** Each delay is randomized by ±1 s ("uniform random number chosen from the range -1 to +1"). */
export const RETRANSMIT_FUZZ_MS = 1_000;
/** RFC 2131 §4.4.5: retries in RENEWING/REBINDING wait half the time left, "down to a minimum of 60 seconds". */
export const MIN_LEASE_RETRY_MS = 60_000;

/** Delays 4, 8, 16, 32, 64, 64, … s, each ±1 s (RFC 2131 §4.1). Infinite; callers bound it. */
export function* rfcBackoff(random: () => number, initialMs = INITIAL_RETRANSMIT_MS): Generator<number, never> {
  let base = initialMs;
  for (;;) {
    yield Math.max(0, base + (random() * 2 - 1) * RETRANSMIT_FUZZ_MS);
    base = Math.min(base * 2, MAX_RETRANSMIT_MS);
  }
}

/**
 * Longest wait between two attempts to extend a lease, whatever its length: a lease of months
 * (or an infinite one) whose renewal failed is still tried at least once a day.
 */
export const MAX_LEASE_RETRY_MS = 86_400_000;

/**
 * When to try again after a renewal (or rebinding) attempt failed at `now`: half the time left
 * until `until` (T2 while renewing, expiry while rebinding; Infinity for an infinite lease), but
 * not sooner than `minRetryMs`, not later than `maxRetryMs`, and never past `until` itself
 * (RFC 2131 §4.4.5).
 */
export function nextLeaseRetryAt(now: number, until: number, minRetryMs = MIN_LEASE_RETRY_MS, maxRetryMs = MAX_LEASE_RETRY_MS): number {
  const left = until - now;
  if (left <= 0) return until;
  return Math.min(until, now + Math.max(Math.min(left / 2, maxRetryMs), minRetryMs));
}

/** `initialMs` doubled once per earlier attempt (attempt 0 waits `initialMs`), up to `maxMs`. */
export function doublingDelayMs(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, attempt), 30));
}

/**
 * Delay before the next attempt to win back a lost address: `initialMs` doubling per failed
 * attempt up to `maxMs`, ±25 % so leases lost together (a server outage) do not retry in step.
 */
export function recoveryDelayMs(attempt: number, random: () => number, initialMs: number, maxMs: number): number {
  return Math.round(doublingDelayMs(attempt, initialMs, maxMs) * (0.75 + random() * 0.5));
}
