/**
 * Fault suite: the state directory full, then read-only. The daemon (built, its own network
 * namespace, against Kea) keeps its lease table on a small tmpfs. A RequestAddress that cannot
 * be recorded must fail with an `{"Err": …}` naming the lease table, must not leave the address
 * leased on the server (it would be renewed by nobody, or handed out twice after a restart),
 * and the daemon must keep running and serve again once the disk is writable.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createIsolatedLab, type IsolatedLab } from '../support/lab/isolated.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, type DhcpServerFixture } from '../support/lab/servers.js';
import { readLeaseTable, replyAddress, startNetnsDaemon, type NetnsDaemon } from '../support/netns-daemon.js';
import { callPlugin, type PluginReply } from '../support/plugin-client.js';
import { BUILT_MAIN } from '../support/plugin-process.js';
import { createSmallMount, type SmallMount } from '../support/small-mount.js';
import { randomMac } from '../support/kill-soak.js';

describeLab('fault: state directory full or read-only', () => {
  let lab: IsolatedLab;
  let server: DhcpServerFixture;
  let mount: SmallMount;
  let dir: string;
  let daemon: NetnsDaemon | undefined;
  let poolId = '';
  const sock = (): string => join(dir, 'plugins', 'fdisk.sock');
  const table = (): string => join(mount.path, 'leases-fdisk.journal');

  const request = (mac: string): Promise<PluginReply> =>
    callPlugin(sock(), 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: { 'com.docker.network.endpoint.macaddress': mac } });

  /** True when the server has no active lease for `mac` (polled: a RELEASE may be in flight). */
  async function freeOnServer(mac: string): Promise<boolean> {
    for (let i = 0; i < 40; i++) {
      if (!(await server.leases()).some((l) => l.active && l.mac === mac)) return true;
      await sleep(50);
    }
    return false;
  }

  async function expectRefusedAndNothingHeld(mac: string, why: RegExp, answered?: PluginReply): Promise<void> {
    const reply = answered ?? (await request(mac));
    expect(reply.status, JSON.stringify(reply.body)).toBeGreaterThanOrEqual(400);
    expect(typeof reply.body.Err).toBe('string');
    expect(reply.body.Err).toContain(`lease table ${table()}`);
    expect(reply.body.Err).toMatch(why);
    expect(await freeOnServer(mac)).toBe(true);
    expect(daemon?.process.exitCode).toBe(null);
    expect(await callPlugin(sock(), 'Plugin.Activate')).toMatchObject({ status: 200 });
  }

  beforeAll(async () => {
    if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
    lab = await createIsolatedLab({ name: 'fdisk', octet: 62 });
    mount = await createSmallMount('fdisk', 256);
    dir = await mkdtemp(join(lab.workDir, 'd4d-'));
    await writeFile(join(dir, 'none.conf'), '# empty: everything comes from flags\n');
    server = createServer('kea', lab, { leaseTimeSeconds: 60, rangeFirst: 20, rangeLast: 200 });
    await server.start();
    daemon = await startNetnsDaemon({
      netns: lab.clientNs,
      args: [
        '--dhcp-server',
        lab.serverIp,
        '--listen-addr',
        lab.hostIp,
        '--driver-name',
        'fdisk',
        '--state-dir',
        mount.path,
        '--plugin-dir',
        join(dir, 'plugins'),
        '--config',
        join(dir, 'none.conf'),
      ],
      socketPath: sock(),
    });
    const pool = await callPlugin(sock(), 'IpamDriver.RequestPool', { AddressSpace: 'local', Pool: `${lab.subnet}/24`, SubPool: '', Options: {}, V6: false });
    poolId = pool.body.PoolID as string;
  });

  afterAll(async () => {
    await daemon?.stop('SIGKILL');
    await server?.stop();
    await mount?.setReadOnly(false).catch(() => undefined);
    await mount?.remove();
    await lab?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('disk full: refuses with the lease table named, holds nothing, serves again once space is back', async () => {
    const kept = randomMac();
    const keptIp = replyAddress(await request(kept));
    expect(keptIp).toBeDefined();
    await mount.fill();
    // The journal's last page may still have room for a few records: those requests succeed
    // and must be recorded; the first one whose record does not fit is refused. (A record that
    // did not fit is cut off again, so a smaller commit after it may still fit.)
    const fitted: string[] = [];
    let refused: { mac: string; reply: PluginReply } | undefined;
    for (let i = 0; i < 40 && refused === undefined; i++) {
      const mac = randomMac();
      const reply = await request(mac);
      if (reply.status === 200) fitted.push(mac);
      else refused = { mac, reply };
    }
    if (refused === undefined) throw new Error('40 requests fitted on a full disk');
    expect((await readLeaseTable(table())).map((l) => l.mac)).toEqual(expect.arrayContaining(fitted));
    await expectRefusedAndNothingHeld(refused.mac, /no space left on device|ENOSPC/i, refused.reply);
    // What was recorded before stays leased.
    expect((await server.leases()).some((l) => l.active && l.mac === kept && l.ip === keptIp)).toBe(true);
    // No half-written temporary file is left to eat the space.
    await mount.unfill();
    expect((await readdir(mount.path)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const again = randomMac();
    const ip = replyAddress(await request(again));
    expect(ip).toBeDefined();
    expect((await readLeaseTable(table())).map((l) => l.mac).sort()).toEqual([kept, again, ...fitted].sort());
  });

  it('read-only: refuses with the lease table named, holds nothing, serves again once writable', async () => {
    const before = await readLeaseTable(table());
    await mount.setReadOnly(true);
    try {
      await expectRefusedAndNothingHeld(randomMac(), /read-only file system|EROFS/i);
    } finally {
      await mount.setReadOnly(false);
    }
    expect(await readLeaseTable(table())).toEqual(before);
    const mac = randomMac();
    expect(replyAddress(await request(mac))).toBeDefined();
    expect((await readLeaseTable(table())).some((l) => l.mac === mac)).toBe(true);
  });
});
