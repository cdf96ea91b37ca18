/**
 * Where engines differ, and what a container does beyond one network, with Kea on one LAN and
 * dnsmasq on another (two plugins, one per DHCP server: in direct mode a server leases from the
 * subnet it hears the host on, so one plugin serves one LAN):
 * - the MACs Docker makes up (02:42:… up to 27, fully random from 28), each the DHCP identity;
 * - a macvlan `--internal` network without `--gateway` (28 asks no gateway; 20.10 asks for one,
 *   which d4d cannot invent and refuses with the flag to add);
 * - `docker network connect` / `disconnect` of a running container: one lease per network,
 *   released on disconnect, the other kept;
 * - a container on two d4d networks at once, with a reservation on each (on API ≥ 1.44 from
 *   `docker run --network name=…,mac-address=… --network …`; before, by connect).
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { TEST_IMAGE, type DockerEngine, CLEANUP_TIMEOUT_MS } from '../support/docker-engines.js';
import { activeFor, startDriverLab, type DriverLab } from '../support/docker-lab.js';
import type { resultRecorder } from '../support/docker-results.js';
import { expectEventually } from '../support/eventually.js';
import { waitForLease } from '../support/lab/servers.js';

type Recorder = ReturnType<typeof resultRecorder>;

const LAN_A = { octet: 93 };
const LAN_B = { octet: 94 };

export function networksSuite(engine: () => DockerEngine, rec: Recorder): void {
  describe('engine differences and several networks', () => {
    let a: DriverLab;
    let b: DriverLab;
    let prefix = '';
    const name = (c: string): string => `${prefix}${c}`;
    const netA = (): string => `${prefix}a`;
    const netB = (): string => `${prefix}b`;
    const macA = `02:d4:e2:00:${LAN_A.octet.toString(16)}:60`;
    const macB = `02:d4:e2:00:${LAN_B.octet.toString(16)}:60`;
    const docker = (args: readonly string[], timeoutMs?: number) => engine().docker(args, timeoutMs);
    const major = (): number => Number(engine().versions.docker.split('.')[0]);
    const perNetworkMac = (): boolean => Number(engine().versions.api) >= 1.44;

    beforeAll(async () => {
      const e = engine();
      const tag = e.id.slice(-2);
      prefix = `d4d${tag}nw-`;
      await e.removeByPrefix(prefix);
      a = await startDriverLab({
        engine: e,
        name: `n${tag}a`,
        octet: LAN_A.octet,
        kind: 'kea',
        driver: `d4dn${tag}a`,
        server: { leaseTimeSeconds: 600, rangeFirst: 20, rangeLast: 239, reservations: [{ mac: macA, ip: `10.231.${LAN_A.octet}.60` }] },
      });
      b = await startDriverLab({
        engine: e,
        name: `n${tag}b`,
        octet: LAN_B.octet,
        kind: 'dnsmasq',
        driver: `d4dn${tag}b`,
        server: { leaseTimeSeconds: 600, rangeFirst: 20, rangeLast: 239, reservations: [{ mac: macB, ip: `10.231.${LAN_B.octet}.60` }] },
      });
      await docker([...a.macvlanArgs(), netA()]);
      await docker([...b.macvlanArgs(), netB()]);
    }, 90_000);

    afterAll(async () => {
      await engine()
        .removeByPrefix(prefix)
        .catch(() => undefined);
      await a?.destroy();
      await b?.destroy();
    }, CLEANUP_TIMEOUT_MS);

    rec.scenario('MACs Docker makes up are the DHCP identities: 02:42:… up to Docker 27, fully random from 28', 'random-mac', 'kea', async () => {
      const macs: string[] = [];
      for (const c of ['r1', 'r2', 'r3']) {
        await docker(['run', '-d', '--name', name(c), '--net', netA(), TEST_IMAGE, 'sleep', '3600']);
        const info = await engine().containerOn(name(c), netA());
        await waitForLease(a.server, activeFor(info.mac, info.ip), 5_000);
        macs.push(info.mac);
      }
      expect(new Set(macs).size).toBe(3);
      const docker42 = macs.filter((m) => m.startsWith('02:42:')).length;
      // Fully random locally administered unicast: 02:42:… by chance once in 16,384.
      if (major() >= 28) expect(docker42).toBeLessThan(3);
      else expect(docker42).toBe(3);
      for (const m of macs) expect(Number.parseInt(m.slice(0, 2), 16) & 0b11).toBe(0b10); // local, unicast
      await docker(['rm', '-f', name('r1'), name('r2'), name('r3')]);
      await expectEventually(async () => (await a.activeLeases()).length === 0);
      return major() >= 28 ? 'fully random' : '02:42:…';
    });

    rec.scenario('a macvlan --internal network without --gateway', 'internal-no-gateway', 'dnsmasq', async () => {
      const net = name('internal');
      // Docker allows one macvlan network per parent: LAN B's network makes way for a moment.
      await docker(['network', 'rm', netB()]);
      try {
        const create = await docker([
          'network',
          'create',
          '-d',
          'macvlan',
          '--internal',
          '--ipam-driver',
          b.driver,
          '--subnet',
          `${b.lab.subnet}/24`,
          '-o',
          `parent=${b.lab.hostIf}`,
          net,
        ]).then(
          () => undefined,
          (err: unknown) => String(err),
        );
        if (major() < 28) {
          // Docker ≤ 27 asks the IPAM driver for a gateway; d4d has none to give and says which flag.
          expect(create).toContain(`no gateway given for ${b.lab.subnet}/24: create the network with --gateway`);
          return 'refused: engine asks a gateway, d4d says add --gateway';
        }
        expect(create).toBeUndefined();
        const gw = (await docker(['network', 'inspect', net, '--format', '{{range .IPAM.Config}}{{.Gateway}}{{end}}'])).stdout.trim();
        expect(gw).toBe('');
        await docker(['run', '-d', '--name', name('int1'), '--net', net, TEST_IMAGE, 'sleep', '3600']);
        const info = await engine().containerOn(name('int1'), net);
        await waitForLease(b.server, activeFor(info.mac, info.ip), 5_000);
        expect((await docker(['exec', name('int1'), 'ip', 'route'])).stdout).not.toContain('default');
        await docker(['exec', name('int1'), 'ping', '-c', '1', '-W', '2', b.lab.serverIp]);
        await docker(['rm', '-f', name('int1')]);
        await expectEventually(async () => (await b.server.leases()).find(activeFor(info.mac, info.ip)) === undefined);
        return 'no gateway asked, no default route';
      } finally {
        await docker(['network', 'rm', net]).catch(() => undefined);
        await docker([...b.macvlanArgs(), netB()]);
      }
    });

    rec.scenario(
      'network connect / disconnect of a running container: one lease per network, released on disconnect',
      'connect-disconnect',
      ['kea', 'dnsmasq'],
      async () => {
        await docker(['run', '-d', '--name', name('cd'), '--net', netA(), TEST_IMAGE, 'sleep', '3600']);
        const onA = await engine().containerOn(name('cd'), netA());
        await waitForLease(a.server, activeFor(onA.mac, onA.ip), 5_000);
        await docker(['network', 'connect', netB(), name('cd')]);
        const onB = await engine().containerOn(name('cd'), netB());
        expect(onB.mac).not.toBe(onA.mac);
        await waitForLease(b.server, activeFor(onB.mac, onB.ip), 5_000);
        expect((await a.activeLeases()).map((l) => l.ip)).toEqual([onA.ip]);
        expect((await b.activeLeases()).map((l) => l.ip)).toEqual([onB.ip]);
        const ifaces = (await docker(['exec', name('cd'), 'ip', '-4', '-o', 'addr'])).stdout;
        expect(ifaces).toContain(`${onA.ip}/24`);
        expect(ifaces).toContain(`${onB.ip}/24`);
        await docker(['exec', name('cd'), 'ping', '-c', '1', '-W', '2', b.lab.serverIp]);
        await docker(['network', 'disconnect', netB(), name('cd')]);
        await expectEventually(async () => (await b.activeLeases()).length === 0);
        expect((await a.activeLeases()).map((l) => l.ip)).toEqual([onA.ip]);
        await docker(['rm', '-f', name('cd')]);
        await expectEventually(async () => (await a.activeLeases()).length === 0);
      },
    );

    rec.scenario('a container on two d4d networks, with a MAC reserved on each', 'two-networks', ['kea', 'dnsmasq'], async () => {
      const c = name('two');
      if (perNetworkMac()) {
        await docker([
          'run',
          '-d',
          '--name',
          c,
          '--network',
          `name=${netA()},mac-address=${macA}`,
          '--network',
          `name=${netB()},mac-address=${macB}`,
          TEST_IMAGE,
          'sleep',
          '3600',
        ]);
      } else {
        // API 1.41: one network at create, and connect has no MAC: the reservation on B is not reachable.
        await docker(['run', '-d', '--name', c, '--net', netA(), '--mac-address', macA, TEST_IMAGE, 'sleep', '3600']);
        await docker(['network', 'connect', netB(), c]);
      }
      const onA = await engine().containerOn(c, netA());
      const onB = await engine().containerOn(c, netB());
      expect(onA).toEqual({ ip: a.lab.network(60), mac: macA });
      if (perNetworkMac()) expect(onB).toEqual({ ip: b.lab.network(60), mac: macB });
      await waitForLease(a.server, activeFor(onA.mac, onA.ip), 5_000);
      await waitForLease(b.server, activeFor(onB.mac, onB.ip), 5_000);
      await docker(['restart', '-t', '0', c]);
      expect(await engine().containerOn(c, netA())).toEqual(onA);
      if (perNetworkMac()) expect(await engine().containerOn(c, netB())).toEqual(onB);
      await docker(['rm', '-f', c]);
      await expectEventually(async () => (await a.activeLeases()).length === 0 && (await b.activeLeases()).length === 0);
      return perNetworkMac() ? 'at run, both reservations' : 'run + connect, first reservation only';
    });
  });
}
