/**
 * Listing, emptying and deleting network namespaces.
 *
 * `ip netns del` only unmounts the namespace handle: while a process (a DHCP server, udhcpc,
 * tcpdump) still runs inside, the namespace and its veth end survive, and a later lab with the
 * same name would share a broadcast domain with a stale server. So processes are killed first.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { signalPid } from './processes.js';
import { run } from './shell.js';

/** Names of the network namespaces that exist now. `ip netns list` prints `name (id: N)`. */
export async function listNetns(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((ns) => ns !== '');
}

/** Pids of the processes inside netns `ns`; empty when the netns does not exist. */
export async function netnsPids(ns: string): Promise<number[]> {
  try {
    const { stdout } = await run('ip', ['netns', 'pids', ns]);
    return stdout
      .split('\n')
      .map((line) => Number.parseInt(line.trim(), 10))
      .filter((pid) => Number.isInteger(pid) && pid > 0);
  } catch {
    return [];
  }
}

/**
 * SIGKILL every process in netns `ns` and wait (up to `timeoutMs`) until none is left.
 *
 * @throws Error listing the survivors if some process outlives the timeout.
 */
export async function killNetnsProcesses(ns: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = await netnsPids(ns);
    if (pids.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`processes in netns ${ns} survived SIGKILL: ${pids.join(', ')}`);
    }
    for (const pid of pids) signalPid(pid, 'SIGKILL');
    await sleep(50);
  }
}

/** Kill the processes inside `ns`, then delete it; a missing netns is not an error. */
export async function deleteNetns(ns: string): Promise<void> {
  await killNetnsProcesses(ns);
  await run('ip', ['netns', 'del', ns]).catch(async (error: unknown) => {
    if ((await listNetns()).includes(ns)) throw error;
  });
}

/** Gives `ifName` in netns `ns` the address `cidr` and brings it (and the netns's loopback) up. */
export async function addressUp(ns: string, ifName: string, cidr: string): Promise<void> {
  await run('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', ifName]);
  await run('ip', ['-n', ns, 'link', 'set', ifName, 'up']);
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
}
