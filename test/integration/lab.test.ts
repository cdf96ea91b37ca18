/**
 * Self-test of the lab harness: the namespaces and macvlan containers really carry traffic, and
 * each DHCP server fixture starts, serves a real client (busybox udhcpc), records the lease where
 * `leases()` finds it, and resumes from its lease DB after a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClientPacket, DhcpType, summarizeMessage } from '../support/lab/dhcp-bytes.js';
import { createLab, type Lab } from '../support/lab/netns.js';
import { pidAlive } from '../support/lab/processes.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, SERVER_KINDS, waitForLease, type ServerKind } from '../support/lab/servers.js';
import { runIn } from '../support/lab/shell.js';
import { acquireWithUdhcpc } from '../support/lab/udhcpc.js';
import { udpExchangeIn } from '../support/lab/udp-exchange.js';

/** Lease time each server should hand out for a 60 s request; dnsmasq's floor is 120 s. */
const EXPECTED_LEASE_SECONDS: Record<ServerKind, number> = { isc: 60, kea: 60, dnsmasq: 120 };

describeLab(
  'lab harness',
  () => {
    let lab: Lab | undefined;
    const getLab = (): Lab => {
      if (lab === undefined) throw new Error('lab not created');
      return lab;
    };

    beforeAll(async () => {
      lab = await createLab({ name: 'labt', octet: 240 });
    });
    afterAll(async () => {
      await lab?.destroy();
    });

    it('gives a macvlan container its MAC and address on the wire to the server netns', async () => {
      const l = getLab();
      const container = await l.addContainer('02:00:00:f0:00:10', l.network(10));
      try {
        await container.exec('busybox', ['ping', '-c', '1', '-W', '2', l.serverIp]);
        const { stdout } = await runIn(l.serverNs, 'busybox', ['arping', '-f', '-c', '1', '-w', '2', '-I', l.serverIf, container.ip]);
        expect(stdout.toLowerCase()).toContain(`[${container.mac}]`);
      } finally {
        await container.remove();
      }
    });

    describe.each(SERVER_KINDS)('%s', (kind) => {
      it('serves a DORA, records the lease, honours a reservation and resumes after a restart', async () => {
        const l = getLab();
        const octet = SERVER_KINDS.indexOf(kind) + 1;
        const mac = `02:00:00:f0:0${octet}:01`;
        const reservedMac = `02:00:00:f0:0${octet}:02`;
        const server = createServer(kind, l, {
          leaseTimeSeconds: 60,
          rangeFirst: 100,
          rangeLast: 150,
          reservations: [{ mac: reservedMac, ip: l.network(60) }],
        });
        const client = await l.addContainer(mac, l.network(200));
        const reserved = await l.addContainer(reservedMac, l.network(201));
        try {
          await server.start();
          const lease = await acquireWithUdhcpc(client);
          expect(lease.serverId).toBe(l.serverIp);
          expect(lease.leaseTimeSeconds).toBe(EXPECTED_LEASE_SECONDS[kind]);
          const last = Number(lease.ip.split('.')[3]);
          expect(last).toBeGreaterThanOrEqual(100);
          expect(last).toBeLessThanOrEqual(150);

          const recorded = await waitForLease(server, (x) => x.ip === lease.ip);
          expect(recorded).toMatchObject({ mac, clientId: `01:${mac}`, active: true });
          const endsAt = recorded.endsAt ?? 0;
          expect(Math.abs(endsAt - (Date.now() + EXPECTED_LEASE_SECONDS[kind] * 1000))).toBeLessThan(5_000);

          expect((await acquireWithUdhcpc(reserved)).ip).toBe(l.network(60));

          // The daemon's path: a unicast DISCOVER from a non-relay host with the BROADCAST flag
          // gets an OFFER that reaches 0.0.0.0:68 (a unicast reply to yiaddr would not).
          const discover = buildClientPacket({ type: DhcpType.DISCOVER, xid: 0xd15c0, mac, broadcast: true });
          const replies = await udpExchangeIn(client.ns, { payload: discover, to: l.serverIp, listenMs: 300 });
          expect(replies.map((r) => summarizeMessage(r.payload))).toEqual([{ xid: 0xd15c0, type: DhcpType.OFFER, yiaddr: lease.ip, serverId: l.serverIp }]);

          await server.stop();
          await server.start();
          expect(await server.leases()).toContainEqual(expect.objectContaining({ ip: lease.ip, mac, active: true }));
          // The same client gets the same address back from the reloaded DB.
          expect((await acquireWithUdhcpc(client)).ip).toBe(lease.ip);
        } catch (error) {
          throw new Error(`${String(error)}\n--- ${kind} log ---\n${server.log()}`, { cause: error });
        } finally {
          await server.stop();
          await client.remove();
          await reserved.remove();
        }
      });
    });

    it('refuses to start a second server in the same lab', async () => {
      const l = getLab();
      const opts = { leaseTimeSeconds: 60, rangeFirst: 100, rangeLast: 150 };
      const first = createServer('kea', l, opts);
      await first.start();
      try {
        await expect(createServer('dnsmasq', l, opts).start()).rejects.toThrow(/another DHCP server runs/);
      } finally {
        await first.stop();
      }
    });

    it('kills a server left running by an earlier lab with the same name', async () => {
      const stale = await createLab({ name: 'labu', octet: 241 });
      const server = createServer('dnsmasq', stale, { leaseTimeSeconds: 120, rangeFirst: 100, rangeLast: 150 });
      await server.start();
      const pid = Number(/dnsmasq\[(\d+)\]/.exec(server.log())?.[1]);
      expect(pidAlive(pid)).toBe(true);
      // As if the earlier run had crashed: a new lab with the same name starts from scratch.
      const fresh = await createLab({ name: 'labu', octet: 241 });
      try {
        expect(pidAlive(pid)).toBe(false);
        await server.stop();
      } finally {
        await fresh.destroy();
        await stale.destroy();
      }
    });
  },
  { requires: ['busybox'] },
);
