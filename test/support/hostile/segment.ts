/**
 * A LAN segment with hostile hosts on it, built on a lab (`test/support/lab/netns.ts`):
 *
 *   netns `${name}-srv`: the real DHCP server on `${name}s` 10.231.X.1
 *        | veth (the wire)
 *   root netns: `${name}h` 10.231.X.254, parent of three bridge-mode macvlans, each in a netns:
 *     `${name}-cli`  the DHCP client under test, 10.231.X.250 (its UDP/68 socket is alone there)
 *     `${name}-rog`  a rogue DHCP server with its own identity, 10.231.X.2
 *     `${name}-noi`  a forger: it also holds the real server's address 10.231.X.1 (and .3), so it
 *                   can send "from the server" to the client's address
 *
 * Macvlan children in bridge mode reach each other and the wire, but not their parent's own
 * stack: the rogue's and the forger's packets reach only the client under test, never a DHCP
 * client in the root netns (another test's). The client's neighbour entry for the real server is
 * pinned, so the forger's copy of that address cannot take the client's requests away.
 * The client's requests are unicast to the server; they leave by `${name}h`, where a sniffer in
 * the root netns sees them (`sniffer.ts`), as an attacker on the wire would.
 */
import { readFile } from 'node:fs/promises';
import { createLab, type Lab } from '../lab/netns.js';
import { deleteNetns, listNetns } from '../lab/namespaces.js';
import { run } from '../lab/shell.js';

export interface HostileSegment {
  readonly lab: Lab;
  readonly clientNs: string;
  readonly clientIp: string;
  readonly clientMac: string;
  readonly rogueNs: string;
  readonly rogueIp: string;
  readonly noiseNs: string;
  /** Second address of the forger, for replies from the wrong address. */
  readonly noiseAltIp: string;
  destroy(): Promise<void>;
}

const ROLES = [
  { suffix: 'cli', host: 250 },
  { suffix: 'rog', host: 2 },
  { suffix: 'noi', host: 1 },
] as const;

/** Root-netns links named `${name}m<n>` (macvlans not yet moved into their netns). */
async function leftoverLinks(name: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-o', 'link', 'show']);
  const re = new RegExp(`^\\d+:\\s+(${name}m\\d)[@:]`);
  return stdout.split('\n').flatMap((line) => {
    const m = re.exec(line);
    return m?.[1] === undefined ? [] : [m[1]];
  });
}

/** Remove what an earlier segment named `name` left: its role netns and stray macvlans. */
export async function removeSegmentLeftovers(name: string): Promise<void> {
  const namespaces = await listNetns();
  for (const { suffix } of ROLES) if (namespaces.includes(`${name}-${suffix}`)) await deleteNetns(`${name}-${suffix}`);
  for (const link of await leftoverLinks(name)) await run('ip', ['link', 'del', link]).catch(() => undefined);
}

async function macOf(ns: string, ifName: string): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, 'cat', `/sys/class/net/${ifName}/address`]);
  return stdout.trim();
}

/** Builds the segment (after removing leftovers by name); the DHCP server is the caller's. */
export async function createHostileSegment(o: { name: string; octet: number }): Promise<HostileSegment> {
  await removeSegmentLeftovers(o.name);
  const lab = await createLab(o);
  const ns = (suffix: string): string => `${o.name}-${suffix}`;
  const destroy = async (): Promise<void> => {
    for (const { suffix } of ROLES) await deleteNetns(ns(suffix)).catch(() => undefined);
    await lab.destroy();
  };
  try {
    for (const [i, { suffix, host }] of ROLES.entries()) {
      const link = `${o.name}m${i}`;
      await run('ip', ['netns', 'add', ns(suffix)]);
      await run('ip', ['link', 'add', link, 'link', lab.hostIf, 'type', 'macvlan', 'mode', 'bridge']);
      await run('ip', ['link', 'set', link, 'netns', ns(suffix)]);
      await run('ip', ['-n', ns(suffix), 'link', 'set', link, 'name', 'eth0']);
      await run('ip', ['-n', ns(suffix), 'addr', 'add', `${lab.network(host)}/24`, 'dev', 'eth0']);
      await run('ip', ['-n', ns(suffix), 'link', 'set', 'eth0', 'up']);
      await run('ip', ['-n', ns(suffix), 'link', 'set', 'lo', 'up']);
      // Servers answer with BROADCAST set to 255.255.255.255, which needs a route out.
      await run('ip', ['-n', ns(suffix), 'route', 'add', 'default', 'dev', 'eth0']);
    }
    await run('ip', ['-n', ns('noi'), 'addr', 'add', `${lab.network(3)}/24`, 'dev', 'eth0']);
    const serverMac = await macOf(lab.serverNs, lab.serverIf);
    const clientMac = await macOf(ns('cli'), 'eth0');
    // Pinned both ways: the client never asks who has the server's address (two would answer),
    // and the forger never asks for the client's.
    await run('ip', ['-n', ns('cli'), 'neigh', 'replace', lab.serverIp, 'lladdr', serverMac, 'dev', 'eth0', 'nud', 'permanent']);
    await run('ip', ['-n', ns('noi'), 'neigh', 'replace', lab.network(250), 'lladdr', clientMac, 'dev', 'eth0', 'nud', 'permanent']);
    return {
      lab,
      clientNs: ns('cli'),
      clientIp: lab.network(250),
      clientMac,
      rogueNs: ns('rog'),
      rogueIp: lab.network(2),
      noiseNs: ns('noi'),
      noiseAltIp: lab.network(3),
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}

/** UDP counters of the netns this process runs in (`/proc/net/snmp` is per netns). */
export async function udpCounters(): Promise<Record<string, number>> {
  const lines = (await readFile('/proc/net/snmp', 'utf8')).split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, values] = lines.map((l) => l.split(/\s+/).slice(1));
  const out: Record<string, number> = {};
  for (const [i, n] of (names ?? []).entries()) out[n] = Number(values?.[i] ?? NaN);
  return out;
}
