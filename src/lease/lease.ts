/**
 * A container's lease as d4d tracks it: the binding the server granted plus our timers.
 * Plain data (no methods) so it can be persisted and compared as is, and never changed once
 * made. The lease manager holds each lease as an entry it changes in place (`entry.ts` says
 * why) and makes a `Lease` when one leaves it: for a caller, an event, a record of the lease
 * table. Nothing keeps these for long, so there is one copy of each lease, the manager's.
 */
import type { Binding } from '../dhcp/binding.js';
import { INFINITE_LEASE_SECONDS } from '../dhcp/codec/option-codes.js';
import type { ClientIdentity } from '../dhcp/messages.js';
import { internBinding } from './intern.js';
import type { LeaseState } from './state.js';

export interface Lease {
  /** Caller's key for this lease (one per container endpoint). */
  readonly id: string;
  readonly identity: ClientIdentity;
  readonly ip: string;
  readonly serverId: string;
  readonly state: LeaseState;
  readonly binding: Binding;
  /** Start of the lease: when the acknowledged REQUEST was sent. */
  readonly requestedAt: number;
  /** When to start renewing (T1); at most a day after the start (null only in tables written before that rule). */
  readonly renewAt: number | null;
  /** When to start rebinding (T2); null only in tables written before T1 was capped. */
  readonly rebindAt: number | null;
  /** When the address must no longer be used, null for an infinite lease. */
  readonly expiresAt: number | null;
  /** Next attempt while RENEWING, REBINDING, EXPIRED or REBOOTING. */
  readonly retryAt: number | null;
  /** Consecutive failed attempts to get the address back after expiry or a NAK. */
  readonly recoveryAttempts: number;
}

/** RFC 2131 §4.4.5 defaults: T1 = 0.5 × lease, T2 = 0.875 × lease. */
export const DEFAULT_T1_FRACTION = 0.5;
export const DEFAULT_T2_FRACTION = 0.875;
/**
 * T1 and T2 "SHOULD be chosen with some random fuzz around a fixed value, to avoid
 * synchronization of client reacquisition" (RFC 2131 §4.4.5). A fixed ±1 s (systemd's choice)
 * is too little for a host whose leases were all acquired in one burst (a `docker compose up`,
 * a restart that renews a whole table): 3,000 leases would renew within 2 s of each other, lease
 * after lease, forever. So T1 moves by up to ±10 % of the lease: a burst spreads over a fifth of
 * the lease at its first renewal, and since each renewal draws again from the moment it
 * happened, renewal times keep drifting apart (a random walk) instead of staying in step. ±10 %
 * keeps T1 between 0.4 and 0.6 of the lease, so with the default T2 a failed renewal still has at
 * least a quarter of the lease to retry before rebinding. T2 moves by only ±2.5 %: it must stay
 * clear of T1 and of the expiry, and spreading T1 already spreads the traffic.
 */
export const T1_FUZZ_FRACTION = 0.1;
export const T2_FUZZ_FRACTION = 0.025;
/**
 * T1 is never later than a day after the lease starts, whatever the lease says. An infinite lease
 * (0xffffffff) or one of years, forged or misconfigured, would otherwise never be renewed, and
 * a server that later shortens it or gives the address away would never be heard. A lease this
 * long is treated, for its timers, as a lease of two days: T1 within a day, T2 (rebinding) within
 * 1.75 days; the expiry stays what the server said (none for an infinite lease).
 */
export const MAX_RENEWAL_INTERVAL_MS = 86_400_000;
const MAX_TIMER_SPAN_MS = MAX_RENEWAL_INTERVAL_MS / DEFAULT_T1_FRACTION;
const MAX_REBIND_INTERVAL_MS = MAX_TIMER_SPAN_MS * DEFAULT_T2_FRACTION;

export interface LeaseTimes {
  /** T1: always set. */
  renewAt: number | null;
  /** T2: always set. */
  rebindAt: number | null;
  /** Null for an infinite lease. */
  expiresAt: number | null;
}

/**
 * Timers for a binding, counted from when its REQUEST was sent. Server values of T1/T2
 * (options 58/59) win when they are sane (T1 < T2 < lease, as systemd checks); otherwise the
 * RFC fractions apply. T1 is capped at a day (`MAX_RENEWAL_INTERVAL_MS`). The fuzz never breaks
 * the order start < T1 < T2 < expiry.
 */
export function leaseTimes(binding: Binding, random: () => number): LeaseTimes {
  const infinite = binding.leaseTimeSeconds === INFINITE_LEASE_SECONDS;
  const leaseMs = infinite ? Infinity : binding.leaseTimeSeconds * 1000;
  let t2Ms = (binding.rebindingTimeSeconds ?? 0) * 1000;
  if (t2Ms <= 0 || t2Ms >= leaseMs) t2Ms = leaseMs * DEFAULT_T2_FRACTION;
  let t1Ms = (binding.renewalTimeSeconds ?? 0) * 1000;
  // Without a sane T1 use the RFC fraction, scaled down when the server's T2 comes earlier.
  if (t1Ms <= 0 || t1Ms >= t2Ms) {
    t1Ms = leaseMs * DEFAULT_T1_FRACTION < t2Ms ? leaseMs * DEFAULT_T1_FRACTION : (t2Ms * DEFAULT_T1_FRACTION) / DEFAULT_T2_FRACTION;
  }
  // The fuzz is a fraction of the lease, or of two days for longer leases.
  const spanMs = Math.min(leaseMs, MAX_TIMER_SPAN_MS);
  const t1FuzzMs = T1_FUZZ_FRACTION * spanMs;
  // Centre a capped T1 so that even the latest draw is within the day. T2 was after T1, so the
  // capped T2 still is (1.75 days > 1 day).
  if (t1Ms + t1FuzzMs > MAX_RENEWAL_INTERVAL_MS) t1Ms = MAX_RENEWAL_INTERVAL_MS - t1FuzzMs;
  if (t2Ms > MAX_REBIND_INTERVAL_MS) t2Ms = MAX_REBIND_INTERVAL_MS;
  // Fuzz at most a quarter of the gap to each neighbour, so short leases keep their order.
  const fuzz = (ms: number, maxMs: number, room: number): number => ms + (random() * 2 - 1) * Math.min(maxMs, room / 4);
  const t1 = fuzz(t1Ms, t1FuzzMs, Math.min(t1Ms, t2Ms - t1Ms));
  const t2 = fuzz(t2Ms, T2_FUZZ_FRACTION * spanMs, Math.min(t2Ms - t1Ms, leaseMs - t2Ms));
  const start = binding.requestedAt;
  return { renewAt: Math.round(start + t1), rebindAt: Math.round(start + t2), expiresAt: infinite ? null : start + leaseMs };
}

/** A fresh BOUND lease from a binding. */
export function leaseFromBinding(id: string, identity: ClientIdentity, binding: Binding, random: () => number): Lease {
  internBinding(binding);
  return {
    id,
    identity,
    ip: binding.ip,
    serverId: binding.serverId,
    state: 'BOUND',
    binding,
    requestedAt: binding.requestedAt,
    ...leaseTimes(binding, random),
    retryAt: null,
    recoveryAttempts: 0,
  };
}

/**
 * The lease an offer becomes once acknowledged, made while its REQUEST is out so that it can be
 * recorded meanwhile. REBOOTING, with its retry due from the start: read back from the table
 * (a crash came before the acknowledged lease's own record), it is asked for again with
 * INIT-REBOOT before it is trusted, since the server may never have acknowledged it.
 */
export function leaseOffered(id: string, identity: ClientIdentity, binding: Binding, random: () => number): Lease {
  return { ...leaseFromBinding(id, identity, binding, random), state: 'REBOOTING', retryAt: binding.requestedAt };
}
