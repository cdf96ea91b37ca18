/**
 * What a user sees: `docker run -d` of 50 containers on a d4d macvlan network (addresses leased
 * from Kea through `oam-docker-ipam server`) beside the same on a macvlan network with Docker's
 * built-in IPAM, wall time: one after another (a shell loop), all at once (50 `docker run` at
 * the same moment), and as one Compose project (`docker compose up -d --scale web=50`, the
 * user's recipe docs/compose.yaml for d4d); then `docker rm -f` of them (`compose down`). No
 * target is set here: the figure is d4d's wall time beside Docker's own, and the time d4d adds
 * per container, with the plugin's own time per call from its metrics.
 *
 *   sudo npm run bench:docker-run -- [--quick] [--containers 50] [--server kea|isc]
 *        [--engine docker28|docker20]
 *
 * The engine is a lab dockerd of its own (test/support/docker-engines.ts: its own socket, data
 * root and exec root; stopped after): Docker 28.5 with Compose v2 by default (scripts/setup.sh
 * unpacks it), or Debian bookworm's 20.10, whose Compose is the v28 client's plugin. Holds
 * /tmp/d4d-docker.lock for the whole run (it re-executes itself under flock) and builds
 * local/busybox if the engine lacks it. The daemon is the built dist/main.js in the root
 * namespace, as Docker hosts run it; the built-in network's macvlan parent is a veth of its
 * own (Docker allows one macvlan network per parent).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { COMPOSE_RECIPE, writeTestImageOverride } from '../test/support/compose-recipe.js';
import { ENGINE_IDS, engineMissing, startEngine, TEST_IMAGE, type DockerEngine, type EngineId } from '../test/support/docker-engines.js';
import { startDriverLab, type DriverLab } from '../test/support/docker-lab.js';
import { labPrerequisites } from '../test/support/lab/prereqs.js';
import type { ServerKind } from '../test/support/lab/servers.js';
import { run } from '../test/support/lab/shell.js';
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
    engine: { type: 'string', default: 'docker28' },
  },
});
const quick = values.quick;
const count = Number(values.containers ?? (quick ? 5 : 50));
const kind = values.server as ServerKind;
const engineId = values.engine as EngineId;
if (!ENGINE_IDS.includes(engineId)) throw new Error(`--engine must be one of ${ENGINE_IDS.join(', ')}, got ${String(values.engine)}`);
const PREFIX = 'd4db-';
const DRIVER = 'd4dbench';
const BUILTIN_PARENT = 'bdrunx';
const BUILTIN_SUBNET = '10.231.214.0/24';

const prereqs = labPrerequisites();
const missing = engineMissing(engineId);
if (!prereqs.ok || missing !== undefined) {
  console.error(`cannot run the benchmark: ${prereqs.ok ? missing : prereqs.reason}`);
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

/**
 * The daemon's histograms so far, count and total seconds: plugin calls by call (all codes),
 * and DHCP exchanges by step (`DHCP acquire`, all outcomes), which are part of the calls' time.
 */
async function pluginCalls(): Promise<Map<string, { count: number; seconds: number }>> {
  const text = await (await fetch(`http://${METRICS_ADDR}/metrics`)).text();
  const calls = new Map<string, { count: number; seconds: number }>();
  for (const m of text.matchAll(/^d4d_(plugin_request|dhcp_exchange)_duration_seconds_(sum|count)\{([^}]*)\} ([0-9.e+-]+)$/gm)) {
    const [, histogram, kind, labels = '', value] = m;
    const label = (name: string): string => new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1] ?? '';
    // Acquisitions run inside RequestAddress; renewals and the rest run in the background.
    const step = label('step');
    const key = histogram === 'plugin_request' ? label('call') : `DHCP ${step}${step === 'acquire' ? ' (within the calls)' : ''}`;
    const c = calls.get(key) ?? { count: 0, seconds: 0 };
    if (kind === 'sum') c.seconds += Number(value);
    else c.count += Number(value);
    calls.set(key, c);
  }
  return calls;
}

/** The plugin's calls, summed over phases: `call x n, mean` and the calls' time per container. */
function describeCalls(calls: Map<string, { count: number; seconds: number }>, containers: number): string[] {
  const lines: string[] = [];
  let totalMs = 0;
  for (const [call, c] of calls) {
    if (c.count <= 0) continue;
    const spentMs = c.seconds * 1000;
    if (!call.startsWith('DHCP ')) totalMs += spentMs;
    lines.push(`${call} x ${c.count}, mean ${ms(spentMs / c.count)}`);
  }
  lines.push(`calls in all, per container: ${ms(totalMs / containers)}`);
  return lines;
}

/** One side of the comparison: its network for `docker run`, and its Compose files and variables. */
interface Side {
  readonly name: 'd4d' | 'builtin';
  readonly title: string;
  readonly net: string;
  readonly composeFiles: readonly string[];
  readonly composeEnv: Readonly<Record<string, string>>;
}

const started = Date.now();
console.log(
  `docker run benchmark${quick ? ' (quick)' : ''}: ${count} containers, d4d (${kind}) beside Docker's built-in IPAM; ${new Date().toISOString()}; ${buildInfo()}`,
);
const dir = await mkdtemp(join(tmpdir(), 'd4d-bench-docker-'));
const engine: DockerEngine = await startEngine(engineId).catch(async (err: unknown) => {
  await rm(dir, { recursive: true, force: true });
  throw err;
});
console.log(`engine: ${engine.label} (a lab dockerd of its own), Compose ${engine.versions.compose}`);
let dl: DriverLab | undefined;
try {
  await engine.ensureTestImage();
  await engine.removeByPrefix(PREFIX);
  await dropLink(BUILTIN_PARENT);
  await run('ip', ['link', 'add', BUILTIN_PARENT, 'type', 'veth', 'peer', 'name', 'bdruny']);
  await run('ip', ['link', 'set', BUILTIN_PARENT, 'up']);
  await run('ip', ['link', 'set', 'bdruny', 'up']);
  dl = await startDriverLab({
    engine,
    name: 'bdrun',
    octet: 213,
    kind,
    driver: DRIVER,
    server: { leaseTimeSeconds: 3600, rangeFirst: 20, rangeLast: 239 },
    pluginArgs: ['--metrics-addr', METRICS_ADDR],
  });
  const lab = dl.lab;
  // No image can be pulled here: the services run the local busybox image.
  const image = await writeTestImageOverride(dir);
  const builtinCompose = join(dir, 'builtin.yaml');
  await writeFile(
    builtinCompose,
    `services:\n  web:\n    networks: [lan]\nnetworks:\n  lan:\n    driver: macvlan\n    driver_opts:\n      parent: ${BUILTIN_PARENT}\n    ipam:\n      config:\n        - subnet: ${BUILTIN_SUBNET}\n`,
  );
  const sides: Side[] = [
    {
      name: 'd4d',
      title: `d4d (${kind}, macvlan)`,
      net: `${PREFIX}dhcp`,
      composeFiles: [COMPOSE_RECIPE, image],
      composeEnv: { LAN_PARENT: lab.hostIf, LAN_SUBNET: `${lab.subnet}/24`, LAN_GATEWAY: lab.serverIp, D4D_DRIVER: DRIVER },
    },
    { name: 'builtin', title: "Docker's built-in IPAM (macvlan)", net: `${PREFIX}builtin`, composeFiles: [builtinCompose, image], composeEnv: {} },
  ];
  await engine.docker([...dl.macvlanArgs(), sides[0]?.net ?? '']);
  await engine.docker(['network', 'create', '-d', 'macvlan', '--subnet', BUILTIN_SUBNET, '-o', `parent=${BUILTIN_PARENT}`, sides[1]?.net ?? '']);
  // One container each first, so neither side's first-use cost (image, plugin activation) lands in the figures.
  for (const side of sides) {
    await engine.docker(['run', '-d', '--name', `${PREFIX}warm-${side.name}`, '--net', side.net, TEST_IMAGE, 'sleep', '3600']);
    await engine.docker(['rm', '-f', `${PREFIX}warm-${side.name}`]);
  }

  /** `docker run -d` of `count` containers on the side's network, one after another or all at once. */
  const runAll = async (side: Side, tag: string, together: boolean): Promise<Timing> => {
    const one = async (i: number): Promise<number> => {
      const t = performance.now();
      await engine.docker(['run', '-d', '--name', `${PREFIX}${tag}-${i}`, '--net', side.net, TEST_IMAGE, 'sleep', '3600'], 120_000);
      return performance.now() - t;
    };
    const t0 = performance.now();
    const perCallMs: number[] = [];
    if (together) perCallMs.push(...(await Promise.all(Array.from({ length: count }, (_, i) => one(i)))));
    else for (let i = 0; i < count; i++) perCallMs.push(await one(i));
    return { wallS: (performance.now() - t0) / 1000, perCallMs };
  };
  const removeAll = async (tag: string): Promise<number> => {
    const t0 = performance.now();
    await engine.docker(['rm', '-f', ...Array.from({ length: count }, (_, i) => `${PREFIX}${tag}-${i}`)], 300_000);
    return (performance.now() - t0) / 1000;
  };
  /** `docker compose <args>` of the side's project, wall time in s. */
  const compose = async (side: Side, args: readonly string[]): Promise<number> => {
    const files = side.composeFiles.flatMap((f) => ['-f', f]);
    const t0 = performance.now();
    await engine.compose(['-p', `${PREFIX}${side.name}`, ...files, ...args], { env: { ...side.composeEnv }, timeoutMs: 600_000 });
    return (performance.now() - t0) / 1000;
  };

  /** Per side, the figures of each round: wall times in s, and every `docker run`'s own time. */
  interface Result {
    seq: number[];
    seqCallsMs: number[];
    seqRm: number[];
    par: number[];
    parRm: number[];
    up: number[];
    down: number[];
  }
  const empty = (): Result => ({ seq: [], seqCallsMs: [], seqRm: [], par: [], parRm: [], up: [], down: [] });
  const results = new Map<Side['name'], Result>(sides.map((side) => [side.name, empty()]));
  // What Docker asked of the plugin, and how long the plugin took, in the d4d phases: the
  // metrics before and after each, summed over the rounds.
  const inPlugin = new Map<string, Map<string, { count: number; seconds: number }>>();
  const measured = async <T>(label: string, side: Side, work: () => Promise<T>): Promise<T> => {
    if (side.name !== 'd4d') return work();
    const before = await pluginCalls();
    const result = await work();
    const sum = inPlugin.get(label) ?? new Map<string, { count: number; seconds: number }>();
    for (const [call, a] of await pluginCalls()) {
      const was = before.get(call) ?? { count: 0, seconds: 0 };
      const s = sum.get(call) ?? { count: 0, seconds: 0 };
      sum.set(call, { count: s.count + a.count - was.count, seconds: s.seconds + a.seconds - was.seconds });
    }
    inPlugin.set(label, sum);
    return result;
  };
  // Each phase twice, the sides in turn and then the other way round (d4d, built-in, built-in,
  // d4d), so that neither side always goes first: with one fixed order (d4d first) the same
  // build came out 0.80-1.05 x the built-in IPAM one after another from run to run.
  const rounds = [sides, [...sides].reverse()];
  for (const [round, order] of rounds.entries()) {
    for (const side of order) {
      const r = results.get(side.name) as Result;
      const seq = await measured('docker run, one after another', side, () => runAll(side, `${side.name}-s${round}`, false));
      r.seq.push(seq.wallS);
      r.seqCallsMs.push(...seq.perCallMs);
      r.seqRm.push(await measured('docker rm -f (of those run one after another)', side, () => removeAll(`${side.name}-s${round}`)));
    }
  }
  for (const [round, order] of rounds.entries()) {
    for (const side of order) {
      const r = results.get(side.name) as Result;
      r.par.push((await measured('docker run, all at once', side, () => runAll(side, `${side.name}-p${round}`, true))).wallS);
      r.parRm.push(await removeAll(`${side.name}-p${round}`));
    }
  }
  // Compose makes a network of its own: the built-in IPAM refuses a second pool on the same
  // subnet, and Docker a second macvlan network on one parent.
  for (const side of sides) await engine.docker(['network', 'rm', side.net]);
  for (const order of rounds) {
    for (const side of order) {
      const r = results.get(side.name) as Result;
      r.up.push(await measured(`compose up -d --scale web=${count}`, side, () => compose(side, ['up', '-d', '--scale', `web=${count}`])));
      r.down.push(await measured('compose down', side, () => compose(side, ['down', '-t', '0'])));
    }
  }
  const both = (xs: readonly number[]): string => `${xs.map((x) => x.toFixed(2)).join(' / ')} s`;
  const total = (xs: readonly number[]): number => xs.reduce((a, x) => a + x, 0);
  for (const side of sides) {
    const r = results.get(side.name) as Result;
    console.log(`\n${side.title}, ${engine.label} (each round):`);
    info(`docker run -d x ${count}, one after another`, both(r.seq));
    info('  per docker run p50 / p99 (both rounds)', `${ms(percentile(r.seqCallsMs, 0.5))} / ${ms(percentile(r.seqCallsMs, 0.99))}`);
    info(`docker rm -f of them (one command)`, both(r.seqRm));
    info(`docker run -d x ${count}, all at once`, both(r.par));
    info(`docker rm -f of them (one command)`, both(r.parRm));
    info(`docker compose up -d --scale web=${count}`, both(r.up));
    info('docker compose down (the network removed too)', both(r.down));
  }
  const d = results.get('d4d');
  const b = results.get('builtin');
  if (d !== undefined && b !== undefined) {
    const ratio = (x: readonly number[], y: readonly number[]): string => `${(total(x) / total(y)).toFixed(2)} x`;
    console.log(`\nd4d beside the built-in IPAM, ${engine.label}, both rounds (no target set; lower is better):`);
    info('one after another: wall time ratio', ratio(d.seq, b.seq));
    info('  added per container (p50 docker run)', ms(percentile(d.seqCallsMs, 0.5) - percentile(b.seqCallsMs, 0.5)));
    info('all at once: wall time ratio', ratio(d.par, b.par));
    info('docker rm -f: wall time ratio (one after another / all at once)', `${ratio(d.seqRm, b.seqRm)} / ${ratio(d.parRm, b.parRm)}`);
    info('compose up / down: wall time ratio', `${ratio(d.up, b.up)} / ${ratio(d.down, b.down)}`);
  }
  // The plugin's own time (its metrics, request to response) beside what it adds to each
  // container: the rest is Docker's side of the calls.
  for (const [label, calls] of inPlugin) {
    console.log(`\ntime in the plugin during ${label}, both rounds (its metrics, request to response):`);
    for (const line of describeCalls(calls, count * rounds.length)) console.log(`        ${line}`);
  }
} finally {
  await engine.removeByPrefix(PREFIX).catch(() => undefined);
  await dl?.destroy().catch(() => undefined);
  await dropLink(BUILTIN_PARENT);
  await rm(dir, { recursive: true, force: true });
  await engine.stop();
}
console.log(`run took ${((Date.now() - started) / 1000).toFixed(0)} s`);
