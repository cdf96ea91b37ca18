/**
 * Held leases: the daemon holding 10,000 and 50,000 leases of a /16 pool, with short leases
 * (Kea valid-lifetime 120 s by default) so renewals really happen during the run. Measured from
 * outside the daemon, and the event-loop delay also from its own metrics:
 *   - RSS, /proc/<pid>/status VmRSS (target <= 150 MB at 50,000), with the heap by V8 space
 *     from the daemon's metrics at the end of the fill and after the quiet window;
 *   - CPU while nothing is due: utime+stime from /proc/<pid>/stat over the seconds in which the
 *     daemon sent no datagram (tx counter of its veth) and logged no renewal, in a quiet window
 *     right after the fill with no probe calling it (target < 1 % of a core);
 *   - CPU and bytes written (/proc/<pid>/io write_bytes) per renewal over the observation;
 *   - event-loop delay p99 (target < 10 ms): the daemon's own, over the window, from its
 *     Prometheus metrics (`--metrics-addr`); beside it a GetCapabilities call every 100 ms over
 *     the plugin socket, timed, whose p99 is an upper bound (it adds the socket, HTTP and this
 *     benchmark's own process);
 *   - the renewal rate over time, from the daemon's own lease events (its JSON log), per second;
 *   - a restart mid-run (SIGTERM, start again): the first minute after it, renewals and datagrams
 *     per second beside the steady state before it (no spike), and beside what was due then:
 *     each lease's next step from the daemon's listing just before the stop (no more sent than due).
 *
 *   sudo npm run bench:held -- [--quick] [--sizes 10000,50000] [--lease-seconds 120]
 *        [--quiet 20] [--observe 240] [--after-restart 60] [--fill-window 200]
 *        [--binary dist/sea/oam-docker-ipam]   (the single executable instead of node dist/main.js)
 *
 * The leases are acquired for real through the plugin socket (fill-window calls in flight), so
 * the server knows every one and renewals succeed. The daemon is the built dist/main.js.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { daemonLeases } from '../src/admin-client.js';
import { EVENT_LOOP_SAMPLE_MS } from '../src/metrics/metrics.js';
import { callPlugin } from '../test/support/plugin-client.js';
import { labPrerequisites } from '../test/support/lab/prereqs.js';
import { binaryInfo, buildInfo, startBenchDaemon, type BenchDaemon } from './lib/daemon.js';
import { burst, requestPool } from './lib/plugin.js';
import { figure, groups, info, mb, ms, percentile, printVerdicts, sampleProc, sparkline, type ProcSample } from './lib/report.js';
import { createWideLab, txPackets, type WideLab } from './lib/wide-lab.js';
import { startWideServer } from './lib/wide-server.js';

const execFileP = promisify(execFile);

const { values } = parseArgs({
  options: {
    binary: { type: 'string' },
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    'lease-seconds': { type: 'string' },
    observe: { type: 'string' },
    'after-restart': { type: 'string' },
    quiet: { type: 'string' },
    'fill-window': { type: 'string', default: '200' },
  },
});
/** --binary: the single executable the packages install instead of node dist/main.js. */
const binary = values.binary === undefined ? {} : { binary: values.binary };
const quick = values.quick;
const sizes = (values.sizes ?? (quick ? '300' : '10000,50000')).split(',').map(Number);
const leaseSeconds = Number(values['lease-seconds'] ?? (quick ? 20 : 120));
const observeSeconds = Number(values.observe ?? 2 * leaseSeconds);
const afterRestartSeconds = Number(values['after-restart'] ?? (quick ? 20 : 60));
const fillWindow = Number(values['fill-window']);
const quietSeconds = Number(values.quiet ?? (quick ? 5 : 20));

const prereqs = labPrerequisites();
if (!prereqs.ok) {
  console.error(`cannot run the benchmark: ${prereqs.reason}`);
  process.exit(1);
}

/** Per-second samples of the daemon: CPU, RSS, writes, datagrams sent, lease renewals. */
interface Second {
  proc: ProcSample;
  tx: number;
  renewals: number;
}

/**
 * Sample every second for `seconds`, and (with `probe`) probe the event loop every 100 ms
 * meanwhile. The probe is work for the daemon: ten calls a second cost an empty daemon about
 * 2 % of a core, twice the idle target, so idle CPU is measured in a window without it.
 */
async function observe(
  lab: WideLab,
  daemon: BenchDaemon,
  seconds: number,
  renewalTimes: number[],
  probe = true,
): Promise<{ secs: Second[]; probesMs: number[]; probeFailures: number; loop: { p99: number; max: number } | undefined }> {
  // Without the probe, nothing calls the daemon: not even for its metrics (a scrape is work).
  if (probe) await loopDelay(lab.clientNs);
  const probesMs: number[] = [];
  let probeFailures = 0;
  let probing = probe;
  const prober = (async () => {
    while (probing) {
      const t = performance.now();
      const ok = await callPlugin(daemon.socketPath, 'IpamDriver.GetCapabilities').then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) probesMs.push(performance.now() - t);
      else probeFailures += 1;
      await new Promise((r) => setTimeout(r, Math.max(0, 100 - (performance.now() - t))));
    }
  })();
  const secs: Second[] = [];
  const t0 = performance.now();
  let seen = renewalTimes.length;
  for (let i = 0; i <= seconds; i++) {
    const wait = t0 + i * 1000 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const [proc, tx] = await Promise.all([sampleProc(daemon.pid), txPackets(lab.clientNs, lab.clientIf)]);
    secs.push({ proc, tx, renewals: renewalTimes.length - seen });
    seen = renewalTimes.length;
  }
  probing = false;
  await prober;
  return { secs, probesMs, probeFailures, loop: probe ? await loopDelay(lab.clientNs) : undefined };
}

/** Where the daemon serves its metrics, inside the lab's client namespace. */
const METRICS_ADDR = '127.0.0.1:19468';

/** The daemon's Prometheus metrics, as text, read from inside its namespace. */
async function scrapeMetrics(netns: string): Promise<string> {
  const { stdout } = await execFileP('ip', ['netns', 'exec', netns, 'busybox', 'wget', '-qO-', `http://${METRICS_ADDR}/metrics`]);
  return stdout;
}

/**
 * The daemon's own event-loop delay since the last scrape (prom-client reads Node's
 * monitorEventLoopDelay histogram, sampled every EVENT_LOOP_SAMPLE_MS, and resets it at each
 * scrape), in ms: what an operator's Prometheus sees. Beside the probe it tells a stall of the daemon's loop
 * from the rest of a call's way (socket, HTTP, this benchmark's own process).
 */
async function loopDelay(netns: string): Promise<{ p99: number; max: number }> {
  const stdout = await scrapeMetrics(netns);
  const value = (name: string): number => {
    const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(stdout);
    if (m === null) throw new Error(`metrics: no ${name}`);
    return 1000 * Number(m[1]);
  };
  // Each figure is a whole sampling interval: the delay is what exceeds it.
  return { p99: value('nodejs_eventloop_lag_p99_seconds') - EVENT_LOOP_SAMPLE_MS, max: value('nodejs_eventloop_lag_max_seconds') - EVENT_LOOP_SAMPLE_MS };
}

/**
 * The daemon's heap by V8 space, from its metrics: what it has taken from the system (total)
 * and what live and not yet collected objects use, with the memory held outside the heap by
 * buffers (external). Read at the end of a fill and once its memory is given back, it says
 * where a peak of the resident size is.
 */
async function heapSpaces(netns: string): Promise<string> {
  const stdout = await scrapeMetrics(netns);
  const rows = new Map<string, { total: number; used: number }>();
  for (const m of stdout.matchAll(/^nodejs_heap_space_size_(total|used)_bytes\{space="([a-z_]+)"\} ([0-9.e+-]+)$/gm)) {
    const [, kind, space, value] = m as unknown as [string, 'total' | 'used', string, string];
    const row = rows.get(space) ?? { total: 0, used: 0 };
    row[kind] = Number(value);
    rows.set(space, row);
  }
  const external = /^nodejs_external_memory_bytes ([0-9.e+-]+)$/m.exec(stdout)?.[1];
  const mib = (b: number): string => (b / 1024 / 1024).toFixed(1);
  const spaces = [...rows].filter(([, r]) => r.total >= 512 * 1024).map(([space, r]) => `${space} ${mib(r.total)}/${mib(r.used)}`);
  return `${spaces.join(', ')}; external ${external === undefined ? '?' : mib(Number(external))}`;
}

/**
 * The event-loop delay of a window, judged on the daemon's own histogram. The probe's round
 * trip is printed beside it: it adds the socket, the HTTP exchange and this benchmark's own
 * process, all on the two cores that the daemon, the server and this process share, so its p99
 * is an upper bound, not the loop's delay. A probe that failed fails the figure.
 */
function loopFigures(when: string, w: { probesMs: number[]; probeFailures: number; loop: { p99: number; max: number } | undefined }): void {
  const own = w.loop?.p99 ?? Number.NaN;
  figure(`event-loop delay p99 (daemon's own, metrics)${when}`, ms(own), '< 10 ms', w.probeFailures > 0 ? false : own < 10);
  info("  daemon's own delay max", ms(w.loop?.max ?? Number.NaN));
  info(
    '  probe (GetCapabilities every 100 ms) p50 / p99 / max / failures',
    `${ms(percentile(w.probesMs, 0.5))} / ${ms(percentile(w.probesMs, 0.99))} / ${ms(Math.max(...w.probesMs))} / ${w.probeFailures}`,
  );
}

/** Deltas between consecutive samples: one entry per second. */
function deltas(secs: readonly Second[]): Array<{ cpu: number; tx: number; renewals: number; written: number; wallS: number }> {
  return secs.slice(1).map((s, i) => {
    const prev = secs[i] as Second;
    return {
      cpu: s.proc.cpuSeconds - prev.proc.cpuSeconds,
      tx: s.tx - prev.tx,
      renewals: s.renewals,
      written: s.proc.writeBytes - prev.proc.writeBytes,
      wallS: (s.proc.atMs - prev.proc.atMs) / 1000,
    };
  });
}

const started = Date.now();
console.log(
  `held-leases benchmark${quick ? ' (quick)' : ''}: sizes ${sizes.join(', ')}, leases of ${leaseSeconds} s (renewal due at about ${leaseSeconds / 2} s), quiet ${quietSeconds} s (no probe), observe ${observeSeconds} s, restart, then ${afterRestartSeconds} s; ${new Date().toISOString()}; ${values.binary === undefined ? buildInfo() : binaryInfo(values.binary)}`,
);
const lab = await createWideLab('bheld', 234);
const server = await startWideServer('kea', lab, leaseSeconds);
try {
  for (const n of sizes) {
    console.log(`\n=== ${n.toLocaleString('en')} leases held ===`);
    const dir = await mkdtemp(join(tmpdir(), 'd4d-bench-held-'));
    const renewalTimes: number[] = [];
    const onLeaseEvent = (event: string, at: number): void => {
      if (event === 'renewed' || event === 'reacquired') renewalTimes.push(at);
    };
    const daemonOptions = {
      netns: lab.clientNs,
      dhcpServer: lab.serverIp,
      dir,
      driverName: 'bheld',
      onLeaseEvent,
      extraArgs: ['--metrics-addr', METRICS_ADDR],
      ...binary,
    };
    let daemon = await startBenchDaemon(daemonOptions);
    try {
      const poolId = await requestPool(daemon.socketPath, `${lab.subnet}/16`);
      const fill = await burst(daemon.socketPath, poolId, n, fillWindow);
      const failed = fill.results.filter((r) => !r.ok).length;
      info(`fill: ${n} RequestAddress, ${fillWindow} in flight`, `${fill.seconds.toFixed(1)} s, ${failed} failed`);
      info('fill rate', `${((n - failed) / fill.seconds).toFixed(0)} addresses/s`);
      if (fill.seconds > leaseSeconds / 2) info('note', `fill longer than T1 (${leaseSeconds / 2} s): renewals began during it`);

      // One scrape (a few ms of the daemon's time, before the quiet window starts).
      const heapAtFillEnd = await heapSpaces(lab.clientNs);
      // First a window without the probe, while no renewal is due yet (the fill took less than
      // T1): what holding the leases costs when nothing happens.
      const quiet = await observe(lab, daemon, quietSeconds, renewalTimes, false);
      const heapAfterQuiet = await heapSpaces(lab.clientNs);
      const before = await observe(lab, daemon, observeSeconds, renewalTimes);
      const d = deltas(before.secs);
      const last = before.secs.at(-1) as Second;
      const first = before.secs[0] as Second;
      const rssMax = Math.max(...[...quiet.secs, ...before.secs].map((s) => s.proc.rssBytes));
      if (n >= 50_000) figure(`RSS at ${n.toLocaleString('en')} leases (max over observation)`, mb(rssMax), '<= 150 MB at 50,000', rssMax <= 150 * 1024 * 1024);
      else info(`RSS at ${n.toLocaleString('en')} leases (max; target 150 MB is at 50,000)`, mb(rssMax));
      // The kernel's high-water mark: the fill's own peak included, and peaks between samples.
      info('  highest RSS since launch (VmHWM), the fill included', mb(Math.max(...before.secs.map((s) => s.proc.rssPeakBytes))));
      console.log(`        heap by space, MB taken/used, at the fill's end: ${heapAtFillEnd}`);
      console.log(`        the same after the quiet ${quietSeconds} s: ${heapAfterQuiet}`);
      // Over time, so the fill's high-water mark, V8's compaction in the quiet and the heap's
      // growth under renewals can be told apart.
      const rssEvery10s = [...quiet.secs, ...before.secs].filter((_, i) => i % 10 === 0).map((s) => Math.round(s.proc.rssBytes / 1024 / 1024));
      console.log(`        RSS every 10 s from the end of the fill, MB (quiet, then the observation):\n        ${rssEvery10s.join(' ')}`);
      // Idle seconds: the daemon sent no datagram and logged no renewal, and nothing called it.
      const idle = deltas(quiet.secs).filter((s) => s.tx === 0 && s.renewals === 0);
      const idleCpu =
        idle.reduce((a, s) => a + s.cpu, 0) /
        Math.max(
          1e-9,
          idle.reduce((a, s) => a + s.wallS, 0),
        );
      figure(
        `CPU while nothing is due (${idle.length} idle seconds of ${quietSeconds}, no probe)`,
        idle.length < 5 ? '—' : `${(idleCpu * 100).toFixed(2)} % core`,
        '< 1 % of a core',
        idle.length < 5 ? null : idleCpu < 0.01,
      );
      if (idle.length < 5) info('  (too few idle seconds: renewals were due already;', 'try longer leases)');
      // Second by second: V8's collection that gives the fill's memory back is one or two busy
      // seconds among quiet ones, which the average above cannot tell from a steady cost.
      console.log(`        CPU each idle second, % of a core:\n        ${idle.map((s) => ((100 * s.cpu) / Math.max(1e-9, s.wallS)).toFixed(1)).join(' ')}`);
      const renewals = d.reduce((a, s) => a + s.renewals, 0);
      const cpu = last.proc.cpuSeconds - first.proc.cpuSeconds;
      const written = last.proc.writeBytes - first.proc.writeBytes;
      info(`renewals in ${observeSeconds} s (daemon's log)`, String(renewals));
      info('datagrams sent', String(last.tx - first.tx));
      info('CPU per renewal (all CPU / renewals, probe included)', renewals === 0 ? '—' : ms((cpu * 1000) / renewals));
      info('bytes written per renewal', renewals === 0 ? '—' : `${(written / renewals / 1024).toFixed(1)} kB`);
      info('bytes written in the observation', mb(written));
      loopFigures('', before);
      const perSec = d.map((s) => s.renewals);
      const meanDue = n / (leaseSeconds / 2);
      info('renewals/s: expected mean (n / T1)', meanDue.toFixed(1));
      info('renewals/s: peak second', String(Math.max(0, ...perSec)));
      console.log(`        renewals per 5 s over the observation (max ${Math.max(0, ...groups(perSec, 5))}):\n        |${sparkline(groups(perSec, 5))}|`);
      const steadyTxPeak = Math.max(0, ...d.map((s) => s.tx));

      // Restart mid-run: what the first minute after a start looks like with leases held. What
      // is due then comes from the daemon's own listing just before the stop (NextStepAt), so the
      // traffic after the start can be set beside it: a storm is more than what is due.
      const nextSteps = (await daemonLeases(daemon.socketPath, 120_000)).map((l) => (l.NextStepAt == null ? Infinity : Date.parse(l.NextStepAt)));
      await daemon.stop();
      const restartedAt = performance.now();
      daemon = await startBenchDaemon(daemonOptions);
      info('restart: launch to serving', ms(daemon.servingAt - daemon.spawnedAt));
      info('restart: stop + start', ms(daemon.servingAt - restartedAt));
      const afterEpoch0 = Date.now();
      const after = await observe(lab, daemon, afterRestartSeconds, renewalTimes);
      const da = deltas(after.secs);
      // Epoch time of each sample (observe() times them with performance.now()).
      const firstAt = (after.secs[0] as Second).proc.atMs;
      const epochOf = (s: Second): number => afterEpoch0 + (s.proc.atMs - firstAt);
      const overdue = nextSteps.filter((t) => t < epochOf(after.secs[0] as Second)).length;
      const duePerSecond = after.secs.slice(1).map((s, i) => {
        const from = epochOf(after.secs[i] as Second);
        const to = epochOf(s);
        return nextSteps.filter((t) => t >= from && t < to).length;
      });
      const txAfter = da.map((s) => s.tx);
      const txPeakAfter = Math.max(0, ...txAfter);
      console.log(`        datagrams/s, first ${afterRestartSeconds} s after the restart (max ${txPeakAfter}):\n        |${sparkline(txAfter)}|`);
      console.log(`        renewals/s, same seconds (max ${Math.max(0, ...da.map((s) => s.renewals))}):\n        |${sparkline(da.map((s) => s.renewals))}|`);
      figure(
        'peak datagrams/s after restart vs before',
        `${txPeakAfter} vs ${steadyTxPeak}`,
        'no spike (<= 2 x before)',
        txPeakAfter <= 2 * Math.max(1, steadyTxPeak),
      );
      console.log(
        `        renewals due per second then, from the listing before the stop (max ${Math.max(0, ...duePerSecond)}; ${overdue} more fell due while it was down):\n        |${sparkline(duePerSecond)}|`,
      );
      // Within 0.4 of a lease: a lease renewed after the restart is not due again before that
      // (with its jitter T1 stays within 0.4-0.6 of the lease, src/lease/lease.ts), so all that
      // is sent in the window is in the listing.
      const window = Math.min(txAfter.length, Math.floor(0.4 * leaseSeconds));
      const sentAfter = txAfter.slice(0, window).reduce((a, b) => a + b, 0);
      const dueAfter = overdue + duePerSecond.slice(0, window).reduce((a, b) => a + b, 0);
      figure(
        `datagrams in the ${window} s after the restart vs renewals due`,
        `${sentAfter} vs ${dueAfter}`,
        'no more than due (<= 1.1 x)',
        sentAfter <= 1.1 * Math.max(1, dueAfter),
      );
      loopFigures(', first period after restart', after);
      info('RSS after restart (max)', mb(Math.max(...after.secs.map((s) => s.proc.rssBytes))));
      info('  highest RSS since the restart (VmHWM), the start-up included', mb(Math.max(...after.secs.map((s) => s.proc.rssPeakBytes))));
    } finally {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }
} finally {
  await server.stop();
  await lab.destroy();
}
printVerdicts('held leases');
console.log(`run took ${((Date.now() - started) / 1000).toFixed(0)} s`);
