/** Packet captures with tcpdump inside a lab netns, for debugging and for codec golden files. */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { signalPid } from './processes.js';

/** A running tcpdump writing a classic pcap file. */
export interface PacketCapture {
  /** The pcap file being written. */
  readonly path: string;
  /** Stop tcpdump (SIGINT, so it flushes) and wait until the file is complete. */
  stop(): Promise<void>;
}

/** Only DHCP by default: IPv6 neighbour discovery on a fresh veth would clutter the file. */
export const DHCP_FILTER = 'udp and (port 67 or port 68)';

/**
 * Start `tcpdump -i ifName -w path filter` inside netns `ns`; resolves once tcpdump is listening.
 * `--immediate-mode -U` make every packet reach the file as it arrives: without them, packets
 * still in the kernel ring buffer are lost when the capture is stopped right after a short
 * exchange ("4 packets received by filter, 0 captured").
 */
export async function startCapture(ns: string, ifName: string, path: string, filter = DHCP_FILTER): Promise<PacketCapture> {
  // -Z root: Debian's tcpdump otherwise drops to user tcpdump, which cannot write in a 0700 temp dir.
  const args = ['netns', 'exec', ns, 'tcpdump', '-i', ifName, '-n', '--immediate-mode', '-U', '-Z', 'root', '-w', path, filter];
  const proc = spawn('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  await tcpdumpListening(proc, exited);
  return {
    path,
    async stop() {
      if (proc.pid !== undefined) signalPid(proc.pid, 'SIGINT');
      await exited;
    },
  };
}

/**
 * Resolves once tcpdump says it is listening (on stderr); rejects if it exits first or is not
 * listening within 5 s. Packets sent before that would not be seen.
 */
export function tcpdumpListening(proc: ChildProcessByStdio<null, Readable | null, Readable>, exited: Promise<void>): Promise<void> {
  let stderr = '';
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump not listening after 5 s: ${stderr}`)), 5_000);
    proc.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`tcpdump exited: ${stderr}`));
    });
  });
}
