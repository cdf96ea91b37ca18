/**
 * A lease as the lease manager holds it: one object per lease whose fields change in place, and
 * its place in the timer queue (the entry is the queue's item: no timer object or closure per
 * lease).
 *
 * Why in place: a renewal used to replace the lease and its binding with new objects (twice: once
 * entering RENEWING, once bound again). The new ones lived until the next renewal, so the young
 * generation promoted them, and the old ones became garbage in the old generation. With 50,000
 * leases renewing, that garbage grew the heap by 30 MB between two full collections, while
 * the live heap stayed the same (docs/performance.md, sixth measurement). Here a renewal writes
 * numbers into fields that already exist, and the binding's parameters are one object shared by
 * the leases that have the same (`internParams`), so nothing of a lease is left behind in the old
 * generation.
 *
 * What leaves the manager is a `Lease` snapshot (`snapshot()`), made on demand and never changed:
 * callers, events and the lease table keep the value semantics they had.
 */
import type { Binding } from '../dhcp/binding.js';
import { clientIdForMac, isClientIdForMac, type ClientIdentity } from '../dhcp/messages.js';
import type { StepAbort } from '../abort.js';
import type { Queued } from '../timer-queue.js';
import { internParams, type BindingParams } from './intern.js';
import type { Lease } from './lease.js';
import type { LeaseState, Timed } from './state.js';

/** The fields of a lease that change while it is held. */
export type LeaseChange = Partial<Pick<Lease, 'state' | 'requestedAt' | 'renewAt' | 'rebindAt' | 'expiresAt' | 'retryAt' | 'recoveryAttempts'>>;

export class Entry implements Queued, Timed {
  queueIndex = -1;
  queueDueAt = 0;
  queueSeq = 0;
  // A lease's id, identity and address never change while it is held (the indexes rely on it).
  readonly id: string;
  readonly mac: string;
  /**
   * The client id, only when it is not the one the MAC implies (`01` + MAC, which every lease of
   * a container endpoint has): that one is made again when asked for (`identity`). Kept, it and
   * the identity object around it cost about 130 bytes a lease, 6 MB at 50,000 leases.
   */
  readonly #clientId: Uint8Array | undefined;
  readonly #hostname: string | undefined;
  readonly ip: string;
  state: LeaseState;
  requestedAt: number;
  /**
   * The lease's deadlines, NaN for none (`null` outside). A field that holds numbers and null
   * alike keeps each number in a heap object of its own: every renewal made four, which lived
   * until the next renewal, so the young generation copied and promoted them and the old one
   * collected them. A field that only ever holds numbers is written in place.
   */
  #renewAt = Number.NaN;
  #rebindAt = Number.NaN;
  #expiresAt = Number.NaN;
  #retryAt = Number.NaN;
  recoveryAttempts: number;
  /** The binding's server and parameters, shared with the other leases that have the same. */
  params: BindingParams;
  /** The binding's transaction. */
  xid: number;
  running: Promise<void> | undefined = undefined;
  /**
   * The running step's controller, aborted when the lease is released or forgotten: ends the
   * step (a release does not wait for it). Made per step and dropped after it: a controller and
   * its signal held for every lease cost about 250 bytes each, 12 MB at 50,000 leases.
   */
  abort: StepAbort | undefined = undefined;
  /** Released or forgotten: no step starts any more. */
  ended = false;
  /** No new step before this time: a back-off after a bug. */
  holdUntil = 0;
  /**
   * A restored overdue lease's turn: nothing goes on the wire for it before this time. Expiring
   * (a change of state, nothing sent) does not wait for it; the INIT-REBOOT after it does.
   */
  turnAt = 0;

  constructor(lease: Lease) {
    this.id = lease.id;
    const { mac, clientId, hostname } = lease.identity;
    this.mac = mac;
    this.#clientId = isClientIdForMac(clientId, mac) ? undefined : clientId;
    this.#hostname = hostname;
    this.ip = lease.ip;
    this.state = lease.state;
    this.requestedAt = lease.requestedAt;
    this.renewAt = lease.renewAt;
    this.rebindAt = lease.rebindAt;
    this.expiresAt = lease.expiresAt;
    this.retryAt = lease.retryAt;
    this.recoveryAttempts = lease.recoveryAttempts;
    // The lease's own server id, which is its binding's but for a hand-edited table.
    this.params = internParams({ ...lease.binding, serverId: lease.serverId });
    this.xid = lease.binding.xid;
  }

  get renewAt(): number | null {
    return orNull(this.#renewAt);
  }
  set renewAt(at: number | null) {
    this.#renewAt = at ?? Number.NaN;
  }
  get rebindAt(): number | null {
    return orNull(this.#rebindAt);
  }
  set rebindAt(at: number | null) {
    this.#rebindAt = at ?? Number.NaN;
  }
  get expiresAt(): number | null {
    return orNull(this.#expiresAt);
  }
  set expiresAt(at: number | null) {
    this.#expiresAt = at ?? Number.NaN;
  }
  get retryAt(): number | null {
    return orNull(this.#retryAt);
  }
  set retryAt(at: number | null) {
    this.#retryAt = at ?? Number.NaN;
  }

  /** The lease's identity: a new object at each call (a client id the MAC implies is made anew). */
  get identity(): ClientIdentity {
    const identity: ClientIdentity = { mac: this.mac, clientId: this.#clientId ?? clientIdForMac(this.mac, (n) => new Uint8Array(n)) };
    if (this.#hostname !== undefined) identity.hostname = this.#hostname;
    return identity;
  }

  get serverId(): string {
    return this.params.serverId;
  }

  /** Takes a new binding's values (a renewal, a reacquisition); the caller sets the timers. */
  setBinding(b: Binding): void {
    this.requestedAt = b.requestedAt;
    this.params = internParams(b);
    this.xid = b.xid;
  }

  /** Applies the changes given (an absent field stays as it is). */
  update(change: LeaseChange): void {
    if (change.state !== undefined) this.state = change.state;
    if (change.requestedAt !== undefined) this.requestedAt = change.requestedAt;
    if (change.renewAt !== undefined) this.renewAt = change.renewAt;
    if (change.rebindAt !== undefined) this.rebindAt = change.rebindAt;
    if (change.expiresAt !== undefined) this.expiresAt = change.expiresAt;
    if (change.retryAt !== undefined) this.retryAt = change.retryAt;
    if (change.recoveryAttempts !== undefined) this.recoveryAttempts = change.recoveryAttempts;
  }

  /** The binding as the server granted it. */
  binding(): Binding {
    const p = this.params;
    const b: Binding = { ip: this.ip, serverId: p.serverId, requestedAt: this.requestedAt, leaseTimeSeconds: p.leaseTimeSeconds, xid: this.xid };
    if (p.renewalTimeSeconds !== undefined) b.renewalTimeSeconds = p.renewalTimeSeconds;
    if (p.rebindingTimeSeconds !== undefined) b.rebindingTimeSeconds = p.rebindingTimeSeconds;
    if (p.subnetMask !== undefined) b.subnetMask = p.subnetMask;
    if (p.routers !== undefined) b.routers = p.routers;
    if (p.dnsServers !== undefined) b.dnsServers = p.dnsServers;
    if (p.domainName !== undefined) b.domainName = p.domainName;
    return b;
  }

  /** The lease as it is now: a new object at each call, which nobody changes. */
  snapshot(state: LeaseState = this.state): Lease {
    return {
      id: this.id,
      identity: this.identity,
      ip: this.ip,
      serverId: this.serverId,
      state,
      binding: this.binding(),
      requestedAt: this.requestedAt,
      renewAt: this.renewAt,
      rebindAt: this.rebindAt,
      expiresAt: this.expiresAt,
      retryAt: this.retryAt,
      recoveryAttempts: this.recoveryAttempts,
    };
  }
}

function orNull(at: number): number | null {
  return Number.isNaN(at) ? null : at;
}
