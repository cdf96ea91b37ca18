/**
 * The built daemon as a process, leasing from a real Kea in a lab, holding a few leases before
 * the plugin API is abused; and the check that those leases are all still held afterwards, on
 * disk and on the server, and nothing else. Shared by `hostile-api.test.ts` and `bench/fuzz.ts api`.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { readLeaseTable } from '../netns-daemon.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callPlugin } from '../plugin-client.js';
import { BUILT_MAIN, startPlugin, type PluginProcess } from '../plugin-process.js';
import { createLab, type Lab } from '../lab/netns.js';
import { createServer, type DhcpServerFixture } from '../lab/servers.js';

export interface ApiLab {
  readonly lab: Lab;
  readonly server: DhcpServerFixture;
  readonly daemon: PluginProcess;
  /** Scratch directory, mode 0755 so that only the socket's own mode keeps others out. */
  readonly dir: string;
  readonly socketPath: string;
  readonly poolId: string;
  /** The leases taken before the abuse: MAC → address. */
  readonly held: ReadonlyMap<string, string>;
  /** What differs from `held` on disk or on the server, or [] when the table is intact. */
  tableProblems(): Promise<string[]>;
  close(): Promise<void>;
}

export interface ApiLabOptions {
  name: string;
  octet: number;
  macs: readonly string[];
}

/** `mac ip` lines, sorted. */
function lines(pairs: Iterable<readonly [string, string]>): string[] {
  return [...pairs].map(([mac, ip]) => `${mac} ${ip}`).sort();
}

export async function startApiLab(o: ApiLabOptions): Promise<ApiLab> {
  if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
  const dirPrefix = `d4d-${o.name}-`;
  for (const entry of await readdir(tmpdir())) {
    if (entry.startsWith(dirPrefix)) await rm(join(tmpdir(), entry), { recursive: true, force: true });
  }
  const dir = await mkdtemp(join(tmpdir(), dirPrefix));
  await chmod(dir, 0o755);
  await writeFile(join(dir, 'none.conf'), '# empty: everything comes from flags\n');
  const driver = `d4d${o.name}`;
  const socketPath = join(dir, 'plugins', `${driver}.sock`);
  const lab = await createLab({ name: o.name, octet: o.octet });
  const server = createServer('kea', lab, { leaseTimeSeconds: 600, rangeFirst: 20, rangeLast: 239 });
  let daemon: PluginProcess | undefined;
  const close = async (): Promise<void> => {
    await daemon?.stop('SIGTERM');
    await server.stop();
    await lab.destroy();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await server.start();
    daemon = await startPlugin(
      // biome-ignore format: one flag and its value per line
      [
        '--dhcp-server', lab.serverIp,
        '--listen-addr', lab.hostIp,
        '--driver-name', driver,
        '--state-dir', join(dir, 'state'),
        '--plugin-dir', join(dir, 'plugins'),
        '--config', join(dir, 'none.conf'),
        // No Docker here: reconciliation finds nothing to read, and so releases nothing.
        '--docker-socket', join(dir, 'no-docker.sock'),
      ],
      socketPath,
    );
    const pool = await callPlugin(socketPath, 'IpamDriver.RequestPool', {
      AddressSpace: 'LocalDefault',
      Pool: `${lab.subnet}/24`,
      SubPool: '',
      Options: {},
      V6: false,
    });
    if (pool.status !== 200) throw new Error(`RequestPool failed: ${JSON.stringify(pool.body)}`);
    const poolId = pool.body.PoolID as string;
    const held = new Map<string, string>();
    for (const mac of o.macs) {
      const res = await callPlugin(socketPath, 'IpamDriver.RequestAddress', {
        PoolID: poolId,
        Address: '',
        Options: { 'com.docker.network.endpoint.macaddress': mac },
      });
      if (res.status !== 200) throw new Error(`RequestAddress for ${mac} failed: ${JSON.stringify(res.body)}`);
      held.set(mac, (res.body.Address as string).split('/')[0] as string);
    }
    const d = daemon;
    const expected = lines(held);
    const onDisk = async (): Promise<string[]> => {
      const table = await readLeaseTable(join(dir, 'state', `leases-${driver}.journal`));
      return lines(table.map((l) => [l.mac, l.ip] as const));
    };
    const onServer = async (): Promise<string[]> => lines((await server.leases()).filter((l) => l.active).map((l) => [l.mac ?? '(no mac)', l.ip] as const));
    return {
      lab,
      server,
      daemon: d,
      dir,
      socketPath,
      poolId,
      held,
      async tableProblems() {
        const problems: string[] = [];
        if (d.process.exitCode !== null || d.process.signalCode !== null)
          problems.push(`daemon exited (${d.process.exitCode ?? d.process.signalCode}):\n${d.log().slice(-2000)}`);
        const disk = await onDisk();
        if (JSON.stringify(disk) !== JSON.stringify(expected)) problems.push(`lease table on disk ${JSON.stringify(disk)}, want ${JSON.stringify(expected)}`);
        // A RELEASE is paced and the server applies it a moment later: give it 5 s to agree.
        let found = await onServer();
        for (let i = 0; i < 50 && JSON.stringify(found) !== JSON.stringify(expected); i++) {
          await new Promise((r) => setTimeout(r, 100));
          found = await onServer();
        }
        if (JSON.stringify(found) !== JSON.stringify(expected))
          problems.push(`server's active leases ${JSON.stringify(found)}, want ${JSON.stringify(expected)}`);
        return problems;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
