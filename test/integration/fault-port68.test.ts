/**
 * Fault suite: UDP port 68 held by another process that did not set SO_REUSEADDR (as a DHCP
 * client built without it does). `oam-docker-ipam server` must stop at start-up with an error
 * that names the conflict, instead of starting without a DHCP socket. Runs in its own network
 * namespace, so taking port 68 away disturbs no other lab.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createIsolatedLab, type IsolatedLab } from '../support/lab/isolated.js';
import { describeLab } from '../support/lab/prereqs.js';
import { spawnDaemon, startNetnsDaemon } from '../support/netns-daemon.js';
import { BUILT_MAIN } from '../support/plugin-process.js';

describeLab('fault: port 68 held without SO_REUSEADDR', () => {
  let lab: IsolatedLab;
  let dir: string;
  let holder: ChildProcess | undefined;
  const args = (): string[] => [
    '--dhcp-server',
    lab.serverIp,
    '--listen-addr',
    lab.hostIp,
    '--driver-name',
    'fport',
    '--state-dir',
    join(dir, 'state'),
    '--plugin-dir',
    join(dir, 'plugins'),
    '--config',
    join(dir, 'none.conf'),
  ];

  beforeAll(async () => {
    if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
    lab = await createIsolatedLab({ name: 'fport', octet: 64 });
    dir = await mkdtemp(join(lab.workDir, 'd4d-'));
    await writeFile(join(dir, 'none.conf'), '# empty: everything comes from flags\n');
  });

  afterAll(async () => {
    holder?.kill('SIGKILL');
    await lab?.destroy();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('refuses to start, naming the port and the likely holder, and starts once the port is free', async () => {
    // A plain node dgram socket: reuseAddr is off unless asked for.
    const script = "const s=require('dgram').createSocket('udp4');s.bind(68,'0.0.0.0',()=>console.log('bound'));";
    holder = spawn('ip', ['netns', 'exec', lab.clientNs, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      holder?.stdout?.once('data', () => resolve());
      holder?.once('exit', (code) => reject(new Error(`the port holder exited (${String(code)})`)));
    });
    const started = Date.now();
    const daemon = spawnDaemon({ netns: lab.clientNs, args: args() });
    const code = await daemon.exited;
    expect(code, daemon.log()).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(daemon.log()).toContain('cannot bind 0.0.0.0:68/udp: the port is in use by a process that does not share it');
    expect(daemon.log()).toContain('ss -ulpn sport = :68');
    expect(existsSync(join(dir, 'plugins', 'fport.sock'))).toBe(false);

    holder.kill('SIGKILL');
    await new Promise((r) => holder?.once('exit', r));
    const ok = await startNetnsDaemon({ netns: lab.clientNs, args: args(), socketPath: join(dir, 'plugins', 'fport.sock') });
    expect(await ok.stop('SIGTERM')).toBe(0);
  });
});
