/**
 * Reconciliation with Docker, the I/O part: reads our networks and their endpoints from the
 * engine API, plans with `planReconcile` (src/ipam/reconcile.ts, where the rules are) and
 * releases what the plan says, through the driver as a ReleaseAddress would.
 *
 * It runs outside the plugin's request handlers, never from them (dockerd holds the container
 * lock while it waits for RequestAddress): once soon after start-up, then every interval, and
 * on demand (`oam-docker-ipam reconcile`). Runs are serialized. Before releasing, Docker is
 * read a second time, so a lease is only released when two reads in a row missed it; what
 * remains is the moment between that read and the release.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from './clock.js';
import { DaemonError } from './errors.js';
import { planReconcile, type Candidate, type DockerNetwork, type HeldLease, type ReconcilePlan, type Sighting } from './ipam/reconcile.js';

/** Where the networks come from: the engine API (`DockerEngine`). */
export interface DockerReader {
  ipamNetworks(driverName: string): Promise<DockerNetwork[]>;
}

/** Where the leases are: the IPAM driver. */
export interface LeaseHolder {
  heldLeases(): HeldLease[];
  /** Releases the lease of `poolId` with address `ip`, as ReleaseAddress does (saved before it resolves). */
  releaseLease(poolId: string, ip: string): Promise<void>;
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

  /** Stops the automatic runs and waits for a run under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#queue.catch(() => undefined);
  }

  /** The Docker networks whose subnet a lease's pool has, as last read. */
  get networks(): readonly DockerNetwork[] {
    return this.#networks;
  }

  /**
   * One run: read Docker, release what has been missing for the grace (or, with `dryRun`, only
   * report it). Throws the Docker error when Docker cannot be read; nothing is released then.
   */
  reconcile(options: { dryRun: boolean }): Promise<ReconcileReport> {
    const run = this.#queue.catch(() => undefined).then(() => this.#run(options.dryRun));
    this.#queue = run;
    return run;
  }

  async #run(dryRun: boolean): Promise<ReconcileReport> {
    let plan = await this.#plan();
    if (!dryRun && plan.release.length > 0) {
      // Read again: the release is only for what two reads in a row missed.
      plan = await this.#plan();
    }
    const released: ReleaseOutcome[] = [];
    for (const c of plan.release) {
      const ctx = { pool: c.poolId, mac: c.mac, ip: c.ip, reason: c.reason, networks: c.networks, missingSince: new Date(c.missingSinceAt).toISOString() };
      if (dryRun) {
        released.push(c);
        continue;
      }
      try {
        await this.#o.leases.releaseLease(c.poolId, c.ip);
        this.#o.log.info(ctx, c.reason === 'network-gone' ? 'lease released: its network is gone from Docker' : 'lease released: no Docker endpoint has its address');
        released.push(c);
      } catch (err) {
        this.#o.log.error({ ...ctx, err }, 'could not release a lease Docker no longer has');
        released.push({ ...c, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return { dryRun, released, pending: plan.pending, kept: plan.kept, graceMs: this.#o.graceMs };
  }

  async #plan(): Promise<ReconcilePlan> {
    const networks = await this.#o.docker.ipamNetworks(this.#o.driverName);
    this.#networks = networks;
    const plan = planReconcile({ leases: this.#o.leases.heldLeases(), networks, now: this.#o.clock.now(), graceMs: this.#o.graceMs, missingSince: this.#missingSince });
    this.#missingSince = plan.missingSince;
    return plan;
  }

  #arm(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.reconcile({ dryRun: false }).then(
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
    if (!this.#dockerDown) this.#o.log.warn({ code: err instanceof DaemonError ? err.code : undefined }, `reconciliation skipped, nothing released: ${message}`);
    else this.#o.log.debug({ err }, 'reconciliation skipped');
    this.#dockerDown = true;
    this.#arm(this.#o.intervalMs);
  }
}
