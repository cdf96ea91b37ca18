/**
 * Benchmark: how fast the engine leases addresses, as a fraction of what the DHCP server itself
 * can do. In one run, against the same server in the same lab:
 *   1. perfdhcp (the server vendor's load generator) measures the server's DORA capacity;
 *   2. the engine runs rounds of concurrent acquisitions from one UDP/68 socket;
 *   3. the whole plugin answers RequestAddress calls over its unix socket, one after another
 *      (as Docker sends them for one network) and all at once.
 * Prints leases/s for both, the ratio, and acquisition latency percentiles.
 *
 *   sudo npm run bench -- [--server kea|isc|dnsmasq] [--rounds 10] [--batch 200] [--concurrency 64] [--skip-plugin]
 *
 * Like perfdhcp with -R 200, the engine's rounds reuse the same 200 client MACs, so after the
 * first round the server finds each client's existing lease, as it does for perfdhcp. With
 * --release-between the engine releases every round's leases instead and each round allocates
 * afresh (Kea deletes released leases). The lab subnet is a /24 with 220 dynamic addresses, or,
 * for a batch above 200, a /16 (10.240.0.0/16, a pool of 8,170) with room for the engine's, the
 * plugin's and perfdhcp's clients; perfdhcp (`-R` = the batch) runs last because its clients keep their leases.
 * `--concurrency` is the engine's transactions in flight at most (`DHCP_MAX_CONCURRENT`); 64 kept
 * Kea busy without a loss, 128 and above overflowed receive buffers (docs/performance.md).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { systemClock } from '../src/clock.js';
import { clientIdForMac } from '../src/dhcp/messages.js';
import { UdpTransport } from '../src/dhcp/transport.js';
import { loadConfig } from '../src/config.js';
import { startDaemon } from '../src/daemon.js';
import { openEngine } from '../src/engine.js';
import { callPlugin } from '../test/support/plugin-client.js';
import { createLab, type Lab } from '../test/support/lab/netns.js';
import { run } from '../test/support/lab/shell.js';
import { labPrerequisites } from '../test/support/lab/prereqs.js';
import { createServer, type ServerKind } from '../test/support/lab/servers.js';

const { values } = parseArgs({
  options: {
    server: { type: 'string', default: 'kea' },
    rounds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '64' },
    'perf-seconds': { type: 'string', default: '5' },
    'perf-rates': { type: 'string', default: '1000,2000,4000,8000' },
    'release-between': { type: 'boolean', default: false },
    /** Engine and perfdhcp only: the plugin part is the lease table's benchmark as much as the engine's. */
    'skip-plugin': { type: 'boolean', default: false },
  },
});
const kind = values.server as ServerKind;
const rounds = Number(values.rounds);
const batch = Number(values.batch);
const concurrency = Number(values.concurrency);
const perfSeconds = Number(values['perf-seconds']);
const perfRates = values['perf-rates'].split(',').map(Number);

const prereqs = labPrerequisites(['perfdhcp']);
if (!prereqs.ok) {
  console.error(`cannot run the benchmark: ${prereqs.reason}`);
  process.exit(1);
}

const baseLab = await createLab({ name: 'bench', octet: 201 });
const lab = batch > 200 ? await widen(baseLab) : baseLab;
const server = createServer(kind, lab, { leaseTimeSeconds: 3600, rangeFirst: 20, rangeLast: batch > 200 ? 253 : 239 });
try {
  await server.start();
  console.log(`server: ${kind} in netns ${lab.serverNs}, ${lab.subnet}/${lab.prefixLength}; host ${lab.hostIf}; ${new Date().toISOString()}`);

  // 1. The engine (first: perfdhcp's 200 simulated clients keep their leases and would fill the pool): rounds of `batch` acquisitions, at most `concurrency` at once.
  const engine = await openEngine({
    socket: { transport: await UdpTransport.open(), server: lab.serverIp },
    clock: systemClock,
    log: pino({ level: 'silent' }),
    client: { maxConcurrentAcquisitions: concurrency, releasesPerSecond: 2000 },
  });
  // The client alone: the benchmark times DHCP exchanges, without the lease manager's upkeep.
  const { client } = engine;
  const latencies: number[] = [];
  let busyMs = 0;
  let failures = 0;
  for (let r = 0; r < rounds; r++) {
    const macs = Array.from({ length: batch }, (_, i) => `02:be:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`);
    const t0 = performance.now();
    const results = await Promise.allSettled(
      macs.map(async (mac) => {
        const identity = { mac, clientId: clientIdForMac(mac) };
        const start = performance.now();
        const b = await client.acquire({ identity, timeoutMs: 30_000 });
        latencies.push(performance.now() - start);
        return { identity, ip: b.ip, serverId: b.serverId };
      }),
    );
    busyMs += performance.now() - t0;
    for (const res of results) {
      if (res.status === 'rejected') failures++;
      else if (values['release-between'] || r === rounds - 1) await client.release(res.value);
    }
    await new Promise((resolve) => setTimeout(resolve, 300)); // let the server finish any releases
  }
  await engine.close();

  // 2. The whole plugin: oam-docker-ipam's server in this process, called over its unix socket
  // as Docker calls it. Docker serializes RequestAddress per network, so one network is a
  // sequence of requests; many networks (or hosts) make concurrent ones.
  const plugin: PluginTiming[] = [];
  if (!values['skip-plugin']) {
    const dir = await mkdtemp(join(tmpdir(), 'd4d-bench-'));
    const config = loadConfig({
      flags: { dhcpServer: lab.serverIp, stateDir: join(dir, 'state'), pluginDir: join(dir, 'plugins'), driverName: 'bench', configFile: '/dev/null' },
      env: {},
    });
    const daemon = await startDaemon(config, pino({ level: 'silent' }));
    try {
      const pool = await callPlugin(daemon.socketPath, 'IpamDriver.RequestPool', {
        AddressSpace: 'local',
        Pool: `${lab.subnet}/${lab.prefixLength}`,
        SubPool: '',
        Options: {},
        V6: false,
      });
      const poolId = pool.body.PoolID as string;
      const request = async (i: number): Promise<string> => {
        const res = await callPlugin(daemon.socketPath, 'IpamDriver.RequestAddress', {
          PoolID: poolId,
          Address: '',
          Options: { 'com.docker.network.endpoint.macaddress': benchMac(i) },
        });
        if (res.status !== 200) throw new Error(`RequestAddress failed: ${JSON.stringify(res.body)}`);
        return (res.body.Address as string).split('/')[0] as string;
      };
      const releaseAll = async (ips: string[]): Promise<void> => {
        for (const ip of ips) await callPlugin(daemon.socketPath, 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip });
        await new Promise((resolve) => setTimeout(resolve, 300));
      };
      for (const mode of ['sequential', 'concurrent'] as const) {
        const lat: number[] = [];
        const t0 = performance.now();
        const timed = async (i: number): Promise<string> => {
          const start = performance.now();
          const ip = await request(i);
          lat.push(performance.now() - start);
          return ip;
        };
        let ips: string[] = [];
        if (mode === 'sequential') for (let i = 0; i < batch; i++) ips.push(await timed(i));
        else ips = await Promise.all(Array.from({ length: batch }, (_, i) => timed(i)));
        plugin.push({ mode, count: ips.length, seconds: (performance.now() - t0) / 1000, latencies: lat.sort((a, b) => a - b) });
        await releaseAll(ips);
      }
    } finally {
      await daemon.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }

  // 3. The server's own capacity, measured by perfdhcp at increasing asked rates.
  console.log(`\nperfdhcp -4 -l ${lab.hostIf} -R ${Math.max(200, batch)} -p ${perfSeconds} -r RATE`);
  console.log('  asked/s  DORA done/s  DISCOVER drops  REQUEST drops  avg OFFER delay');
  let serverCapacity = 0;
  const serverCapacityOf = (): number => serverCapacity;
  for (const rate of perfRates) {
    const out = await perfdhcp(rate);
    const acks = statNumber(out, 'REQUEST-ACK', 'received packets');
    const done = acks / perfSeconds;
    serverCapacity = Math.max(serverCapacity, done);
    console.log(
      `  ${String(rate).padStart(7)}  ${done.toFixed(0).padStart(11)}  ${pct(out, 'DISCOVER-OFFER').padStart(14)}  ${pct(out, 'REQUEST-ACK').padStart(13)}  ${statText(out, 'DISCOVER-OFFER', 'avg delay').padStart(15)}`,
    );
  }

  const ok = rounds * batch - failures;
  const engineRate = ok / (busyMs / 1000);
  latencies.sort((a, b) => a - b);
  console.log(
    `\nengine: ${rounds} rounds x ${batch} concurrent acquisitions (same MACs each round${values['release-between'] ? ', released between rounds' : ''}), at most ${concurrency} in flight, one UDP/68 socket`,
  );
  console.log(`  leases: ${ok} ok, ${failures} failed, in ${(busyMs / 1000).toFixed(2)} s`);
  console.log(`  leases/s: ${engineRate.toFixed(0)}`);
  console.log(
    `  latency per acquisition, queueing for a slot included: p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p99 ${percentile(latencies, 0.99).toFixed(1)} ms, max ${(latencies.at(-1) ?? 0).toFixed(1)} ms`,
  );
  for (const t of plugin) {
    const rate = t.count / t.seconds;
    console.log(`\nplugin, ${t.count} RequestAddress calls over its unix socket, ${t.mode} (DHCP exchange + lease table fsync'd each):`);
    console.log(`  addresses/s: ${rate.toFixed(0)}   ratio to server capacity: ${(rate / Math.max(1, serverCapacityOf())).toFixed(2)}`);
    console.log(
      `  latency per call: p50 ${percentile(t.latencies, 0.5).toFixed(1)} ms, p99 ${percentile(t.latencies, 0.99).toFixed(1)} ms, max ${(t.latencies.at(-1) ?? 0).toFixed(1)} ms`,
    );
  }
  console.log(`\nserver capacity (best perfdhcp DORA/s): ${serverCapacity.toFixed(0)}`);
  console.log(`ratio engine / server capacity: ${(engineRate / serverCapacity).toFixed(2)}`);
} finally {
  await server.stop().catch(() => undefined);
  await lab.destroy();
}

/**
 * The same lab readdressed as 10.240.0.0/16, for batches the /24 cannot hold. The lab helpers
 * describe a /24; this view describes the /16 to the server configs, which read the subnet,
 * prefix, netmask and `network()` from it.
 */
async function widen(l: Lab): Promise<Lab> {
  const serverIp = '10.240.0.1';
  const hostIp = '10.240.255.254';
  await run('ip', ['-n', l.serverNs, 'addr', 'flush', 'dev', l.serverIf]);
  await run('ip', ['-n', l.serverNs, 'addr', 'add', `${serverIp}/16`, 'dev', l.serverIf]);
  await run('ip', ['addr', 'flush', 'dev', l.hostIf]);
  await run('ip', ['addr', 'add', `${hostIp}/16`, 'dev', l.hostIf]);
  const wide = {
    ...l,
    serverIp,
    hostIp,
    subnet: '10.240.0.0',
    prefixLength: 16,
    netmask: '255.255.0.0',
    // The server fixtures take the range as host parts of a /24 (2..253): here 253 stands for
    // the top of 10.240.0.0–10.240.31.255, so the pool is 10.240.0.20–10.240.31.253 (8,170).
    network: (i: number): string => (i === 253 ? '10.240.31.253' : `10.240.0.${i}`),
  };
  return wide as unknown as Lab;
}

function perfdhcp(rate: number): Promise<string> {
  // perfdhcp exits 3 when any packet was dropped; its report is what we want either way.
  return new Promise((resolve, reject) => {
    const p = spawn('perfdhcp', ['-4', '-l', lab.hostIf, '-r', String(rate), '-R', String(Math.max(200, batch)), '-p', String(perfSeconds)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', reject);
    p.on('exit', () => resolve(out));
  });
}

function section(out: string, name: string): string {
  const start = out.indexOf(`Statistics for: ${name}`);
  return start === -1 ? '' : out.slice(start, out.indexOf('***Statistics', start + 10) === -1 ? undefined : out.indexOf('***Statistics', start + 10));
}

function statText(out: string, name: string, key: string): string {
  return (
    section(out, name)
      .match(new RegExp(`${key}: ([^\\n]+)`))?.[1]
      ?.trim() ?? '?'
  );
}

function statNumber(out: string, name: string, key: string): number {
  return Number.parseFloat(statText(out, name, key)) || 0;
}

function pct(out: string, name: string): string {
  const v = statNumber(out, name, 'drops ratio');
  return `${v.toFixed(1)} %`;
}

interface PluginTiming {
  mode: 'sequential' | 'concurrent';
  count: number;
  seconds: number;
  latencies: number[];
}

function benchMac(i: number): string {
  return `02:bf:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}
