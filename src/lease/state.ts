/**
 * The lease state machine (RFC 2131 §4.4, Figure 5) as data plus one pure function.
 *
 * `TRANSITIONS` lists every legal move; `nextStep(lease, now)` says what to do at `now` and
 * when to look again. `LeaseManager` performs the step and re-arms one timer per lease. The
 * SELECTING and REQUESTING states are lived through inside `DhcpClient.acquire()`; EXPIRED and
 * REBOOTING are ours: Docker cannot be told that a container lost its address, so instead of
 * RFC's "return to INIT" we keep asking for the same address (INIT-REBOOT, then DISCOVER with
 * option 50) and say so loudly.
 */

export const LeaseState = {
  Selecting: 'SELECTING',
  Requesting: 'REQUESTING',
  Bound: 'BOUND',
  Renewing: 'RENEWING',
  Rebinding: 'REBINDING',
  Expired: 'EXPIRED',
  Rebooting: 'REBOOTING',
  Released: 'RELEASED',
} as const;
export type LeaseState = (typeof LeaseState)[keyof typeof LeaseState];

/** Legal state changes. RELEASED is final. */
export const TRANSITIONS: Readonly<Record<LeaseState, readonly LeaseState[]>> = {
  SELECTING: ['REQUESTING', 'RELEASED'],
  REQUESTING: ['BOUND', 'SELECTING', 'RELEASED'],
  BOUND: ['RENEWING', 'REBINDING', 'EXPIRED', 'REBOOTING', 'RELEASED'],
  RENEWING: ['BOUND', 'REBINDING', 'EXPIRED', 'REBOOTING', 'RELEASED'],
  REBINDING: ['BOUND', 'EXPIRED', 'REBOOTING', 'RELEASED'],
  EXPIRED: ['REBOOTING', 'RELEASED'],
  REBOOTING: ['BOUND', 'EXPIRED', 'RELEASED'],
  RELEASED: [],
};

/** A state change that `TRANSITIONS` does not allow: a bug, never an input problem. */
export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError';

  constructor(
    readonly from: LeaseState,
    readonly to: LeaseState,
  ) {
    super(`illegal lease transition ${from} -> ${to}`);
  }
}

/** Throws `IllegalTransitionError` unless `from -> to` is in `TRANSITIONS` (or a no-op). */
export function assertTransition(from: LeaseState, to: LeaseState): void {
  if (from !== to && !TRANSITIONS[from].includes(to)) throw new IllegalTransitionError(from, to);
}

/** What the manager must do now. */
export type Action = 'wait' | 'renew' | 'rebind' | 'expire' | 'reboot';

export interface Step {
  action: Action;
  /** For 'wait': when to call `nextStep` again; null = never (infinite lease, or driven elsewhere). */
  wakeAt: number | null;
}

/** The timer fields `nextStep` reads; a `Lease` has them all. */
export interface Timed {
  state: LeaseState;
  renewAt: number | null;
  rebindAt: number | null;
  expiresAt: number | null;
  retryAt: number | null;
}

const WAIT_FOREVER: Step = { action: 'wait', wakeAt: null };

/**
 * The next step for a lease at `now`. Pure. Deadlines are checked latest first, so a lease
 * whose timers all passed while the host slept (or the daemon was down) goes straight to the
 * right state instead of renewing an address that already expired.
 */
export function nextStep(lease: Timed, now: number): Step {
  const { expiresAt, rebindAt, renewAt, retryAt } = lease;
  const due = (at: number | null): boolean => at !== null && now >= at;
  switch (lease.state) {
    case 'BOUND':
      if (due(expiresAt)) return { action: 'expire', wakeAt: null };
      if (due(rebindAt)) return { action: 'rebind', wakeAt: null };
      if (due(renewAt)) return { action: 'renew', wakeAt: null };
      return renewAt === null ? WAIT_FOREVER : { action: 'wait', wakeAt: renewAt };
    case 'RENEWING':
      if (due(expiresAt)) return { action: 'expire', wakeAt: null };
      if (due(rebindAt)) return { action: 'rebind', wakeAt: null };
      if (retryAt === null || due(retryAt)) return { action: 'renew', wakeAt: null };
      return { action: 'wait', wakeAt: minOf(retryAt, rebindAt) };
    case 'REBINDING':
      if (due(expiresAt)) return { action: 'expire', wakeAt: null };
      if (retryAt === null || due(retryAt)) return { action: 'rebind', wakeAt: null };
      return { action: 'wait', wakeAt: minOf(retryAt, expiresAt) };
    case 'EXPIRED':
    case 'REBOOTING':
      if (retryAt === null || due(retryAt)) return { action: 'reboot', wakeAt: null };
      return { action: 'wait', wakeAt: retryAt };
    case 'SELECTING':
    case 'REQUESTING':
    case 'RELEASED':
      return WAIT_FOREVER;
  }
}

function minOf(a: number, b: number | null): number {
  return b === null ? a : Math.min(a, b);
}
