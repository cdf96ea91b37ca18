/**
 * A lab whose LAN the host reaches two ways, the second with no host address: what a VLAN
 * sub-interface on a trunk is in production (this kernel has no 8021q).
 *
 *   root netns                               netns `${name}-srv`
 *   `${name}h` 10.231.X.254/24  <-veth->  `${name}s` ─┐
 *                                                     ├─ bridge `${name}b` 10.231.X.1/24 (DHCP server)
 *   `${name}p` (no address)     <-veth->  `${name}q` ─┘
 *
 * `${name}p` is the macvlan parent of a network the host has no address on: the host's own
 * traffic to the server leaves through `${name}h`. The DHCP server listens on the bridge, so
 * {@link Lab.serverIf} is the bridge.
 */
import { createLab, type Lab } from './netns.js';
import { run, runIn } from './shell.js';

export interface SecondPortLab extends Lab {
  /** Host end of the second veth into the LAN: up, no address. */
  readonly bareIf: string;
}

export async function createSecondPortLab(options: { readonly name: string; readonly octet: number }): Promise<SecondPortLab> {
  const { name } = options;
  const bareIf = `${name}p`;
  const peer = `${name}q`;
  const bridge = `${name}b`;
  // A crashed run's second veth goes with its namespace, unless the peer never got there.
  await run('ip', ['link', 'del', bareIf]).catch(() => undefined);
  const lab = await createLab(options);
  try {
    const ns = lab.serverNs;
    await runIn(ns, 'ip', ['addr', 'del', `${lab.serverIp}/24`, 'dev', lab.serverIf]);
    await runIn(ns, 'ip', ['link', 'add', bridge, 'type', 'bridge']);
    await runIn(ns, 'ip', ['link', 'set', lab.serverIf, 'master', bridge]);
    await run('ip', ['link', 'add', bareIf, 'type', 'veth', 'peer', 'name', peer]);
    await run('ip', ['link', 'set', peer, 'netns', ns]);
    await runIn(ns, 'ip', ['link', 'set', peer, 'master', bridge]);
    await runIn(ns, 'ip', ['link', 'set', peer, 'up']);
    await runIn(ns, 'ip', ['addr', 'add', `${lab.serverIp}/24`, 'dev', bridge]);
    await runIn(ns, 'ip', ['link', 'set', bridge, 'up']);
    await run('ip', ['link', 'set', bareIf, 'up']);
  } catch (error) {
    await lab.destroy().catch(() => undefined);
    await run('ip', ['link', 'del', bareIf]).catch(() => undefined);
    throw error;
  }
  return {
    ...lab,
    serverIf: bridge,
    bareIf,
    async destroy() {
      await lab.destroy();
      await run('ip', ['link', 'del', bareIf]).catch(() => undefined);
    },
  };
}
