/**
 * perfdhcp, the server vendor's load generator, run in the lab's client namespace: the
 * yardstick every plugin figure is divided by, taken against the same server in the same run.
 */
import { spawn } from 'node:child_process';

export interface PerfResult {
  readonly askedRate: number;
  /** Completed DORA exchanges (REQUEST-ACK received) per second. */
  readonly doraPerSecond: number;
  readonly discoverDropPct: number;
  readonly requestDropPct: number;
  /** perfdhcp's own averages, ms (it reports no percentiles). */
  readonly offerDelayMs: { min: number; avg: number; max: number };
  readonly ackDelayMs: { min: number; avg: number; max: number };
}

export interface PerfOptions {
  readonly netns: string;
  readonly iface: string;
  readonly rate: number;
  /** Simulated clients (-R): how many distinct MACs; each keeps its lease on the server. */
  readonly clients: number;
  readonly seconds: number;
  /** -b mac=…: base MAC, so separate runs can use separate client sets. */
  readonly baseMac?: string;
}

export function runPerfdhcp(o: PerfOptions): Promise<PerfResult> {
  const args = ['netns', 'exec', o.netns, 'perfdhcp', '-4', '-l', o.iface, '-r', String(o.rate), '-R', String(o.clients), '-p', String(o.seconds)];
  if (o.baseMac !== undefined) args.push('-b', `mac=${o.baseMac}`);
  // perfdhcp exits 3 when any packet was dropped; its report is what we want either way.
  return new Promise((resolve, reject) => {
    const p = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', reject);
    p.on('exit', () => {
      const acks = stat(out, 'REQUEST-ACK', 'received packets');
      if (!/Statistics for: REQUEST-ACK/.test(out)) return reject(new Error(`perfdhcp printed no statistics:\n${out.slice(-2000)}`));
      resolve({
        askedRate: o.rate,
        doraPerSecond: acks / o.seconds,
        discoverDropPct: stat(out, 'DISCOVER-OFFER', 'drops ratio'),
        requestDropPct: stat(out, 'REQUEST-ACK', 'drops ratio'),
        offerDelayMs: delays(out, 'DISCOVER-OFFER'),
        ackDelayMs: delays(out, 'REQUEST-ACK'),
      });
    });
  });
}

let clientSets = 0;

/**
 * A set of clients no earlier run in this process used (`-b mac=0e:NN:00:00:00:00`). A run
 * whose clients the server already holds leases for measures renewals, not new clients: ISC
 * dhcpd answers those from its lease cache without writing its lease file
 * (`dhcp-cache-threshold`), 1,063–1,807 DORA/s where new clients got 614–754 in the same lab
 * (docs/performance.md, tenth measurement).
 */
export function freshClientSet(): string {
  const n = clientSets++;
  if (n > 0xff) throw new Error('more than 256 perfdhcp client sets in one run');
  return `0e:${n.toString(16).padStart(2, '0')}:00:00:00:00`;
}

/**
 * The best completed-DORA rate over the asked rates, and every run. `freshClients`: each run
 * with clients of its own (`freshClientSet`), so every exchange leases a new address, as a
 * burst of new containers does.
 */
export async function serverCapacity(
  o: Omit<PerfOptions, 'rate'>,
  rates: readonly number[],
  options: { freshClients?: boolean } = {},
): Promise<{ best: number; runs: PerfResult[] }> {
  const runs: PerfResult[] = [];
  for (const rate of rates) runs.push(await runPerfdhcp({ ...o, rate, ...(options.freshClients === true ? { baseMac: freshClientSet() } : {}) }));
  return { best: Math.max(...runs.map((r) => r.doraPerSecond)), runs };
}

export function formatPerfRuns(runs: readonly PerfResult[]): string {
  const lines = ['  asked/s  DORA done/s  DISCOVER drops  REQUEST drops  OFFER delay avg  ACK delay avg'];
  for (const r of runs) {
    lines.push(
      `  ${String(r.askedRate).padStart(7)}  ${r.doraPerSecond.toFixed(0).padStart(11)}  ${`${r.discoverDropPct.toFixed(1)} %`.padStart(14)}  ${`${r.requestDropPct.toFixed(1)} %`.padStart(13)}  ${`${r.offerDelayMs.avg.toFixed(2)} ms`.padStart(15)}  ${`${r.ackDelayMs.avg.toFixed(2)} ms`.padStart(13)}`,
    );
  }
  return lines.join('\n');
}

function section(out: string, name: string): string {
  const start = out.indexOf(`Statistics for: ${name}`);
  if (start === -1) return '';
  const end = out.indexOf('***Statistics', start + 10);
  return out.slice(start, end === -1 ? undefined : end);
}

function stat(out: string, name: string, key: string): number {
  return Number.parseFloat(section(out, name).match(new RegExp(`${key}: ([^\\n]+)`))?.[1] ?? '') || 0;
}

function delays(out: string, name: string): { min: number; avg: number; max: number } {
  return { min: stat(out, name, 'min delay'), avg: stat(out, name, 'avg delay'), max: stat(out, name, 'max delay') };
}
