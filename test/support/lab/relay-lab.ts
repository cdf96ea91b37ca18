/**
 * A routed lab for relay mode: the DHCP server on its own subnet behind a router, the Docker host
 * on another, and the containers on a third segment (the "VLAN") where the host has no address.
 *
 *   netns `${name}-srv`          netns `${name}-rtr` (ip_forward)          host (root netns, or `${name}-hst`)
 *   `${name}s` 10.231.I.1/25 <-> `${name}rs` 10.231.I.126/25
 *                                `${name}ru` 10.231.I.254/25 <-----------> `${name}u` 10.231.I.130/25  relay address
 *                                `${name}rv` 10.231.C.1/24   <-----------> `${name}v` (no address)     macvlan parent
 *
 * I is the `infra` octet (its /24 split in two /25s: the server's segment and the host's uplink),
 * C the container subnet. The server's default route and the host's route to the server's segment
 * go through the router, so nothing reaches the server but by routing: a broadcast from the host
 * never does, and the server's replies to the relay address (giaddr) come back routed. The router's
 * `${name}rv` is the containers' gateway, as a router's interface on a VLAN would be. This kernel
 * has no 8021q, so the VLAN is a veth whose host end carries no address.
 *
 * With `hostNs` the host end lives in a namespace of its own, where a test can run the built
 * daemon, a host DHCP client holding port 68, or a dockerd, without touching the root namespace.
 * Without it the host end is in the root namespace and the test process itself can bind the
 * relay address (the engine suites do). Everything is named after the lab and removed by name.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContainer, type Container } from './container.js';
import { addressUp, deleteNetns, listNetns } from './namespaces.js';
import type { Lab } from './netns.js';
import { run } from './shell.js';

export interface RelayLabOptions {
  /** Short unique lab name, 1–6 of `[a-z0-9]` starting with a letter. */
  readonly name: string;
  /** Third octet of the container subnet `10.231.<octet>.0/24`. */
  readonly octet: number;
  /** Third octet of the routed side: `10.231.<octet>.0/25` the server's, `.128/25` the host's uplink. */
  readonly infra: { readonly octet: number };
  /** Put the host end in netns `${name}-hst` instead of the root netns. */
  readonly hostNs?: boolean;
}

/** A running relay lab. As a `Lab`, `network(i)` and `subnet` are the containers' /24. */
export interface RelayLab extends Lab {
  /** The router between the three segments. */
  readonly routerNs: string;
  /** The host's namespace, or undefined when the host end is in the root namespace. */
  readonly hostNs: string | undefined;
  /** The host's own interface on the uplink (`${name}u`), which carries {@link relayIp}. */
  readonly uplinkIf: string;
  /** The host's address: what d4d puts in giaddr (also {@link hostIp}). */
  readonly relayIp: string;
  /** The router's address on the container segment: the containers' default gateway. */
  readonly gateway: string;
  /** The server's segment, `10.231.I.0`, and its /25 mask. */
  readonly serverSubnet: string;
  /** The host's uplink segment, `10.231.I.128`, and its /25 mask. */
  readonly uplinkSubnet: string;
  readonly infraNetmask: '255.255.255.128';
  /** The router's address on the uplink (the host's way to the server). */
  readonly uplinkRouter: string;
  /**
   * Adds `10.231.I.<i>` (129–253) on the host's uplink: a second relay address, for a second
   * relay socket beside one already bound to {@link relayIp}.
   */
  addUplinkAddress(i: number): Promise<string>;
}

const LAB_NAME = /^[a-z][a-z0-9]{0,5}$/;

function workDirPrefix(name: string): string {
  return `lab-${name}-`;
}

/** `ip` in the host namespace (root when there is none). */
function hostIp(hostNs: string | undefined, args: readonly string[]): Promise<unknown> {
  return run('ip', hostNs === undefined ? [...args] : ['-n', hostNs, ...args]);
}

/** Remove what an earlier run of relay lab `name` left: namespaces (and their processes), root links, dirs. */
export async function removeRelayLabLeftovers(name: string): Promise<void> {
  for (const ns of await listNetns()) {
    if (ns === `${name}-srv` || ns === `${name}-rtr` || ns === `${name}-hst` || ns.startsWith(`${name}-ctr`)) await deleteNetns(ns);
  }
  // Host ends in the root namespace go with their peers in the router, but a half-made lab may
  // have left one unpaired.
  for (const link of [`${name}u`, `${name}v`]) await run('ip', ['link', 'del', link]).catch(() => undefined);
  const prefix = workDirPrefix(name);
  for (const entry of await readdir(tmpdir())) {
    if (entry.startsWith(prefix)) await rm(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

/** Create a relay lab after removing the leftovers of any earlier one with the same name. */
export async function createRelayLab(options: RelayLabOptions): Promise<RelayLab> {
  const { name, octet } = options;
  const infraOctet = options.infra.octet;
  if (!LAB_NAME.test(name)) throw new Error(`lab name must match ${String(LAB_NAME)}, got "${name}"`);
  for (const o of [octet, infraOctet]) {
    if (!Number.isInteger(o) || o < 0 || o > 255) throw new Error(`lab octet must be an integer 0..255, got ${o}`);
  }
  if (octet === infraOctet) throw new Error('the container subnet and the routed side need two different octets');
  await removeRelayLabLeftovers(name);

  const network = (i: number): string => {
    if (!Number.isInteger(i) || i < 0 || i > 255) throw new Error(`host part must be 0..255, got ${i}`);
    return `10.231.${octet}.${i}`;
  };
  const infra = (i: number): string => `10.231.${infraOctet}.${i}`;
  const serverNs = `${name}-srv`;
  const routerNs = `${name}-rtr`;
  const hostNs = options.hostNs === true ? `${name}-hst` : undefined;
  const serverIf = `${name}s`;
  const uplinkIf = `${name}u`;
  const vlanIf = `${name}v`;
  const serverIp = infra(1);
  const serverRouter = infra(126);
  const relayIp = infra(130);
  const uplinkRouter = infra(254);
  const gateway = network(1);
  const workDir = await mkdtemp(join(tmpdir(), workDirPrefix(name)));
  const containers = new Set<Container>();
  let containerCount = 0;
  let destroyed = false;

  const destroy = async (): Promise<void> => {
    destroyed = true;
    for (const container of containers) await container.remove();
    containers.clear();
    // Deleting the router's namespace deletes its veth ends, and with them the host's.
    await deleteNetns(serverNs);
    await deleteNetns(routerNs);
    if (hostNs !== undefined) await deleteNetns(hostNs);
    for (const link of [uplinkIf, vlanIf]) await run('ip', ['link', 'del', link]).catch(() => undefined);
    await rm(workDir, { recursive: true, force: true });
  };

  try {
    for (const ns of [serverNs, routerNs, ...(hostNs === undefined ? [] : [hostNs])]) await run('ip', ['netns', 'add', ns]);
    await run('ip', ['link', 'add', serverIf, 'netns', serverNs, 'type', 'veth', 'peer', 'name', `${name}rs`, 'netns', routerNs]);
    await run('ip', ['link', 'add', uplinkIf, 'type', 'veth', 'peer', 'name', `${name}ru`, 'netns', routerNs]);
    await run('ip', ['link', 'add', vlanIf, 'type', 'veth', 'peer', 'name', `${name}rv`, 'netns', routerNs]);
    if (hostNs !== undefined) {
      await run('ip', ['link', 'set', uplinkIf, 'netns', hostNs]);
      await run('ip', ['link', 'set', vlanIf, 'netns', hostNs]);
      await run('ip', ['-n', hostNs, 'link', 'set', 'lo', 'up']);
    }
    await addressUp(serverNs, serverIf, `${serverIp}/25`);
    await run('ip', ['-n', serverNs, 'route', 'add', 'default', 'via', serverRouter]);
    await addressUp(routerNs, `${name}rs`, `${serverRouter}/25`);
    await addressUp(routerNs, `${name}ru`, `${uplinkRouter}/25`);
    await addressUp(routerNs, `${name}rv`, `${gateway}/24`);
    await run('ip', ['netns', 'exec', routerNs, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await hostIp(hostNs, ['addr', 'add', `${relayIp}/25`, 'dev', uplinkIf]);
    await hostIp(hostNs, ['link', 'set', uplinkIf, 'up']);
    // The VLAN port: up, no address. The host reaches the containers' segment only as a bridge
    // port of their macvlans, never by IP.
    await hostIp(hostNs, ['link', 'set', vlanIf, 'up']);
    // Only the server's segment goes through the router: the host's other traffic (and, in the
    // root namespace, everyone else's) keeps its routes.
    await hostIp(hostNs, ['route', 'add', `${infra(0)}/25`, 'via', uplinkRouter, 'dev', uplinkIf]);
  } catch (error) {
    await destroy().catch(() => undefined);
    throw error;
  }

  return {
    name,
    serverNs,
    routerNs,
    hostNs,
    hostIf: vlanIf,
    uplinkIf,
    serverIf,
    serverIp,
    hostIp: relayIp,
    relayIp,
    gateway,
    uplinkRouter,
    serverSubnet: infra(0),
    uplinkSubnet: infra(128),
    infraNetmask: '255.255.255.128',
    prefixLength: 24,
    netmask: '255.255.255.0',
    subnet: network(0),
    workDir,
    network,
    async addUplinkAddress(i: number): Promise<string> {
      if (!Number.isInteger(i) || i < 129 || i > 253 || i === 130) throw new Error(`uplink host part must be 129..253 and not 130, got ${i}`);
      await hostIp(hostNs, ['addr', 'add', `${infra(i)}/25`, 'dev', uplinkIf]);
      return infra(i);
    },
    async addContainer(mac: string, ip: string): Promise<Container> {
      if (destroyed) throw new Error(`lab ${name} is destroyed`);
      containerCount += 1;
      const container = await createContainer({
        ns: `${name}-ctr${containerCount}`,
        linkName: `${name}c${containerCount}`,
        parentIf: vlanIf,
        ...(hostNs === undefined ? {} : { parentNs: hostNs }),
        mac,
        ip,
        prefixLength: 24,
        gateway,
        onRemove: (c) => containers.delete(c),
      });
      containers.add(container);
      return container;
    },
    destroy,
  };
}
