/**
 * The Docker host's own DHCP client: busybox udhcpc on the host's uplink in a relay lab, leasing
 * the host an address from a dnsmasq on the router's uplink side (the site's DHCP service for
 * hosts), running in the foreground for as long as the test needs it. The address it leases is
 * the one the host already has (a reservation for the uplink's MAC): the relay address.
 *
 * udhcpc holds UDP 68 only while it renews (a socket with SO_REUSEADDR, bound to its
 * interface); between renewals it has no socket at all. `renew()` (SIGUSR1) makes it renew now.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { expectEventually } from '../eventually.js';
import type { RelayLab } from './relay-lab.js';
import { run } from './shell.js';

export interface HostDhcpClient {
  /** udhcpc's messages so far. */
  output(): string;
  /** Leases udhcpc reported obtaining (`lease of … obtained`). */
  leases(): number;
  /** SIGUSR1: renew now; resolves once one more lease was reported. */
  renew(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function spawnLogged(argv: readonly string[]): { child: ChildProcess; output: () => string; exited: Promise<void> } {
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, output: () => output, exited };
}

async function stopChild(p: { child: ChildProcess; exited: Promise<void> }): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await p.exited;
}

/** Starts the router's dnsmasq for the uplink and udhcpc on the host's uplink; resolves once udhcpc has a lease. */
export async function startHostDhcpClient(lab: RelayLab): Promise<HostDhcpClient> {
  if (lab.hostNs === undefined) throw new Error('the host DHCP client needs a relay lab with hostNs: it must not touch the root namespace');
  const base = lab.uplinkSubnet.replace(/\.\d+$/, '');
  const link = (await run('ip', ['-n', lab.hostNs, '-o', 'link', 'show', lab.uplinkIf])).stdout;
  const mac = /link\/ether ([0-9a-f:]{17})/.exec(link)?.[1];
  if (mac === undefined) throw new Error(`no MAC on ${lab.uplinkIf}: ${link}`);
  const server = spawnLogged([
    'ip',
    'netns',
    'exec',
    lab.routerNs,
    'dnsmasq',
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--port=0',
    `--interface=${lab.name}ru`,
    '--bind-interfaces',
    `--dhcp-range=${base}.200,${base}.250,${lab.infraNetmask},120`,
    `--dhcp-host=${mac},${lab.relayIp}`,
    `--dhcp-leasefile=${join(lab.workDir, 'uplink.leases')}`,
    `--pid-file=${join(lab.workDir, 'uplink.pid')}`,
    '--user=root',
    '--log-facility=-',
    '--no-ping',
  ]);
  await expectEventually(async () => /DHCP, sockets bound exclusively/.test(server.output()), 10_000).catch(() => {
    throw new Error(`the uplink's dnsmasq did not start:\n${server.output()}`);
  });
  // -s /bin/true: report the lease, configure nothing (the uplink keeps its lab address).
  const client = spawnLogged([
    'ip',
    'netns',
    'exec',
    lab.hostNs,
    'busybox',
    'udhcpc',
    '-i',
    lab.uplinkIf,
    '-f',
    '-s',
    '/bin/true',
    '-t',
    '5',
    '-T',
    '1',
    '-A',
    '1',
  ]);
  const leases = (): number => client.output().match(/lease of \S+ obtained/g)?.length ?? 0;
  const stop = async (): Promise<void> => {
    await stopChild(client);
    await stopChild(server);
  };
  try {
    await expectEventually(async () => leases() > 0, 15_000);
  } catch {
    await stop();
    throw new Error(`udhcpc got no lease on ${lab.uplinkIf}:\n${client.output()}\n${server.output()}`);
  }
  return {
    output: () => client.output(),
    leases,
    async renew(timeoutMs = 10_000) {
      const before = leases();
      client.child.kill('SIGUSR1');
      await expectEventually(async () => leases() > before, timeoutMs).catch(() => {
        throw new Error(`udhcpc did not renew:\n${client.output()}`);
      });
    },
    stop,
  };
}
