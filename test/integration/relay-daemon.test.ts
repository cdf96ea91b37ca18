/**
 * `oam-docker-ipam server --relay` as a process on a Docker host that has no address on its
 * containers' segment, reaches Kea only through a router, and whose UDP port 68 belongs to
 * someone else the whole time: first a process holding it without SO_REUSEADDR (a DHCP client
 * that does not share the port), then busybox udhcpc keeping the host's own lease. Direct mode
 * cannot start there and says why; relay mode serves Docker's calls through the relay path.
 * Everything runs in the relay lab's host namespace.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectEventually } from '../support/eventually.js';
import { startHostDhcpClient } from '../support/lab/host-dhcp-client.js';
import { holdUdpPort, type PortHolder } from '../support/lab/port-holder.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createRelayLab, type RelayLab } from '../support/lab/relay-lab.js';
import { createRelayServer } from '../support/lab/relay-servers.js';
import { waitForLease, type DhcpServerFixture, type ServerLease } from '../support/lab/servers.js';
import { runIn } from '../support/lab/shell.js';
import { replyAddress, spawnDaemon, startNetnsDaemon, type NetnsDaemon } from '../support/netns-daemon.js';
import { callPlugin } from '../support/plugin-client.js';
import { BUILT_MAIN } from '../support/plugin-process.js';

describeLab(
  'relay mode: a host with no address on the containers’ segment, the server behind a router, port 68 taken',
  () => {
    let lab: RelayLab;
    let server: DhcpServerFixture;
    let dir: string;
    let holder: PortHolder | undefined;
    let daemon: NetnsDaemon | undefined;
    const driver = 'rdmn';
    const sock = (): string => join(dir, 'plugins', `${driver}.sock`);
    const hostNs = (): string => lab.hostNs as string;
    const reservedMac = '02:d4:84:00:00:50';
    const common = (): string[] => [
      '--dhcp-server',
      lab.serverIp,
      '--listen-addr',
      lab.relayIp,
      '--driver-name',
      driver,
      '--state-dir',
      join(dir, 'state'),
      '--plugin-dir',
      join(dir, 'plugins'),
      '--config',
      join(dir, 'none.conf'),
      '--reconcile-interval',
      '0',
    ];
    const active = (mac: string, ip?: string) => (l: ServerLease) => l.active && l.mac === mac && (ip === undefined || l.ip === ip);
    let poolId = '';

    beforeAll(async () => {
      if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
      lab = await createRelayLab({ name: 'rdmn', octet: 132, infra: { octet: 133 }, hostNs: true });
      dir = await mkdtemp(join(lab.workDir, 'd4d-'));
      await writeFile(join(dir, 'none.conf'), '# empty: everything comes from flags\n');
      // Kea maps the relay address to the containers' subnet, so a network without --subnet can learn it.
      server = createRelayServer('kea', lab, {
        leaseTimeSeconds: 10,
        rangeFirst: 20,
        rangeLast: 239,
        mapRelay: true,
        reservations: [{ mac: reservedMac, ip: lab.network(50) }],
      });
      await server.start();
      holder = await holdUdpPort(hostNs(), 68);
    });

    afterAll(async () => {
      await daemon?.stop('SIGTERM');
      await holder?.stop();
      await server?.stop();
      await lab?.destroy();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    it('direct mode, in the same place: the start-up error names the port-68 conflict and suggests relay mode', async () => {
      const failed = spawnDaemon({ netns: hostNs(), args: common() });
      expect(await failed.exited, failed.log()).toBe(1);
      expect(failed.log()).toContain('cannot bind 0.0.0.0:68/udp: the port is in use by a process that does not share it');
      expect(failed.log()).toContain('DHCP_MODE=relay');
      expect(existsSync(sock())).toBe(false);
    });

    it('relay mode serves anyway: it binds the relay address, port 67, and leaves port 68 to its holder', async () => {
      daemon = await startNetnsDaemon({ netns: hostNs(), args: [...common(), '--relay'], socketPath: sock() });
      const sockets = (await runIn(hostNs(), 'ss', ['-H', '-ulpn'])).stdout;
      expect(sockets).toMatch(new RegExp(`${lab.relayIp.replaceAll('.', '\\.')}:67 .*pid=${daemon.pid}`));
      const port68 = sockets.split('\n').filter((l) => /:68\s/.test(l));
      expect(port68, sockets).toHaveLength(1);
      expect(port68[0]).toContain(`pid=${holder?.pid}`);
    });

    it('a network without --subnet learns the subnet and router that the server maps the relay address to', async () => {
      const learned = await callPlugin(sock(), 'IpamDriver.RequestPool', { AddressSpace: 'local', Pool: '', SubPool: '', Options: {}, V6: false });
      expect(learned.status, JSON.stringify(learned.body)).toBe(200);
      expect(learned.body).toMatchObject({ Pool: `${lab.subnet}/24`, Data: { 'com.docker.network.gateway': `${lab.gateway}/24` } });
      // The probe that learned it gave its address back.
      await expectEventually(async () => (await server.leases()).filter((l) => l.active).length === 0);
      expect(await callPlugin(sock(), 'IpamDriver.ReleasePool', { PoolID: learned.body.PoolID })).toEqual({ status: 200, body: {} });
    });

    it('a network with --subnet: addresses on a segment the host has no address on, usable there; renewed and released through the relay', async () => {
      const pool = await callPlugin(sock(), 'IpamDriver.RequestPool', { AddressSpace: 'local', Pool: `${lab.subnet}/24`, SubPool: '', Options: {}, V6: false });
      expect(pool.status, JSON.stringify(pool.body)).toBe(200);
      poolId = pool.body.PoolID as string;
      expect(
        await callPlugin(sock(), 'IpamDriver.RequestAddress', {
          PoolID: poolId,
          Address: lab.gateway,
          Options: { RequestAddressType: 'com.docker.network.gateway' },
        }),
      ).toMatchObject({ status: 200 });
      const mac = '02:d4:84:00:00:01';
      const reply = await callPlugin(sock(), 'IpamDriver.RequestAddress', {
        PoolID: poolId,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': mac },
      });
      const ip = replyAddress(reply);
      expect(ip, JSON.stringify(reply.body)).toBeDefined();
      expect(reply.body.Address).toBe(`${ip}/24`);
      const first = await waitForLease(server, active(mac, ip));
      // A container with that address, on the VLAN: it reaches the server through the router.
      const container = await lab.addContainer(mac, ip as string);
      await container.exec('busybox', ['ping', '-c', '1', '-W', '2', lab.serverIp]);
      // Kea's lease is 10 s: the daemon renews it through the relay path.
      await waitForLease(server, (l) => active(mac, ip)(l) && (l.endsAt ?? 0) > (first.endsAt ?? 0) + 2_000, 15_000);
      await container.remove();
      expect(await callPlugin(sock(), 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip })).toEqual({ status: 200, body: {} });
      await expectEventually(async () => (await server.leases()).find(active(mac)) === undefined);
    });

    it('--ip gives exactly that address, and a reserved MAC its reservation', async () => {
      const fixed = await callPlugin(sock(), 'IpamDriver.RequestAddress', {
        PoolID: poolId,
        Address: lab.network(77),
        Options: { 'com.docker.network.endpoint.macaddress': '02:d4:84:00:00:02' },
      });
      expect(replyAddress(fixed), JSON.stringify(fixed.body)).toBe(lab.network(77));
      await waitForLease(server, active('02:d4:84:00:00:02', lab.network(77)));
      const reserved = await callPlugin(sock(), 'IpamDriver.RequestAddress', {
        PoolID: poolId,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': reservedMac },
      });
      expect(replyAddress(reserved), JSON.stringify(reserved.body)).toBe(lab.network(50));
      for (const ip of [lab.network(77), lab.network(50)])
        expect(await callPlugin(sock(), 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip })).toMatchObject({ status: 200 });
      await expectEventually(async () => (await server.leases()).find(active('02:d4:84:00:00:02')) === undefined);
    });

    it("with busybox udhcpc keeping the host's own lease on port 68 instead, both keep working", async () => {
      await holder?.stop();
      holder = undefined;
      const udhcpc = await startHostDhcpClient(lab);
      try {
        const mac = '02:d4:84:00:00:03';
        const reply = await callPlugin(sock(), 'IpamDriver.RequestAddress', {
          PoolID: poolId,
          Address: '',
          Options: { 'com.docker.network.endpoint.macaddress': mac },
        });
        const ip = replyAddress(reply);
        await waitForLease(server, active(mac, ip));
        // The host's client renews (a REQUEST from the host's address, port 68, answered there).
        await udhcpc.renew();
        const again = await waitForLease(server, active(mac, ip));
        await waitForLease(server, (l) => active(mac, ip)(l) && (l.endsAt ?? 0) > (again.endsAt ?? 0) + 2_000, 15_000);
        expect(await callPlugin(sock(), 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip })).toMatchObject({ status: 200 });
        expect(udhcpc.output()).not.toMatch(/bind|Address in use/i);
      } finally {
        await udhcpc.stop();
      }
      expect(await daemon?.stop('SIGTERM')).toBe(0);
      daemon = undefined;
    });
  },
  { requires: ['busybox', 'ss'] },
);
