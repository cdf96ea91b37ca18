/**
 * Reconciliation with Docker, the I/O part: reads our networks and their endpoints from the
 * engine API, plans with `planReconcile` (src/ipam/reconcile.ts, where the rules are) and
 * releases what the plan says, through the driver as a ReleaseAddress would.
 *
 * It runs outside the plugin's request handlers, never from them (dockerd holds the container
 * lock while it waits for RequestAddress): once soon after start-up, then every interval, and
 * on demand (`oam-docker-ipam reconcile`). Runs are serialized. Before releasing, Docker is
 * read a second time, so a lease is only released when two reads in a row missed it; and the
 * driver releases a lease only if it was not handed out again since the plan.
 *
 * Leases of a network Docker no longer has are released by automatic runs only for subnets
 * an earlier read in this process saw among our networks: an engine that is not the one using
 * this plugin (DOCKER_SOCKET pointing at another one) shows none of them, and would otherwise
 * free every address after the grace. A read that shows none of our networks while we hold
 * leases counts as unreadable. An explicit run releases network-gone leases whatever was seen,
 * and says so.
 *
 * The last read's endpoints are offered to the driver (`endpointsSeen`), which checks a name
 * takeover against them; `nudge` asks for a fresh read in the background.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from './clock.js';
import { DaemonError } from './errors.js';
import { LEASES_PER_TURN, nextTurn } from './turn.js';
import {
  planReconcile,
  planSteps,
  ReconcilePlanner,
  subnetKey,
  type Candidate,
  type DockerNetwork,
  type HeldLease,
  type ReconcilePlan,
  type Sighting,
} from './ipam/reconcile.js';

/** Where the networks come from: the engine API (`DockerEngine`). */
export interface DockerReader {
  /** `signal` aborts the read (the reconciler is stopping). */
  ipamNetworks(driverName: string, signal?: AbortSignal): Promise<DockerNetwork[]>;
}

/** Where the leases are: the IPAM driver. */
export interface LeaseHolder {
  /** Gathered with the event loop running in between (the driver's, a chunk at a time). */
  heldLeases(): Promise<readonly HeldLease[]>;
  /**
   * Releases the planned lease if it is still the same one (same id and address, not handed
   * out again since), saved before it resolves; false when it released nothing.
   */
  releaseLease(planned: HeldLease): Promise<boolean>;
}

export interface ReconcilerOptions {
  docker: DockerReader;
  leases: LeaseHolder;
  driverName: string;
  clock: Clock;
  graceMs: number;
  /** Between automatic runs; 0 = no automatic runs. */
  intervalMs: number;
  log: Logger;
}

/** A lease released (or, in a dry run, to be released), with the error if the release failed. */
export interface ReleaseOutcome extends Candidate {
  readonly error?: string;
}

export interface ReconcileReport {
  readonly dryRun: boolean;
  readonly released: readonly ReleaseOutcome[];
  /** Missing from Docker for less than the grace: kept for now. */
  readonly pending: readonly Candidate[];
  readonly kept: number;
  readonly graceMs: number;
  /** Things the operator should know about this run (explicit runs). */
  readonly notes: readonly string[];
}

export class Reconciler {
  readonly #o: ReconcilerOptions;
  #missingSince: ReadonlyMap<string, Sighting> = new Map();
  #queue: Promise<unknown> = Promise.resolve();
  #timer: TimerHandle | undefined;
  #stopped = false;
  #dockerDown = false;
  /** Our networks by name, from the last successful read (for lease listings). */
  #networks: readonly DockerNetwork[] = [];
  /** Endpoint addresses of the last read; undefined when it failed or there was none. */
  #seen: { at: number; ips: ReadonlySet<string> } | undefined;
  /** Subnets of our networks that any successful read in this process showed. */
  readonly #seenSubnets = new Set<string>();
  /** Aborts the Docker read under way when stopping. */
  readonly #abort = new AbortController();
  #nudged = false;
  /** The last read showed none of our networks while we hold leases. */
  #noneOfOurs = false;
  #unconfirmedLogged = 0;

  constructor(options: ReconcilerOptions) {
    this.#o = options;
  }

  /** Starts the automatic runs: the first at once (in the background), then every interval. */
  start(): void {
    if (this.#o.intervalMs <= 0) {
      this.#o.log.info('automatic reconciliation with Docker is off (RECONCILE_INTERVAL=0)');
      return;
    }
    this.#arm(0);
  }

  /**
   * Stops the automatic runs, aborts a Docker read under way, and waits for the run under way
   * to end (a release under way finishes; no further one starts).
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort.abort();
    await this.#queue.catch(() => undefined);
  }

  /** The Docker networks whose subnet a lease's pool has, as last read. */
  get networks(): readonly DockerNetwork[] {
    return this.#networks;
  }

  /** Endpoint addresses of our networks at the last successful read; undefined when the last read failed. */
  endpointsSeen(): { at: number; ips: ReadonlySet<string> } | undefined {
    return this.#seen;
  }

  /** A read soon, in the background and without releasing, so a stale view clears; never awaited. */
  nudge(): void {
    if (this.#stopped || this.#nudged) return;
    this.#nudged = true;
    this.#enqueue(async () => {
      this.#nudged = false;
      await this.#plan(false);
    }).catch((err: unknown) => this.#o.log.debug({ err }, 'read of Docker asked by the driver failed'));
  }

  /**
   * One run: read Docker, release what has been missing for the grace (or, with `dryRun`, only
   * report it). Throws the Docker error when Docker cannot be read; nothing is released then.
   */
  reconcile(options: { dryRun: boolean }): Promise<ReconcileReport> {
    return this.#enqueue(() => this.#run(options.dryRun, true));
  }

  #enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.catch(() => undefined).then(fn);
    this.#queue = run;
    return run;
  }

  /** `explicit`: asked for by the operator (may release network-gone leases of any subnet). */
  async #run(dryRun: boolean, explicit: boolean): Promise<ReconcileReport> {
    let plan = await this.#plan(explicit);
    if (!dryRun && plan.release.length > 0) {
      // Read again: the release is only for what two reads in a row missed.
      plan = await this.#plan(explicit);
    }
    const notes: string[] = [];
    if (explicit && plan.release.some((c) => c.reason === 'network-gone')) {
      notes.push(
        `leases whose subnet no network in Docker has ${dryRun ? 'would be' : 'were'} released (reason network-gone): automatic runs release those only for networks they saw removed; ` +
          `check that DOCKER_SOCKET is the engine that uses this plugin`,
      );
    }
    if (!explicit && plan.unconfirmed.length !== this.#unconfirmedLogged) {
      this.#unconfirmedLogged = plan.unconfirmed.length;
      if (plan.unconfirmed.length > 0) {
        this.#o.log.warn(
          { leases: plan.unconfirmed.map((c) => ({ pool: c.poolId, ip: c.ip })) },
          'leases of subnets no Docker network has, and none had since this start: kept; if those networks are really gone, run `oam-docker-ipam reconcile`',
        );
      }
    }
    const released: ReleaseOutcome[] = [];
    for (const c of plan.release) {
      const ctx = { pool: c.poolId, mac: c.mac, ip: c.ip, reason: c.reason, networks: c.networks, missingSince: new Date(c.missingSinceAt).toISOString() };
      if (dryRun) {
        released.push(c);
        continue;
      }
      // Stopping: the DHCP client is about to close; what is left is released at the next start.
      if (this.#stopped) break;
      try {
        if (!(await this.#o.leases.releaseLease(c))) {
          this.#o.log.info(ctx, 'lease not released: it was requested again (or released) since the plan');
          continue;
        }
        this.#o.log.info(
          ctx,
          c.reason === 'network-gone' ? 'lease released: its network is gone from Docker' : 'lease released: no Docker endpoint has its address',
        );
        released.push(c);
      } catch (err) {
        this.#o.log.error({ ...ctx, err }, 'could not release a lease Docker no longer has');
        released.push({ ...c, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return { dryRun, released, pending: plan.pending, kept: plan.kept, graceMs: this.#o.graceMs, notes };
  }

  async #plan(explicit: boolean): Promise<ReconcilePlan> {
    let networks: DockerNetwork[];
    try {
      networks = await this.#o.docker.ipamNetworks(this.#o.driverName, this.#abort.signal);
    } catch (err) {
      this.#seen = undefined;
      throw err;
    }
    const leases = await this.#o.leases.heldLeases();
    const now = this.#o.clock.now();
    this.#networks = networks;
    if (networks.length === 0 && leases.length > 0 && !explicit) {
      // Most likely DOCKER_SOCKET is another engine than the one using this plugin: decide nothing.
      this.#seen = undefined;
      // At error once, then at debug while it lasts.
      const level = this.#noneOfOurs ? 'debug' : 'error';
      this.#noneOfOurs = true;
      this.#o.log[level](
        { leases: leases.length, driverName: this.#o.driverName },
        `Docker shows none of our networks (IPAM driver ${this.#o.driverName}) while we hold leases: taken as unreadable, nothing released; check that DOCKER_SOCKET is the engine that uses this plugin`,
      );
      return planReconcile({ leases, networks: undefined, now, graceMs: this.#o.graceMs, missingSince: this.#missingSince });
    }
    this.#noneOfOurs = false;
    // A chunk of endpoints, then of leases, per turn of the event loop: 50,000 leases in one turn
    // held it for 75–300 ms here.
    const planner = new ReconcilePlanner({
      networks,
      now,
      graceMs: this.#o.graceMs,
      missingSince: this.#missingSince,
      ...(explicit ? {} : { networkGoneSubnets: new Set(this.#seenSubnets) }),
    });
    let done = 0;
    for (const _ of planSteps(planner, { networks, leases })) if (++done % LEASES_PER_TURN === 0) await nextTurn();
    this.#seen = { at: now, ips: planner.endpointIps };
    const plan = planner.finish();
    for (const n of networks)
      for (const sn of n.subnets) {
        const key = subnetKey(sn);
        if (key !== undefined) this.#seenSubnets.add(key);
      }
    this.#missingSince = plan.missingSince;
    return plan;
  }

  #arm(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#enqueue(() => this.#run(false, false)).then(
        (report) => this.#afterRun(report),
        (err: unknown) => this.#afterFailure(err),
      );
    }, ms);
  }

  #afterRun(report: ReconcileReport): void {
    if (this.#dockerDown) this.#o.log.info('Docker answers again: reconciliation resumed');
    this.#dockerDown = false;
    this.#o.log.debug({ released: report.released.length, pending: report.pending.length, kept: report.kept }, 'reconciled with Docker');
    this.#arm(this.#o.intervalMs);
  }

  #afterFailure(err: unknown): void {
    // Once per outage at warn, then at debug: an engine that is down stays down for a while.
    const message = err instanceof DaemonError ? err.message : String(err);
    if (!this.#dockerDown)
      this.#o.log.warn({ code: err instanceof DaemonError ? err.code : undefined }, `reconciliation skipped, nothing released: ${message}`);
    else this.#o.log.debug({ err }, 'reconciliation skipped');
    this.#dockerDown = true;
    this.#arm(this.#o.intervalMs);
  }
}
