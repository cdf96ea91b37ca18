/**
 * A /16 lab for the benchmarks: room for 10,000 and 50,000 leases, which the /24 of the test
 * lab cannot hold.
 *
 *   netns `${name}-cli`                         netns `${name}-srv`
 *   `${name}c` 10.<o>.255.254/16  <-veth->  `${name}s` 10.<o>.0.1/16   (DHCP server)
 *   (daemon under test, perfdhcp, raw DORA)
 *
 * Both ends sit in their own namespace, so the daemon's UDP/68 socket shares nothing with other
 * labs or daemons running in the root namespace, and the client veth carries only what the
 * daemon (or perfdhcp) sends: its tx counter is the daemon's datagram count. The plugin socket
 * is a path in the file system, which every namespace sees.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addressUp, deleteNetns, listNetns } from '../../test/support/lab/namespaces.js';
import { run } from '../../test/support/lab/shell.js';

export interface WideLab {
  readonly name: string;
  readonly serverNs: string;
  readonly clientNs: string;
  readonly serverIf: string;
  readonly clientIf: string;
  /** `10.<o>.0.1`, the server and its identifier. */
  readonly serverIp: string;
  /** `10.<o>.255.254`, the daemon's side. */
  readonly clientIp: string;
  /** `10.<o>.0.0`. */
  readonly subnet: string;
  readonly prefixLength: 16;
  readonly netmask: '255.255.0.0';
  /** First and last address of the dynamic pool: 10.<o>.1.0 – 10.<o>.254.254 (65,023 addresses). */
  readonly poolFirst: string;
  readonly poolLast: string;
  /** Scratch directory, removed by {@link destroy}. */
  readonly workDir: string;
  destroy(): Promise<void>;
}

const NAME = /^[a-z][a-z0-9]{0,7}$/;

async function removeLeftovers(name: string): Promise<void> {
  for (const ns of await listNetns()) if (ns === `${name}-srv` || ns === `${name}-cli`) await deleteNetns(ns);
  const prefix = `wlab-${name}-`;
  for (const entry of await readdir(tmpdir())) if (entry.startsWith(prefix)) await rm(join(tmpdir(), entry), { recursive: true, force: true });
}

/** Create the lab after removing whatever a crashed run with the same name left. */
export async function createWideLab(name: string, octet: number): Promise<WideLab> {
  if (!NAME.test(name)) throw new Error(`wide lab name must match ${String(NAME)}, got "${name}"`);
  if (!Number.isInteger(octet) || octet < 1 || octet > 254) throw new Error(`octet must be 1..254, got ${octet}`);
  await removeLeftovers(name);
  const serverNs = `${name}-srv`;
  const clientNs = `${name}-cli`;
  const serverIf = `${name}s`;
  const clientIf = `${name}c`;
  const serverIp = `10.${octet}.0.1`;
  const clientIp = `10.${octet}.255.254`;
  const workDir = await mkdtemp(join(tmpdir(), `wlab-${name}-`));
  const destroy = async (): Promise<void> => {
    await deleteNetns(serverNs);
    await deleteNetns(clientNs);
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    await run('ip', ['netns', 'add', serverNs]);
    await run('ip', ['netns', 'add', clientNs]);
    await run('ip', ['-n', clientNs, 'link', 'add', clientIf, 'type', 'veth', 'peer', 'name', serverIf, 'netns', serverNs]);
    await addressUp(serverNs, serverIf, `${serverIp}/16`);
    await addressUp(clientNs, clientIf, `${clientIp}/16`);
  } catch (error) {
    await destroy().catch(() => undefined);
    throw error;
  }
  return {
    name,
    serverNs,
    clientNs,
    serverIf,
    clientIf,
    serverIp,
    clientIp,
    subnet: `10.${octet}.0.0`,
    prefixLength: 16,
    netmask: '255.255.0.0',
    poolFirst: `10.${octet}.1.0`,
    poolLast: `10.${octet}.254.254`,
    workDir,
    destroy,
  };
}

/** Packets sent so far on `ifName` in netns `ns` (the kernel's tx counter). */
export async function txPackets(ns: string, ifName: string): Promise<number> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, 'cat', `/sys/class/net/${ifName}/statistics/tx_packets`]);
  return Number(stdout.trim());
}
