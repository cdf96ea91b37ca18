/**
 * `--ip-range` against real servers whose pool is wider than the range: the daemon asks for an
 * address inside the range (option 50) and the server honours it; with a range the server's
 * pool does not reach, the address is given back and the request refused with what to change.
 * The daemon runs as a process, as Docker would see it, over its unix socket.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { callPlugin } from '../support/plugin-client.js';
import { BUILT_MAIN, startPlugin, type PluginProcess } from '../support/plugin-process.js';
import { createLab, type Lab } from '../support/lab/netns.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, type DhcpServerFixture } from '../support/lab/servers.js';
import type { ServerKind } from '../support/lab/server-types.js';

const SERVERS: ReadonlyArray<{ kind: ServerKind; name: string; octet: number }> = [
  { kind: 'kea', name: 'rngk', octet: 81 },
  { kind: 'isc', name: 'rngi', octet: 82 },
  { kind: 'dnsmasq', name: 'rngd', octet: 83 },
];

for (const { kind, name, octet } of SERVERS) {
  describeLab(`--ip-range against ${kind}`, () => {
    let lab: Lab;
    let server: DhcpServerFixture;
    let dir: string;
    let daemon: PluginProcess | undefined;
    const sock = (): string => join(dir, 'plugins', `${name}.sock`);
    const mac = (i: number): string => `02:d4:${octet.toString(16).padStart(2, '0')}:00:00:${i.toString(16).padStart(2, '0')}`;

    beforeAll(async () => {
      if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
      dir = await mkdtemp(join(tmpdir(), `d4d-${name}-`));
      await writeFile(join(dir, 'none.conf'), '# empty: everything comes from flags\n');
      lab = await createLab({ name, octet });
      // The server's pool (.20–.239) is wider than the networks' ranges.
      server = createServer(kind, lab, { leaseTimeSeconds: 120, rangeFirst: 20, rangeLast: 239 });
      await server.start();
      daemon = await startPlugin(
        [
          '--dhcp-server',
          lab.serverIp,
          '--listen-addr',
          lab.hostIp,
          '--driver-name',
          name,
          '--state-dir',
          join(dir, 'state'),
          '--plugin-dir',
          join(dir, 'plugins'),
          '--config',
          join(dir, 'none.conf'),
        ],
        sock(),
      );
    });

    afterAll(async () => {
      await daemon?.stop('SIGTERM');
      await server?.stop();
      await lab?.destroy();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    async function pool(range: string): Promise<string> {
      const res = await callPlugin(sock(), 'IpamDriver.RequestPool', {
        AddressSpace: 'local',
        Pool: `${lab.subnet}/24`,
        SubPool: range,
        Options: {},
        V6: false,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.PoolID as string;
    }

    it('leases addresses inside the range from a server whose pool is wider', async () => {
      const poolId = await pool(`${lab.network(128)}/26`);
      for (let i = 1; i <= 4; i++) {
        const res = await callPlugin(sock(), 'IpamDriver.RequestAddress', {
          PoolID: poolId,
          Address: '',
          Options: { 'com.docker.network.endpoint.macaddress': mac(i) },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        const last = Number((res.body.Address as string).split('/')[0]?.split('.')[3]);
        expect(last).toBeGreaterThanOrEqual(128);
        expect(last).toBeLessThanOrEqual(191);
      }
    });

    it('refuses, and gives back, an address outside a range the server pool does not reach', async () => {
      const poolId = await pool(`${lab.network(240)}/28`);
      const res = await callPlugin(sock(), 'IpamDriver.RequestAddress', {
        PoolID: poolId,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': mac(9) },
      });
      expect(res.status).toBe(500);
      expect(res.body.Err).toMatch(/outside the network's --ip-range .*DHCP server's pool/);
      const ip = /leased (\S+) to/.exec(res.body.Err as string)?.[1];
      expect(ip).toBeDefined();
      const leases = await server.leases();
      expect(leases.filter((l) => l.ip === ip && l.active)).toEqual([]);
    });
  });
}
