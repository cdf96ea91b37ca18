/**
 * A fleet: three Docker hosts, each its own network and UTS namespace with its own daemon, on
 * one LAN with one Kea. Every host hears every other host's broadcast replies (direct mode), and
 * the pool is small enough that a dead host's addresses must be reused.
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectEventually } from '../support/eventually.js';
import { startFleetDaemon, type FleetDaemon } from '../support/fleet-daemon.js';
import { createFleetLab, type FleetLab } from '../support/lab/fleet-lab.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, type DhcpServerFixture, type ServerLease } from '../support/lab/servers.js';
import { readLeaseTable, replyAddress } from '../support/netns-daemon.js';
import { callPlugin } from '../support/plugin-client.js';
import { BUILT_MAIN } from '../support/plugin-process.js';

const HOSTS = 3;
const LEASE_SECONDS = 10;
/** .20–.59: 40 addresses. */
const RANGE = { rangeFirst: 20, rangeLast: 59 };

describeLab(
  'a fleet of three hosts on one LAN with one Kea',
  () => {
    let lab: FleetLab;
    let server: DhcpServerFixture;
    const daemons: Array<FleetDaemon | undefined> = [];
    const dirs: string[] = [];
    const pools: string[] = [];
    const mac = (host: number, i: number): string => `02:d4:87:${host.toString(16).padStart(2, '0')}:00:${i.toString(16).padStart(2, '0')}`;
    const hostName = (j: number): string => `flh${j}`;
    const daemon = (j: number): FleetDaemon => daemons[j - 1] as FleetDaemon;

    async function start(j: number): Promise<void> {
      const host = lab.hosts[j - 1] as FleetLab['hosts'][0];
      daemons[j - 1] = await startFleetDaemon({
        host,
        hostName: hostName(j),
        dir: dirs[j - 1] as string,
        args: ['--dhcp-server', lab.network(1), '--listen-addr', host.ip],
      });
    }

    async function request(j: number, m: string, options: Record<string, string> = {}, pool = pools[j - 1]): Promise<string> {
      const reply = await callPlugin(daemon(j).socketPath, 'IpamDriver.RequestAddress', {
        PoolID: pool,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': m, ...options },
      });
      const ip = replyAddress(reply);
      if (ip === undefined) throw new Error(`host ${j}, ${m}: ${JSON.stringify(reply.body)}`);
      return ip;
    }

    async function release(j: number, ip: string, pool = pools[j - 1]): Promise<void> {
      expect(await callPlugin(daemon(j).socketPath, 'IpamDriver.ReleaseAddress', { PoolID: pool, Address: ip })).toMatchObject({ status: 200 });
    }

    const active = async (): Promise<ServerLease[]> => (await server.leases()).filter((l) => l.active);

    beforeAll(async () => {
      if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
      lab = await createFleetLab({ name: 'flh', octet: 136, servers: 1, hosts: HOSTS });
      server = createServer('kea', lab.servers[0] as FleetLab['servers'][0], { leaseTimeSeconds: LEASE_SECONDS, ...RANGE });
      await server.start();
      for (let j = 1; j <= HOSTS; j++) {
        dirs.push(await mkdtemp(join(lab.workDir, `${hostName(j)}-`)));
        await start(j);
        const pool = await callPlugin(daemon(j).socketPath, 'IpamDriver.RequestPool', {
          AddressSpace: 'local',
          Pool: `${lab.subnet}/24`,
          SubPool: '',
          Options: {},
          V6: false,
        });
        pools.push(pool.body.PoolID as string);
      }
    }, 60_000);

    afterAll(async () => {
      for (const d of daemons) await d?.stop('SIGTERM');
      await server?.stop();
      await lab?.destroy();
    });

    it('concurrent bursts on every host: no address twice, each recorded for its MAC', async () => {
      const burst = 12;
      const asked = Array.from({ length: HOSTS }, (_, h) => Array.from({ length: burst }, (_, i) => ({ host: h + 1, mac: mac(h + 1, i + 1) }))).flat();
      const ips = await Promise.all(asked.map((a) => request(a.host, a.mac)));
      expect(new Set(ips).size).toBe(asked.length);
      const leases = await active();
      for (const [k, a] of asked.entries()) expect(leases.find((l) => l.ip === ips[k])?.mac, `${a.mac} on host ${a.host}`).toBe(a.mac);
      await Promise.all(asked.map((a, k) => release(a.host, ips[k] as string)));
      await expectEventually(async () => (await active()).length === 0, 10_000);
    });

    it('the same container name on every host, client-id=endpoint-name: one identity and one address per host', async () => {
      const named: string[] = [];
      const ips: string[] = [];
      for (let j = 1; j <= HOSTS; j++) {
        const pool = await callPlugin(daemon(j).socketPath, 'IpamDriver.RequestPool', {
          AddressSpace: 'local',
          Pool: `${lab.subnet}/24`,
          SubPool: '',
          Options: { 'client-id': 'endpoint-name' },
          V6: false,
        });
        named.push(pool.body.PoolID as string);
        // Docker 29+ names the endpoint; a random MAC each start, as Docker gives.
        ips.push(await request(j, mac(j, 0x80), { 'com.docker.network.endpoint.name': 'web' }, named[j - 1]));
      }
      expect(new Set(ips).size).toBe(HOSTS);
      const leases = await active();
      for (let j = 1; j <= HOSTS; j++) {
        // Client identifier type 0 + "<host>/<name>" (RFC 2132 §9.14).
        const want = [
          '00',
          ...Buffer.from(`${hostName(j)}/web`)
            .toString('hex')
            .match(/../g)!,
        ].join(':');
        expect(leases.find((l) => l.ip === ips[j - 1])?.clientId).toBe(want);
      }
      for (let j = 1; j <= HOSTS; j++) await release(j, ips[j - 1] as string, named[j - 1]);
      await expectEventually(async () => (await active()).length === 0, 10_000);
    });

    const dead = HOSTS;
    const deadIps: string[] = [];
    const survivorIps = new Map<string, string>();

    it('a host that dies for good: its leases expire on the server and the others reuse them without conflict', async () => {
      for (let i = 1; i <= 10; i++) deadIps.push(await request(dead, mac(dead, 0x40 + i)));
      await daemon(dead).stop('SIGKILL');
      // Nobody renews them now: they run out on the server within a lease time.
      await expectEventually(async () => (await active()).length === 0, (LEASE_SECONDS + 5) * 1000, 250);
      // 35 of the 40 addresses: at least 5 of the dead host's must be handed out again.
      const asked = Array.from({ length: 35 }, (_, k) => ({ host: (k % 2) + 1, mac: mac((k % 2) + 1, 0x60 + k) }));
      const ips = await Promise.all(asked.map((a) => request(a.host, a.mac)));
      for (const [k, a] of asked.entries()) survivorIps.set(ips[k] as string, a.mac);
      expect(new Set(ips).size).toBe(asked.length);
      expect(deadIps.filter((ip) => survivorIps.has(ip)).length).toBeGreaterThanOrEqual(5);
      const leases = await active();
      for (const [ip, m] of survivorIps) expect(leases.find((l) => l.ip === ip)?.mac).toBe(m);
      // Room for the returning host to be offered other addresses (with the pool full, Kea stays
      // silent, and a silence could be an outage: d4d retries quietly then).
      const spare = asked
        .map((a, k) => ({ ...a, ip: ips[k] as string }))
        .filter((a) => !deadIps.includes(a.ip))
        .slice(0, 5);
      for (const a of spare) {
        await release(a.host, a.ip);
        survivorIps.delete(a.ip);
      }
    });

    it('the dead host comes back with its old lease table: no address twice, and a loud address-lost for each one taken', async () => {
      await start(dead);
      const reused = deadIps.filter((ip) => survivorIps.has(ip));
      // Each old lease is asked back with INIT-REBOOT: Kea refuses those it gave to another host,
      // and the DISCOVER insisting on the address is offered another one: address lost.
      await expectEventually(
        async () => reused.every((ip) => new RegExp(`"ip":"${ip.replaceAll('.', '\\.')}"[^\\n]*ADDRESS LOST`).test(daemon(dead).log())),
        30_000,
        250,
      ).catch(() => {
        throw new Error(`no ADDRESS LOST for every reused address (${reused.join(' ')}):\n${daemon(dead).log().slice(-5000)}`);
      });
      const leases = await active();
      for (const [ip, m] of survivorIps) expect(leases.find((l) => l.ip === ip)?.mac, ip).toBe(m);
      // What the returning host holds as valid is leased to it on the server, nothing else.
      expect(await daemon(dead).stop('SIGTERM')).toBe(0);
      const table = await readLeaseTable(join(dirs[dead - 1] as string, 'state', `leases-${hostName(dead)}.journal`));
      const now = Date.now();
      for (const l of table.filter((t) => t.expiresAt === null || t.expiresAt > now)) {
        expect(leases.find((s) => s.ip === l.ip)?.mac, `${l.ip} held by the returning host`).toBe(l.mac);
      }
      expect(table.filter((t) => reused.includes(t.ip) && (t.expiresAt === null || t.expiresAt > now))).toEqual([]);
      daemons[dead - 1] = undefined;
    });
  },
  { requires: ['unshare'] },
);
