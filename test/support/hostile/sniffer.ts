/**
 * A live sniffer: tcpdump writes classic pcap to a pipe and each DHCP payload is handed over as
 * it arrives. The hostile hosts of `segment.ts` learn the client's xids and MACs from it, as an
 * attacker watching the wire would.
 */
import { spawn } from 'node:child_process';
import { signalPid } from '../lab/processes.js';
import { tcpdumpListening } from '../lab/tcpdump.js';

export interface Sniffer {
  /** Payloads seen so far. */
  readonly count: () => number;
  stop(): Promise<void>;
}

const ETHERTYPE_IPV4 = 0x0800;

/** The UDP payload of an Ethernet/IPv4/UDP frame, or null. */
function udpPayload(frame: Buffer): Buffer | null {
  if (frame.length < 14 + 20 + 8 || frame.readUInt16BE(12) !== ETHERTYPE_IPV4) return null;
  const ihl = (frame.readUInt8(14) & 0x0f) * 4;
  if (frame[14 + 9] !== 17) return null;
  const udp = 14 + ihl;
  const length = frame.readUInt16BE(udp + 4);
  return frame.subarray(udp + 8, Math.min(frame.length, udp + length));
}

/**
 * Runs `tcpdump -i ifName filter` in the root netns (or in `ns`) and calls `onPayload` with the
 * UDP payload of every matching Ethernet frame. Resolves once tcpdump is listening.
 */
export async function startSniffer(ifName: string, filter: string, onPayload: (payload: Buffer) => void, ns?: string): Promise<Sniffer> {
  const args = ['-i', ifName, '-n', '--immediate-mode', '-U', '-w', '-', filter];
  const proc =
    ns === undefined
      ? spawn('tcpdump', args, { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('ip', ['netns', 'exec', ns, 'tcpdump', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let buffered: Buffer = Buffer.alloc(0);
  let headerRead = false;
  let littleEndian = true;
  let seen = 0;
  proc.stdout.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    if (!headerRead) {
      if (buffered.length < 24) return;
      littleEndian = buffered.readUInt32LE(0) === 0xa1b2c3d4 || buffered.readUInt32LE(0) === 0xa1b23c4d;
      buffered = buffered.subarray(24);
      headerRead = true;
    }
    while (buffered.length >= 16) {
      const captured = littleEndian ? buffered.readUInt32LE(8) : buffered.readUInt32BE(8);
      if (buffered.length < 16 + captured) break;
      const payload = udpPayload(buffered.subarray(16, 16 + captured));
      buffered = buffered.subarray(16 + captured);
      if (payload !== null) {
        seen++;
        onPayload(Buffer.from(payload));
      }
    }
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  await tcpdumpListening(proc, exited);
  return {
    count: () => seen,
    async stop() {
      if (proc.pid !== undefined && proc.exitCode === null) signalPid(proc.pid, 'SIGINT');
      await exited;
    },
  };
}
