/**
 * What a user sees: `docker run -d` of 50 containers on a d4d macvlan network (addresses leased
 * from Kea through `oam-docker-ipam server`) beside the same on a macvlan network with Docker's
 * built-in IPAM, wall time, one after another (a shell loop) and all at once (compose up);
 * then `docker rm -f` of them. No target is set here: the figure is d4d's wall time
 * beside Docker's own, and the time d4d adds per container.
 *
 *   sudo npm run bench:docker-run -- [--quick] [--containers 50] [--server kea|isc]
 *
 * Holds /tmp/d4d-docker.lock for the whole run (it re-executes itself under flock), starts
 * dockerd if none answers (and stops it after), builds local/busybox if missing. The daemon is
 * the built dist/main.js in the root namespace, as Docker hosts run it; the built-in network's
 * macvlan parent is a veth of its own (Docker allows one macvlan network per parent).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { docker, ensureEngine, ensureTestImage, removeByPrefix, TEST_IMAGE } from '../test/support/docker.js';
import { createLab } from '../test/support/lab/netns.js';
import { labPrerequisites } from '../test/support/lab/prereqs.js';
import { createServer, type ServerKind } from '../test/support/lab/servers.js';
import { run } from '../test/support/lab/shell.js';
import { startPlugin } from '../test/support/plugin-process.js';
import { buildInfo } from './lib/daemon.js';
import { info, ms, percentile } from './lib/report.js';

const LOCK = '/tmp/d4d-docker.lock';
if (process.env.D4D_BENCH_DOCKER_LOCKED !== '1') {
  const r = spawnSync('flock', [LOCK, process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, D4D_BENCH_DOCKER_LOCKED: '1' },
  });
  process.exit(r.status ?? 1);
}

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    containers: { type: 'string' },
    server: { type: 'string', default: 'kea' },
  },
});
const quick = values.quick;
const count = Number(values.containers ?? (quick ? 5 : 50));
const kind = values.server as ServerKind;
const PREFIX = 'd4db-';
const DRIVER = 'd4dbench';
const PLUGIN_DIR = '/run/docker/plugins';
const BUILTIN_PARENT = 'bdrunx';

const prereqs = labPrerequisites();
if (!prereqs.ok) {
  console.error(`cannot run the benchmark: ${prereqs.reason}`);
  process.exit(1);
}

async function dropLink(name: string): Promise<void> {
  await run('ip', ['link', 'del', name]).catch(() => undefined);
}

interface Timing {
  wallS: number;
  perCallMs: number[];
}

/** Where the daemon serves its metrics: the plugin's own time per call, to set beside Docker's. */
const METRICS_ADDR = '127.0.0.1:19469';

/** The daemon's plugin-call histogram so far: count and total seconds per call (all codes). */
async function pluginCalls(): Promise<Map<string, { count: number; seconds: number }>> {
  const text = await (await fetch(`http://${METRICS_ADDR}/metrics`)).text();
  const calls = new Map<string, { count: number; seconds: number }>();
  for (const m of text.matchAll(/^d4d_plugin_request_duration_seconds_(sum|count)\{call="([^"]+)",code="[0-9]+"\} ([0-9.e+-]+)$/gm)) {
    const [, kind, call = '', value] = m;
    const c = calls.get(call) ?? { count: 0, seconds: 0 };
    if (kind === 'sum') c.seconds += Number(value);
    else c.count += Number(value);
    calls.set(call, c);
  }
  return calls;
}

/** The plugin's calls between two scrapes: `call: n calls, mean` and the total per container. */
function callsBetween(before: Map<string, { count: number; seconds: number }>, after: Map<string, { count: number; seconds: number }>): string[] {
  const lines: string[] = [];
  let totalMs = 0;
  for (const [call, a] of after) {
    const b = before.get(call) ?? { count: 0, seconds: 0 };
    const n = a.count - b.count;
    if (n <= 0) continue;
    const spentMs = (a.seconds - b.seconds) * 1000;
    totalMs += spentMs;
    lines.push(`${call} x ${n}, mean ${ms(spentMs / n)}`);
  }
  lines.push(`in all, per container: ${ms(totalMs / count)}`);
  return lines;
}

/** `docker run -d` of `count` containers on `net`, one after another or all at once. */
async function runAll(net: string, tag: string, together: boolean): Promise<Timing> {
  const one = async (i: number): Promise<number> => {
    const t = performance.now();
    await docker(['run', '-d', '--name', `${PREFIX}${tag}-${i}`, '--net', net, TEST_IMAGE, 'sleep', '3600'], 120_000);
    return performance.now() - t;
  };
  const t0 = performance.now();
  const perCallMs: number[] = [];
  if (together) perCallMs.push(...(await Promise.all(Array.from({ length: count }, (_, i) => one(i)))));
  else for (let i = 0; i < count; i++) perCallMs.push(await one(i));
  return { wallS: (performance.now() - t0) / 1000, perCallMs };
}

async function removeAll(tag: string): Promise<number> {
  const t0 = performance.now();
  await docker(['rm', '-f', ...Array.from({ length: count }, (_, i) => `${PREFIX}${tag}-${i}`)], 300_000);
  return (performance.now() - t0) / 1000;
}

const started = Date.now();
console.log(
  `docker run benchmark${quick ? ' (quick)' : ''}: ${count} containers, d4d (${kind}) beside Docker's built-in IPAM; ${new Date().toISOString()}; ${buildInfo()}`,
);
const engine = await ensureEngine();
const stateDir = await mkdtemp(join(tmpdir(), 'd4d-bench-docker-'));
const lab = await createLab({ name: 'bdrun', octet: 213 });
const server = createServer(kind, lab, { leaseTimeSeconds: 3600, rangeFirst: 20, rangeLast: 239 });
let plugin: Awaited<ReturnType<typeof startPlugin>> | undefined;
try {
  await ensureTestImage();
  await removeByPrefix(PREFIX);
  await dropLink(BUILTIN_PARENT);
  await run('ip', ['link', 'add', BUILTIN_PARENT, 'type', 'veth', 'peer', 'name', 'bdruny']);
  await run('ip', ['link', 'set', BUILTIN_PARENT, 'up']);
  await run('ip', ['link', 'set', 'bdruny', 'up']);
  await server.start();
  plugin = await startPlugin(
    [
      '--dhcp-server',
      lab.serverIp,
      '--driver-name',
      DRIVER,
      '--state-dir',
      stateDir,
      '--plugin-dir',
      PLUGIN_DIR,
      '--config',
      '/dev/null',
      '--metrics-addr',
      METRICS_ADDR,
    ],
    join(PLUGIN_DIR, `${DRIVER}.sock`),
  );
  const nets = {
    d4d: `${PREFIX}dhcp`,
    builtin: `${PREFIX}builtin`,
  };
  await docker([
    'network',
    'create',
    '-d',
    'macvlan',
    '--ipam-driver',
    DRIVER,
    '--subnet',
    `${lab.subnet}/24`,
    '--gateway',
    lab.serverIp,
    '-o',
    `parent=${lab.hostIf}`,
    nets.d4d,
  ]);
  await docker(['network', 'create', '-d', 'macvlan', '--subnet', '10.231.214.0/24', '-o', `parent=${BUILTIN_PARENT}`, nets.builtin]);
  // One container each first, so neither side's first-use cost (image, plugin activation) lands in the figures.
  for (const [name, net] of Object.entries(nets)) {
    await docker(['run', '-d', '--name', `${PREFIX}warm-${name}`, '--net', net, TEST_IMAGE, 'sleep', '3600']);
    await docker(['rm', '-f', `${PREFIX}warm-${name}`]);
  }

  const results: Record<string, { seq: Timing; seqRm: number; par: Timing; parRm: number }> = {};
  // What Docker asked of the plugin, and how long the plugin took, in the d4d phases.
  const inPlugin: Record<string, string[]> = {};
  const measured = async <T>(label: string, name: string, work: () => Promise<T>): Promise<T> => {
    if (name !== 'd4d') return work();
    const before = await pluginCalls();
    const result = await work();
    inPlugin[label] = callsBetween(before, await pluginCalls());
    return result;
  };
  // Interleaved by phase (d4d, built-in, d4d, built-in), so a drift of the machine's load favours neither side much.
  for (const [name, net] of Object.entries(nets)) {
    const seq = await measured('docker run, one after another', name, () => runAll(net, `${name}-s`, false));
    const seqRm = await measured('docker rm -f', name, () => removeAll(`${name}-s`));
    results[name] = { seq, seqRm, par: { wallS: 0, perCallMs: [] }, parRm: 0 };
  }
  for (const [name, net] of Object.entries(nets)) {
    const r = results[name];
    if (r === undefined) continue;
    r.par = await runAll(net, `${name}-p`, true);
    r.parRm = await removeAll(`${name}-p`);
  }
  for (const [name, r] of Object.entries(results)) {
    console.log(`\n${name === 'd4d' ? `d4d (${kind}, macvlan)` : "Docker's built-in IPAM (macvlan)"}:`);
    info(`docker run -d x ${count}, one after another`, `${r.seq.wallS.toFixed(2)} s`);
    info('  per docker run p50 / p99', `${ms(percentile(r.seq.perCallMs, 0.5))} / ${ms(percentile(r.seq.perCallMs, 0.99))}`);
    info(`docker rm -f of them (one command)`, `${r.seqRm.toFixed(2)} s`);
    info(`docker run -d x ${count}, all at once`, `${r.par.wallS.toFixed(2)} s`);
    info(`docker rm -f of them (one command)`, `${r.parRm.toFixed(2)} s`);
  }
  const d = results.d4d;
  const b = results.builtin;
  if (d !== undefined && b !== undefined) {
    console.log('\nd4d beside the built-in IPAM (no target set; lower is better):');
    info('one after another: wall time ratio', `${(d.seq.wallS / b.seq.wallS).toFixed(2)} x`);
    info('  added per container (p50 docker run)', ms(percentile(d.seq.perCallMs, 0.5) - percentile(b.seq.perCallMs, 0.5)));
    info('all at once: wall time ratio', `${(d.par.wallS / b.par.wallS).toFixed(2)} x`);
    info('docker rm -f: wall time ratio (one after another / all at once)', `${(d.seqRm / b.seqRm).toFixed(2)} x / ${(d.parRm / b.parRm).toFixed(2)} x`);
  }
  // The plugin's own time (its metrics, request to response) beside what it adds to each
  // container: the rest is Docker's side of the calls.
  for (const [label, lines] of Object.entries(inPlugin)) {
    console.log(`\ntime in the plugin during ${label} (its metrics, request to response):`);
    for (const line of lines) console.log(`        ${line}`);
  }
} finally {
  await removeByPrefix(PREFIX).catch(() => undefined);
  await plugin?.stop();
  await server.stop().catch(() => undefined);
  await lab.destroy();
  await dropLink(BUILTIN_PARENT);
  await rm(stateDir, { recursive: true, force: true });
  await engine.stop();
}
console.log(`run took ${((Date.now() - started) / 1000).toFixed(0)} s`);
