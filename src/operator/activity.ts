/**
 * What the running daemon has been doing, kept for `oam-docker-ipam status` and `leases`: when
 * the DHCP server last replied and whether exchanges went unanswered since, acquisitions,
 * renewals, releases and failures in the last minute, the last errors, and each lease's last
 * error. It is fed by the client's observer, the lease manager's events and step observer and
 * the plugin's error hook: every update is O(1), nothing here scans the lease table.
 */
import type { Clock } from '../clock.js';
import type { DhcpObserver, ExchangeReport } from '../dhcp/observer.js';
import type { DaemonError } from '../errors.js';
import type { LeaseEvent } from '../lease/events.js';
import type { Lease } from '../lease/lease.js';
import type { LeaseStepObserver } from '../lease/observer.js';
import type { Action } from '../lease/state.js';

/** What the last-minute counts count. */
export const MINUTE_KINDS = ['acquisitions', 'renewals', 'releases', 'failures'] as const;
export type MinuteKind = (typeof MINUTE_KINDS)[number];

/** An error worth showing an operator, newest last. */
export interface RecentError {
  readonly at: number;
  /** What failed: `renew`, `rebind`, `reboot` of a lease, or a plugin call such as `RequestAddress`. */
  readonly source: string;
  readonly message: string;
  /** The lease concerned, if any. */
  readonly ip?: string;
  readonly mac?: string;
}

export interface ActivitySnapshot {
  readonly startedAt: number;
  readonly lastReplyAt: number | undefined;
  readonly lastUnansweredAt: number | undefined;
  /** Exchanges that ended with no reply at all since the server's last reply. */
  readonly unansweredSinceReply: number;
  readonly lastMinute: Readonly<Record<MinuteKind, number>>;
  readonly recentErrors: readonly RecentError[];
}

/** Counts over the last 60 seconds, in one-second buckets (a ring: nothing to expire). */
class MinuteWindow {
  readonly #seconds = new Array<number>(60).fill(-1);
  readonly #counts = MINUTE_KINDS.map(() => new Array<number>(60).fill(0));

  add(kind: MinuteKind, nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    const slot = second % 60;
    if (this.#seconds[slot] !== second) {
      this.#seconds[slot] = second;
      for (const row of this.#counts) row[slot] = 0;
    }
    const row = this.#counts[MINUTE_KINDS.indexOf(kind)] as number[];
    row[slot] = (row[slot] as number) + 1;
  }

  totals(nowMs: number): Record<MinuteKind, number> {
    const second = Math.floor(nowMs / 1000);
    const out = { acquisitions: 0, renewals: 0, releases: 0, failures: 0 };
    for (let slot = 0; slot < 60; slot++) {
      const at = this.#seconds[slot] as number;
      if (at <= second - 60 || at > second) continue;
      MINUTE_KINDS.forEach((kind, i) => {
        out[kind] += (this.#counts[i] as number[])[slot] as number;
      });
    }
    return out;
  }
}

export class Activity implements DhcpObserver, LeaseStepObserver {
  readonly startedAt: number;
  readonly #clock: Clock;
  readonly #maxErrors: number;
  readonly #window = new MinuteWindow();
  readonly #errors: RecentError[] = [];
  readonly #leaseErrors = new Map<string, { at: number; message: string }>();
  #lastReplyAt: number | undefined;
  #lastUnansweredAt: number | undefined;
  #unanswered = 0;

  constructor(o: { clock: Clock; maxErrors?: number }) {
    this.#clock = o.clock;
    this.#maxErrors = o.maxErrors ?? 10;
    this.startedAt = o.clock.now();
  }

  onReply(): void {
    this.#lastReplyAt = this.#clock.now();
    this.#unanswered = 0;
  }

  onExchange(report: ExchangeReport): void {
    // Only an exchange that sent something and heard nothing says the server is silent; one
    // that never got a transaction slot says we were busy, one refused says the server is up.
    if (report.outcome !== 'timeout') return;
    this.#lastUnansweredAt = this.#clock.now();
    this.#unanswered++;
  }

  stepFailed(lease: Readonly<Lease>, step: Exclude<Action, 'wait'>, error: DaemonError): void {
    const at = this.#clock.now();
    this.#leaseErrors.set(lease.id, { at, message: `${step}: ${error.message}` });
    this.#record({ at, source: step, message: error.message, ip: lease.ip, mac: lease.identity.mac });
  }

  onLeaseEvent(e: LeaseEvent): void {
    const now = this.#clock.now();
    switch (e.type) {
      case 'bound':
        // A new lease under an id that had one before (a name taken over) starts clean.
        this.#leaseErrors.delete(e.lease.id);
        this.#window.add('acquisitions', now);
        return;
      case 'renewed':
      case 'reacquired':
        this.#window.add('renewals', now);
        return;
      case 'released':
        this.#leaseErrors.delete(e.lease.id);
        this.#window.add('releases', now);
        return;
      case 'expired':
        this.#record({
          at: now,
          source: 'expiry',
          message: 'lease expired: the container still uses this address and the server may give it to another client',
          ip: e.lease.ip,
          mac: e.lease.identity.mac,
        });
        return;
      default:
        return;
    }
  }

  /** A plugin call that Docker got an error for. */
  onPluginError(call: string, message: string): void {
    this.#record({ at: this.#clock.now(), source: call, message });
  }

  /** The last failed step of a lease (kept after it recovers: it is the last one, with its time). */
  lastErrorOf(leaseId: string): { at: number; message: string } | undefined {
    return this.#leaseErrors.get(leaseId);
  }

  /** Drops the last errors of leases no longer held (one forgotten without an event). */
  keepOnly(leaseIds: ReadonlySet<string>): void {
    for (const id of this.#leaseErrors.keys()) if (!leaseIds.has(id)) this.#leaseErrors.delete(id);
  }

  snapshot(): ActivitySnapshot {
    return {
      startedAt: this.startedAt,
      lastReplyAt: this.#lastReplyAt,
      lastUnansweredAt: this.#lastUnansweredAt,
      unansweredSinceReply: this.#unanswered,
      lastMinute: this.#window.totals(this.#clock.now()),
      recentErrors: [...this.#errors],
    };
  }

  #record(error: RecentError): void {
    this.#window.add('failures', error.at);
    this.#errors.push(error);
    if (this.#errors.length > this.#maxErrors) this.#errors.shift();
  }
}
