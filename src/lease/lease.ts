/**
 * A container's lease as d4d tracks it: the binding the server granted plus our timers.
 * Plain data (no methods) so it can be persisted and compared as is.
 */
import type { Binding } from '../dhcp/binding.js';
import { INFINITE_LEASE_SECONDS } from '../dhcp/codec/option-codes.js';
import type { ClientIdentity } from '../dhcp/messages.js';
import type { LeaseState } from './state.js';

export interface Lease {
  /** Caller's key for this lease (one per container endpoint). */
  id: string;
  identity: ClientIdentity;
  ip: string;
  serverId: string;
  state: LeaseState;
  binding: Binding;
  /** Start of the lease: when the acknowledged REQUEST was sent. */
  requestedAt: number;
  /** When to start renewing (T1), null for an infinite lease. */
  renewAt: number | null;
  /** When to start rebinding (T2), null for an infinite lease. */
  rebindAt: number | null;
  /** When the address must no longer be used, null for an infinite lease. */
  expiresAt: number | null;
  /** Next attempt while RENEWING, REBINDING, EXPIRED or REBOOTING. */
  retryAt: number | null;
  /** Consecutive failed attempts to get the address back after expiry or a NAK. */
  recoveryAttempts: number;
}

/** RFC 2131 §4.4.5 defaults: T1 = 0.5 × lease, T2 = 0.875 × lease. */
export const DEFAULT_T1_FRACTION = 0.5;
export const DEFAULT_T2_FRACTION = 0.875;
/** T1 and T2 "SHOULD be chosen with some random fuzz" (RFC 2131 §4.4.5); systemd uses ±1 s. */
export const TIMER_FUZZ_MS = 1_000;

export interface LeaseTimes {
  renewAt: number | null;
  rebindAt: number | null;
  expiresAt: number | null;
}

/**
 * Timers for a binding, counted from when its REQUEST was sent. Server values of T1/T2
 * (options 58/59) win when they are sane (T1 < T2 < lease, as systemd checks); otherwise the
 * RFC fractions apply. The fuzz never breaks the order start < T1 < T2 < expiry.
 */
export function leaseTimes(binding: Binding, random: () => number): LeaseTimes {
  if (binding.leaseTimeSeconds === INFINITE_LEASE_SECONDS) return { renewAt: null, rebindAt: null, expiresAt: null };
  const leaseMs = binding.leaseTimeSeconds * 1000;
  let t2Ms = (binding.rebindingTimeSeconds ?? 0) * 1000;
  if (t2Ms <= 0 || t2Ms >= leaseMs) t2Ms = leaseMs * DEFAULT_T2_FRACTION;
  let t1Ms = (binding.renewalTimeSeconds ?? 0) * 1000;
  // Without a sane T1 use the RFC fraction, scaled down when the server's T2 comes earlier.
  if (t1Ms <= 0 || t1Ms >= t2Ms) {
    t1Ms = leaseMs * DEFAULT_T1_FRACTION < t2Ms ? leaseMs * DEFAULT_T1_FRACTION : (t2Ms * DEFAULT_T1_FRACTION) / DEFAULT_T2_FRACTION;
  }
  // Fuzz at most a quarter of the gap to each neighbour, so short test leases keep their order.
  const fuzz = (ms: number, room: number): number => ms + (random() * 2 - 1) * Math.min(TIMER_FUZZ_MS, room / 4);
  const t1 = fuzz(t1Ms, Math.min(t1Ms, t2Ms - t1Ms));
  const t2 = fuzz(t2Ms, Math.min(t2Ms - t1Ms, leaseMs - t2Ms));
  const start = binding.requestedAt;
  return { renewAt: Math.round(start + t1), rebindAt: Math.round(start + t2), expiresAt: start + leaseMs };
}

/** A fresh BOUND lease from a binding. */
export function leaseFromBinding(id: string, identity: ClientIdentity, binding: Binding, random: () => number): Lease {
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
