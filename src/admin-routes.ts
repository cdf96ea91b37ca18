/**
 * Paths for the operator's commands on the plugin socket (root-only, like the plugin API):
 *
 * - `POST /d4d.Reconcile` `{"DryRun": bool}`: reconcile with Docker now (`oam-docker-ipam
 *   reconcile`); replies with what was released (or would be) and what is still in its grace.
 * - `POST /d4d.Leases`: every lease the daemon holds, with its pool and network, client id,
 *   expiry, last grant and last error (`oam-docker-ipam leases`; `probe` refuses a MAC listed
 *   here, since its RELEASE would free a running container's address).
 * - `POST /d4d.Status`: health, the DHCP server's last reply, leases by state, the last
 *   minute's work, the last errors, version and uptime (`oam-docker-ipam status`).
 *
 * Errors are 500 `{"Err": message}`, as on the plugin paths. Docker never calls these.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { formatHex } from './dhcp/codec/ipv4.js';
import { DaemonError } from './errors.js';
import { subnetKey, type Candidate } from './ipam/reconcile.js';
import { parsePoolId, poolCidr } from './ipam/pool.js';
import type { Lease } from './lease/lease.js';
import type { DaemonStatus } from './operator/monitoring.js';
import type { Reconciler, ReleaseOutcome } from './reconciler.js';
import { LEASES_PER_TURN, nextTurn } from './turn.js';

export const RECONCILE_PATH = '/d4d.Reconcile';
export const LEASES_PATH = '/d4d.Leases';
export const STATUS_PATH = '/d4d.Status';

/** A lease as the admin paths show it. */
export interface AdminLease {
  Pool: string;
  Subnet: string;
  /** Docker networks with the pool's subnet, as the last reconciliation read them. */
  Networks: string[];
  Mac: string;
  Ip: string;
  State: string;
  /** DHCP client identifier (option 61), colon hex. Absent from daemons before `leases`. */
  ClientId?: string;
  /** The container's name, when it is part of the identity (`client-id=endpoint-name`). */
  Hostname?: string;
  /** ISO time; null for an infinite lease. */
  ExpiresAt?: string | null;
  /** When the server last granted or extended the lease (ISO): its acquisition or last renewal. */
  GrantedAt?: string;
  /**
   * When the daemon next asks the server about this lease (ISO): its renewal (T1) while BOUND,
   * its next attempt while renewing, rebinding or getting it back; null when nothing is due.
   * As of the listing: a step under way moves it.
   */
  NextStepAt?: string | null;
  /** The lease's last failed step since the daemon started. */
  LastError?: { At: string; Message: string };
}

/** What `oam-docker-ipam status` shows. */
export interface AdminStatusReply {
  Version: string;
  StartedAt: string;
  UptimeSeconds: number;
  Healthy: boolean;
  /** Why not healthy; empty when healthy. */
  Problems: string[];
  DhcpServer: {
    Address: string;
    /** Last reply accepted from it (ISO), null if none since the start. */
    LastReplyAt: string | null;
    /** Last exchange that got no reply at all (ISO), null if none. */
    LastUnansweredAt: string | null;
    UnansweredSinceReply: number;
  };
  /** Leases held, by state (RELEASED left out). */
  Leases: Record<string, number>;
  LastMinute: { Acquisitions: number; Renewals: number; Releases: number; Failures: number };
  /** Newest last. */
  LastErrors: Array<{ At: string; Source: string; Message: string; Ip?: string; Mac?: string }>;
  /** Where Docker reaches the plugin; FromSystemd: the socket unit holds it. (Absent from daemons before it.) */
  PluginSocket?: { Path: string; FromSystemd: boolean };
}

/** A lease reconciliation released, would release, or keeps for the grace. */
export interface AdminCandidate {
  Pool: string;
  Subnet: string;
  Networks: string[];
  Mac: string;
  Ip: string;
  Reason: string;
  MissingSince: string;
  ReleaseAt: string;
  Error?: string;
}

export interface AdminReconcileReply {
  DryRun: boolean;
  Released: AdminCandidate[];
  Pending: AdminCandidate[];
  Kept: number;
  GraceSeconds: number;
  /** What the operator should know about this run (e.g. leases released because no network of Docker has their subnet). */
  Notes?: string[];
}

export interface AdminDeps {
  reconciler: Reconciler;
  /** Every lease with its pool, one at a time (taken as the listing goes, a chunk per turn of the event loop). */
  leases: () => Iterable<{ poolId: string; lease: Lease }>;
  /** A lease's last failed step (`Activity`); none known without it. */
  lastError?: (leaseId: string) => { at: number; message: string } | undefined;
  /** Called with the ids of the leases listed, so per-lease records of leases gone can be dropped. */
  listed?: (leaseIds: ReadonlySet<string>) => void;
  /** The daemon's status (`Monitoring.status`); without it /d4d.Status is not served. */
  status?: () => DaemonStatus;
}

/** A body the admin paths cannot read. */
export class AdminRequestError extends DaemonError {
  override readonly name = 'AdminRequestError';
  readonly code = 'ADMIN_REQUEST';
}

export function adminRoutes(deps: AdminDeps) {
  return async function routes(app: FastifyInstance): Promise<void> {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

    app.post(RECONCILE_PATH, async (req) => {
      const dryRun = parseDryRun(typeof req.body === 'string' ? req.body : '');
      const report = await deps.reconciler.reconcile({ dryRun });
      const reply: AdminReconcileReply = {
        DryRun: report.dryRun,
        Released: report.released.map(candidate),
        Pending: report.pending.map(candidate),
        Kept: report.kept,
        GraceSeconds: report.graceMs / 1000,
        ...(report.notes.length > 0 ? { Notes: [...report.notes] } : {}),
      };
      return reply;
    });

    // `{"Leases":[…]}`, written as it is made, LEASES_PER_TURN leases at a time with the event
    // loop running in between: made and encoded in one go, 50,000 leases held it for well over
    // half a second (snapshots alone took 140–270 ms), Docker's calls and renewals waiting.
    app.post(LEASES_PATH, async (_req, reply) => {
      const networks = deps.reconciler.networks;
      const namesByPool = new Map<string, string[]>();
      const networksOf = (poolId: string): string[] => {
        let names = namesByPool.get(poolId);
        if (names === undefined) {
          const subnet = subnetOf(poolId);
          names = networks.filter((n) => n.subnets.some((s) => subnetKey(s) === subnet)).map((n) => n.name);
          namesByPool.set(poolId, names);
        }
        return names;
      };
      async function* body(): AsyncGenerator<string> {
        const ids = new Set<string>();
        let rows: string[] = [];
        let first = true;
        const chunk = (): string => {
          const text = (first ? '{"Leases":[' : ',') + rows.join(',');
          first = false;
          rows = [];
          return text;
        };
        for (const { poolId, lease } of deps.leases()) {
          ids.add(lease.id);
          rows.push(JSON.stringify(adminLease(poolId, lease, networksOf(poolId), deps.lastError?.(lease.id))));
          if (rows.length === LEASES_PER_TURN) {
            yield chunk();
            await nextTurn();
          }
        }
        if (first || rows.length > 0) yield chunk();
        yield ']}';
        deps.listed?.(ids);
      }
      return reply.type('application/json; charset=utf-8').send(Readable.from(body()));
    });

    const { status } = deps;
    if (status !== undefined) app.post(STATUS_PATH, async () => statusReply(status()));

    app.setErrorHandler((err: unknown, req, reply) => {
      if (err instanceof DaemonError) {
        req.log.warn({ code: err.code, url: req.url }, err.message);
        void reply.code(500).send({ Err: err.message });
        return;
      }
      req.log.error({ err, url: req.url }, 'internal error');
      void reply.code(500).send({ Err: 'internal error (see the oam-docker-ipam log)' });
    });
  };
}

function parseDryRun(text: string): boolean {
  if (text.trim() === '') return false;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new AdminRequestError(`${RECONCILE_PATH}: body is not JSON`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new AdminRequestError(`${RECONCILE_PATH}: want a JSON object`);
  const dryRun = (body as Record<string, unknown>).DryRun;
  if (dryRun === undefined) return false;
  if (typeof dryRun !== 'boolean') throw new AdminRequestError(`${RECONCILE_PATH}: DryRun must be true or false`);
  return dryRun;
}

function candidate(c: Candidate | ReleaseOutcome): AdminCandidate {
  return {
    Pool: c.poolId,
    Subnet: subnetOf(c.poolId),
    Networks: [...c.networks],
    Mac: c.mac,
    Ip: c.ip,
    Reason: c.reason,
    MissingSince: new Date(c.missingSinceAt).toISOString(),
    ReleaseAt: new Date(c.releaseAt).toISOString(),
    ...('error' in c && c.error !== undefined ? { Error: c.error } : {}),
  };
}

/** A lease as the admin paths show it (also built from a saved table by `leases`). */
export function adminLease(poolId: string, lease: Lease, networks: string[], lastError?: { at: number; message: string }): AdminLease {
  return {
    Pool: poolId,
    Subnet: subnetOf(poolId),
    Networks: networks,
    Mac: lease.identity.mac,
    Ip: lease.ip,
    State: lease.state,
    ClientId: formatHex(lease.identity.clientId),
    ...(lease.identity.hostname === undefined ? {} : { Hostname: lease.identity.hostname }),
    ExpiresAt: lease.expiresAt === null ? null : iso(lease.expiresAt),
    GrantedAt: iso(lease.requestedAt),
    NextStepAt: nextStepAt(lease),
    ...(lastError === undefined ? {} : { LastError: { At: iso(lastError.at), Message: lastError.message } }),
  };
}

function nextStepAt(lease: Lease): string | null {
  const at = lease.state === 'BOUND' ? lease.renewAt : (lease.retryAt ?? lease.renewAt);
  return at === null ? null : iso(at);
}

/** The wire form of the daemon's status. */
export function statusReply(s: DaemonStatus): AdminStatusReply {
  const { activity: a } = s;
  const Leases: Record<string, number> = {};
  for (const [state, n] of Object.entries(s.leasesByState)) if (state !== 'RELEASED') Leases[state] = n;
  return {
    Version: s.version,
    StartedAt: iso(a.startedAt),
    UptimeSeconds: Math.max(0, Math.floor((s.now - a.startedAt) / 1000)),
    Healthy: s.health.healthy,
    Problems: [...s.health.problems],
    DhcpServer: {
      Address: s.dhcpServer,
      LastReplyAt: a.lastReplyAt === undefined ? null : iso(a.lastReplyAt),
      LastUnansweredAt: a.lastUnansweredAt === undefined ? null : iso(a.lastUnansweredAt),
      UnansweredSinceReply: a.unansweredSinceReply,
    },
    Leases,
    LastMinute: { Acquisitions: a.lastMinute.acquisitions, Renewals: a.lastMinute.renewals, Releases: a.lastMinute.releases, Failures: a.lastMinute.failures },
    LastErrors: a.recentErrors.map((e) => ({
      At: iso(e.at),
      Source: e.source,
      Message: e.message,
      ...(e.ip === undefined ? {} : { Ip: e.ip }),
      ...(e.mac === undefined ? {} : { Mac: e.mac }),
    })),
    ...(s.pluginSocket === undefined ? {} : { PluginSocket: { Path: s.pluginSocket.path, FromSystemd: s.pluginSocket.fromSystemd } }),
  };
}

function iso(at: number): string {
  return new Date(at).toISOString();
}

function subnetOf(poolId: string): string {
  try {
    return poolCidr(parsePoolId(poolId));
  } catch {
    return '?';
  }
}
