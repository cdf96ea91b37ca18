/**
 * `oam-docker-ipam server` (the built dist/main.js) as a process inside a network namespace, and
 * readers for what it leaves on disk. The fault suite kills it, starves it and restarts it, so
 * unlike `startPlugin` this gives the pid, the exit and a start that may be expected to fail.
 */
import { decodeJournal } from '../../src/lease/journal.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { callPlugin } from './plugin-client.js';
import { BUILT_MAIN } from './plugin-process.js';
import { stopWithin } from './process-stop.js';

export interface NetnsDaemon {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Everything it wrote to stdout and stderr so far. */
  log(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Sends `signal` (default SIGTERM) and waits for the exit; rejects (after SIGKILL) when a SIGTERM is not obeyed within the unit's stop timeout. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface NetnsDaemonOptions {
  /** Network namespace to run in; undefined = this process's. */
  readonly netns?: string;
  /** Global flags (before the `server` command). */
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/** Spawns the daemon without waiting for anything. */
export function spawnDaemon(o: NetnsDaemonOptions): NetnsDaemon {
  const argv = [process.execPath, BUILT_MAIN, ...o.args, 'server'];
  // `ip netns exec` execs in place: the child's pid is the daemon's, so signals reach it.
  const proc =
    o.netns === undefined
      ? spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } })
      : spawn('ip', ['netns', 'exec', o.netns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
  let output = '';
  const collect = (c: Buffer): void => {
    output += c.toString();
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  if (proc.pid === undefined) throw new Error('could not spawn the daemon');
  return {
    process: proc,
    pid: proc.pid,
    log: () => output,
    exited,
    stop(signal = 'SIGTERM') {
      return stopWithin(proc, exited, { signal, log: () => output });
    },
  };
}

/** Spawns the daemon and resolves once its plugin socket answers `Plugin.Activate`. */
export async function startNetnsDaemon(o: NetnsDaemonOptions & { socketPath: string; timeoutMs?: number }): Promise<NetnsDaemon> {
  const d = spawnDaemon(o);
  const deadline = Date.now() + (o.timeoutMs ?? 15_000);
  let gone = false;
  void d.exited.then(() => (gone = true));
  while (
    !(await callPlugin(o.socketPath, 'Plugin.Activate').then(
      () => true,
      () => false,
    ))
  ) {
    if (gone || Date.now() > deadline) {
      await d.stop('SIGKILL');
      throw new Error(`oam-docker-ipam server did not come up on ${o.socketPath}:\n${d.log()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return d;
}

/** One entry of the daemon's lease table, as stored. */
export interface TableLease {
  readonly id: string;
  readonly mac: string;
  readonly ip: string;
  readonly expiresAt: number | null;
}

/**
 * The leases in the lease table at `path` (the journal, `leases-<driver>.journal`, replayed);
 * an absent file is an empty table.
 */
export async function readLeaseTable(path: string): Promise<TableLease[]> {
  const buf = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (buf === undefined) return [];
  const journal = decodeJournal(buf);
  if (journal.unreadable !== undefined) throw new Error(`${path}: ${journal.unreadable}`);
  return journal.leases.map((l) => ({ id: l.id, mac: l.identity.mac, ip: l.ip, expiresAt: l.expiresAt }));
}

/** The address of a plugin reply (`a.b.c.d/nn`), or undefined when it is not a success. */
export function replyAddress(reply: { status: number; body: Record<string, unknown> }): string | undefined {
  const address = reply.body.Address;
  return reply.status === 200 && typeof address === 'string' ? address.split('/')[0] : undefined;
}
