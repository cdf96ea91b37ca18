/**
 * Hostile input, at full size (the test suite runs the same code smaller):
 *
 *   decoder  1,000,000 mutants of the captured packets through the decoder and everything the
 *            receive path runs on a datagram; outcomes: decoded / DecodeError / failure
 *   live     1,000,000 forged and mutated replies on a live client's UDP/68 (its own netns) while
 *            it acquires and releases leases from Kea; acquisition rate and latency beside a run
 *            without the noise; the client's drop counters beside the kernel's
 *   api      100,000 malformed plugin API calls to the built daemon, then 5,000 connections held
 *            open beside real calls; the leases held before are checked on disk and on the server
 *
 *   sudo node --import tsx bench/fuzz.ts [decoder|live|api|all] [--packets N] [--live-packets N]
 *        [--rate N] [--bodies N] [--connections N] [--seed N]
 *
 * Prints the figures; exits 1 on any failure (a crash, an exception other than DecodeError, an
 * uncounted datagram, an accepted forgery, a malformed call not answered with {"Err": …}, a
 * changed lease table), 2 on bad usage. `live` and `api` need root and `npm run build`.
 */
import { parseArgs } from 'node:util';
import { runDecoderFuzz } from '../test/support/hostile/decoder-fuzz.js';
import { describeLiveNoise, runLiveNoise, type Phase } from '../test/support/hostile/live-noise.js';
import { startApiLab } from '../test/support/hostile/api-lab.js';
import { sendBadRequests } from '../test/support/hostile/bad-requests.js';
import { openConnectionFlood } from '../test/support/hostile/connection-flood.js';
import { prng } from '../test/support/hostile/mutate.js';
import { callPlugin } from '../test/support/plugin-client.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    packets: { type: 'string', default: '1000000' },
    'live-packets': { type: 'string', default: '1000000' },
    rate: { type: 'string', default: '10000' },
    bodies: { type: 'string', default: '100000' },
    connections: { type: 'string', default: '5000' },
    seed: { type: 'string', default: '3412' },
  },
});
const what = positionals[0] ?? 'all';
if (!['decoder', 'live', 'api', 'all'].includes(what)) {
  console.error(`unknown part ${JSON.stringify(what)}: want decoder, live, api or all`);
  process.exit(2);
}
const seed = Number(values.seed);
const problems: string[] = [];
const check = (ok: boolean, problem: string): void => {
  if (!ok) problems.push(problem);
};

function decoder(): void {
  const packets = Number(values.packets);
  console.log(`decoder: ${packets} mutants of the captured packets (seed ${seed})`);
  const r = runDecoderFuzz({ packets, seed });
  console.log(
    `  ${r.packets} packets in ${(r.elapsedMs / 1000).toFixed(1)} s: ${r.decoded} decoded, ${r.decodeErrors} DecodeError, ${r.failureCount} failures`,
  );
  for (const [kind, c] of Object.entries(r.byKind))
    console.log(`    ${kind.padEnd(18)} ${String(c.decoded).padStart(8)} decoded ${String(c.decodeErrors).padStart(8)} DecodeError`);
  for (const f of r.failures.slice(0, 5)) console.log(`  FAILURE ${f.kind} #${f.iteration} (seed packet ${f.seedIndex}): ${f.problem}\n    ${f.hex}`);
  check(r.failureCount === 0, `decoder: ${r.failureCount} failures`);
  check(r.decoded + r.decodeErrors === packets, 'decoder: outcomes do not add up');
}

async function live(): Promise<void> {
  const packets = Number(values['live-packets']);
  const rate = Number(values.rate);
  console.log(`live: ${packets} forged replies at ${rate}/s on a client acquiring from Kea`);
  const r = await runLiveNoise({ name: 'hfzb', octet: 176, kind: 'kea', packets, ratePerSecond: rate, quietMs: 20_000, concurrency: 8, seed });
  for (const line of describeLiveNoise(r)) console.log(`  ${line}`);
  check(r.clientAlive, 'live: the client process died');
  check(r.uncounted === 0, `live: ${r.uncounted} datagrams neither accepted nor counted as a drop`);
  check(r.unread === 0, `live: ${r.unread} datagrams delivered by the kernel but not read`);
  for (const [name, p] of [
    ['quiet', r.quiet],
    ['noisy', r.noisy],
  ] as Array<[string, Phase]>) {
    check(p.failed === 0, `live: ${p.failed} acquisitions failed ${name}: ${p.errors.join('; ')}`);
    check(p.acquired > 0, `live: no acquisition completed ${name}`);
    check(
      Object.keys(p.servers).every((s) => s === r.serverIp),
      `live: leases from ${Object.keys(p.servers).join(', ')} ${name}`,
    );
    check(
      p.ips.every((ip) => Number(ip.split('.')[3]) < 240),
      `live: a forged address was leased ${name}`,
    );
  }
  check(r.client.accepted === 2 * r.noisy.acquired, `live: ${r.client.accepted} replies accepted for ${r.noisy.acquired} acquisitions`);
}

async function api(): Promise<void> {
  const bodies = Number(values.bodies);
  const connections = Number(values.connections);
  console.log(`api: ${bodies} malformed calls, then ${connections} connections held open, on the built daemon`);
  const lab = await startApiLab({ name: 'hfza', octet: 177, macs: ['02:d4:b1:00:00:01', '02:d4:b1:00:00:02', '02:d4:b1:00:00:03'] });
  try {
    const r = await sendBadRequests(lab.socketPath, { count: bodies, random: prng(seed), concurrency: 32 });
    console.log(
      `  ${r.sent} calls in ${(r.elapsedMs / 1000).toFixed(1)} s (${(r.sent / (r.elapsedMs / 1000)).toFixed(0)}/s): ${r.refused} answered with an HTTP error and {"Err": …}, ${r.wrong} otherwise; by status ${JSON.stringify(r.byStatus)}`,
    );
    for (const [kind, c] of Object.entries(r.byKind))
      console.log(`    ${kind.padEnd(14)} ${String(c.sent).padStart(7)} sent ${String(c.refused).padStart(7)} refused ${String(c.wrong).padStart(4)} wrong`);
    for (const e of r.examples) console.log(`  WRONG ${e}`);
    check(r.wrong === 0 && r.refused === bodies, `api: ${r.wrong} malformed calls not answered with {"Err": …}`);
    problems.push(...(await lab.tableProblems()).map((p) => `api (after the calls): ${p}`));

    const startedAt = performance.now();
    const flood = await openConnectionFlood(lab.socketPath, connections);
    try {
      const opened = performance.now();
      const calls = await Promise.all(
        Array.from({ length: 100 }, () =>
          callPlugin(lab.socketPath, 'IpamDriver.GetCapabilities').then(
            (c) => c.status,
            () => 0,
          ),
        ),
      );
      const mac = '02:d4:b1:00:00:99';
      const res = await callPlugin(lab.socketPath, 'IpamDriver.RequestAddress', {
        PoolID: lab.poolId,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': mac },
      });
      const ip = String(res.body.Address ?? '').split('/')[0] ?? '';
      const rel = await callPlugin(lab.socketPath, 'IpamDriver.ReleaseAddress', { PoolID: lab.poolId, Address: ip });
      console.log(
        `  ${flood.open} connections open in ${((opened - startedAt) / 1000).toFixed(1)} s (${JSON.stringify(flood.byKind)}; ${flood.connectRetries} connects retried on EAGAIN); beside them 100 GetCapabilities and a RequestAddress/ReleaseAddress in ${(performance.now() - opened).toFixed(0)} ms; ${flood.closedByServer()} closed by the daemon`,
      );
      check(flood.open === connections, `api: only ${flood.open} connections opened`);
      check(
        calls.every((s) => s === 200),
        'api: a GetCapabilities call failed beside the open connections',
      );
      check(res.status === 200 && rel.status === 200, `api: real lease beside the connections failed: ${JSON.stringify(res.body)} ${JSON.stringify(rel.body)}`);
    } finally {
      flood.close();
    }
    problems.push(...(await lab.tableProblems()).map((p) => `api (after the connections): ${p}`));
    console.log(
      `  lease table: ${lab.held.size} leases held before, ${problems.some((p) => p.startsWith('api (after')) ? 'CHANGED' : 'the same after, on disk and on the server'}`,
    );
  } finally {
    await lab.close();
  }
}

if (what === 'decoder' || what === 'all') decoder();
if (what === 'live' || what === 'all') await live();
if (what === 'api' || what === 'all') await api();
if (problems.length > 0) {
  console.log(`\nFAILED:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log('\nOK: no crash, every outcome counted');
