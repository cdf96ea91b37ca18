/**
 * Start-up with 50,000 leases on disk: from launching `dist/main.js server` to its socket
 * answering Plugin.Activate (target < 2 s), and the first minute after it: datagrams sent per
 * second (the tx counter of the daemon's veth) and lease events, so a storm of renewals or
 * INIT-REBOOTs at start shows.
 *
 *   sudo npm run bench:startup -- [--quick] [--leases 50000] [--lease-seconds 3600]
 *        [--launches 3] [--watch 60] [--fill-window 200] [--binary dist/sea/oam-docker-ipam]
 *
 * --binary runs that executable instead of `node dist/main.js`: the single executable the
 * packages install (`npm run build:sea`), its own Node with a bundle and V8's code cache.
 *
 * The leases on disk are real: acquired through the plugin from Kea in this run (in whatever
 * table format the built daemon writes), then the daemon is stopped and launched again, so the
 * server knows every lease and whatever the daemon sends at start gets real answers. With the
 * default 3600 s leases nothing is due in the first minute, so anything sent then is start-up
 * traffic; --lease-seconds 120 makes part of the table overdue at the launch instead.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { labPrerequisites } from '../test/support/lab/prereqs.js';
import { binaryInfo, buildInfo, daemonPaths, startBenchDaemon } from './lib/daemon.js';
import { burst, requestPool } from './lib/plugin.js';
import { figure, info, mb, ms, percentile, printVerdicts, sampleProc, sparkline } from './lib/report.js';
import { createWideLab, txPackets } from './lib/wide-lab.js';
import { startWideServer } from './lib/wide-server.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    leases: { type: 'string' },
    'lease-seconds': { type: 'string', default: '3600' },
    launches: { type: 'string' },
    binary: { type: 'string' },
    watch: { type: 'string' },
    'fill-window': { type: 'string', default: '200' },
  },
});
const quick = values.quick;
const n = Number(values.leases ?? (quick ? 500 : 50_000));
const leaseSeconds = Number(values['lease-seconds']);
const launches = Number(values.launches ?? (quick ? 2 : 3));
const watchSeconds = Number(values.watch ?? (quick ? 15 : 60));
const fillWindow = Number(values['fill-window']);

const prereqs = labPrerequisites();
if (!prereqs.ok) {
  console.error(`cannot run the benchmark: ${prereqs.reason}`);
  process.exit(1);
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true }))
    total += e.isDirectory() ? await dirBytes(join(dir, e.name)) : (await stat(join(dir, e.name))).size;
  return total;
}

const started = Date.now();
console.log(
  `start-up benchmark${quick ? ' (quick)' : ''}: ${n.toLocaleString('en')} leases of ${leaseSeconds} s on disk, ${launches} launches, then ${watchSeconds} s watched; ${new Date().toISOString()}; ${values.binary === undefined ? buildInfo() : binaryInfo(values.binary)}`,
);
const lab = await createWideLab('bstart', 235);
const server = await startWideServer('kea', lab, leaseSeconds);
const dir = await mkdtemp(join(tmpdir(), 'd4d-bench-startup-'));
const events: Array<{ event: string; at: number }> = [];
const options = {
  netns: lab.clientNs,
  dhcpServer: lab.serverIp,
  dir,
  driverName: 'bstart',
  onLeaseEvent: (event: string, at: number) => void events.push({ event, at }),
  ...(values.binary === undefined ? {} : { binary: values.binary }),
};
try {
  // The table: real leases, acquired through the plugin and saved by the daemon's own stop.
  const filler = await startBenchDaemon(options);
  const fillStart = performance.now();
  try {
    const poolId = await requestPool(filler.socketPath, `${lab.subnet}/16`);
    const fill = await burst(filler.socketPath, poolId, n, fillWindow);
    const failed = fill.results.filter((r) => !r.ok).length;
    info(`fill: ${n} real leases from Kea via the plugin`, `${fill.seconds.toFixed(1)} s, ${failed} failed`);
  } finally {
    await filler.stop();
  }
  info('fill + stop (table saved)', `${((performance.now() - fillStart) / 1000).toFixed(1)} s`);
  info('state on disk (not synthesized)', mb(await dirBytes(daemonPaths(dir, 'bstart').stateDir)));

  const times: number[] = [];
  for (let i = 1; i <= launches; i++) {
    events.length = 0;
    const txBefore = await txPackets(lab.clientNs, lab.clientIf);
    const daemon = await startBenchDaemon(options);
    const launchMs = daemon.servingAt - daemon.spawnedAt;
    times.push(launchMs);
    info(`launch ${i}: launch to serving (Plugin.Activate answered)`, ms(launchMs));
    if (i < launches) {
      await daemon.stop();
      continue;
    }
    // The last launch: watch the first period after it, a sample a second.
    const tx: number[] = [];
    const rss: number[] = [];
    let rssPeak = Number.NaN;
    const wallStart = Date.now();
    let prev = txBefore;
    const t0 = performance.now();
    for (let s = 1; s <= watchSeconds; s++) {
      const wait = t0 + s * 1000 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const now = await txPackets(lab.clientNs, lab.clientIf);
      tx.push(now - prev);
      prev = now;
      const sample = await sampleProc(daemon.pid);
      rss.push(sample.rssBytes);
      rssPeak = sample.rssPeakBytes;
    }
    await daemon.stop();
    const kinds = new Map<string, number>();
    for (const e of events) kinds.set(e.event, (kinds.get(e.event) ?? 0) + 1);
    console.log(`        datagrams/s over the first ${watchSeconds} s (first second includes the launch; max ${Math.max(...tx)}):\n        |${sparkline(tx)}|`);
    info(`datagrams sent in the first ${watchSeconds} s`, String(tx.reduce((a, b) => a + b, 0)));
    info('lease events logged then', [...kinds].map(([k, v]) => `${k} ${v}`).join(', ') || 'none');
    const due = leaseSeconds / 2 <= watchSeconds + (Date.now() - wallStart) / 1000;
    figure(
      `peak datagrams/s in the first ${watchSeconds} s`,
      String(Math.max(...tx)),
      due ? 'no storm (spread, not the whole table at once)' : 'none due: ~0 (no storm)',
      due ? Math.max(...tx) < n / 10 : Math.max(...tx) <= 5,
    );
    info('RSS at the end of the watch', mb(rss.at(-1) ?? Number.NaN));
    info('highest RSS since launch (VmHWM), reading the table included', mb(rssPeak));
  }
  const median = percentile(times, 0.5);
  figure(
    `launch to serving with ${n.toLocaleString('en')} leases (median of ${launches})`,
    ms(median),
    n >= 50_000 ? '< 2 s (at 50,000)' : '< 2 s (target is at 50,000)',
    n >= 50_000 ? median < 2000 : null,
  );
} finally {
  await server.stop();
  await lab.destroy();
  await rm(dir, { recursive: true, force: true });
}
printVerdicts('start-up');
console.log(`run took ${((Date.now() - started) / 1000).toFixed(0)} s`);
