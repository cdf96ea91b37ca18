/**
 * Kea or ISC dhcpd serving the /16 pool of a {@link WideLab}, started in its server namespace.
 * The test fixtures (test/support/lab) only know /24 subnets; the configs here are theirs with
 * the wide subnet and pool: Kea memfile appended to (never compacted), ISC with ping-check off
 * and min/default/max lease time equal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WideLab } from './wide-lab.js';

export type WideServerKind = 'kea' | 'isc';

export interface WideServer {
  readonly kind: WideServerKind;
  readonly pid: number;
  /** Rows of the lease file so far (Kea: one CSV row per change; ISC: one `lease {}` block per change). */
  leaseRecords(): Promise<number>;
  /** Kea only: client-last-transmission times (epoch s) of every row, for renewal rates. */
  keaRowTimes(): Promise<number[]>;
  stop(): Promise<void>;
  log(): string;
}

export async function startWideServer(kind: WideServerKind, lab: WideLab, leaseSeconds: number): Promise<WideServer> {
  const dir = join(lab.workDir, kind);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const leaseFile = join(dir, kind === 'kea' ? 'kea-leases4.csv' : 'dhcpd.leases');
  let argv: string[];
  let env: Record<string, string> = {};
  let ready: RegExp;
  if (kind === 'kea') {
    const conf = join(dir, 'kea.json');
    await writeFile(
      conf,
      JSON.stringify({
        Dhcp4: {
          'interfaces-config': { interfaces: [lab.serverIf] },
          'lease-database': { type: 'memfile', persist: true, name: leaseFile, 'lfc-interval': 0 },
          'valid-lifetime': leaseSeconds,
          subnet4: [{ id: 1, subnet: `${lab.subnet}/16`, pools: [{ pool: `${lab.poolFirst} - ${lab.poolLast}` }] }],
          loggers: [{ name: 'kea-dhcp4', severity: 'WARN', output_options: [{ output: 'stdout' }] }],
        },
      }),
    );
    argv = ['kea-dhcp4', '-c', conf];
    env = { KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir };
    // At WARN Kea prints no start line; its sockets are open once the process has read the
    // config, which the first lease answer below confirms anyway (see waitServing).
    ready = /.^/;
  } else {
    const conf = join(dir, 'dhcpd.conf');
    await writeFile(leaseFile, '');
    await writeFile(
      conf,
      [
        `default-lease-time ${leaseSeconds};`,
        `max-lease-time ${leaseSeconds};`,
        `min-lease-time ${leaseSeconds};`,
        'ddns-update-style none;',
        'ping-check false;',
        `subnet ${lab.subnet} netmask ${lab.netmask} {`,
        `  range ${lab.poolFirst} ${lab.poolLast};`,
        '}',
        '',
      ].join('\n'),
    );
    argv = ['dhcpd', '-4', '-f', '-d', '-cf', conf, '-lf', leaseFile, '-pf', join(dir, 'dhcpd.pid'), lab.serverIf];
    ready = /^Server starting service\.$/m;
  }
  const proc: ChildProcess = spawn('ip', ['netns', 'exec', lab.serverNs, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (c: Buffer): void => {
    output = (output + c.toString()).slice(-20_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const deadline = Date.now() + 15_000;
  // Kea: the DHCP4 socket is open a moment after start; a second is plenty here and is checked
  // by the first exchange of every benchmark. ISC: its ready line.
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${kind} exited at start:\n${output}`);
    if (kind === 'kea' ? Date.now() > deadline - 14_000 : ready.test(output)) break;
    if (Date.now() > deadline) throw new Error(`${kind} did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (proc.pid === undefined) throw new Error(`${kind} could not be spawned`);
  const pid = proc.pid;
  return {
    kind,
    pid,
    async leaseRecords() {
      const text = await readFile(leaseFile, 'utf8').catch(() => '');
      return kind === 'kea' ? Math.max(0, text.split('\n').filter((l) => l !== '').length - 1) : (text.match(/^lease /gm) ?? []).length;
    },
    async keaRowTimes() {
      if (kind !== 'kea') return [];
      const lines = (await readFile(leaseFile, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
      const header = (lines[0] ?? '').split(',');
      const iValid = header.indexOf('valid_lifetime');
      const iExpire = header.indexOf('expire');
      // cltt = expire - valid_lifetime; a RELEASE row has valid_lifetime 0 and is skipped.
      return lines
        .slice(1)
        .map((l) => l.split(','))
        .filter((c) => Number(c[iValid]) > 0)
        .map((c) => Number(c[iExpire]) - Number(c[iValid]));
    },
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
    log: () => output,
  };
}
