/**
 * Two DHCP servers as one service: Kea's high-availability hook in hot-standby mode, and a
 * daemon given both (`DHCP_SERVER=<primary>,<standby>`). The primary is stopped mid-run: new
 * containers get addresses from the standby once it takes over (the DISCOVER the primary leaves
 * unanswered goes to the next server), and leases the primary granted are kept alive by the
 * standby (their renewals go to the primary and fail; at T2 the rebind goes to both and the
 * standby answers), with no address given twice.
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectEventually } from '../support/eventually.js';
import { startFleetDaemon, type FleetDaemon } from '../support/fleet-daemon.js';
import { createFleetLab, type FleetLab } from '../support/lab/fleet-lab.js';
import { createKeaHaPair, keaHaMissing, type KeaHaPair } from '../support/lab/kea-ha.js';
import { describeLab } from '../support/lab/prereqs.js';
import type { ServerLease } from '../support/lab/servers.js';
import { replyAddress } from '../support/netns-daemon.js';
import { callPlugin } from '../support/plugin-client.js';
import { BUILT_MAIN } from '../support/plugin-process.js';

const LEASE_SECONDS = 20;

describeLab(
  'two Kea servers in hot-standby, the primary stopped mid-run',
  () => {
    let lab: FleetLab;
    let pair: KeaHaPair;
    let daemon: FleetDaemon | undefined;
    let dir: string;
    let poolId = '';
    const mac = (i: number): string => `02:d4:86:00:00:${i.toString(16).padStart(2, '0')}`;
    const request = async (m: string): Promise<string> => {
      const reply = await callPlugin((daemon as FleetDaemon).socketPath, 'IpamDriver.RequestAddress', {
        PoolID: poolId,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': m },
      });
      const ip = replyAddress(reply);
      if (ip === undefined) throw new Error(`RequestAddress for ${m}: ${JSON.stringify(reply.body)}`);
      return ip;
    };
    const activeIn = async (leases: Promise<ServerLease[]>, m: string): Promise<ServerLease | undefined> => (await leases).find((l) => l.active && l.mac === m);
    const first = Array.from({ length: 10 }, (_, i) => mac(i + 1));
    const later = Array.from({ length: 5 }, (_, i) => mac(i + 20));
    const granted = new Map<string, string>();

    beforeAll(async () => {
      const missing = keaHaMissing();
      if (missing !== undefined) throw new Error(missing);
      if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
      lab = await createFleetLab({ name: 'flsv', octet: 134, servers: 2, hosts: 1 });
      dir = await mkdtemp(join(lab.workDir, 'd4d-'));
      pair = createKeaHaPair([lab.servers[0] as FleetLab['servers'][0], lab.servers[1] as FleetLab['servers'][0]], {
        leaseTimeSeconds: LEASE_SECONDS,
        rangeFirst: 20,
        rangeLast: 199,
      });
      await pair.start();
      const host = lab.hosts[0] as FleetLab['hosts'][0];
      daemon = await startFleetDaemon({
        host,
        hostName: 'flsv1',
        dir,
        args: ['--dhcp-server', `${lab.network(1)},${lab.network(2)}`, '--listen-addr', host.ip],
      });
      const pool = await callPlugin(daemon.socketPath, 'IpamDriver.RequestPool', {
        AddressSpace: 'local',
        Pool: `${lab.subnet}/24`,
        SubPool: '',
        Options: {},
        V6: false,
      });
      poolId = pool.body.PoolID as string;
    }, 90_000);

    afterAll(async () => {
      await daemon?.stop('SIGTERM');
      await pair?.stop();
      await lab?.destroy();
    });

    it('leases from the primary, which hands every lease to the standby', async () => {
      const ips = await Promise.all(first.map((m) => request(m)));
      for (const [i, m] of first.entries()) granted.set(m, ips[i] as string);
      for (const m of first) expect((await activeIn(pair.primary.leases(), m))?.ip).toBe(granted.get(m));
      await expectEventually(async () => (await Promise.all(first.map((m) => activeIn(pair.standby.leases(), m)))).every((l) => l !== undefined), 5_000);
    });

    it('with the primary stopped, new containers get addresses from the standby, none given twice', async () => {
      await pair.primary.stop();
      const stoppedAt = Date.now();
      const ips = await Promise.all(later.map((m) => request(m)));
      for (const [i, m] of later.entries()) granted.set(m, ips[i] as string);
      // The first DISCOVER waited one retransmission for the primary; the rest went straight on.
      expect(Date.now() - stoppedAt).toBeLessThan(30_000);
      for (const m of later) expect((await activeIn(pair.standby.leases(), m))?.ip).toBe(granted.get(m));
      expect(new Set(granted.values()).size).toBe(granted.size);
    });

    it("keeps the primary's leases alive through the standby (renewal fails, the rebind is answered), and releases them there", async () => {
      const before = new Map<string, number>();
      for (const m of first) before.set(m, (await activeIn(pair.standby.leases(), m))?.endsAt ?? 0);
      // T2 is 17.5 s into a 20 s lease: every one of them rebinds within a lease time.
      await expectEventually(
        async () => {
          const leases = await pair.standby.leases();
          return first.every((m) => (leases.find((l) => l.active && l.mac === m && l.ip === granted.get(m))?.endsAt ?? 0) > (before.get(m) ?? 0));
        },
        (LEASE_SECONDS + 10) * 1000,
        500,
      );
      expect(daemon?.log()).not.toMatch(/ADDRESS LOST|lease expired/);
      for (const ip of granted.values())
        expect(await callPlugin((daemon as FleetDaemon).socketPath, 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip })).toMatchObject({
          status: 200,
        });
      await expectEventually(async () => (await pair.standby.leases()).filter((l) => l.active).length === 0, 10_000);
    });
  },
  { requires: ['unshare'] },
);
