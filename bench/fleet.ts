/**
 * Fleet: N hosts, each its own namespace (network and UTS) with its own daemon, on one LAN with
 * one Kea, all bursting RequestAddress at once, round after round (each round's addresses
 * released before the next). Reported: addresses/s over the whole fleet (every host's successes
 * over the wall time of the round, all hosts started together), per host, the spread between
 * hosts, and any address handed out twice (a failure, not a figure). The yardstick is
 * perfdhcp's completed DORA/s against the same server in the same run, from one host of the
 * LAN, best of its asked rates, run after the bursts (its clients keep their leases).
 *
 *   sudo node --import tsx bench/fleet.ts -- [--hosts 4] [--burst 50] [--rounds 3]
 *        [--mode direct|relay] [--perf-rates 500,1000,2000] [--perf-seconds 5]
 *
 * The daemons are the built dist/main.js (npm run build first). The LAN is one /24, the pool
 * .10–.199: hosts × burst must stay at 180 or under. In relay mode each host relays from its
 * LAN address (the server is on the same LAN: the path is the relay path, unicast both ways,
 * not a routed one).
 * Run it on a quiet machine: every figure is CPU-bound on a 2-core host.
 */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startFleetDaemon, type FleetDaemon } from '../test/support/fleet-daemon.js';
import { createFleetLab, type FleetLab } from '../test/support/lab/fleet-lab.js';
import { labPrerequisites } from '../test/support/lab/prereqs.js';
import { createServer } from '../test/support/lab/servers.js';
import { callPlugin } from '../test/support/plugin-client.js';
import { buildInfo } from './lib/daemon.js';
import { formatPerfRuns, serverCapacity } from './lib/perfdhcp.js';
import { randomMac, requestPool } from './lib/plugin.js';
import { info, ms, percentile } from './lib/report.js';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '4' },
    burst: { type: 'string', default: '50' },
    rounds: { type: 'string', default: '3' },
    mode: { type: 'string', default: 'direct' },
    'perf-rates': { type: 'string', default: '500,1000,2000' },
    'perf-seconds': { type: 'string', default: '5' },
  },
});
const hosts = Number(values.hosts);
const burst = Number(values.burst);
const rounds = Number(values.rounds);
const mode = values.mode;
if (mode !== 'direct' && mode !== 'relay') throw new Error(`--mode must be direct or relay, got ${String(mode)}`);
if (!(hosts >= 1 && hosts <= 20 && burst >= 1 && hosts * burst <= 180 && rounds >= 1))
  throw new Error('want 1–20 hosts and hosts × burst <= 180 (one /24: pool .10–.199), rounds >= 1');
const perfRates = values['perf-rates'].split(',').map(Number);
const perfSeconds = Number(values['perf-seconds']);

const prereqs = labPrerequisites(['perfdhcp', 'unshare']);
if (!prereqs.ok) {
  console.error(`cannot run the benchmark: ${prereqs.reason}`);
  process.exit(1);
}

const started = Date.now();
console.log(`fleet benchmark: ${hosts} hosts × ${burst} at once, ${rounds} round(s), ${mode} mode, Kea; ${new Date().toISOString()}; ${buildInfo()}`);
const lab: FleetLab = await createFleetLab({ name: 'bfl', octet: 135, servers: 1, hosts });
const server = createServer('kea', lab.servers[0] as FleetLab['servers'][0], { leaseTimeSeconds: 3600, rangeFirst: 10, rangeLast: 199 });
const daemons: FleetDaemon[] = [];

interface Round {
  seconds: number;
  ok: number;
  failed: number;
  perHost: number[];
  duplicates: number;
  latencies: number[];
  firstError?: string;
}
const results: Round[] = [];
let capacity = 0;
try {
  await server.start();
  for (const host of lab.hosts) {
    const dir = await mkdtemp(join(lab.workDir, `bfl${host.index}-`));
    const args = ['--dhcp-server', lab.network(1), '--listen-addr', host.ip, ...(mode === 'relay' ? ['--relay'] : [])];
    daemons.push(await startFleetDaemon({ host, hostName: `bfl${host.index}`, dir, args }));
  }
  const pools = await Promise.all(daemons.map((d) => requestPool(d.socketPath, `${lab.subnet}/24`)));
  for (let r = 1; r <= rounds; r++) {
    const calls = daemons.flatMap((d, h) => Array.from({ length: burst }, () => ({ h, d, pool: pools[h] as string, mac: randomMac() })));
    const t0 = performance.now();
    const replies = await Promise.all(
      calls.map(async (c) => {
        const from = performance.now();
        const res = await callPlugin(c.d.socketPath, 'IpamDriver.RequestAddress', {
          PoolID: c.pool,
          Address: '',
          Options: { 'com.docker.network.endpoint.macaddress': c.mac },
        }).catch((err: Error) => ({ status: 0, body: { Err: err.message } as Record<string, unknown> }));
        const address = res.status === 200 && typeof res.body.Address === 'string' ? res.body.Address.split('/')[0] : undefined;
        return { ...c, address, ms: performance.now() - from, error: address === undefined ? String(res.body.Err ?? res.status) : undefined };
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const ok = replies.filter((x) => x.address !== undefined);
    const addresses = ok.map((x) => x.address as string);
    const round: Round = {
      seconds,
      ok: ok.length,
      failed: replies.length - ok.length,
      // Each host over the time its own last reply took (all calls start together).
      perHost: daemons.map((_, h) => {
        const mine = ok.filter((x) => x.h === h);
        return mine.length / (Math.max(...mine.map((x) => x.ms), 1) / 1000);
      }),
      duplicates: addresses.length - new Set(addresses).size,
      latencies: ok.map((x) => x.ms),
      ...(replies.find((x) => x.error !== undefined)?.error === undefined ? {} : { firstError: replies.find((x) => x.error !== undefined)?.error as string }),
    };
    results.push(round);
    console.log(
      `round ${r}: ${round.ok} addresses, ${round.failed} failed, ${seconds.toFixed(2)} s, ${(round.ok / seconds).toFixed(0)}/s, duplicates ${round.duplicates}`,
    );
    await Promise.all(ok.map((x) => callPlugin(x.d.socketPath, 'IpamDriver.ReleaseAddress', { PoolID: x.pool, Address: x.address })));
  }
  // The yardstick, last: perfdhcp's clients keep their leases in the /24, and it needs port 67
  // of the host's address, which a relay-mode daemon holds.
  for (const d of daemons.splice(0)) await d.stop('SIGTERM');
  const perf = await serverCapacity(
    { netns: (lab.hosts[0] as FleetLab['hosts'][0]).ns, iface: 'eth0', clients: hosts * burst, seconds: perfSeconds, baseMac: '0a:bf:00:00:00:00' },
    perfRates,
  );
  capacity = perf.best;
  console.log(`\nperfdhcp -4 -l eth0 -R ${hosts * burst} -p ${perfSeconds} -r RATE, from host 1\n${formatPerfRuns(perf.runs)}`);
} finally {
  for (const d of daemons) await d.stop('SIGTERM');
  await server.stop();
  await lab.destroy();
}

const rates = results.map((r) => r.ok / r.seconds);
const best = Math.max(...rates);
const all = results.flatMap((r) => r.latencies);
console.log(`\n== fleet: ${hosts} hosts × ${burst}, ${mode} mode ==`);
info('addresses/s, whole fleet (best round)', best.toFixed(0));
info('addresses/s, whole fleet (median round)', percentile(rates, 0.5).toFixed(0));
info('ratio to perfdhcp DORA/s (best round)', capacity > 0 ? (best / capacity).toFixed(2) : '—');
info('perfdhcp DORA/s (best of its rates)', capacity.toFixed(0));
const perHost = results.map((r) => r.perHost);
info(
  'addresses/s per host, slowest / fastest (best round)',
  (() => {
    const row = perHost[rates.indexOf(best)] ?? [];
    return `${Math.min(...row).toFixed(0)} / ${Math.max(...row).toFixed(0)}`;
  })(),
);
info('latency per call p50 / p99', `${ms(percentile(all, 0.5))} / ${ms(percentile(all, 0.99))}`);
info('failed calls, addresses handed out twice', `${results.reduce((a, r) => a + r.failed, 0)}, ${results.reduce((a, r) => a + r.duplicates, 0)}`);
const firstError = results.find((r) => r.firstError !== undefined)?.firstError;
if (firstError !== undefined) console.log(`first error: ${firstError}`);
console.log(`run took ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (results.some((r) => r.duplicates > 0)) process.exitCode = 1;
