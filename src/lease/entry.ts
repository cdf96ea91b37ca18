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
 * numbers into the entry's row of numbers (`NumberColumns`, shared by the manager's entries),
 * and the binding's parameters are one object shared by the leases that have the same
 * (`internParams`), so nothing of a lease is left behind in the old generation.
 *
 * What leaves the manager is a `Lease` snapshot (`snapshot()`), made on demand and never changed:
 * callers, events and the lease table keep the value semantics they had.
 */
import type { Binding } from '../dhcp/binding.js';
import { clientIdForMac, macNumberOfClientId, type ClientIdentity } from '../dhcp/messages.js';
import { formatIPv4Number, formatMacNumber, ipv4Number, macNumber } from '../dhcp/codec/ipv4.js';
import type { StepAbort } from '../abort.js';
import type { Queued } from '../timer-queue.js';
import { NumberColumns } from './columns.js';
import { internParams, type BindingParams } from './intern.js';
import type { Lease } from './lease.js';
import type { LeaseState, Timed } from './state.js';

/** The fields of a lease that change while it is held. */
export type LeaseChange = Partial<Pick<Lease, 'state' | 'requestedAt' | 'renewAt' | 'rebindAt' | 'expiresAt' | 'retryAt' | 'recoveryAttempts'>>;

/** Where each number of an entry sits in its row of `NumberColumns`. */
const REQUESTED_AT = 0;
const RENEW_AT = 1;
const REBIND_AT = 2;
const EXPIRES_AT = 3;
const RETRY_AT = 4;
const XID = 5;
const HOLD_UNTIL = 6;
const TURN_AT = 7;
const HANDED_OUT_AT = 8;
/** The address as a 32-bit number, the MAC as a 48-bit one (`ipv4Number`, `macNumber`). */
const IP = 9;
const MAC = 10;
const RECOVERY_ATTEMPTS = 11;
/** `ENDED` and `DETACHED`, as bits. */
const FLAGS = 12;
/** The numbers an entry keeps in its row. */
export const ENTRY_NUMBERS = 13;

const ENDED = 1;
const DETACHED = 2;

export class Entry implements Queued, Timed {
  queueIndex = -1;
  // A lease's id, identity and address never change while it is held (the indexes rely on it).
  // The address and the MAC are numbers in the row, made into text when asked for: as strings
  // they were two objects a lease, 72 bytes and two more for each collection to visit.
  readonly id: string;
  /**
   * The client id, only when it is not the one the MAC implies (`01` + MAC, which every lease of
   * a container endpoint has): that one is made again when asked for (`identity`). Kept, it and
   * the identity object around it cost about 130 bytes a lease, 6 MB at 50,000 leases.
   */
  readonly #clientId: Uint8Array | undefined;
  readonly #hostname: string | undefined;
  state: LeaseState;
  /**
   * The entry's numbers (times, transaction, address, MAC, attempts, flags), in a row of the
   * manager's `NumberColumns` (`columns.ts` says why), or, once `detach` has given that row
   * back, in a row of its own. The deadlines are NaN there for none (`null` outside).
   */
  #cols: NumberColumns;
  #row: number;
  /** The binding's server and parameters, shared with the other leases that have the same. */
  params: BindingParams;
  running: Promise<void> | undefined = undefined;
  /**
   * The running step's controller, aborted when the lease is released or forgotten: ends the
   * step (a release does not wait for it). Made per step and dropped after it: a controller and
   * its signal held for every lease cost about 250 bytes each, 12 MB at 50,000 leases.
   */
  abort: StepAbort | undefined = undefined;

  /** Throws `RangeError` for an address or a MAC that is not one (`manager.restore` checks first). */
  constructor(lease: Lease, columns: NumberColumns) {
    if (columns.width !== ENTRY_NUMBERS) throw new RangeError(`Entry: columns of width ${columns.width}, want ${ENTRY_NUMBERS}`);
    const { mac, clientId, hostname } = lease.identity;
    const ip = ipv4Number(lease.ip);
    const macBits = macNumber(mac);
    if (ip < 0 || macBits < 0) throw new RangeError(`Entry: not an IPv4 address and a MAC: ${JSON.stringify(lease.ip)}, ${JSON.stringify(mac)}`);
    this.#cols = columns;
    this.#row = columns.alloc();
    this.id = lease.id;
    this.#clientId = macNumberOfClientId(clientId) === macBits ? undefined : clientId;
    this.#hostname = hostname;
    this.state = lease.state;
    // The lease's own server id, which is its binding's but for a hand-edited table.
    this.params = internParams({ ...lease.binding, serverId: lease.serverId });
    // Straight into the row, not through the setters: a start-up restores every lease of the
    // table before V8 has compiled any of this.
    const d = columns.data;
    const r = this.#row;
    d[r + REQUESTED_AT] = lease.requestedAt;
    d[r + RENEW_AT] = lease.renewAt ?? Number.NaN;
    d[r + REBIND_AT] = lease.rebindAt ?? Number.NaN;
    d[r + EXPIRES_AT] = lease.expiresAt ?? Number.NaN;
    d[r + RETRY_AT] = lease.retryAt ?? Number.NaN;
    d[r + XID] = lease.binding.xid;
    d[r + HOLD_UNTIL] = 0;
    d[r + TURN_AT] = 0;
    d[r + HANDED_OUT_AT] = Number.NaN;
    d[r + IP] = ip;
    d[r + MAC] = macBits;
    d[r + RECOVERY_ATTEMPTS] = lease.recoveryAttempts;
    d[r + FLAGS] = 0;
  }

  /**
   * Gives the entry's row back to the shared columns, keeping its numbers in a row of its own:
   * for an entry leaving the manager's table, which callers may still read (a release's last
   * snapshot) while its old row serves another lease. Once only; later calls do nothing.
   */
  detach(): void {
    if (this.#flag(DETACHED)) return;
    const own = new NumberColumns(ENTRY_NUMBERS, 1);
    const row = own.alloc();
    own.data.set(this.#cols.data.subarray(this.#row, this.#row + ENTRY_NUMBERS), row);
    this.#cols.free(this.#row);
    this.#cols = own;
    this.#row = row;
    this.#setFlag(DETACHED, true);
  }

  /** The number in column `col` of the entry's row. */
  #get(col: number): number {
    return this.#cols.data[this.#row + col] as number;
  }
  #set(col: number, value: number): void {
    this.#cols.data[this.#row + col] = value;
  }
  #flag(bit: number): boolean {
    return (this.#get(FLAGS) & bit) !== 0;
  }
  #setFlag(bit: number, on: boolean): void {
    const flags = this.#get(FLAGS);
    this.#set(FLAGS, on ? flags | bit : flags & ~bit);
  }

  /** Released or forgotten: no step starts any more. */
  get ended(): boolean {
    return this.#flag(ENDED);
  }
  set ended(ended: boolean) {
    this.#setFlag(ENDED, ended);
  }

  /** The leased address. */
  get ip(): string {
    return formatIPv4Number(this.#get(IP));
  }
  /** The address as an unsigned 32-bit number (`ipv4Number`). */
  get ipNumber(): number {
    return this.#get(IP);
  }
  /** The MAC, lower case in colon form whatever form the lease came with. */
  get mac(): string {
    return formatMacNumber(this.#get(MAC));
  }
  /** The MAC as a 48-bit number (`macNumber`). */
  get macNumber(): number {
    return this.#get(MAC);
  }
  /** Consecutive failed attempts to get the address back. */
  get recoveryAttempts(): number {
    return this.#get(RECOVERY_ATTEMPTS);
  }
  set recoveryAttempts(n: number) {
    this.#set(RECOVERY_ATTEMPTS, n);
  }

  get requestedAt(): number {
    return this.#get(REQUESTED_AT);
  }
  set requestedAt(at: number) {
    this.#set(REQUESTED_AT, at);
  }
  /** The binding's transaction. */
  get xid(): number {
    return this.#get(XID);
  }
  set xid(xid: number) {
    this.#set(XID, xid);
  }
  /** No new step before this time: a back-off after a bug. */
  get holdUntil(): number {
    return this.#get(HOLD_UNTIL);
  }
  set holdUntil(at: number) {
    this.#set(HOLD_UNTIL, at);
  }
  /**
   * A restored overdue lease's turn: nothing goes on the wire for it before this time. Expiring
   * (a change of state, nothing sent) does not wait for it; the INIT-REBOOT after it does.
   */
  get turnAt(): number {
    return this.#get(TURN_AT);
  }
  set turnAt(at: number) {
    this.#set(TURN_AT, at);
  }

  /**
   * When the lease was last handed to its caller (epoch ms; the driver's reply to Docker), none
   * for a lease restored from the table. Not part of the lease: it says which handing-out a
   * plan made from a listing saw.
   */
  get handedOutAt(): number | undefined {
    const at = this.#get(HANDED_OUT_AT);
    return Number.isNaN(at) ? undefined : at;
  }
  set handedOutAt(at: number | undefined) {
    this.#set(HANDED_OUT_AT, at ?? Number.NaN);
  }

  get renewAt(): number | null {
    return orNull(this.#get(RENEW_AT));
  }
  set renewAt(at: number | null) {
    this.#set(RENEW_AT, at ?? Number.NaN);
  }
  get rebindAt(): number | null {
    return orNull(this.#get(REBIND_AT));
  }
  set rebindAt(at: number | null) {
    this.#set(REBIND_AT, at ?? Number.NaN);
  }
  get expiresAt(): number | null {
    return orNull(this.#get(EXPIRES_AT));
  }
  set expiresAt(at: number | null) {
    this.#set(EXPIRES_AT, at ?? Number.NaN);
  }
  get retryAt(): number | null {
    return orNull(this.#get(RETRY_AT));
  }
  set retryAt(at: number | null) {
    this.#set(RETRY_AT, at ?? Number.NaN);
  }

  /** The lease's identity: a new object at each call (a client id the MAC implies is made anew). */
  get identity(): ClientIdentity {
    const mac = this.mac;
    const identity: ClientIdentity = { mac, clientId: this.#clientId ?? clientIdForMac(mac, (n) => new Uint8Array(n)) };
    if (this.#hostname !== undefined) identity.hostname = this.#hostname;
    return identity;
  }

  /** Whether the client id is the one the MAC implies (`01` + MAC), kept as none. */
  get clientIdIsMac(): boolean {
    return this.#clientId === undefined;
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
  binding(ip: string = this.ip): Binding {
    const p = this.params;
    const b: Binding = { ip, serverId: p.serverId, requestedAt: this.requestedAt, leaseTimeSeconds: p.leaseTimeSeconds, xid: this.xid };
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
    const ip = this.ip;
    return {
      id: this.id,
      identity: this.identity,
      ip,
      serverId: this.serverId,
      state,
      binding: this.binding(ip),
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
