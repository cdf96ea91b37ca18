/**
 * Keeps every container's lease alive: one timer per lease, armed from `nextStep()`.
 *
 * When a timer fires the manager performs the step (renew, rebind, expire, reboot) through the
 * `DhcpClient`, updates the lease and arms the next timer. At most one step runs per lease at a
 * time; `release()` aborts a running step (its retransmissions stop at once) and waits for it to
 * unwind before sending the RELEASE, so a late renewal cannot resurrect a lease on the server
 * after its RELEASE, and a `docker rm` does not wait out a recovery against a silent server.
 * Failures never escape: they become lease states and events.
 *
 * Priorities are the client's (`Sender`): upkeep (renew, rebind) below Docker's requests, and
 * recovery of expired leases below everything. Leases restored after a restart whose timers
 * passed while the daemon was down do not all step at once: each overdue lease gets a start
 * time in a sequence spaced at `overdueStepsPerSecond`, so the window grows with their number.
 */
import type { Logger } from 'pino';
import { StepAbort, type AbortLike } from '../abort.js';
import type { Clock } from '../clock.js';
import type { AcquireRequest, DhcpClient } from '../dhcp/client.js';
import { Priority } from '../dhcp/sender.js';
import { DEFAULT_ACQUIRE_TIMEOUT_MS } from '../dhcp/client.js';
import type { Binding } from '../dhcp/binding.js';
import { MIN_LEASE_RETRY_MS, nextLeaseRetryAt, recoveryDelayMs } from '../dhcp/backoff.js';
import { AddressUnavailableError, ClientClosedError, NakError } from '../dhcp/errors.js';
import { INFINITE_LEASE_SECONDS } from '../dhcp/codec/option-codes.js';
import { DaemonError } from '../errors.js';
import { ipv4Number, isIPv4 } from '../dhcp/codec/ipv4.js';
import { macNumberOfClientId } from '../dhcp/messages.js';
import type { LeaseEvent, LeaseListener } from './events.js';
import type { LeaseStepObserver } from './observer.js';
import { leaseFromBinding, leaseOffered, leaseTimes, type Lease } from './lease.js';
import { addressTaken, laterKeepsAddress } from './journal.js';
import { MultiIndex } from './multi-index.js';
import { TimerQueue } from '../timer-queue.js';
import { NumberColumns } from './columns.js';
import { ENTRY_NUMBERS, Entry, type LeaseChange } from './entry.js';
import { assertTransition, nextStep, type Action, type LeaseState } from './state.js';

/** What `acquire` asks the server for. */
export interface LeaseRequest extends Omit<AcquireRequest, 'onRequesting'> {
  /**
   * Told, once the REQUEST for an offer is out, of the lease the offer will become: as
   * `leaseOffered` makes it (REBOOTING until acknowledged), for a caller that records it while
   * the server answers. Again for each new offer. Must not throw.
   */
  onOffered?: (offered: Lease) => void;
}

export interface LeaseManagerOptions {
  client: DhcpClient;
  clock: Clock;
  log: Logger;
  random?: () => number;
  /** Floor of the wait between renew/rebind attempts; RFC 2131 §4.4.5 says 60 s. */
  minRetryMs?: number;
  /** First wait before trying again to win back a lost address, doubling to `recoveryMaxMs`. */
  recoveryInitialMs?: number;
  recoveryMaxMs?: number;
  /** Bound on one INIT-REBOOT-then-DISCOVER attempt. */
  rebootTimeoutMs?: number;
  /**
   * Rate at which restored leases whose timers passed during the downtime start their overdue
   * step; default a fortieth of the client's datagram rate (250/s by default: 10,000 overdue
   * leases over 40 s), leaving the rest for Docker's requests and retransmissions. It comes on
   * top of the renewals that fall due at their own times: a restart inside the renewal wave of a
   * table filled in one burst (50,000 leases, about 950 due a second) sent twice the wave's rate
   * with a twentieth, and the daemon spent its first seconds saturated. The overdue leases lose
   * nothing by waiting: each waits at most half the time its lease has left.
   */
  overdueStepsPerSecond?: number;
  /** Told of every failed step with its error (the lease's last error for operators). */
  observer?: LeaseStepObserver;
}

/** The manager's table while a start-up reads the lease table into it (`restoring`). */
export interface RestoringTable {
  readonly size: number;
  /** Snapshots of the leases read so far (a snapshot the store writes meanwhile). */
  values(): Iterable<Lease>;
  put(lease: Lease): void;
  delete(id: string): void;
  settle(): string[];
  /** Resumes the leases read (see `restore`); returns how many. */
  start(): number;
}

/** What `views()` shows of a lease: fixed for as long as the lease is held, but `handedOutAt`. */
export interface LeaseView {
  readonly id: string;
  readonly mac: string;
  readonly ip: string;
  /** When it was last handed to its caller (`noteHandedOut`), none for a restored lease. */
  readonly handedOutAt: number | undefined;
}

export class LeaseManager {
  readonly #o: LeaseManagerOptions &
    Required<Pick<LeaseManagerOptions, 'random' | 'minRetryMs' | 'recoveryInitialMs' | 'recoveryMaxMs' | 'rebootTimeoutMs' | 'overdueStepsPerSecond'>>;
  readonly #entries = new Map<string, Entry>();
  /** The numbers of the entries in `#entries` (an entry leaving it gives its row back). */
  readonly #columns = new NumberColumns(ENTRY_NUMBERS);
  /**
   * Lookups a request makes, as indexes kept with `#entries` (only `#setEntry` and
   * `#deleteEntry` change them): scanning every lease on each request cost 19.6 ms at 50,000.
   * A lease's id, address and client id never change while it is in the table.
   */
  readonly #byIp = new MultiIndex<number>();
  readonly #byPool = new MultiIndex();
  readonly #byClientId = new MultiIndex<number | string>();
  readonly #acquiring = new Map<string, Promise<Lease>>();
  readonly #releasing = new Map<string, Promise<Lease | undefined>>();
  readonly #listeners = new Set<LeaseListener>();
  /** Every lease's timer, on one timer of the clock (see `TimerQueue`). */
  readonly #timers: TimerQueue<Entry>;
  #stopped = false;
  /** When the next restored overdue lease may start its step. */
  #overdueNextAt = -Infinity;

  constructor(options: LeaseManagerOptions) {
    this.#timers = new TimerQueue<Entry>(options.clock, (entry) => this.#schedule(entry));
    this.#o = {
      random: Math.random,
      minRetryMs: MIN_LEASE_RETRY_MS,
      recoveryInitialMs: 4_000,
      recoveryMaxMs: 64_000,
      rebootTimeoutMs: DEFAULT_ACQUIRE_TIMEOUT_MS,
      overdueStepsPerSecond: options.client.datagramsPerSecond / 40,
      ...options,
    };
  }

  /**
   * Leases an address for `id` and keeps it renewed. Idempotent: a lease that already exists
   * for `id` is returned as is, and concurrent calls share one acquisition.
   */
  acquire(id: string, request: LeaseRequest): Promise<Lease> {
    const existing = this.#entries.get(id);
    if (existing !== undefined) return Promise.resolve(existing.snapshot());
    const inFlight = this.#acquiring.get(id);
    if (inFlight !== undefined) return inFlight;
    // A release of the same id still under way finishes first, so its RELEASE goes out before
    // the new DISCOVER.
    const releasing = this.#releasing.get(id);
    const acquiring = (releasing ?? Promise.resolve(undefined))
      .then(() => {
        const { onOffered, ...rest } = request;
        return this.#o.client.acquire(
          onOffered === undefined ? rest : { ...rest, onRequesting: (b) => onOffered(leaseOffered(id, request.identity, b, this.#o.random)) },
        );
      })
      .then((binding) => {
        const lease = leaseFromBinding(id, request.identity, binding, this.#o.random);
        const entry = new Entry(lease, this.#columns);
        const stale = this.#entries.get(id);
        if (stale !== undefined) this.#disarm(stale);
        this.#setEntry(entry);
        this.#emit({ type: 'bound', lease });
        this.#schedule(entry);
        return lease;
      })
      .finally(() => this.#acquiring.delete(id));
    this.#acquiring.set(id, acquiring);
    return acquiring;
  }

  /**
   * Takes over a lease known from before a restart. Its timers say what happens next: a lease
   * that is still valid is renewed when due (never with a DISCOVER); one that expired while we
   * were down is asked back with INIT-REBOOT. Overdue steps are spread (see the module note).
   */
  restore(lease: Lease): boolean {
    if (this.#entries.has(lease.id) || this.#acquiring.has(lease.id) || this.#releasing.has(lease.id)) return false;
    const entry = this.#stage(lease);
    if (entry === undefined) return false;
    this.#resume(entry, this.#o.clock.now());
    return true;
  }

  /**
   * The manager's table as a start-up's replay of the lease table fills it (`ReplayTable` of
   * journal.ts): each record becomes, or replaces, the lease's entry at once, so no other copy
   * of the table is ever made. Nothing runs for these leases until `start()`, which resumes
   * them as `restore` does. Only for a manager that holds nothing yet (throws otherwise).
   */
  restoring(): RestoringTable {
    if (this.#entries.size > 0 || this.#acquiring.size > 0) throw new Error('LeaseManager.restoring: the manager already holds leases');
    // The entries are the manager's own, in the order of their latest records: nothing else
    // adds any before `start()` (the daemon serves nothing before).
    const entries = this.#entries;
    return {
      get size() {
        return entries.size;
      },
      values: () => this.snapshots(),
      // Deleted first, not replaced in place: the table keeps the order of the latest records.
      put: (lease) => {
        this.#deleteEntry(lease.id);
        this.#stage(lease);
      },
      delete: (id) => this.#deleteEntry(id),
      settle: () => {
        const problems: string[] = [];
        // Only addresses with two holders need a map: the index says which.
        const holder = new Map<number, Entry>();
        for (const entry of entries.values()) {
          const key = ipKey(entry.ipNumber);
          if (this.#byIp.count(key) < 2) continue;
          const owner = holder.get(key);
          if (owner === undefined) {
            holder.set(key, entry);
          } else if (laterKeepsAddress(owner.state, entry.state)) {
            problems.push(addressTaken(owner.id, owner.ip, entry.id));
            this.#deleteEntry(owner.id);
            holder.set(key, entry);
          } else {
            problems.push(addressTaken(entry.id, entry.ip, owner.id));
            this.#deleteEntry(entry.id);
          }
        }
        return problems;
      },
      start: () => {
        const now = this.#o.clock.now();
        for (const entry of entries.values()) this.#resume(entry, now);
        return entries.size;
      },
    };
  }

  /** A restored lease's entry, in the table but not scheduled; none for a malformed lease. */
  #stage(lease: Lease): Entry | undefined {
    // Saved before infinite leases were renewed daily: give it the timers it now gets.
    const restored =
      lease.renewAt === null && lease.binding.leaseTimeSeconds === INFINITE_LEASE_SECONDS && lease.state !== 'EXPIRED' && lease.state !== 'REBOOTING'
        ? { ...lease, ...leaseTimes(lease.binding, this.#o.random) }
        : lease;
    let entry: Entry | undefined;
    // The entry reads the address and the MAC once, and refuses what is not one.
    if (isIPv4(lease.serverId)) {
      try {
        entry = new Entry(restored, this.#columns);
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
      }
    }
    if (entry === undefined) {
      this.#o.log.error({ id: lease.id, ip: lease.ip, serverId: lease.serverId, mac: lease.identity.mac }, 'not restoring a malformed lease');
      return undefined;
    }
    this.#setEntry(entry);
    return entry;
  }

  /** Schedules a restored entry: its timers say what happens next, overdue steps spread out. */
  #resume(entry: Entry, now: number): void {
    const { action } = nextStep(entry, now);
    // Overdue: a renewal or rebind, or a lease that expired while we were down (expire, then
    // INIT-REBOOT) or was saved expired with its retry due.
    if (action !== 'wait') {
      const spacingMs = 1000 / this.#o.overdueStepsPerSecond;
      const turn = Math.max(now, this.#overdueNextAt);
      this.#overdueNextAt = turn + spacingMs;
      // A lease close to its expiry does not wait past half the time it has left; one already
      // expired has nothing left to save by hurrying and waits its turn like the rest.
      const { expiresAt } = entry;
      const left = expiresAt === null ? Infinity : expiresAt - now;
      const latest = left > 0 ? now + left / 2 : Infinity;
      // Whole milliseconds: a timer armed for a fraction of one could fire just short of it.
      entry.turnAt = Math.ceil(Math.min(turn + this.#o.random() * spacingMs, latest));
    }
    this.#schedule(entry);
  }

  /**
   * Gives the address back (DHCPRELEASE) and forgets the lease. Unknown ids succeed. Rejects
   * with `ClientClosedError` if the client closed before the RELEASE went out: the lease is
   * then kept (see `#release`). `priority` is the RELEASE's turn among others (default
   * `Docker`); a batch nobody waits on one by one (a whole pool) goes below Docker's.
   */
  release(id: string, options: { priority?: Priority } = {}): Promise<Lease | undefined> {
    const already = this.#releasing.get(id);
    if (already !== undefined) return already;
    const releasing = this.#release(id, options.priority ?? Priority.Docker).finally(() => this.#releasing.delete(id));
    this.#releasing.set(id, releasing);
    return releasing;
  }

  async #release(id: string, priority: Priority): Promise<Lease | undefined> {
    const pending = this.#acquiring.get(id);
    if (pending !== undefined) await pending.catch(() => undefined);
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    // Out of the table first: a step that finishes now must not schedule another one, or a
    // late request could re-create the lease on the server after our RELEASE. Then abort the
    // step under way and wait for it to unwind: its transaction is over (late replies are
    // dropped as unknown xids) before the RELEASE goes out behind its last REQUEST.
    this.#deleteEntry(id);
    this.#disarm(entry);
    entry.ended = true;
    entry.abort?.abort();
    while (entry.running !== undefined) await entry.running;
    this.#disarm(entry);
    const held = entry.snapshot();
    try {
      await this.#o.client.release({ identity: held.identity, ip: held.ip, serverId: held.serverId }, { priority });
    } catch (err) {
      if (!(err instanceof ClientClosedError)) throw err;
      // A stop cut the RELEASE off: the server still holds the lease. Back into the table as it
      // was, so the table saved at the stop lists it and the next start resumes it (then
      // reconciliation or a later release frees it); dropped here, it would linger on the
      // server where nothing looks for it. No timers: nothing more can be sent.
      this.#stopped = true;
      if (!this.#entries.has(id)) this.#setEntry(new Entry(held, this.#columns));
      throw err;
    }
    const released = entry.snapshot('RELEASED');
    this.#emit({ type: 'released', lease: released });
    return released;
  }

  get(id: string): Lease | undefined {
    return this.#entries.get(id)?.snapshot();
  }

  /**
   * Every lease, copied into one array at once: proportional to the table, so for tests and
   * small tables only. The daemon's own passes over the table go a lease at a time, without a
   * copy of it (`snapshots()` for the listing and a compaction, `views()` for reconciliation);
   * requests use the indexed lookups below.
   */
  list(): Lease[] {
    return Array.from(this.#entries.values(), (e) => e.snapshot());
  }

  /**
   * Every lease, one snapshot at a time, as the table is at each step: for a compaction of the
   * lease table, which writes them in chunks with the event loop running in between.
   */
  *snapshots(): IterableIterator<Lease> {
    for (const entry of this.#entries.values()) yield entry.snapshot();
  }

  /**
   * Every lease's id, MAC and address, without a snapshot: for passes over the whole table
   * that need only those (reconciliation). Snapshots of 50,000 leases took 140–270 ms here.
   */
  *views(): IterableIterator<LeaseView> {
    yield* this.#entries.values();
  }

  /**
   * Notes that `id`'s lease was handed to its caller at `at` (epoch ms): kept with the lease,
   * and gone with it. Nothing happens for an id without a lease.
   */
  noteHandedOut(id: string, at: number): void {
    const entry = this.#entries.get(id);
    if (entry !== undefined) entry.handedOutAt = at;
  }

  /** When `id`'s lease was last handed out (`noteHandedOut`); none for a restored one or no lease. */
  handedOutAt(id: string): number | undefined {
    return this.#entries.get(id)?.handedOutAt;
  }

  /** Whether `id` holds a lease. */
  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** How many leases are held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The leases holding `ip` (more than one only for a moment, while a duplicate is refused). */
  holdersOf(ip: string): Lease[] {
    const v = ipv4Number(ip);
    return v < 0 ? [] : this.#leasesOf(this.#byIp.get(ipKey(v)));
  }

  /** A lease other than `id`'s that holds `ip`, if any: a request's check, without a snapshot of its own lease. */
  otherHolderOf(ip: string, id: string): Lease | undefined {
    const v = ipv4Number(ip);
    if (v < 0) return undefined;
    for (const holder of this.#byIp.get(ipKey(v))) {
      const entry = holder === id ? undefined : this.#entries.get(holder);
      if (entry !== undefined) return entry.snapshot();
    }
    return undefined;
  }

  /** Whether any lease holds `ip`. */
  holds(ip: string): boolean {
    const v = ipv4Number(ip);
    return v >= 0 && this.#byIp.has(ipKey(v));
  }

  /** The leases of a pool: those whose id is `<poolId>#…`. */
  leasesInPool(poolId: string): Lease[] {
    return this.#leasesOf(this.#byPool.get(poolId));
  }

  /** The leases under a DHCP client identifier. */
  leasesOfClientId(clientId: Uint8Array): Lease[] {
    const out: Lease[] = [];
    for (const id of this.#byClientId.get(clientIdKey(clientId))) {
      const entry = this.#entries.get(id);
      // A key stands for more than one MAC (`macKey`): the entry's own client id decides.
      if (entry !== undefined && hasClientId(entry, clientId)) out.push(entry.snapshot());
    }
    return out;
  }

  /** Subscribes to lease events; returns the unsubscribe function. */
  on(listener: LeaseListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Stops all timers, keeping the leases (they are resumed by `restore` after a restart), and
   * waits for steps under way. Close the client first to cut those short.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const entry of this.#entries.values()) this.#disarm(entry);
    await Promise.allSettled([...this.#entries.values()].map((e) => e.running));
  }

  #schedule(entry: Entry): void {
    this.#disarm(entry);
    if (this.#stopped || entry.running !== undefined) return;
    if (this.#entries.get(entry.id) !== entry) return; // released or replaced
    const { clock } = this.#o;
    const timers = this.#timers;
    if (clock.now() < entry.holdUntil) {
      timers.set(entry, entry.holdUntil - clock.now());
      return;
    }
    const step = nextStep(entry, clock.now());
    if (step.action === 'wait') {
      if (step.wakeAt !== null) timers.set(entry, step.wakeAt - clock.now());
      return;
    }
    if (step.action !== 'expire' && clock.now() < entry.turnAt) {
      timers.set(entry, entry.turnAt - clock.now());
      return;
    }
    if (entry.ended) return;
    const abort = new StepAbort();
    entry.abort = abort;
    entry.running = this.#perform(entry, step.action, abort)
      .catch((err: unknown) => {
        // A bug, not a network condition: log it and back off, so it cannot spin.
        const attempts = entry.recoveryAttempts;
        entry.recoveryAttempts = attempts + 1;
        entry.holdUntil = clock.now() + recoveryDelayMs(attempts, this.#o.random, this.#o.recoveryInitialMs, this.#o.recoveryMaxMs);
        this.#o.log.error({ err, id: entry.id, retryAt: new Date(entry.holdUntil).toISOString() }, 'lease step failed unexpectedly');
      })
      .finally(() => {
        entry.running = undefined;
        if (entry.abort === abort) entry.abort = undefined;
        this.#schedule(entry);
      });
  }

  async #perform(entry: Entry, action: Exclude<Action, 'wait'>, signal: AbortLike): Promise<void> {
    // Only this step changes the lease while it runs (a release waits for it), so what it read
    // here stays true: the identity, the address and the timers of the step.
    const { id, identity, ip, serverId, state, rebindAt, expiresAt } = entry;
    const { clock, client, log } = this.#o;
    const now = clock.now();
    const held = { identity, ip, serverId };
    const ctx = { id, mac: identity.mac, ip };
    try {
      switch (action) {
        case 'renew': {
          this.#enter(entry, 'RENEWING');
          const binding = await client.renew(held, rebindAt ?? now, { signal });
          this.#bind(entry, binding, 'renewed');
          return;
        }
        case 'rebind': {
          if (state !== 'REBINDING') {
            this.#enter(entry, 'REBINDING');
            log.warn(ctx, 'no renewal by T2; rebinding');
            this.#emit({ type: 'rebinding', lease: entry.snapshot() });
          }
          // An infinite lease has no expiry: the step's own attempts bound it.
          const binding = await client.rebind(held, expiresAt ?? Infinity, { signal });
          this.#bind(entry, binding, 'renewed');
          return;
        }
        case 'expire':
          this.#enter(entry, 'EXPIRED', { retryAt: now });
          log.error(ctx, 'lease expired: the container still uses this address and the server may give it to another client');
          this.#emit({ type: 'expired', lease: entry.snapshot() });
          return;
        case 'reboot': {
          this.#enter(entry, 'REBOOTING');
          const binding = await client.reboot(identity, ip, this.#o.rebootTimeoutMs, { signal });
          if (binding.ip !== ip) {
            // The server acknowledged a different address than the one asked for: not ours to keep.
            // Under the step's signal: after a forget() the identity is another lease's, and a
            // RELEASE sent under it could free that lease's address.
            await client.release({ identity, ip: binding.ip, serverId: binding.serverId }, { priority: Priority.Recovery, signal });
            throw new AddressUnavailableError(binding.serverId, identity.mac, ip, binding.ip);
          }
          this.#bind(entry, binding, 'reacquired');
          return;
        }
      }
    } catch (err) {
      // Abandoned by a release: the lease is out of the table, nothing to record.
      if (signal.aborted) return;
      if (err instanceof ClientClosedError) {
        // The client is gone (shutdown): nothing more can be sent, so stop scheduling.
        this.#stopped = true;
        return;
      }
      if (!(err instanceof DaemonError)) throw err;
      this.#onFailure(entry, action, err);
    }
  }

  #onFailure(entry: Entry, action: Exclude<Action, 'wait'>, err: DaemonError): void {
    // The lease as the step left it, before this failure changes it.
    const lease = entry.snapshot();
    const { clock, log } = this.#o;
    const now = clock.now();
    const ctx = { id: lease.id, mac: lease.identity.mac, ip: lease.ip, err: err.message };
    this.#o.observer?.stepFailed(lease, action, err);
    if (err instanceof NakError && (action === 'renew' || action === 'rebind')) {
      // RFC 2131 says go back to INIT; the container keeps its address, so we ask for it back.
      log.error(ctx, 'server refused to extend the lease; asking for the same address again');
      this.#emit({ type: 'nak', lease, reason: err.reason });
      this.#enter(entry, 'REBOOTING', { retryAt: now });
      return;
    }
    if (action === 'renew') {
      const retryAt = nextLeaseRetryAt(now, lease.rebindAt ?? now, this.#o.minRetryMs);
      entry.retryAt = retryAt;
      log.warn({ ...ctx, retryAt: new Date(retryAt).toISOString() }, 'renewal failed');
      return;
    }
    if (action === 'rebind') {
      const retryAt = nextLeaseRetryAt(now, lease.expiresAt ?? Infinity, this.#o.minRetryMs);
      entry.retryAt = retryAt;
      log.warn({ ...ctx, retryAt: new Date(retryAt).toISOString() }, 'rebinding failed');
      return;
    }
    // A failed reboot: the address is not leased to us now.
    const retryAt = now + recoveryDelayMs(lease.recoveryAttempts, this.#o.random, this.#o.recoveryInitialMs, this.#o.recoveryMaxMs);
    this.#enter(entry, 'EXPIRED', { retryAt, recoveryAttempts: lease.recoveryAttempts + 1 });
    if (err instanceof AddressUnavailableError) {
      log.error({ ...ctx, offered: err.offeredIp }, 'ADDRESS LOST: the server will not give this container its address back');
      this.#emit({ type: 'address-lost', lease: entry.snapshot(), error: err });
    } else {
      log.warn({ ...ctx, retryAt: new Date(retryAt).toISOString() }, 'could not get the address back yet');
    }
  }

  #bind(entry: Entry, binding: Binding, type: 'renewed' | 'reacquired'): void {
    const previousExpiresAt = entry.expiresAt;
    // The binding's parameters go in as their shared copy (`setBinding`): every renewal decodes
    // fresh copies of the server's identifier, mask and address lists.
    const { renewAt, rebindAt, expiresAt } = leaseTimes(binding, this.#o.random);
    assertTransition(entry.state, 'BOUND');
    entry.setBinding(binding);
    entry.update({ state: 'BOUND', renewAt, rebindAt, expiresAt, retryAt: null, recoveryAttempts: 0 });
    const { log } = this.#o;
    if (log.isLevelEnabled('debug')) log.debug({ id: entry.id, mac: entry.mac, ip: entry.ip, xid: binding.xid, expiresAt }, type);
    const lease = entry.snapshot();
    this.#emit(type === 'renewed' ? { type, lease, previousExpiresAt } : { type, lease });
  }

  /** Moves the lease to state `to` (a legal transition only), with the other changes given. */
  #enter(entry: Entry, to: LeaseState, change: LeaseChange = {}): void {
    assertTransition(entry.state, to);
    entry.update(change);
    entry.state = to;
  }

  #disarm(entry: Entry): void {
    this.#timers.clear(entry);
  }

  #emit(event: LeaseEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (err) {
        this.#o.log.error({ err, event: event.type }, 'lease event listener threw');
      }
    }
  }

  /**
   * Stops tracking a lease and disarms its timers WITHOUT a DHCPRELEASE: for a lease whose
   * identity a new lease takes over (a name restarted with a new MAC), where a RELEASE would
   * free the address the new lease asks for. A step under way is aborted (it would otherwise
   * keep asking for the old lease under the shared identity) and schedules nothing. Synchronous,
   * yet nothing of that step reaches the wire after it returns: every send of the client checks
   * the step's signal after its last wait, right before the datagram goes out.
   */
  forget(id: string): Lease | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    this.#deleteEntry(id);
    this.#disarm(entry);
    entry.ended = true;
    entry.abort?.abort();
    return entry.snapshot();
  }

  #setEntry(entry: Entry): void {
    const { id } = entry;
    const old = this.#entries.get(id);
    if (old !== undefined && old !== entry) {
      this.#unindex(old);
      old.detach();
    }
    this.#entries.set(id, entry);
    this.#byIp.add(ipKey(entry.ipNumber), id);
    this.#byPool.add(poolOf(id), id);
    this.#byClientId.add(entryClientIdKey(entry), id);
  }

  #deleteEntry(id: string): void {
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    this.#entries.delete(id);
    this.#unindex(entry);
    entry.detach();
  }

  #unindex(lease: Entry): void {
    this.#byIp.remove(ipKey(lease.ipNumber), lease.id);
    this.#byPool.remove(poolOf(lease.id), lease.id);
    this.#byClientId.remove(entryClientIdKey(lease), lease.id);
  }

  #leasesOf(ids: Iterable<string>): Lease[] {
    const out: Lease[] = [];
    for (const id of ids) {
      const entry = this.#entries.get(id);
      if (entry !== undefined) out.push(entry.snapshot());
    }
    return out;
  }

  /**
   * How many leases are in each state, counted without copying any: for metrics scrapes and
   * `status`, never for a request.
   */
  countByState(): Record<LeaseState, number> {
    const counts: Record<LeaseState, number> = { SELECTING: 0, REQUESTING: 0, BOUND: 0, RENEWING: 0, REBINDING: 0, EXPIRED: 0, REBOOTING: 0, RELEASED: 0 };
    for (const entry of this.#entries.values()) counts[entry.state]++;
    return counts;
  }
}

/**
 * The pool part of a lease id: the driver keys leases `<PoolID>#<MAC or name>`; an id without
 * '#' is its own pool.
 */
export function poolOf(id: string): string {
  const i = id.indexOf('#');
  return i === -1 ? id : id.slice(0, i);
}

/**
 * An address as a map key: its 32 bits as a signed integer, which V8 on 64 bits without pointer
 * compression (Node's own builds) keeps in the map's table itself; the unsigned value of an
 * address from 128.0.0.0 up would be a heap number, an object per lease.
 */
function ipKey(value: number): number {
  return value | 0;
}

/**
 * A MAC as a map key: its low 30 bits, an integer V8 keeps in the map's table itself (the whole
 * 48 bits would be a heap number, and the MAC's text an object, for each lease). Several MACs
 * share a key; lookups check the entry's own MAC.
 */
function macKey(value: number): number {
  return value % 0x4000_0000;
}

/**
 * A client id as a map key. The one every container endpoint's lease has (`01` + its MAC, RFC
 * 2132 §9.14), and any other of that form, is keyed by its MAC (`macKey`). Any other id: '#',
 * then one character per byte, built in one piece (a string grown two hex digits at a time was
 * held in parts, twice the size).
 */
function clientIdKey(clientId: Uint8Array): number | string {
  const mac = macNumberOfClientId(clientId);
  if (mac >= 0) return macKey(mac);
  let key = '#';
  for (let i = 0; i < clientId.length; i++) key += String.fromCharCode(clientId[i] as number);
  return key;
}

/** An entry's client id key (`clientIdKey`), without making one for the MAC's own id. */
function entryClientIdKey(entry: Entry): number | string {
  return entry.clientIdIsMac ? macKey(entry.macNumber) : clientIdKey(entry.identity.clientId);
}

/** Whether `entry` has the client id `clientId`, without making one for the MAC's own id. */
function hasClientId(entry: Entry, clientId: Uint8Array): boolean {
  if (entry.clientIdIsMac) return macNumberOfClientId(clientId) === entry.macNumber;
  const own = entry.identity.clientId;
  return own.length === clientId.length && own.every((b, i) => b === clientId[i]);
}
