/**
 * A LAN for fleet tests: a bridge in its own namespace, DHCP servers and Docker hosts each in a
 * namespace of their own, plugged into it by a veth, all on `10.231.<octet>.0/24`.
 *
 *   netns `${name}-lan`: bridge `lan`, one port per member
 *   netns `${name}-s<i>`: `eth0` 10.231.X.<i>       (DHCP servers, i = 1, 2, …)
 *   netns `${name}-h<j>`: `eth0` 10.231.X.<200 + j> (Docker hosts, j = 1, 2, …; keep pools below .200)
 *
 * A host's containers are macvlan children of its `eth0`, as with Docker's macvlan driver, so
 * every container of every host is on the one LAN with the servers, and every host hears every
 * broadcast reply. Nothing is in the root namespace. Each server member is also a `Lab` as the
 * server fixtures want one (serverNs/serverIf/serverIp its own), so `createServer`,
 * `createServerFixture` and their lease readers work unchanged.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createContainer, type Container } from './container.js';
import { addressUp, deleteNetns, listNetns } from './namespaces.js';
import type { Lab } from './netns.js';
import { run } from './shell.js';

export interface FleetLabOptions {
  /** 1–5 of `[a-z0-9]`, starting with a letter. */
  readonly name: string;
  readonly octet: number;
  readonly servers: number;
  readonly hosts: number;
}

export interface FleetHost {
  readonly index: number;
  readonly ns: string;
  /** `eth0` in {@link ns}: the macvlan parent, and the host's address on the LAN. */
  readonly ifName: 'eth0';
  readonly ip: string;
  /** A macvlan child of this host's `eth0` in a namespace of its own, holding `ip`/24. */
  addContainer(mac: string, ip: string): Promise<Container>;
}

export interface FleetLab {
  readonly name: string;
  readonly subnet: string;
  readonly workDir: string;
  network(i: number): string;
  /** Server `i` (1-based) as a `Lab` for the server fixtures. */
  readonly servers: readonly Lab[];
  readonly hosts: readonly FleetHost[];
  destroy(): Promise<void>;
}

const NAME = /^[a-z][a-z0-9]{0,4}$/;

/** Remove what an earlier fleet lab `name` left: its namespaces (and processes) and dirs. */
export async function removeFleetLabLeftovers(name: string): Promise<void> {
  for (const ns of await listNetns()) if (ns.startsWith(`${name}-`)) await deleteNetns(ns);
  for (const entry of await readdir(tmpdir())) {
    if (entry.startsWith(`lab-${name}-`)) await rm(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

export async function createFleetLab(o: FleetLabOptions): Promise<FleetLab> {
  if (!NAME.test(o.name)) throw new Error(`fleet lab name must match ${String(NAME)}, got "${o.name}"`);
  if (o.servers < 1 || o.servers > 9 || o.hosts < 1 || o.hosts > 50) throw new Error('1–9 servers and 1–50 hosts');
  await removeFleetLabLeftovers(o.name);
  const network = (i: number): string => `10.231.${o.octet}.${i}`;
  const lanNs = `${o.name}-lan`;
  const workDir = await mkdtemp(join(tmpdir(), `lab-${o.name}-`));
  const namespaces: string[] = [lanNs];
  const containers = new Set<Container>();
  let containerCount = 0;
  const destroy = async (): Promise<void> => {
    for (const c of containers) await c.remove();
    for (const ns of [...namespaces].reverse()) await deleteNetns(ns);
    await rm(workDir, { recursive: true, force: true });
  };
  /** A member namespace with `eth0` on the bridge, address `ip`/24. */
  const plug = async (ns: string, port: string, ip: string): Promise<void> => {
    await run('ip', ['netns', 'add', ns]);
    namespaces.push(ns);
    await run('ip', ['link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', lanNs]);
    await run('ip', ['-n', lanNs, 'link', 'set', port, 'master', 'lan', 'up']);
    await addressUp(ns, 'eth0', `${ip}/24`);
  };
  const servers: Lab[] = [];
  const hosts: FleetHost[] = [];
  try {
    await run('ip', ['netns', 'add', lanNs]);
    await run('ip', ['-n', lanNs, 'link', 'add', 'lan', 'type', 'bridge']);
    await run('ip', ['-n', lanNs, 'link', 'set', 'lan', 'up']);
    for (let i = 1; i <= o.servers; i++) {
      const ns = `${o.name}-s${i}`;
      await plug(ns, `s${i}`, network(i));
      servers.push({
        name: `${o.name}s${i}`,
        serverNs: ns,
        hostIf: 'eth0',
        serverIf: 'eth0',
        serverIp: network(i),
        hostIp: network(201),
        prefixLength: 24,
        netmask: '255.255.255.0',
        subnet: network(0),
        workDir,
        network,
        addContainer: () => Promise.reject(new Error('containers belong to hosts: use hosts[j].addContainer')),
        destroy,
      });
    }
    for (let j = 1; j <= o.hosts; j++) {
      const ns = `${o.name}-h${j}`;
      const ip = network(200 + j);
      await plug(ns, `h${j}`, ip);
      hosts.push({
        index: j,
        ns,
        ifName: 'eth0',
        ip,
        async addContainer(mac, address) {
          containerCount += 1;
          const c = await createContainer({
            ns: `${o.name}-c${containerCount}`,
            linkName: `c${containerCount}`,
            parentIf: 'eth0',
            parentNs: ns,
            mac,
            ip: address,
            prefixLength: 24,
            onRemove: (x) => containers.delete(x),
          });
          containers.add(c);
          return c;
        },
      });
    }
  } catch (err) {
    await destroy().catch(() => undefined);
    throw err;
  }
  return { name: o.name, subnet: network(0), workDir, network, servers, hosts, destroy };
}
