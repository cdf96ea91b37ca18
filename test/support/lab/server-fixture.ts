/**
 * The part of a DHCP server fixture that does not depend on the server: options checks, the temp
 * dir, starting the process inside the lab netns, waiting for its ready line, stopping it, and
 * keeping its log for failure messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { netnsPids } from './namespaces.js';
import type { Lab } from './netns.js';
import { signalPid } from './processes.js';
import type { DhcpServerFixture, ServerDriver, ServerOptions } from './server-types.js';
import { formatCommand } from './shell.js';

/** How long a server may take to print its ready line; they all need well under a second here. */
const START_TIMEOUT_MS = 10_000;
/** How long a server may take to exit after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 5_000;
/** Process names of the servers, to spot one that another fixture left running. */
const SERVER_COMMS = new Set(['dhcpd', 'kea-dhcp4', 'dnsmasq']);

/** Reject options that would make the servers disagree or collide with the lab's own addresses. */
function checkOptions(lab: Lab, opts: ServerOptions): void {
  const { rangeFirst, rangeLast, leaseTimeSeconds } = opts;
  // .1 is the server, .254 the host end of the veth, .0/.255 network and broadcast.
  if (!Number.isInteger(rangeFirst) || !Number.isInteger(rangeLast) || rangeFirst < 2 || rangeLast > 253 || rangeFirst > rangeLast) {
    throw new Error(`range must satisfy 2 <= rangeFirst <= rangeLast <= 253, got ${rangeFirst}..${rangeLast}`);
  }
  if (!Number.isInteger(leaseTimeSeconds) || leaseTimeSeconds < 1) {
    throw new Error(`leaseTimeSeconds must be a positive integer, got ${leaseTimeSeconds}`);
  }
  const prefix = lab.network(0).replace(/\.0$/, '.');
  for (const r of opts.reservations ?? []) {
    if (!r.ip.startsWith(prefix)) throw new Error(`reservation ${r.mac} -> ${r.ip} is outside lab subnet ${lab.subnet}/24`);
  }
}

/** Pids and names of DHCP servers already running in netns `ns`. */
async function runningServers(ns: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await netnsPids(ns)) {
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    if (SERVER_COMMS.has(comm)) found.push(`${comm} (pid ${pid})`);
  }
  return found;
}

/** Resolve when `child` has exited (immediately if it already has). */
function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Build the fixture for `driver`'s server on `lab`; nothing runs until `start()`. */
export function createServerFixture(driver: ServerDriver, lab: Lab, opts: ServerOptions): DhcpServerFixture {
  checkOptions(lab, opts);
  let dir: string | null = null;
  let child: ChildProcess | null = null;
  let output = '';

  const stop = async (): Promise<void> => {
    const current = child;
    if (current === null) return;
    child = null;
    const { pid } = current;
    // No pid: spawning failed, so there is nothing to stop (and no 'exit' will come).
    if (pid === undefined) return;
    const exited = exitOf(current);
    signalPid(pid, 'SIGTERM');
    const timer = setTimeout(() => signalPid(pid, 'SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  const start = async (): Promise<void> => {
    if (child !== null) throw new Error(`${driver.kind} server is already running`);
    const others = await runningServers(lab.serverNs);
    if (others.length > 0) {
      throw new Error(`another DHCP server runs in ${lab.serverNs}: ${others.join(', ')}; stop it first`);
    }
    dir ??= await mkdtemp(join(lab.workDir, `${driver.kind}-`));
    const command = await driver.prepare(dir, lab, opts);
    const argv = ['netns', 'exec', lab.serverNs, driver.binary, ...command.args];
    const startOffset = output.length;
    output += `--- ${new Date().toISOString()} ${formatCommand('ip', argv)}\n`;

    // `ip netns exec` execs the server in place, so the child's pid is the server's.
    const proc = spawn('ip', argv, {
      env: { ...process.env, ...command.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    // The log is kept for the whole life of the process; readiness is checked only during start.
    const append = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
    };
    proc.stdout.on('data', append);
    proc.stderr.on('data', append);
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string): void => {
        cleanup();
        reject(new Error(`${driver.kind} server ${why}; its log:\n${output.slice(startOffset)}`));
      };
      // Registered after `append`, so `output` already holds the chunk.
      const check = (): void => {
        const sinceStart = output.slice(startOffset);
        if (driver.failLine?.test(sinceStart) === true) {
          fail(`logged ${String(driver.failLine)}`);
        } else if (driver.readyLine.test(sinceStart)) {
          cleanup();
          resolve();
        }
      };
      // 'close' rather than 'exit': by then the last words of the server are in the log.
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => fail(`exited during start (${signal ?? `status ${String(code)}`})`);
      const onError = (error: Error): void => fail(`could not be spawned: ${error.message}`);
      const timer = setTimeout(() => fail(`printed no ${String(driver.readyLine)} within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
      const cleanup = (): void => {
        clearTimeout(timer);
        proc.stdout.off('data', check);
        proc.stderr.off('data', check);
        proc.off('close', onExit);
        proc.off('error', onError);
      };
      proc.stdout.on('data', check);
      proc.stderr.on('data', check);
      proc.once('close', onExit);
      proc.once('error', onError);
    }).catch(async (error: unknown) => {
      await stop();
      throw error;
    });
  };

  return {
    kind: driver.kind,
    serverIp: lab.serverIp,
    start,
    stop,
    leases: async () => (dir === null ? [] : driver.readLeases(dir, Date.now())),
    log: () => output,
  };
}
