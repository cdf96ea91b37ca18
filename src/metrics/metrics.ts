/**
 * The daemon's Prometheus metrics (prom-client, a registry of its own). Fed the same way as
 * `Activity`: the DHCP client's observer (replies, steps), lease events, and a fastify hook per
 * plugin call; each update is a counter increment or one histogram observation. What would
 * cost a scan is computed only when scraped: leases by state (one pass over the table, no
 * copies), datagrams dropped by reason (the client's own counters) and health.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DhcpObserver, ExchangeReport } from '../dhcp/observer.js';
import { MessageType } from '../dhcp/codec/option-codes.js';
import type { LeaseEvent } from '../lease/events.js';
import { LeaseState } from '../lease/state.js';

/**
 * How often Node's process metrics sample the event loop's delay (prom-client's
 * `eventLoopMonitoringPrecision`). At prom-client's 10 ms, the sampling timer alone cost an idle
 * daemon 0.7 % of a core here, most of the 1 % it may spend while nothing is due; at 50 ms,
 * 0.2 %. A stall still stretches the interval it falls in, so the maximum is as exact; the
 * `nodejs_eventloop_lag_{min,p50,p90,p99,mean}_seconds` figures are whole intervals, this one
 * included: the delay is the figure less 0.05 s.
 */
export const EVENT_LOOP_SAMPLE_MS = 50;

/** Seconds; plugin calls answered locally take well under a millisecond, DHCP ones up to a minute. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export interface MetricsSources {
  version: string;
  /** Leases by state, counted at scrape time. */
  leaseStates: () => Readonly<Record<LeaseState, number>>;
  /** The client's counters of datagrams dropped, by reason (and `received`/`accepted`). */
  dropped: () => Readonly<Record<string, number>>;
  /** 1 healthy, 0 not, as `oam-docker-ipam status` judges. */
  healthy: () => boolean;
  /** Also export Node's process metrics (CPU, memory, event-loop lag); default true. */
  processMetrics?: boolean;
}

export class DaemonMetrics implements DhcpObserver {
  readonly registry = new Registry();
  readonly #acquisitions: Counter;
  readonly #renewals: Counter;
  readonly #rebinds: Counter;
  readonly #reacquisitions: Counter;
  readonly #naks: Counter;
  readonly #timeouts: Counter<'step'>;
  readonly #releases: Counter;
  readonly #expired: Counter;
  readonly #lost: Counter;
  readonly #exchange: Histogram<'step' | 'outcome'>;
  readonly #plugin: Histogram<'call' | 'code'>;
  /**
   * Each label set's child, looked up once: `observe(labels, v)` hashes the labels at every
   * call, which cost about 4 µs per observation here; a cached child's `observe(v)` does not.
   */
  readonly #children = new Map<string, { observe(v: number): void }>();

  constructor(s: MetricsSources) {
    const registers = [this.registry];
    const counter = (name: string, help: string): Counter => new Counter({ name, help, registers });
    this.#acquisitions = counter('d4d_acquisitions_total', 'Leases acquired for containers (DHCPACK of a new lease).');
    this.#renewals = counter('d4d_renewals_total', 'Leases extended by the server (at T1, or while rebinding).');
    this.#rebinds = counter('d4d_rebinds_total', 'Leases that reached T2 unrenewed and started rebinding.');
    this.#reacquisitions = counter('d4d_reacquisitions_total', 'Expired or refused leases won back with the same address.');
    this.#naks = counter('d4d_naks_total', 'DHCPNAK replies received.');
    this.#timeouts = new Counter({
      name: 'd4d_dhcp_timeouts_total',
      help: 'DHCP exchanges that sent and got no reply before their deadline, by step.',
      labelNames: ['step'],
      registers,
    });
    this.#releases = counter('d4d_releases_total', 'Leases given back with DHCPRELEASE.');
    this.#expired = counter('d4d_leases_expired_total', 'Leases that ran out while their container still used the address.');
    this.#lost = counter('d4d_leases_lost_total', 'Addresses the server would not give back to their container (another client has them).');
    new Counter({
      name: 'd4d_dhcp_dropped_total',
      help: 'Datagrams received on UDP/68 and dropped, by reason (malformed, unknown-xid, foreign-server, ...).',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(s.dropped())) if (reason !== 'received' && reason !== 'accepted') this.inc({ reason }, n);
      },
    });
    new Gauge({
      name: 'd4d_leases',
      help: 'Leases held, by state.',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = s.leaseStates();
        for (const state of Object.values(LeaseState)) if (state !== 'RELEASED') this.set({ state }, counts[state]);
      },
    });
    new Gauge({
      name: 'd4d_healthy',
      help: '1 when oam-docker-ipam status would exit 0, else 0 (DHCP server silent, or a lease EXPIRED or REBOOTING).',
      registers,
      collect() {
        this.set(s.healthy() ? 1 : 0);
      },
    });
    new Gauge({ name: 'd4d_build_info', help: 'The running version, as a label.', labelNames: ['version'], registers }).set({ version: s.version }, 1);
    this.#exchange = new Histogram({
      name: 'd4d_dhcp_exchange_duration_seconds',
      help: 'DHCP exchanges (acquire, renew, rebind, reboot) from their start to their outcome, retransmissions and queueing included.',
      labelNames: ['step', 'outcome'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#plugin = new Histogram({
      name: 'd4d_plugin_request_duration_seconds',
      help: 'Plugin calls from Docker (and the admin paths), from request to response, by call and HTTP status.',
      labelNames: ['call', 'code'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    if (s.processMetrics !== false) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }

  onReply(messageType: number | undefined): void {
    if (messageType === MessageType.Nak) this.#naks.inc();
  }

  onExchange(r: ExchangeReport): void {
    if (r.outcome === 'timeout') this.#timeouts.inc({ step: r.step });
    this.#child(`x ${r.step} ${r.outcome}`, () => this.#exchange.labels(r.step, r.outcome)).observe(r.durationMs / 1000);
  }

  onLeaseEvent(e: LeaseEvent): void {
    switch (e.type) {
      case 'bound':
        this.#acquisitions.inc();
        return;
      case 'renewed':
        this.#renewals.inc();
        return;
      case 'rebinding':
        this.#rebinds.inc();
        return;
      case 'reacquired':
        this.#reacquisitions.inc();
        return;
      case 'released':
        this.#releases.inc();
        return;
      case 'expired':
        this.#expired.inc();
        return;
      case 'address-lost':
        this.#lost.inc();
        return;
      case 'nak':
        // Counted as replies (onReply), which also sees NAKs of acquisitions.
        return;
    }
  }

  /** One plugin call answered: `call` is its path without the slash (`IpamDriver.RequestAddress`). */
  onPluginCall(call: string, code: number, seconds: number): void {
    this.#child(`p ${call} ${code}`, () => this.#plugin.labels(call, String(code))).observe(seconds);
  }

  #child(key: string, make: () => { observe(v: number): void }): { observe(v: number): void } {
    let child = this.#children.get(key);
    if (child === undefined) {
      child = make();
      this.#children.set(key, child);
    }
    return child;
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
