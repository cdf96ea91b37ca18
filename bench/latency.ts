/**
 * Latency: RequestAddress p50/p99 through the plugin socket one at a time, and at a steady 100
 * and 1,000 requests/s (open-loop: request i is sent at i/rate whatever the earlier ones are
 * doing, and its latency counts from that planned time, so a stall shows in every request that
 * waited behind it). Beside each: a minimal raw DORA exchange (bench/lib/raw-dora.ts) in the
 * same pattern against the same server in the same run, and perfdhcp's own average delays at
 * the same rates. Target: the plugin adds <= 1 ms at p50 and <= 5 ms at p99 over the raw
 * exchange.
 *
 *   sudo npm run bench:latency -- [--server kea|isc] [--quick] [--one 1000] [--seconds 30,10]
 *        [--svg docs/latency.svg] [--warm 3000] [--binary dist/sea/oam-docker-ipam] [--trace]
 *
 * The raw exchanges run before the daemon starts: both bind UDP/68 in the client namespace.
 * Every request is for a fresh random MAC (a new lease) in a /16 pool; the daemon is the built
 * dist/main.js. The daemon first answers `--one` calls one at a time just after its start, before
 * V8 has compiled its hot code (printed, not judged: a daemon spends minutes of its life so), then
 * `--warm` calls (64 in flight), then the judged phases: a daemon in service.
 *
 * Beside the figures, two floors measured in the same run: a durable append of one record to the
 * filesystem of the lease table (each RequestAddress waits for one), and a call that does nothing
 * over the plugin socket (the HTTP round trip, this benchmark's client included). Both are
 * measured again at each phase's arrival rate: a disk idle between writes is slower to
 * acknowledge one, processes asleep between calls are slower to wake, and a request at 100/s
 * pays both. With --trace (node dist/main.js only), each phase also prints the steps of a call
 * inside the daemon (bench/lib/trace.ts): arrival, DISCOVER, OFFER, REQUEST, the lease table's
 * write, ACK, reply, the median time of each.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { labPrerequisites } from '../test/support/lab/prereqs.js';
import { binaryInfo, buildInfo, startBenchDaemon } from './lib/daemon.js';
import { runPerfdhcp, type PerfResult } from './lib/perfdhcp.js';
import { durableAppendMs, socketRoundTripMs } from './lib/floors.js';
import { openLoop } from './lib/open-loop.js';
import { burst, requestAddress, requestPool, type Timed } from './lib/plugin.js';
import { rawDora, type RawResult } from './lib/raw-dora.js';
import { figure, info, ms, percentile, printVerdicts } from './lib/report.js';
import { chart } from './lib/svg.js';
import { phaseSteps, readTrace, type TraceEvent } from './lib/trace.js';
import { createWideLab } from './lib/wide-lab.js';
import { startWideServer, type WideServerKind } from './lib/wide-server.js';

const { values } = parseArgs({
  options: {
    binary: { type: 'string' },
    server: { type: 'string', default: 'kea' },
    quick: { type: 'boolean', default: false },
    one: { type: 'string' },
    warm: { type: 'string' },
    seconds: { type: 'string' },
    svg: { type: 'string' },
    trace: { type: 'boolean', default: false },
  },
});
/** --binary: the single executable the packages install instead of node dist/main.js. */
const binary = values.binary === undefined ? {} : { binary: values.binary };
// --trace: the steps of each call inside the daemon (bench/lib/trace-preload.cjs, loaded with
// node --require, which a single executable does not take).
const trace = values.trace;
if (trace && values.binary !== undefined) throw new Error('--trace runs node dist/main.js: leave out --binary');
const kind = values.server as WideServerKind;
if (kind !== 'kea' && kind !== 'isc') throw new Error(`--server must be kea or isc, got ${String(values.server)}`);
const quick = values.quick;
const oneAtATime = Number(values.one ?? (quick ? 100 : 1000));
const warmCalls = Number(values.warm ?? (quick ? 500 : 3000));
const [seconds100, seconds1000] = (values.seconds ?? (quick ? '2,0.5' : '30,10')).split(',').map(Number) as [number, number];
const phases = [
  { label: 'one at a time', rate: 0, count: oneAtATime },
  { label: '100/s', rate: 100, count: Math.round(100 * seconds100) },
  { label: '1,000/s', rate: 1000, count: Math.round(1000 * seconds1000) },
];
const svgPath =
  values.svg ??
  (quick ? join(tmpdir(), `d4d-latency-${kind}-quick.svg`) : new URL(`../docs/latency${kind === 'kea' ? '' : '-isc'}.svg`, import.meta.url).pathname);

const prereqs = labPrerequisites(['perfdhcp']);
if (!prereqs.ok) {
  console.error(`cannot run the benchmark: ${prereqs.reason}`);
  process.exit(1);
}

const started = Date.now();
console.log(
  `latency benchmark, ${kind}${quick ? ' (quick)' : ''}; ${phases.map((p) => `${p.label}: ${p.count}`).join(', ')}; ${new Date().toISOString()}; ${values.binary === undefined ? buildInfo() : binaryInfo(values.binary)}`,
);
const lab = await createWideLab('blat', 233);
const server = await startWideServer(kind, lab, 3600);
const raw: RawResult[] = [];
const perf: Array<PerfResult | null> = [];
const plugin: Timed[][] = [];
let fresh: Timed[] = [];
let appendMs: number[] = [];
/** The durable append at each phase's arrival rate: what a request of that phase pays for it. */
const pacedAppendMs: number[][] = [];
let roundTripMs: number[] = [];
/** The round trip again at each phase's rate (the back-to-back one for one at a time). */
const pacedRoundTripMs: number[][] = [];
/** Each judged phase's start and end, ms since the epoch, and the daemon's trace (--trace). */
const phaseWindows: Array<[number, number]> = [];
let traceEvents: TraceEvent[] = [];
const epochMs = (): number => performance.timeOrigin + performance.now();
try {
  for (const p of phases) {
    raw.push(await rawDora(lab.clientNs, lab.serverIp, p.count, p.rate));
    perf.push(
      p.rate === 0
        ? null
        : await runPerfdhcp({ netns: lab.clientNs, iface: lab.clientIf, rate: p.rate, clients: 100_000, seconds: Math.max(1, Math.round(p.count / p.rate)) }),
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'd4d-bench-latency-'));
  const tracePath = join(dir, 'trace.json');
  const tracing = trace
    ? { nodeArgs: ['--require', fileURLToPath(new URL('./lib/trace-preload.cjs', import.meta.url))], env: { BENCH_TRACE_FILE: tracePath } }
    : {};
  const daemon = await startBenchDaemon({ netns: lab.clientNs, dhcpServer: lab.serverIp, dir, driverName: 'blat', ...binary, ...tracing });
  try {
    const poolId = await requestPool(daemon.socketPath, `${lab.subnet}/16`);
    fresh = await openLoop(oneAtATime, 0, (from) => requestAddress(daemon.socketPath, poolId, from));
    await burst(daemon.socketPath, poolId, warmCalls, 64);
    roundTripMs = await socketRoundTripMs(daemon.socketPath, 1000);
    for (const p of phases) {
      const from = epochMs();
      plugin.push(await openLoop(p.count, p.rate, (at) => requestAddress(daemon.socketPath, poolId, at)));
      phaseWindows.push([from, epochMs()]);
    }
    for (const p of phases) pacedRoundTripMs.push(p.rate === 0 ? roundTripMs : await socketRoundTripMs(daemon.socketPath, Math.min(p.count, 500), p.rate));
    appendMs = await durableAppendMs(dir, 1000);
    for (const p of phases) pacedAppendMs.push(p.rate === 0 ? appendMs : await durableAppendMs(dir, Math.min(p.count, 500), 360, p.rate));
  } finally {
    try {
      await daemon.stop();
      // Written by the daemon as it exits; a daemon that died leaves none, and the run says so.
      if (trace) {
        try {
          traceEvents = await readTrace(tracePath);
        } catch (err) {
          console.error(`no trace from the daemon: ${String(err)}`);
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
} finally {
  await server.stop();
  await lab.destroy();
}

const freshOk = fresh.filter((c) => c.ok).map((c) => c.ms);
const firstRaw = raw[0] as RawResult;
console.log(`\nfresh daemon: its first ${oneAtATime} calls, one at a time (${fresh.length - freshOk.length} failed); not judged`);
info('plugin p50 / p99', `${ms(percentile(freshOk, 0.5))} / ${ms(percentile(freshOk, 0.99))}`);
info(
  'added p50 / p99 (over the raw one-at-a-time DORA)',
  `${ms(percentile(freshOk, 0.5) - percentile(firstRaw.latenciesMs, 0.5))} / ${ms(percentile(freshOk, 0.99) - percentile(firstRaw.latenciesMs, 0.99))}`,
);
console.log(`\nfloors, same run (every RequestAddress pays both)`);
info('durable append of a 360-byte record p50 / p99', `${ms(percentile(appendMs, 0.5))} / ${ms(percentile(appendMs, 0.99))}`);
info('plugin socket round trip (GetCapabilities) p50 / p99', `${ms(percentile(roundTripMs, 0.5))} / ${ms(percentile(roundTripMs, 0.99))}`);
console.log(`\nin service: after the first ${oneAtATime} and ${warmCalls} more calls`);

interface Row {
  label: string;
  rate: number;
  p50: number;
  p99: number;
  rawP50: number;
  rawP99: number;
}
const rows: Row[] = [];
phases.forEach((p, i) => {
  const r = raw[i] as RawResult;
  const calls = plugin[i] as Timed[];
  const okMs = calls.filter((c) => c.ok).map((c) => c.ms);
  const failed = calls.length - okMs.length;
  const row: Row = {
    label: p.label,
    rate: p.rate,
    p50: percentile(okMs, 0.5),
    p99: percentile(okMs, 0.99),
    rawP50: percentile(r.latenciesMs, 0.5),
    rawP99: percentile(r.latenciesMs, 0.99),
  };
  rows.push(row);
  console.log(`\n${p.label}: ${p.count} RequestAddress (${failed} failed), ${p.count} raw DORA (${r.lost} lost)`);
  info('plugin p50 / p99', `${ms(row.p50)} / ${ms(row.p99)}`);
  info('raw DORA p50 / p99', `${ms(row.rawP50)} / ${ms(row.rawP99)}`);
  const paced = pacedAppendMs[i] ?? [];
  info(
    p.rate === 0 ? 'durable append back to back p50 / p99 (floor)' : `durable append at ${p.rate}/s p50 / p99 (floor)`,
    `${ms(percentile(paced, 0.5))} / ${ms(percentile(paced, 0.99))}`,
  );
  const trips = pacedRoundTripMs[i] ?? [];
  info(
    p.rate === 0 ? 'plugin socket round trip back to back p50 / p99 (floor)' : `plugin socket round trip at ${p.rate}/s p50 / p99 (floor)`,
    `${ms(percentile(trips, 0.5))} / ${ms(percentile(trips, 0.99))}`,
  );
  const window = phaseWindows[i];
  const steps = trace && window !== undefined ? phaseSteps(traceEvents, window[0], window[1]) : undefined;
  if (steps !== undefined) {
    info(
      `inside the daemon (trace), arrival to reply p50: ${steps.following} calls in the usual steps, of ${steps.calls} alone, of ${steps.arrived}`,
      ms(steps.total),
    );
    for (const s of steps.steps) info(`  ${s.from} -> ${s.to}`, ms(s.p50));
  }
  const pf = perf[i];
  if (pf !== null && pf !== undefined)
    info('perfdhcp avg OFFER + ACK delay (DORA)', `${ms(pf.offerDelayMs.avg + pf.ackDelayMs.avg)} (${pf.doraPerSecond.toFixed(0)}/s)`);
  // A failed plugin call is a miss; a lost raw exchange means the server itself is saturated at
  // this rate (ISC at 1,000/s), so there is no baseline to add to: not judged.
  const lossy = failed > 0 ? false : r.lost > 0 ? null : undefined;
  if (lossy === null) info('  raw exchanges lost: the server is saturated at this rate,', 'added latency not judged');
  figure(`${p.label}: added p50 (plugin − raw)`, ms(row.p50 - row.rawP50), '<= 1 ms', lossy !== undefined ? lossy : row.p50 - row.rawP50 <= 1);
  figure(`${p.label}: added p99 (plugin − raw)`, ms(row.p99 - row.rawP99), '<= 5 ms', lossy !== undefined ? lossy : row.p99 - row.rawP99 <= 5);
});

const ticks = phases.map((p, i) => [i, p.label] as const);
await writeFile(
  svgPath,
  chart(
    [
      {
        title: `RequestAddress latency (${kind})`,
        xLabel: 'arrival pattern',
        yLabel: 'ms (log)',
        logY: true,
        xTicks: ticks,
        series: [
          { name: 'plugin p50', color: '#2980b9', points: rows.map((r, i) => [i, r.p50] as const) },
          { name: 'plugin p99', color: '#8e44ad', points: rows.map((r, i) => [i, r.p99] as const) },
          { name: 'raw DORA p50', color: '#7f8c8d', dashed: true, points: rows.map((r, i) => [i, r.rawP50] as const) },
          { name: 'raw DORA p99', color: '#2c3e50', dashed: true, points: rows.map((r, i) => [i, r.rawP99] as const) },
        ],
      },
      {
        title: 'Added by the plugin',
        xLabel: 'arrival pattern',
        yLabel: 'ms (log)',
        logY: true,
        xTicks: ticks,
        series: [
          { name: 'added p50', color: '#2980b9', points: rows.map((r, i) => [i, r.p50 - r.rawP50] as const) },
          { name: 'added p99', color: '#8e44ad', points: rows.map((r, i) => [i, r.p99 - r.rawP99] as const) },
          { name: 'target p50 (1 ms)', color: '#27ae60', dashed: true, points: rows.map((_, i) => [i, 1] as const) },
          { name: 'target p99 (5 ms)', color: '#16a085', dashed: true, points: rows.map((_, i) => [i, 5] as const) },
        ],
      },
    ],
    `bench/latency.ts ${quick ? '--quick ' : ''}--server ${kind}, ${new Date().toISOString().slice(0, 16)}Z: open-loop arrivals, fresh random MACs, /16 pool`,
  ),
);
console.log(`\nchart: ${svgPath}`);
printVerdicts(`latency (${kind})`);
console.log(`run took ${((Date.now() - started) / 1000).toFixed(0)} s`);
