/**
 * A lab whose client side lives in its own network namespace instead of the root one:
 *
 *   netns `${name}-cli`                       netns `${name}-srv`
 *   `${name}h` 10.231.X.254/24  <-veth->  `${name}s` 10.231.X.1/24   (DHCP server runs here)
 *
 * The daemon under test runs in `${name}-cli` (`ip netns exec`), so it has UDP port 68 to itself:
 * the fault suite kills it, floods it with 200 requests at once and takes its port away, none of
 * which may disturb (or be disturbed by) the daemons and engines of other labs bound to port 68
 * in the root namespace. Containers (macvlan children) are not offered: the fault suite talks to
 * the plugin socket the way Docker does and needs no interface per endpoint.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addressUp, deleteNetns } from './namespaces.js';
import { removeLabLeftovers, type Lab } from './netns.js';
import { run } from './shell.js';

export interface IsolatedLab extends Lab {
  /** Network namespace that holds the client end (`${name}-cli`): run the daemon here. */
  readonly clientNs: string;
}

/** Remove what an earlier run of isolated lab `name` left: its three namespaces, links and dirs. */
export async function removeIsolatedLabLeftovers(name: string): Promise<void> {
  await deleteNetns(`${name}-cli`);
  await removeLabLeftovers(name);
}

/** Create an isolated lab after removing the leftovers of any earlier one with the same name. */
export async function createIsolatedLab(options: { name: string; octet: number }): Promise<IsolatedLab> {
  const { name, octet } = options;
  if (!/^[a-z][a-z0-9]{0,5}$/.test(name)) throw new Error(`lab name must be 1–6 of [a-z0-9] starting with a letter, got "${name}"`);
  if (!Number.isInteger(octet) || octet < 0 || octet > 255) throw new Error(`lab octet must be an integer 0..255, got ${octet}`);
  await removeIsolatedLabLeftovers(name);
  const network = (i: number): string => {
    if (!Number.isInteger(i) || i < 0 || i > 255) throw new Error(`host part must be 0..255, got ${i}`);
    return `10.231.${octet}.${i}`;
  };
  const serverNs = `${name}-srv`;
  const clientNs = `${name}-cli`;
  const hostIf = `${name}h`;
  const serverIf = `${name}s`;
  // The same prefix as createLab's scratch dirs, so removeLabLeftovers finds ours too.
  const workDir = await mkdtemp(join(tmpdir(), `lab-${name}-`));
  const destroy = async (): Promise<void> => {
    await deleteNetns(clientNs);
    await deleteNetns(serverNs);
    await run('ip', ['link', 'del', hostIf]).catch(() => undefined); // only there if creation failed half-way
    await rm(workDir, { recursive: true, force: true });
  };
  try {
    await run('ip', ['netns', 'add', serverNs]);
    await run('ip', ['netns', 'add', clientNs]);
    await run('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', serverIf]);
    await run('ip', ['link', 'set', serverIf, 'netns', serverNs]);
    await run('ip', ['link', 'set', hostIf, 'netns', clientNs]);
    await addressUp(serverNs, serverIf, `${network(1)}/24`);
    await addressUp(clientNs, hostIf, `${network(254)}/24`);
  } catch (error) {
    await destroy().catch(() => undefined);
    throw error;
  }
  return {
    name,
    serverNs,
    clientNs,
    hostIf,
    serverIf,
    serverIp: network(1),
    hostIp: network(254),
    prefixLength: 24,
    netmask: '255.255.255.0',
    subnet: network(0),
    workDir,
    network,
    addContainer() {
      return Promise.reject(new Error('an isolated lab has no containers: call the plugin socket instead'));
    },
    destroy,
  };
}
