/**
 * Paths for the operator's commands on the plugin socket (root-only, like the plugin API):
 *
 * - `POST /d4d.Reconcile` `{"DryRun": bool}`: reconcile with Docker now (`oam-docker-ipam
 *   reconcile`); replies with what was released (or would be) and what is still in its grace.
 * - `POST /d4d.Leases`: every lease the daemon holds, with its pool and network (`probe`
 *   refuses a MAC listed here, since its RELEASE would free a running container's address).
 *
 * Errors are 500 `{"Err": message}`, as on the plugin paths. Docker never calls these.
 */
import type { FastifyInstance } from 'fastify';
import { DaemonError } from './errors.js';
import { subnetKey, type Candidate } from './ipam/reconcile.js';
import { parsePoolId, poolCidr } from './ipam/pool.js';
import type { Lease } from './lease/lease.js';
import type { Reconciler, ReleaseOutcome } from './reconciler.js';

export const RECONCILE_PATH = '/d4d.Reconcile';
export const LEASES_PATH = '/d4d.Leases';

/** A lease as the admin paths show it. */
export interface AdminLease {
  Pool: string;
  Subnet: string;
  /** Docker networks with the pool's subnet, as the last reconciliation read them. */
  Networks: string[];
  Mac: string;
  Ip: string;
  State: string;
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
  leases: () => Array<{ poolId: string; lease: Lease }>;
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

    app.post(LEASES_PATH, async () => {
      const networks = deps.reconciler.networks;
      const Leases: AdminLease[] = deps.leases().map(({ poolId, lease }) => {
        const subnet = subnetOf(poolId);
        return {
          Pool: poolId,
          Subnet: subnet,
          Networks: networks.filter((n) => n.subnets.some((s) => subnetKey(s) === subnet)).map((n) => n.name),
          Mac: lease.identity.mac,
          Ip: lease.ip,
          State: lease.state,
        };
      });
      return { Leases };
    });

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

function subnetOf(poolId: string): string {
  try {
    return poolCidr(parsePoolId(poolId));
  } catch {
    return '?';
  }
}
