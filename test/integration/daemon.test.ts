/**
 * `oam-docker-ipam server` as a process, against a real Kea, through its unix socket: the
 * calls Docker makes, restarts (clean and killed) with leases kept, a damaged lease table.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { callPlugin } from '../support/plugin-client.js';
import { readLeaseTable, replyAddress } from '../support/netns-daemon.js';
import { decodeJournal } from '../../src/lease/journal.js';
import { expectEventually } from '../support/eventually.js';
import { BUILT_MAIN, startPlugin, type PluginProcess } from '../support/plugin-process.js';
import { createLab, type Lab } from '../support/lab/netns.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, waitForLease, type DhcpServerFixture } from '../support/lab/servers.js';

const BIN = BUILT_MAIN;

describeLab('oam-docker-ipam server', () => {
  let lab: Lab;
  let server: DhcpServerFixture;
  let dir: string;
  let daemon: PluginProcess | undefined;
  const sock = (): string => join(dir, 'plugins', 'd4dtest.sock');

  async function startDaemon(): Promise<void> {
    daemon = await startPlugin(
      [
        '--dhcp-server',
        lab.serverIp,
        '--listen-addr',
        lab.hostIp,
        '--driver-name',
        'd4dtest',
        '--state-dir',
        join(dir, 'state'),
        '--plugin-dir',
        join(dir, 'plugins'),
        '--config',
        join(dir, 'none.conf'),
      ],
      sock(),
    );
  }

  async function stopDaemon(signal: NodeJS.Signals): Promise<number | null> {
    return (await daemon?.stop(signal)) ?? null;
  }

  beforeAll(async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
    dir = await mkdtemp(join(tmpdir(), 'd4d-daemon-'));
    await writeFile(join(dir, 'none.conf'), '# empty: everything comes from flags\n');
    lab = await createLab({ name: 'dmnt', octet: 51 });
    server = createServer('kea', lab, { leaseTimeSeconds: 20, rangeFirst: 20, rangeLast: 239 });
    await server.start();
    await startDaemon();
  });

  afterAll(async () => {
    await stopDaemon('SIGTERM');
    await server?.stop();
    await lab?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const mac = '02:d4:33:00:00:01';
  let poolId = '';

  it('serves a root-only socket and the handshake', async () => {
    expect((await stat(sock())).mode & 0o777).toBe(0o600);
    expect(await callPlugin(sock(), 'IpamDriver.GetCapabilities')).toEqual({ status: 200, body: { RequiresMACAddress: true, RequiresRequestReplay: false } });
  });

  it('creates a pool and leases an endpoint address from the DHCP server', async () => {
    const pool = await callPlugin(sock(), 'IpamDriver.RequestPool', { AddressSpace: 'local', Pool: `${lab.subnet}/24`, SubPool: '', Options: {}, V6: false });
    expect(pool.status).toBe(200);
    poolId = pool.body.PoolID as string;
    expect(
      await callPlugin(sock(), 'IpamDriver.RequestAddress', {
        PoolID: poolId,
        Address: lab.serverIp,
        Options: { RequestAddressType: 'com.docker.network.gateway' },
      }),
    ).toMatchObject({ status: 200 });
    const res = await callPlugin(sock(), 'IpamDriver.RequestAddress', {
      PoolID: poolId,
      Address: '',
      Options: { 'com.docker.network.endpoint.macaddress': mac },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const ip = (res.body.Address as string).split('/')[0] as string;
    expect(res.body.Address).toBe(`${ip}/24`);
    await waitForLease(server, (l) => l.active && l.mac === mac && l.ip === ip);
    expect(await readLeaseTable(join(dir, 'state', 'leases-d4dtest.journal'))).toMatchObject([{ ip, mac }]);
  });

  it('keeps renewing after a clean restart and still releases the address afterwards', async () => {
    const before = (await waitForLease(server, (l) => l.active && l.mac === mac)).endsAt ?? 0;
    expect(await stopDaemon('SIGTERM')).toBe(0);
    expect(existsSync(sock())).toBe(false);
    expect((await server.leases()).find((l) => l.mac === mac)?.active).toBe(true); // not released on stop
    await startDaemon();
    // The 20 s lease is renewed by the restarted daemon (T1 = 10 s).
    const renewed = await waitForLease(server, (l) => l.active && l.mac === mac && (l.endsAt ?? 0) > before + 2_000, 20_000);
    const res = await callPlugin(sock(), 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: renewed.ip });
    expect(res).toEqual({ status: 200, body: {} });
    await expectEventually(async () => (await server.leases()).find((l) => l.active && l.mac === mac) === undefined);
  });

  it('loses no lease when killed with SIGKILL', async () => {
    const other = '02:d4:33:00:00:02';
    const res = await callPlugin(sock(), 'IpamDriver.RequestAddress', {
      PoolID: poolId,
      Address: '',
      Options: { 'com.docker.network.endpoint.macaddress': other },
    });
    const ip = (res.body.Address as string).split('/')[0] as string;
    await stopDaemon('SIGKILL');
    await startDaemon(); // the stale socket is replaced
    expect(await callPlugin(sock(), 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip })).toEqual({ status: 200, body: {} });
    await expectEventually(async () => (await server.leases()).find((l) => l.active && l.mac === other) === undefined);
  });

  it('killed right after a reply, before the bound lease is on disk: restarts with the offer recorded, and confirms it with the server', async () => {
    const table = join(dir, 'state', 'leases-d4dtest.journal');
    // The offer is recorded early only when the table is idle (a renewal's commit may be under
    // way): a few tries to catch the moment the test is about.
    let caught: { mac: string; ip: string } | undefined;
    for (let i = 0; i < 5 && caught === undefined; i++) {
      const m = `02:d4:33:00:01:0${i}`;
      const ip = replyAddress(
        await callPlugin(sock(), 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { 'com.docker.network.endpoint.macaddress': m } }),
      );
      if (ip === undefined) throw new Error('RequestAddress failed');
      await stopDaemon('SIGKILL');
      const saved = decodeJournal(await readFile(table)).leases.find((l) => l.identity.mac === m);
      expect(saved?.ip).toBe(ip);
      if (saved?.state === 'REBOOTING') caught = { mac: m, ip };
      else expect(saved?.state).toBe('BOUND');
      await startDaemon();
    }
    if (caught === undefined) throw new Error('the bound lease was on disk before the kill in 5 tries out of 5');
    const { mac: m, ip } = caught;
    // Asked again with INIT-REBOOT at the start, acknowledged, and renewed from there on.
    const reacquired = (): boolean =>
      (daemon?.log() ?? '').split('\n').some((line) => line.includes('"event":"reacquired"') && line.includes(`"mac":"${m}"`) && line.includes(`"ip":"${ip}"`));
    await expectEventually(async () => reacquired());
    await expectEventually(async () => (await server.leases()).some((l) => l.active && l.mac === m && l.ip === ip));
    expect(await callPlugin(sock(), 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip })).toEqual({ status: 200, body: {} });
  });

  it('refuses to start on an unreadable lease table, changing nothing; starts without damaged entries', async () => {
    await stopDaemon('SIGTERM');
    const table = join(dir, 'state', 'leases-d4dtest.journal');
    const good = await readFile(table, 'utf8');
    await writeFile(table, '{"format":"d4d-leases","version":1,"leases":[{"id":');
    const failed = spawn(
      process.execPath,
      [
        BIN,
        '--dhcp-server',
        lab.serverIp,
        '--driver-name',
        'd4dtest',
        '--state-dir',
        join(dir, 'state'),
        '--plugin-dir',
        join(dir, 'plugins'),
        '--config',
        join(dir, 'none.conf'),
        'server',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    failed.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    expect(await new Promise<number | null>((resolve) => failed.once('exit', resolve))).toBe(1);
    expect(err).toContain(`lease table ${table} is unreadable`);
    expect(await readFile(table, 'utf8')).toBe('{"format":"d4d-leases","version":1,"leases":[{"id":');
    // A damaged record before the end (not what a crash leaves): dropped, the original kept aside.
    const [header, ...rest] = good.split('\n');
    await writeFile(table, [header, '00000000 {"put":{"id":"broken"}}', ...rest].join('\n'));
    await startDaemon();
    expect((await readdir(join(dir, 'state'))).some((f) => f.startsWith('leases-d4dtest.journal.corrupt-'))).toBe(true);
    expect(daemon?.log()).toContain('lease table had damaged entries');
  });

  it('refuses to start a second daemon on the same socket', async () => {
    const second = spawn(
      process.execPath,
      [
        BIN,
        '--dhcp-server',
        lab.serverIp,
        '--driver-name',
        'd4dtest',
        '--state-dir',
        join(dir, 'state2'),
        '--plugin-dir',
        join(dir, 'plugins'),
        '--config',
        join(dir, 'none.conf'),
        'server',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    second.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => second.once('exit', resolve));
    expect(code).toBe(1);
    expect(err).toContain('another process already serves');
    expect(await callPlugin(sock(), 'Plugin.Activate')).toMatchObject({ status: 200 });
  });
});
