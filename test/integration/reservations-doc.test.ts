/**
 * docs/reservations.md, checked against the real servers: each server's recipe, taken from the
 * document as written (the lab's subnet in place of `192.168.1.`), is loaded into ISC dhcpd, Kea
 * and dnsmasq in a network namespace; the built daemon, in a UTS namespace whose host name is the
 * document's `docker1`, is then asked for addresses the way Docker asks, and each container must
 * get the address reserved for it: by MAC, by `01`+MAC client identifier, and by container name.
 */
import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OPTION_ENDPOINT_NAME, OPTION_MAC_ADDRESS } from '../../src/ipam/protocol.js';
import { dnsmasqDriver } from '../support/lab/dnsmasq.js';
import { iscDriver } from '../support/lab/isc.js';
import { keaDriver } from '../support/lab/kea.js';
import { createLab, type Lab } from '../support/lab/netns.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServerFixture } from '../support/lab/server-fixture.js';
import type { DhcpServerFixture, ServerDriver, ServerKind } from '../support/lab/server-types.js';
import { callPlugin } from '../support/plugin-client.js';
import { BUILT_MAIN } from '../support/plugin-process.js';
import { codeBlocks } from '../support/doc-commands.js';

const DOC = readFileSync(new URL('../../docs/reservations.md', import.meta.url), 'utf8');
const DOC_PREFIX = '192.168.1.';

/** The code block that follows `<!-- recipe: name -->` in the document. */
function recipe(name: string): string {
  const at = DOC.indexOf(`<!-- recipe: ${name} -->`);
  if (at < 0) throw new Error(`docs/reservations.md has no recipe ${name}`);
  const rest = DOC.slice(at);
  const lang = /```(\S*)/.exec(rest)?.[1] ?? '';
  const block = codeBlocks(rest, lang)[0];
  if (block === undefined) throw new Error(`recipe ${name} has no code block`);
  return block;
}

/** The fixture's driver, with the document's recipe added to what it configures. */
function withRecipe(kind: ServerKind, lab: Lab): ServerDriver {
  const text = recipe(kind).replaceAll(DOC_PREFIX, lab.network(0).replace(/0$/, ''));
  switch (kind) {
    case 'isc':
      return {
        ...iscDriver,
        async prepare(dir, l, opts) {
          const command = await iscDriver.prepare(dir, l, opts);
          await appendFile(join(dir, 'dhcpd.conf'), `\n# docs/reservations.md\n${text}\n`);
          return command;
        },
      };
    case 'kea':
      return {
        ...keaDriver,
        async prepare(dir, l, opts) {
          const command = await keaDriver.prepare(dir, l, opts);
          const path = join(dir, 'kea-dhcp4.json');
          const config = JSON.parse(await readFile(path, 'utf8')) as { Dhcp4: Record<string, unknown> };
          // The document shows the subnet4 member of Dhcp4: it is the whole subnet list here.
          config.Dhcp4.subnet4 = (JSON.parse(`{${text}}`) as { subnet4: unknown }).subnet4;
          await writeFile(path, JSON.stringify(config, null, 2));
          return command;
        },
      };
    case 'dnsmasq':
      return {
        ...dnsmasqDriver,
        async prepare(dir, l, opts) {
          const command = await dnsmasqDriver.prepare(dir, l, opts);
          const conf = join(dir, 'reservations.conf');
          await writeFile(conf, `${text}\n`);
          return { ...command, args: command.args.map((a) => (a === '--conf-file=/dev/null' ? `--conf-file=${conf}` : a)) };
        },
      };
  }
}

const randomMac = (): string => `02:${[...randomBytes(5)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;

for (const { kind, octet } of [
  { kind: 'isc', octet: 142 },
  { kind: 'kea', octet: 143 },
  { kind: 'dnsmasq', octet: 144 },
] as Array<{ kind: ServerKind; octet: number }>) {
  describeLab(`docs/reservations.md with ${kind}`, () => {
    let lab: Lab;
    let server: DhcpServerFixture;
    let dir: string;
    let stopDaemon: (() => Promise<void>) | undefined;
    let daemonLog = '';
    const driver = `rsv${kind}`;
    const sock = (): string => join(dir, 'plugins', `${driver}.sock`);
    const reserved = (i: number): string => lab.network(i);

    beforeAll(async () => {
      if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
      dir = await mkdtemp(join(tmpdir(), `d4d-${driver}-`));
      lab = await createLab({ name: `rsv${kind.slice(0, 1)}`, octet });
      server = createServerFixture(withRecipe(kind, lab), lab, { leaseTimeSeconds: 120, rangeFirst: 100, rangeLast: 199 });
      await server.start();
      // The host name d4d puts in name identifiers is the kernel's: give the daemon the
      // document's in a UTS namespace of its own.
      const args = [
        BUILT_MAIN,
        '--config',
        '/dev/null',
        '--dhcp-server',
        lab.serverIp,
        '--driver-name',
        driver,
        '--state-dir',
        join(dir, 'state'),
        '--plugin-dir',
        join(dir, 'plugins'),
        '--reconcile-interval',
        '0',
        'server',
      ];
      const proc = spawn('unshare', ['--uts', 'sh', '-c', 'hostname docker1 && exec "$0" "$@"', process.execPath, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      proc.stdout.on('data', (c: Buffer) => (daemonLog += c.toString()));
      proc.stderr.on('data', (c: Buffer) => (daemonLog += c.toString()));
      const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
      stopDaemon = async () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
        await exited;
      };
      const deadline = Date.now() + 15_000;
      while (
        !(await callPlugin(sock(), 'Plugin.Activate').then(
          () => true,
          () => false,
        ))
      ) {
        if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`the daemon did not come up:\n${daemonLog}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    });

    afterAll(async () => {
      await stopDaemon?.();
      await server?.stop();
      await lab?.destroy();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    });

    async function pool(options: Record<string, string>): Promise<string> {
      const res = await callPlugin(sock(), 'IpamDriver.RequestPool', {
        AddressSpace: 'local',
        Pool: `${lab.subnet}/24`,
        SubPool: '',
        Options: options,
        V6: false,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body.PoolID as string;
    }

    async function lease(poolId: string, options: Record<string, string>): Promise<string> {
      const res = await callPlugin(sock(), 'IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: options });
      expect(res.status, `${JSON.stringify(res.body)}\n${server.log().slice(-2000)}`).toBe(200);
      return (res.body.Address as string).split('/')[0] as string;
    }

    async function release(poolId: string, address: string): Promise<void> {
      expect((await callPlugin(sock(), 'IpamDriver.ReleaseAddress', { PoolID: poolId, Address: address })).status).toBe(200);
    }

    it('the document computes the name identifier its recipes use', async () => {
      const command = recipe('client-id-hex');
      const printed = await new Promise<string>((resolve, reject) => {
        execFile('sh', ['-c', command], (err, stdout) => (err === null ? resolve(stdout.trim()) : reject(err)));
      });
      expect(printed).toBe('00:64:6f:63:6b:65:72:31:2f:77:65:62');
      expect(recipe(kind)).toContain(printed);
    });

    it('gives a MAC its hardware reservation, and 01+MAC its client-identifier reservation', async () => {
      const id = await pool({});
      const byHardware = await lease(id, { [OPTION_MAC_ADDRESS]: '02:42:c0:a8:01:32' });
      const byClientId = await lease(id, { [OPTION_MAC_ADDRESS]: '02:42:c0:a8:01:33' });
      expect([byHardware, byClientId]).toEqual([reserved(50), reserved(51)]);
      const other = await lease(id, { [OPTION_MAC_ADDRESS]: randomMac() });
      expect(Number(other.split('.')[3])).toBeGreaterThanOrEqual(100);
      for (const a of [byHardware, byClientId, other]) await release(id, a);
    });

    it('gives the container named web on docker1 its reservation, whatever its MAC', async () => {
      const id = await pool({ 'client-id': 'endpoint-name' });
      const first = await lease(id, { [OPTION_MAC_ADDRESS]: randomMac(), [OPTION_ENDPOINT_NAME]: 'web' });
      expect(first).toBe(reserved(52));
      await release(id, first);
      // Re-created: a new random MAC, the same name.
      const again = await lease(id, { [OPTION_MAC_ADDRESS]: randomMac(), [OPTION_ENDPOINT_NAME]: 'web' });
      expect(again).toBe(reserved(52));
      const otherName = await lease(id, { [OPTION_MAC_ADDRESS]: randomMac(), [OPTION_ENDPOINT_NAME]: 'db' });
      expect(otherName).not.toBe(reserved(52));
      for (const a of [again, otherName]) await release(id, a);
    });
  });
}
