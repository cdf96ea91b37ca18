/**
 * A minimal raw DORA exchange, the baseline the plugin's latency is compared with: one UDP/68
 * socket, hand-built DISCOVER and REQUEST (test/support/lab/dhcp-bytes, independent of the code
 * under test), no retransmission, no table, no HTTP. Run inside the lab's client namespace by
 * {@link rawDora} (Node cannot enter a namespace itself); prints one JSON line of latencies.
 *
 *   node --import tsx bench/lib/raw-dora.ts <server> <count> <rate/s, 0 = one at a time>
 *
 * At a rate, arrivals are open-loop, as the plugin's are (bench/lib/open-loop.ts).
 */
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { buildClientPacket, DhcpType, summarizeMessage } from '../../test/support/lab/dhcp-bytes.js';
import { runIn } from '../../test/support/lab/shell.js';
import { openLoop } from './open-loop.js';
import { randomMac } from './plugin.js';

export interface RawResult {
  readonly latenciesMs: number[];
  readonly lost: number;
}

/** Run `count` raw exchanges against `server` from netns `ns` (one at a time when rate is 0). */
export async function rawDora(ns: string, server: string, count: number, rate: number): Promise<RawResult> {
  const self = new URL(import.meta.url).pathname;
  const { stdout } = await runIn(ns, process.execPath, ['--import', 'tsx', self, server, String(count), String(rate)], {
    timeoutMs: 120_000 + (rate > 0 ? (count / rate) * 1000 : count * 2_000),
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as RawResult;
}

const TIMEOUT_MS = 2_000;

async function main(server: string, count: number, rate: number): Promise<void> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve) => socket.bind(68, '0.0.0.0', () => resolve()));
  const pending = new Map<number, { mac: string; start: number; done: (ms: number | null) => void }>();
  socket.on('message', (msg) => {
    const m = summarizeMessage(msg);
    const p = pending.get(m.xid);
    if (p === undefined) return;
    if (m.type === DhcpType.OFFER && m.serverId !== null) {
      socket.send(buildClientPacket({ type: DhcpType.REQUEST, xid: m.xid, mac: p.mac, requestedIp: m.yiaddr, serverId: m.serverId }), 67, server);
    } else if (m.type === DhcpType.ACK || m.type === DhcpType.NAK) {
      pending.delete(m.xid);
      p.done(m.type === DhcpType.ACK ? performance.now() - p.start : null);
    }
  });
  const exchange = (start: number): Promise<number | null> =>
    new Promise((resolve) => {
      const xid = randomBytes(4).readUInt32BE(0);
      const mac = randomMac();
      const timer = setTimeout(() => {
        pending.delete(xid);
        resolve(null);
      }, TIMEOUT_MS);
      pending.set(xid, {
        mac,
        start,
        done: (ms) => {
          clearTimeout(timer);
          resolve(ms);
        },
      });
      socket.send(buildClientPacket({ type: DhcpType.DISCOVER, xid, mac }), 67, server);
    });
  const results = await openLoop(count, rate, exchange);
  socket.close();
  const latenciesMs = results.filter((r): r is number => r !== null);
  process.stdout.write(`${JSON.stringify({ latenciesMs, lost: results.length - latenciesMs.length })}\n`);
}

if (process.argv[1] !== undefined && new URL(import.meta.url).pathname === process.argv[1]) {
  const [server, count, rate] = process.argv.slice(2);
  await main(server ?? '', Number(count), Number(rate));
}
