/**
 * `oam-docker-ipam server` on one host of a fleet lab: in the host's network namespace and in a
 * UTS namespace of its own, so that each host has its own host name as separate machines do
 * (d4d puts the host name in name-based client identifiers: `<host>/<container>`). Its state
 * and plugin directories are its own; its log is kept for assertions.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FleetHost } from './lab/fleet-lab.js';
import type { NetnsDaemon } from './netns-daemon.js';
import { callPlugin } from './plugin-client.js';
import { BUILT_MAIN } from './plugin-process.js';

export interface FleetDaemonOptions {
  readonly host: FleetHost;
  /** The host name it runs under (and its driver name). */
  readonly hostName: string;
  /** Where its state and plugin dirs go (`<dir>/state`, `<dir>/plugins`). */
  readonly dir: string;
  /** Flags besides driver name, state, plugin dir and config, e.g. `--dhcp-server …`. */
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Where the plugin socket goes; default `<dir>/plugins` (a dockerd looks in /run/docker/plugins). */
  readonly pluginDir?: string;
}

export interface FleetDaemon extends NetnsDaemon {
  readonly socketPath: string;
  readonly driver: string;
}

/** Starts the daemon and resolves once its plugin socket answers. */
export async function startFleetDaemon(o: FleetDaemonOptions): Promise<FleetDaemon> {
  await mkdir(join(o.dir, 'state'), { recursive: true });
  const driver = o.hostName;
  const pluginDir = o.pluginDir ?? join(o.dir, 'plugins');
  const socketPath = join(pluginDir, `${driver}.sock`);
  const argv = [
    process.execPath,
    BUILT_MAIN,
    '--driver-name',
    driver,
    '--state-dir',
    join(o.dir, 'state'),
    '--plugin-dir',
    pluginDir,
    '--config',
    '/dev/null',
    '--reconcile-interval',
    '0',
    ...o.args,
    'server',
  ];
  // unshare and sh exec in place: the pid is the daemon's, so signals reach it.
  const proc = spawn('ip', ['netns', 'exec', o.host.ns, 'unshare', '--uts', '--', 'sh', '-c', 'hostname "$0" && exec "$@"', o.hostName, ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...o.env },
  });
  let output = '';
  proc.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  if (proc.pid === undefined) throw new Error('could not spawn the daemon');
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 15_000;
  while (
    !(await callPlugin(socketPath, 'Plugin.Activate').then(
      () => true,
      () => false,
    ))
  ) {
    if (gone || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`oam-docker-ipam on ${o.hostName} did not come up:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    process: proc,
    pid: proc.pid,
    socketPath,
    driver,
    log: () => output,
    exited,
    stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}
