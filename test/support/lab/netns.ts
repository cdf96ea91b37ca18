/**
 * A lab: one server network namespace joined to the root namespace by a veth pair, on a private
 * /24 in 10.231.0.0/16.
 *
 *   root netns                          netns `${name}-srv`
 *   `${name}h` 10.231.X.254/24  <-veth->  `${name}s` 10.231.X.1/24   (DHCP server runs here)
 *      ^ macvlan parent: each container is a netns holding one macvlan child (bridge mode) of
 *        `${name}h`, so its MAC and address are really on the wire the server sees.
 *
 * The host end stays in the root namespace because the daemon under test runs there and uses it
 * both as its LISTEN address and as the parent of the containers' macvlan network, as on a real
 * Docker host. Everything is named after the lab, so a crashed run is cleaned up by name.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContainer, type Container } from './container.js';
import { addressUp, deleteNetns, listNetns } from './namespaces.js';
import { run } from './shell.js';

export type { Container } from './container.js';

/** Parameters of {@link createLab}. */
export interface LabOptions {
  /** Short unique lab name, 1–6 of `[a-z0-9]` starting with a letter; prefixes every netns and link. */
  readonly name: string;
  /** Third octet of the lab subnet `10.231.<octet>.0/24`; give every concurrently running lab its own. */
  readonly octet: number;
}

/** A running lab; see the module comment for the topology. */
export interface Lab {
  readonly name: string;
  /** Network namespace the DHCP server runs in (`${name}-srv`). */
  readonly serverNs: string;
  /** Host end of the veth, in the root netns (`${name}h`); the macvlan parent. */
  readonly hostIf: string;
  /** Server end of the veth, inside {@link serverNs} (`${name}s`). */
  readonly serverIf: string;
  /** `10.231.X.1`, on {@link serverIf}. */
  readonly serverIp: string;
  /** `10.231.X.254`, on {@link hostIf}. */
  readonly hostIp: string;
  readonly prefixLength: 24;
  /** Dotted netmask matching {@link prefixLength}, for server configs. */
  readonly netmask: '255.255.255.0';
  /** Network address, `10.231.X.0`. */
  readonly subnet: string;
  /** Scratch directory for server configs and lease files; removed by {@link destroy}. */
  readonly workDir: string;
  /** Address `10.231.X.i` inside the lab subnet. */
  network(i: number): string;
  /**
   * Create a container: netns `${name}-ctr<n>` holding interface `eth0`, a bridge-mode macvlan
   * child of {@link hostIf} with MAC `mac` and address `ip`/24, so that the address answers ARP
   * and ping from the server with that MAC.
   */
  addContainer(mac: string, ip: string): Promise<Container>;
  /** Kill every process in the lab's namespaces and remove everything the lab created. Idempotent. */
  destroy(): Promise<void>;
}

const LAB_NAME = /^[a-z][a-z0-9]{0,5}$/;

/** Names of the links in the root netns. `ip -o link` prints `7: name@peer: <…>`. */
async function listRootLinks(): Promise<string[]> {
  const { stdout } = await run('ip', ['-o', 'link', 'show']);
  const names: string[] = [];
  for (const line of stdout.split('\n')) {
    const match = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (match?.[1] !== undefined) names.push(match[1]);
  }
  return names;
}

/** Delete root-netns link `ifName`; a missing link is not an error. */
async function deleteRootLink(ifName: string): Promise<void> {
  await run('ip', ['link', 'del', ifName]).catch(async (error: unknown) => {
    if ((await listRootLinks()).includes(ifName)) throw error;
  });
}

/**
 * Throw if a root-netns interface already has an address in `10.231.<octet>.0/24`: two labs on
 * one subnet would get two connected routes for it, and the host's traffic would go to whichever
 * the kernel picked.
 */
async function assertSubnetFree(octet: number): Promise<void> {
  const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show']);
  const prefix = `10.231.${octet}.`;
  for (const line of stdout.split('\n')) {
    const match = /^\d+:\s+(\S+)\s+inet\s+(\S+)/.exec(line);
    if (match?.[2]?.startsWith(prefix) === true) {
      throw new Error(`lab subnet 10.231.${octet}.0/24 is already in use by ${match[1] ?? '?'} (${match[2]}); give this lab another octet`);
    }
  }
}

/** Prefix of the lab's scratch directories in the OS temp dir. */
function workDirPrefix(name: string): string {
  return `lab-${name}-`;
}

/**
 * Remove everything a previous run of lab `name` may have left: its namespaces (and the
 * processes in them, such as a server from a crashed run), its root-netns links (the host veth and
 * container macvlans not yet moved into their netns) and its scratch directories.
 */
export async function removeLabLeftovers(name: string): Promise<void> {
  const containerLink = new RegExp(`^${name}c\\d+$`);
  for (const ns of await listNetns()) {
    if (ns === `${name}-srv` || ns.startsWith(`${name}-ctr`)) await deleteNetns(ns);
  }
  for (const link of await listRootLinks()) {
    if (link === `${name}h` || containerLink.test(link)) await deleteRootLink(link);
  }
  const prefix = workDirPrefix(name);
  for (const entry of await readdir(tmpdir())) {
    if (entry.startsWith(prefix)) await rm(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

/** Create a lab after removing the leftovers of any earlier lab with the same name. */
export async function createLab(options: LabOptions): Promise<Lab> {
  const { name, octet } = options;
  if (!LAB_NAME.test(name)) {
    throw new Error(`lab name must match ${String(LAB_NAME)} (it prefixes 15-char interface names), got "${name}"`);
  }
  if (!Number.isInteger(octet) || octet < 0 || octet > 255) {
    throw new Error(`lab octet must be an integer 0..255, got ${octet}`);
  }
  await removeLabLeftovers(name);
  await assertSubnetFree(octet);

  const network = (i: number): string => {
    if (!Number.isInteger(i) || i < 0 || i > 255) throw new Error(`host part must be 0..255, got ${i}`);
    return `10.231.${octet}.${i}`;
  };
  const serverNs = `${name}-srv`;
  const hostIf = `${name}h`;
  const serverIf = `${name}s`;
  const serverIp = network(1);
  const hostIp = network(254);
  const workDir = await mkdtemp(join(tmpdir(), workDirPrefix(name)));
  const containers = new Set<Container>();
  let containerCount = 0;
  let destroyed = false;

  const destroy = async (): Promise<void> => {
    destroyed = true;
    for (const container of containers) await container.remove();
    containers.clear();
    await deleteNetns(serverNs);
    await deleteRootLink(hostIf);
    await rm(workDir, { recursive: true, force: true });
  };

  try {
    await run('ip', ['netns', 'add', serverNs]);
    await run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', serverIf]);
    await run('ip', ['link', 'set', serverIf, 'netns', serverNs]);
    await addressUp(serverNs, serverIf, `${serverIp}/24`);
    await run('ip', ['addr', 'add', `${hostIp}/24`, 'dev', hostIf]);
    await run('ip', ['link', 'set', hostIf, 'up']);
  } catch (error) {
    await destroy().catch(() => undefined);
    throw error;
  }

  return {
    name,
    serverNs,
    hostIf,
    serverIf,
    serverIp,
    hostIp,
    prefixLength: 24,
    netmask: '255.255.255.0',
    subnet: network(0),
    workDir,
    network,
    async addContainer(mac: string, ip: string): Promise<Container> {
      if (destroyed) throw new Error(`lab ${name} is destroyed`);
      containerCount += 1;
      const container = await createContainer({
        ns: `${name}-ctr${containerCount}`,
        linkName: `${name}c${containerCount}`,
        parentIf: hostIf,
        mac,
        ip,
        prefixLength: 24,
        onRemove: (c) => containers.delete(c),
      });
      containers.add(container);
      return container;
    },
    destroy,
  };
}
