/**
 * busybox udhcpc as a reference DHCP client inside a lab container.
 *
 * udhcpc sends option 61 = 01+MAC unless told otherwise, sends DISCOVER/REQUEST by broadcast
 * from a raw socket (so the container needs no address), and with `-B` asks for broadcast
 * replies. Its RELEASE goes by unicast from the leased address through the kernel, so it only
 * leaves the container if the script put that address on the interface; `-q -R` sends no
 * RELEASE at all in busybox 1.35.
 */
import type { Container } from './container.js';
import { runIn } from './shell.js';

/** Options for {@link acquireWithUdhcpc}. */
export interface UdhcpcOptions {
  /** Set the BROADCAST flag (`-B`); default true, since replies to the lab otherwise need ARP. */
  readonly broadcast?: boolean;
  /** Ask for this address (option 50 in the DISCOVER, `-r`). */
  readonly requestIp?: string;
  /** DISCOVERs to send, one per second, before giving up; default 3. */
  readonly discovers?: number;
  /** Extra udhcpc arguments, e.g. `['-x', '0x3d:01aabbccddeeff']` or `['-C']`. */
  readonly extraArgs?: readonly string[];
}

/** What udhcpc reported for the lease it obtained. */
export interface UdhcpcLease {
  readonly ip: string;
  readonly serverId: string;
  readonly leaseTimeSeconds: number;
  /** udhcpc's own messages, for failure output. */
  readonly output: string;
}

/**
 * Run one DORA with udhcpc on the container's `eth0` and exit (`-q`), without configuring the
 * interface (`-s /bin/true`).
 *
 * @throws CommandError (with udhcpc's messages) when no lease was obtained.
 */
export async function acquireWithUdhcpc(container: Container, opts: UdhcpcOptions = {}): Promise<UdhcpcLease> {
  const discovers = opts.discovers ?? 3;
  const args = [
    'udhcpc',
    '-i',
    container.ifName,
    '-f',
    '-q',
    '-n',
    '-s',
    '/bin/true',
    '-t',
    String(discovers),
    '-T',
    '1',
    ...(opts.broadcast === false ? [] : ['-B']),
    ...(opts.requestIp === undefined ? [] : ['-r', opts.requestIp]),
    ...(opts.extraArgs ?? []),
  ];
  const { stdout, stderr } = await runIn(container.ns, 'busybox', args, { timeoutMs: (discovers + 5) * 1000 });
  const output = `${stdout}${stderr}`;
  const m = /lease of (\S+) obtained from (\S+), lease time (\d+)/.exec(output);
  if (m === null) throw new Error(`udhcpc reported no lease:\n${output}`);
  return { ip: m[1] ?? '', serverId: m[2] ?? '', leaseTimeSeconds: Number(m[3]), output };
}
