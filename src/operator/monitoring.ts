/**
 * What watches the running daemon, wired in one place so `daemon.ts` only hands the parts over:
 * `Activity` (status, leases' last errors) always; Prometheus metrics and their listener only
 * when METRICS_ADDR is set (otherwise not a single metric object exists). Observers go to the
 * DHCP client and the lease manager at construction; the lease table and the client's counters
 * are bound once they exist.
 */
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { ClientStats } from '../dhcp/client.js';
import { fanOut, type DhcpObserver } from '../dhcp/observer.js';
import { DaemonError } from '../errors.js';
import type { LeaseEvent } from '../lease/events.js';
import type { LeaseStepObserver } from '../lease/observer.js';
import type { LeaseState } from '../lease/state.js';
import { serveMetrics, type MetricsServer } from '../metrics/http.js';
import { DaemonMetrics } from '../metrics/metrics.js';
import { Activity, type ActivitySnapshot } from './activity.js';
import { assessHealth, type Health } from './health.js';

/** Everything `oam-docker-ipam status` shows, as the daemon knows it. */
export interface DaemonStatus {
  readonly version: string;
  readonly now: number;
  readonly dhcpServer: string;
  readonly activity: ActivitySnapshot;
  readonly leasesByState: Readonly<Record<LeaseState, number>>;
  readonly health: Health;
  /** Where Docker reaches the plugin, and whether systemd holds that socket (socket activation). */
  readonly pluginSocket?: PluginSocketInfo;
}

export interface PluginSocketInfo {
  readonly path: string;
  readonly fromSystemd: boolean;
}

/** The parts monitoring reads, once they exist. */
export interface MonitoredParts {
  countByState(): Record<LeaseState, number>;
  readonly stats: ClientStats;
}

const NO_LEASES: Readonly<Record<LeaseState, number>> = {
  SELECTING: 0,
  REQUESTING: 0,
  BOUND: 0,
  RENEWING: 0,
  REBINDING: 0,
  EXPIRED: 0,
  REBOOTING: 0,
  RELEASED: 0,
};

export interface MonitoringOptions {
  readonly config: Config;
  readonly clock: Clock;
  readonly version: string;
  readonly log: Logger;
  readonly pluginSocket?: PluginSocketInfo;
}

export class Monitoring {
  readonly activity: Activity;
  readonly metrics: DaemonMetrics | undefined;
  /** For `DhcpClient`'s `observer`. */
  readonly dhcpObserver: DhcpObserver;
  /** For `LeaseManager`'s `observer`. */
  readonly leaseObserver: LeaseStepObserver;
  readonly #o: MonitoringOptions;
  #parts: MonitoredParts | undefined;
  #server: MetricsServer | undefined;

  constructor(o: MonitoringOptions) {
    this.#o = o;
    this.activity = new Activity({ clock: o.clock });
    this.metrics =
      o.config.metrics === undefined
        ? undefined
        : new DaemonMetrics({
            version: o.version,
            leaseStates: () => this.#leaseStates(),
            dropped: () => this.#parts?.stats ?? {},
            healthy: () => this.#health().healthy,
          });
    this.dhcpObserver = fanOut(this.activity, this.metrics) as DhcpObserver;
    this.leaseObserver = this.activity;
  }

  /** Hands over the lease table's counts and the client's counters. */
  bind(parts: MonitoredParts): void {
    this.#parts = parts;
  }

  /** For `LeaseManager.on`. */
  readonly onLeaseEvent = (e: LeaseEvent): void => {
    this.activity.onLeaseEvent(e);
    this.metrics?.onLeaseEvent(e);
  };

  /**
   * Hooks on the plugin's fastify instance (root level: they see every path): errors Docker is
   * answered with go to the recent errors; with metrics, every call's latency.
   */
  attach(app: FastifyInstance): void {
    app.addHook('onError', async (req, _reply, err) => {
      const message = err instanceof DaemonError ? err.message : 'internal error (see the log)';
      this.activity.onPluginError(callName(req.routeOptions.url), message);
    });
    const { metrics } = this;
    if (metrics === undefined) return;
    app.addHook('onResponse', async (req, reply) => {
      metrics.onPluginCall(callName(req.routeOptions.url), reply.statusCode, reply.elapsedTime / 1000);
    });
  }

  /** Opens the metrics listener, if METRICS_ADDR is set. */
  async start(): Promise<void> {
    const { metrics } = this;
    const at = this.#o.config.metrics;
    if (metrics === undefined || at === undefined) return;
    this.#server = await serveMetrics({ host: at.host, port: at.port, render: () => metrics.render(), log: this.#o.log.child({ component: 'metrics' }) });
  }

  async stop(): Promise<void> {
    await this.#server?.close();
    this.#server = undefined;
  }

  status(): DaemonStatus {
    const leasesByState = this.#leaseStates();
    const activity = this.activity.snapshot();
    return {
      version: this.#o.version,
      now: this.#o.clock.now(),
      dhcpServer: this.#o.config.dhcpServer,
      activity,
      leasesByState,
      health: assessHealth({ ...activity, leasesByState }),
      ...(this.#o.pluginSocket === undefined ? {} : { pluginSocket: this.#o.pluginSocket }),
    };
  }

  #leaseStates(): Readonly<Record<LeaseState, number>> {
    return this.#parts?.countByState() ?? NO_LEASES;
  }

  #health(): Health {
    return assessHealth({ ...this.activity.snapshot(), leasesByState: this.#leaseStates() });
  }
}

/** `/IpamDriver.RequestAddress` → `IpamDriver.RequestAddress`; paths with no route → `unknown` (bounded labels). */
function callName(url: string | undefined): string {
  return url === undefined ? 'unknown' : url.replace(/^\//, '');
}
