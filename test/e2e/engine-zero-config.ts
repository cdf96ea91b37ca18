/**
 * Networks created without `--subnet` ("zero-config"), on a macvlan parent with no host address:
 * a second veth into the LAN, standing for a VLAN sub-interface on a trunk. d4d learns the subnet
 * by asking the DHCP server from this host; in direct mode the server answers for the segment it
 * hears the host on, whose subnet is on-link here, and Docker (20.10 to 28) refuses a pool that
 * overlaps a host route. So:
 * - the create fails, and the error gives the exact `--subnet … --gateway …` to use, says that the
 *   host has no address to reach the server from on the parent's segment, and points to relay
 *   mode; following the advice works (the second port is on the same LAN here);
 * - with no host address on the LAN at all (and a route that sends nothing anywhere), the probe
 *   gets no answer, and the error says the same instead of only "no reply".
 * dnsmasq, because it hands out its own address as the router (option 3), as a LAN's server does.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { TEST_IMAGE, type DockerEngine, CLEANUP_TIMEOUT_MS } from '../support/docker-engines.js';
import { activeFor, startDriverLab, type DriverLab } from '../support/docker-lab.js';
import type { resultRecorder } from '../support/docker-results.js';
import { expectEventually } from '../support/eventually.js';
import { createSecondPortLab, type SecondPortLab } from '../support/lab/second-port.js';
import { waitForLease } from '../support/lab/servers.js';
import { run } from '../support/lab/shell.js';

type Recorder = ReturnType<typeof resultRecorder>;

const LAN = { octet: 96 };

export function zeroConfigSuite(engine: () => DockerEngine, rec: Recorder): void {
  describe('zero-config networks (no --subnet) on a parent with no host address', () => {
    let dl: DriverLab;
    let lab: SecondPortLab;
    let prefix = '';
    const docker = (args: readonly string[], timeoutMs?: number) => engine().docker(args, timeoutMs);
    const createError = async (args: string[]): Promise<string> =>
      docker(args, 90_000).then(
        () => {
          throw new Error(`docker ${args.join(' ')} succeeded; it was expected to fail`);
        },
        (err: unknown) => String(err),
      );

    beforeAll(async () => {
      const e = engine();
      const tag = e.id.slice(-2);
      prefix = `d4d${tag}zc-`;
      await e.removeByPrefix(prefix);
      dl = await startDriverLab({
        engine: e,
        name: `z${tag}`,
        octet: LAN.octet,
        kind: 'dnsmasq',
        driver: `d4dz${tag}`,
        server: { leaseTimeSeconds: 600, rangeFirst: 20, rangeLast: 239 },
        createLab: async () => (lab = await createSecondPortLab({ name: `z${tag}`, octet: LAN.octet })),
      });
    }, 90_000);

    afterAll(async () => {
      await engine()
        .removeByPrefix(prefix)
        .catch(() => undefined);
      await dl?.destroy();
    }, CLEANUP_TIMEOUT_MS);

    rec.scenario(
      'the learned subnet is on-link: the error gives the exact --subnet/--gateway and points to relay mode; the advice works',
      'zero-config-advice',
      'dnsmasq',
      async () => {
        const err = await createError(['network', 'create', '-d', 'macvlan', '--ipam-driver', dl.driver, '-o', `parent=${lab.bareIf}`, `${prefix}auto`]);
        expect(err).toContain(`create the network with --subnet ${lab.subnet}/24 --gateway ${lab.serverIp}`);
        expect(err).toContain('this host has no address to reach the DHCP server from on that segment');
        expect(err).toContain('use relay mode');
        // The probe's lease was given back.
        await expectEventually(async () => (await dl.activeLeases()).length === 0);
        // The advice, followed: the second port is on the same LAN, so direct mode serves it.
        await docker([
          'network',
          'create',
          '-d',
          'macvlan',
          '--ipam-driver',
          dl.driver,
          '--subnet',
          `${lab.subnet}/24`,
          '--gateway',
          lab.serverIp,
          '-o',
          `parent=${lab.bareIf}`,
          `${prefix}lan`,
        ]);
        await docker(['run', '-d', '--name', `${prefix}c1`, '--net', `${prefix}lan`, TEST_IMAGE, 'sleep', '3600']);
        const c = await engine().containerOn(`${prefix}c1`, `${prefix}lan`);
        await waitForLease(dl.server, activeFor(c.mac, c.ip), 5_000);
        await docker(['exec', `${prefix}c1`, 'ping', '-c', '1', '-W', '2', lab.serverIp]);
        await engine().removeByPrefix(prefix);
        await expectEventually(async () => (await dl.activeLeases()).length === 0);
      },
    );

    rec.scenario(
      'no host address on the LAN at all: the error says the host cannot reach the server in direct mode and points to relay mode',
      'zero-config-no-route',
      'dnsmasq',
      async () => {
        // The host's only address on the LAN goes; an unreachable route keeps the probe's
        // datagrams from leaving by the default route (they fail locally, as with no route).
        await run('ip', ['addr', 'del', `${lab.hostIp}/24`, 'dev', lab.hostIf]);
        await run('ip', ['route', 'add', 'unreachable', `${lab.subnet}/24`]);
        try {
          const err = await createError(['network', 'create', '-d', 'macvlan', '--ipam-driver', dl.driver, '-o', `parent=${lab.bareIf}`, `${prefix}auto`]);
          expect(err).toContain(`no OFFER reply from DHCP server ${lab.serverIp}`);
          expect(err).toContain('this host has no address to reach the DHCP server from on that segment');
          expect(err).toContain('use relay mode');
          expect((await docker(['network', 'ls', '-q', '--filter', `name=^${prefix}auto$`])).stdout.trim()).toBe('');
        } finally {
          await run('ip', ['route', 'del', 'unreachable', `${lab.subnet}/24`]).catch(() => undefined);
          await run('ip', ['addr', 'add', `${lab.hostIp}/24`, 'dev', lab.hostIf]).catch(() => undefined);
        }
      },
      120_000,
    );
  });
}
