/**
 * The operator commands' side of the admin paths (src/admin-routes.ts): one call to the running
 * daemon over its plugin socket, and the readable table `oam-docker-ipam reconcile` prints.
 */
import { request } from 'node:http';
import { DaemonError } from './errors.js';
import { LEASES_PATH, STATUS_PATH, type AdminCandidate, type AdminLease, type AdminReconcileReply, type AdminStatusReply } from './admin-routes.js';

/** No daemon answers on the plugin socket (not running, or another driver name / plugin dir). */
export class DaemonNotRunningError extends DaemonError {
  override readonly name = 'DaemonNotRunningError';
  readonly code = 'NOT_RUNNING';
}

/** The daemon answered with an error; the message is the daemon's. */
export class AdminCallError extends DaemonError {
  override readonly name = 'AdminCallError';
  readonly code = 'ADMIN_CALL';

  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** POSTs `body` to `path` on the daemon's socket and returns the JSON reply of a 200. */
export function callAdmin(socketPath: string, path: string, body: unknown, timeoutMs: number): Promise<unknown> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method: 'POST', path, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            reject(new AdminCallError(`${path}: the daemon's reply is not JSON (HTTP ${res.statusCode})`, res.statusCode ?? 0));
            return;
          }
          if (res.statusCode !== 200) {
            const err =
              typeof parsed === 'object' && parsed !== null && typeof (parsed as { Err?: unknown }).Err === 'string' ? (parsed as { Err: string }).Err : text;
            reject(new AdminCallError(err, res.statusCode ?? 0));
            return;
          }
          resolve(parsed);
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        reject(
          new DaemonNotRunningError(
            `no oam-docker-ipam server answers on ${socketPath}: is it running (systemctl status oam-docker-ipam), with this --driver-name and --plugin-dir?`,
            { cause: err },
          ),
        );
        return;
      }
      reject(new AdminCallError(`${path} on ${socketPath}: ${err.message}`, 0));
    });
    req.end(payload);
  });
}

/** The daemon's leases (`POST /d4d.Leases`). */
export async function daemonLeases(socketPath: string, timeoutMs: number): Promise<AdminLease[]> {
  const reply = await callAdmin(socketPath, LEASES_PATH, {}, timeoutMs);
  const leases = (reply as { Leases?: unknown }).Leases;
  if (!Array.isArray(leases)) throw new AdminCallError(`${LEASES_PATH}: the reply has no Leases list`, 200);
  return leases as AdminLease[];
}

/** The daemon's status (`POST /d4d.Status`). */
export async function daemonStatus(socketPath: string, timeoutMs: number): Promise<AdminStatusReply> {
  const reply = await callAdmin(socketPath, STATUS_PATH, {}, timeoutMs);
  if (typeof reply !== 'object' || reply === null || typeof (reply as { Healthy?: unknown }).Healthy !== 'boolean') {
    throw new AdminCallError(`${STATUS_PATH}: the reply is not a status`, 200);
  }
  return reply as AdminStatusReply;
}

/** What `reconcile` prints: a table of released (or would-be released) leases, then a summary. */
export function formatReconcileReply(r: AdminReconcileReply): string {
  const lines: string[] = [];
  const verb = r.DryRun ? 'would release' : 'released';
  const rows = [
    ...r.Released.map((c) => row(c, c.Error === undefined ? verb : `FAILED: ${c.Error}`)),
    ...r.Pending.map((c) => row(c, `kept until ${c.ReleaseAt}`)),
  ];
  if (rows.length > 0) {
    const header = ['NETWORK', 'SUBNET', 'MAC', 'IP', 'WHY', 'MISSING SINCE', 'ACTION'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((cells) => (cells[i] ?? '').length)));
    const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ');
    lines.push(line(header), ...rows.map(line));
  }
  const failed = r.Released.filter((c) => c.Error !== undefined).length;
  const done = r.Released.length - failed;
  const summary = [`${r.DryRun ? 'would release' : 'released'} ${done} lease${done === 1 ? '' : 's'}`];
  if (failed > 0) summary.push(`${failed} failed`);
  summary.push(`${r.Pending.length} missing from Docker for less than the grace (${r.GraceSeconds} s), kept for now`);
  summary.push(`${r.Kept} in use by Docker endpoints`);
  lines.push(`${summary.join('; ')}.`);
  // Older daemons send no notes.
  for (const note of r.Notes ?? []) lines.push(`note: ${note}`);
  return `${lines.join('\n')}\n`;
}

function row(c: AdminCandidate, action: string): string[] {
  const why = c.Reason === 'network-gone' ? 'network gone' : 'no endpoint';
  return [c.Networks.length > 0 ? c.Networks.join(',') : '-', c.Subnet, c.Mac, c.Ip, why, c.MissingSince, action];
}
