/**
 * A "container" for lab tests: a network namespace whose only interface is a bridge-mode macvlan
 * child of the lab's host veth, the same wiring Docker's macvlan driver gives a container.
 */
import { deleteNetns } from './namespaces.js';
import { run, runIn, type RunOptions, type RunResult } from './shell.js';

/** A network namespace with one macvlan interface holding one address. */
export interface Container {
  /** Network namespace name (`<lab>-ctr<n>`). */
  readonly ns: string;
  /** Interface inside {@link ns}; always `eth0`, as in a Docker container. */
  readonly ifName: 'eth0';
  /** MAC address of {@link ifName}, lowercase. */
  readonly mac: string;
  /** IPv4 address held on {@link ifName} (prefix length as the lab's). */
  readonly ip: string;
  /** Run a command inside the container's netns. */
  exec(cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Kill the processes inside and delete the netns (and with it the macvlan). Idempotent. */
  remove(): Promise<void>;
}

/** Parameters of {@link createContainer}; the lab fills these in. */
export interface ContainerSpec {
  readonly ns: string;
  /** Temporary name in the root netns; must be unique there and start with the lab name. */
  readonly linkName: string;
  readonly parentIf: string;
  readonly mac: string;
  readonly ip: string;
  readonly prefixLength: number;
  readonly onRemove: (container: Container) => void;
  /** Network namespace the parent interface lives in; default the root one. */
  readonly parentNs?: string;
  /** Default route of the container, when its segment has a router (the relay lab's VLAN). */
  readonly gateway?: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** Build the container described by `spec`; on failure nothing is left behind. */
export async function createContainer(spec: ContainerSpec): Promise<Container> {
  const mac = spec.mac.toLowerCase();
  if (!MAC.test(mac)) throw new Error(`container MAC must look like 02:00:00:00:00:01, got "${spec.mac}"`);
  const { ns } = spec;
  // `ip -n <ns>` for the namespace the parent interface (and the new link, until moved) is in.
  const inParent = spec.parentNs === undefined ? [] : ['-n', spec.parentNs];
  let removed = false;

  const container: Container = {
    ns,
    ifName: 'eth0',
    mac,
    ip: spec.ip,
    exec: (cmd, args, opts) => runIn(ns, cmd, args, opts),
    async remove(): Promise<void> {
      if (removed) return;
      removed = true;
      spec.onRemove(container);
      await deleteNetns(ns);
      // Only present if creation failed before the link was moved into the netns.
      await run('ip', [...inParent, 'link', 'del', spec.linkName]).catch(() => undefined);
    },
  };

  try {
    await run('ip', ['netns', 'add', ns]);
    // The MAC is set at creation so that the address is never announced with a random MAC.
    await run('ip', [...inParent, 'link', 'add', spec.linkName, 'link', spec.parentIf, 'address', mac, 'type', 'macvlan', 'mode', 'bridge']);
    await run('ip', [...inParent, 'link', 'set', spec.linkName, 'netns', ns]);
    await run('ip', ['-n', ns, 'link', 'set', spec.linkName, 'name', 'eth0']);
    await run('ip', ['-n', ns, 'addr', 'add', `${spec.ip}/${spec.prefixLength}`, 'dev', 'eth0']);
    await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    if (spec.gateway !== undefined) await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', spec.gateway]);
  } catch (error) {
    await container.remove().catch(() => undefined);
    throw error;
  }
  return container;
}
