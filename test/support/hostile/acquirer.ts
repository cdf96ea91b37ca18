/**
 * Child process (run in the client netns of `segment.ts`): the DHCP engine as the daemon opens
 * it (`openEngine`), one UDP/68 socket and one `DhcpClient`, running acquisitions against the
 * real server on command and reporting what its receive path counted. Alone in its netns, every
 * datagram that reaches UDP/68 there reaches this client, so the kernel's UDP counters can be set
 * beside the client's own.
 *
 * Commands (JSON lines on stdin):
 *   {"cmd":"run","phase":P,"concurrency":N,"count"?:N,"durationMs"?:MS,"release":bool,"macBase":N}
 *       acquisitions by N workers until `count` are done, `durationMs` passed or {"cmd":"stop"};
 *       replies {"event":"phase",…} with counts, latencies, rate and (without release) the leases
 *   {"cmd":"stats"}  replies {"event":"stats","stats":…,"udp":…}
 *   {"cmd":"exit"}
 */
import { pino } from 'pino';
import { systemClock } from '../../../src/clock.js';
import type { HeldAddress } from '../../../src/dhcp/client.js';
import { clientIdForMac } from '../../../src/dhcp/messages.js';
import { UdpTransport } from '../../../src/dhcp/transport.js';
import { openEngine } from '../../../src/engine.js';
import { emit, onCommands, type Message } from './netns-child.js';
import { udpCounters } from './segment.js';

interface Args {
  server: string;
  /** Third byte of the MACs, so labs never share one. */
  macOctet: number;
  maxInFlight?: number;
  /** First retransmission delay (default 1 s, shortened from the RFC's 4 s like the other labs). */
  initialRetransmitMs?: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;

function macFor(i: number): string {
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  return ['02', 'd4', hex(args.macOctet), hex((i >> 8) & 0xff), hex(i & 0xff), '0a'].join(':');
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

const engine = await openEngine({
  socket: { transport: await UdpTransport.open(), server: args.server },
  clock: systemClock,
  log: pino({ level: process.env.D4D_TEST_LOG ?? 'silent' }),
  client: { initialRetransmitMs: args.initialRetransmitMs ?? 1_000, maxInFlight: args.maxInFlight ?? 32 },
});
// The client alone: each phase acquires (and releases) by hand; the lease manager holds nothing here.
const { client } = engine;
let stopRequested = false;

async function runPhase(cmd: Message): Promise<void> {
  stopRequested = false;
  const concurrency = Number(cmd.concurrency ?? 8);
  const count = cmd.count === undefined ? Infinity : Number(cmd.count);
  const deadline = cmd.durationMs === undefined ? Infinity : Date.now() + Number(cmd.durationMs);
  const release = cmd.release === true;
  const macBase = Number(cmd.macBase ?? 0);
  const latencies: number[] = [];
  const leases: Array<{ mac: string; ip: string; serverId: string }> = [];
  const errors: string[] = [];
  // Where every lease came from, kept even when the lease is released at once.
  const servers: Record<string, number> = {};
  const ips = new Set<string>();
  let started = 0;
  let failed = 0;
  const startedAt = Date.now();
  const worker = async (): Promise<void> => {
    while (started < count && Date.now() < deadline && !stopRequested) {
      const i = started++;
      // Released leases: a small ring of MACs is enough, the server reuses the addresses.
      const mac = macFor(macBase + (release ? i % 200 : i));
      const identity = { mac, clientId: clientIdForMac(mac) };
      const t0 = performance.now();
      try {
        const binding = await client.acquire({ identity, timeoutMs: 30_000 });
        latencies.push(performance.now() - t0);
        servers[binding.serverId] = (servers[binding.serverId] ?? 0) + 1;
        ips.add(binding.ip);
        const held: HeldAddress = { identity, ip: binding.ip, serverId: binding.serverId };
        if (release) await client.release(held);
        else leases.push({ mac, ip: binding.ip, serverId: binding.serverId });
      } catch (err) {
        failed++;
        if (errors.length < 5) errors.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedMs = Date.now() - startedAt;
  latencies.sort((a, b) => a - b);
  emit({
    event: 'phase',
    phase: cmd.phase,
    acquired: latencies.length,
    failed,
    errors,
    elapsedMs,
    ratePerSecond: latencies.length / (elapsedMs / 1000),
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), max: latencies.at(-1) ?? 0 },
    leases,
    servers,
    ips: [...ips].sort(),
  });
}

onCommands((cmd) => {
  if (cmd.cmd === 'run') {
    void runPhase(cmd).catch((err: unknown) => emit({ event: 'error', message: String(err) }));
  } else if (cmd.cmd === 'stop') {
    stopRequested = true;
  } else if (cmd.cmd === 'stats') {
    void udpCounters().then((udp) => emit({ event: 'stats', stats: { ...client.stats }, udp, inFlight: client.inFlight }));
  } else if (cmd.cmd === 'exit') {
    void engine.close().then(() => process.exit(0));
  }
});
emit({ event: 'ready' });
