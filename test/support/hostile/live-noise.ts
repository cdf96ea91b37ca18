/**
 * Forged and mutated replies flooding a live client's UDP/68 while it acquires (and releases)
 * leases from a real server: acquisitions are measured without the noise, then with it, and the
 * client's counters are set beside the kernel's. Shared by `hostile-noise.test.ts` and
 * `bench/fuzz.ts live`.
 */
import { createHostileSegment } from './segment.js';
import { startNetnsChild, type Message, type NetnsChild } from './netns-child.js';
import { startSniffer, type Sniffer } from './sniffer.js';
import { createServer, type DhcpServerFixture, type ServerKind } from '../lab/servers.js';

export interface LiveNoiseOptions {
  name: string;
  octet: number;
  kind: ServerKind;
  /** Noise datagrams to send. */
  packets: number;
  ratePerSecond: number;
  /** Length of the measurement without noise. */
  quietMs: number;
  concurrency: number;
  seed: number;
}

export interface Phase {
  acquired: number;
  failed: number;
  errors: string[];
  elapsedMs: number;
  ratePerSecond: number;
  latencyMs: { p50: number; p95: number; max: number };
  servers: Record<string, number>;
  ips: string[];
}

export interface LiveNoiseResult {
  serverIp: string;
  quiet: Phase;
  noisy: Phase;
  noise: { sent: number; withheld: number; sendErrors: number; byCategory: Record<string, number>; elapsedMs: number; ratePerSecond: number };
  /** Client counters during the noisy phase (differences). */
  client: Record<string, number>;
  /** Kernel UDP counters of the client's netns during the noisy phase (differences). */
  kernel: Record<string, number>;
  /** Datagrams the client read but did not count as accepted or as a drop: must be 0. */
  uncounted: number;
  /** Datagrams the kernel delivered to the socket that the client did not read: must be 0. */
  unread: number;
  clientAlive: boolean;
}

function diff(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

async function stats(client: NetnsChild): Promise<{ stats: Record<string, number>; udp: Record<string, number> }> {
  client.send({ cmd: 'stats' });
  const m = (await client.next((e) => e.event === 'stats', 10_000)) as Message & { stats: Record<string, number>; udp: Record<string, number> };
  return { stats: m.stats, udp: m.udp };
}

export async function runLiveNoise(o: LiveNoiseOptions): Promise<LiveNoiseResult> {
  const seg = await createHostileSegment({ name: o.name, octet: o.octet });
  let server: DhcpServerFixture | undefined;
  let noise: NetnsChild | undefined;
  let client: NetnsChild | undefined;
  let sniffer: Sniffer | undefined;
  try {
    server = createServer(o.kind, seg.lab, { leaseTimeSeconds: 600, rangeFirst: 20, rangeLast: 239 });
    await server.start();
    const prefix = seg.lab.network(0).replace(/0$/, '');
    noise = startNetnsChild(seg.noiseNs, 'test/support/hostile/noise-sender.ts', {
      serverIp: seg.lab.serverIp,
      altIp: seg.noiseAltIp,
      clientIp: seg.clientIp,
      broadcastIp: seg.lab.network(255),
      fakePrefix: prefix,
    });
    client = startNetnsChild(seg.clientNs, 'test/support/hostile/acquirer.ts', { server: seg.lab.serverIp, macOctet: o.octet });
    await noise.next((m) => m.event === 'ready', 30_000);
    await client.next((m) => m.event === 'ready', 30_000);
    const n = noise;
    sniffer = await startSniffer(seg.lab.hostIf, 'udp dst port 67', (payload) => n.send({ cmd: 'packet', hex: payload.toString('hex') }));

    const run = { cmd: 'run', concurrency: o.concurrency, release: true };
    client.send({ ...run, phase: 'quiet', durationMs: o.quietMs, macBase: 0 });
    const quiet = (await client.next((m) => m.event === 'phase' && m.phase === 'quiet', o.quietMs + 60_000)) as Message & Phase;

    const before = await stats(client);
    client.send({ ...run, phase: 'noisy', macBase: 1000 });
    noise.send({ cmd: 'flood', count: o.packets, ratePerSecond: o.ratePerSecond, seed: o.seed });
    const floodDone = (await noise.next((m) => m.event === 'flood-done', (o.packets / o.ratePerSecond) * 1000 * 4 + 60_000)) as Message &
      LiveNoiseResult['noise'];
    client.send({ cmd: 'stop' });
    const noisy = (await client.next((m) => m.event === 'phase' && m.phase === 'noisy', 60_000)) as Message & Phase;
    // Let the last datagrams be read before the counters are compared.
    await new Promise((r) => setTimeout(r, 500));
    const after = await stats(client);
    const c = diff(after.stats, before.stats);
    const k = diff(after.udp, before.udp);
    const drops = Object.entries(c)
      .filter(([key]) => key !== 'received' && key !== 'accepted')
      .reduce((sum, [, v]) => sum + v, 0);
    return {
      serverIp: seg.lab.serverIp,
      quiet,
      noisy,
      noise: floodDone,
      client: c,
      kernel: k,
      uncounted: (c.received ?? 0) - (c.accepted ?? 0) - drops,
      unread: (k.InDatagrams ?? 0) - (c.received ?? 0),
      clientAlive: client.process.exitCode === null && client.process.signalCode === null,
    };
  } finally {
    await sniffer?.stop();
    await client?.stop();
    await noise?.stop();
    await server?.stop();
    await seg.destroy();
  }
}

/** One-line figures of a run, for the test log and the bench. */
export function describeLiveNoise(r: LiveNoiseResult): string[] {
  const phase = (name: string, p: Phase): string =>
    `${name}: ${p.acquired} acquisitions (+release) in ${(p.elapsedMs / 1000).toFixed(1)} s = ${p.ratePerSecond.toFixed(1)}/s, latency p50 ${p.latencyMs.p50.toFixed(0)} ms p95 ${p.latencyMs.p95.toFixed(0)} ms max ${p.latencyMs.max.toFixed(0)} ms, ${p.failed} failed`;
  const drops = Object.entries(r.client)
    .filter(([k, v]) => k !== 'received' && k !== 'accepted' && v > 0)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return [
    phase('without noise', r.quiet),
    phase('with noise   ', r.noisy),
    `noise: ${r.noise.sent} datagrams sent in ${(r.noise.elapsedMs / 1000).toFixed(1)} s (${r.noise.ratePerSecond.toFixed(0)}/s), ${r.noise.withheld} withheld as acceptable forgeries, ${r.noise.sendErrors} send errors; by category ${JSON.stringify(r.noise.byCategory)}`,
    `client: received ${r.client.received}, accepted ${r.client.accepted}; dropped: ${drops}; uncounted ${r.uncounted}`,
    `kernel (client netns): InDatagrams ${r.kernel.InDatagrams}, RcvbufErrors ${r.kernel.RcvbufErrors}, InErrors ${r.kernel.InErrors}, NoPorts ${r.kernel.NoPorts}; delivered but unread by the client ${r.unread}`,
  ];
}
