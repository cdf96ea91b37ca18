/**
 * One lab for the Docker end-to-end suites: a server namespace on 10.231.<octet>.0/24 with a DHCP
 * server in it, and `oam-docker-ipam server` as a legacy plugin under its own driver name, reading
 * the engine under test for reconciliation. The host end of the lab's veth is the macvlan
 * parent, so containers sit on the server's segment as on a LAN.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DockerEngine } from './docker-engines.js';
import { createLab, type Lab } from './lab/netns.js';
import { createServer, type DhcpServerFixture, type ServerKind, type ServerLease, type ServerOptions } from './lab/servers.js';
import { BUILT_MAIN, startPlugin, type PluginProcess } from './plugin-process.js';

export const PLUGIN_DIR = '/run/docker/plugins';

export interface DriverLab {
  readonly lab: Lab;
  readonly server: DhcpServerFixture;
  /** The plugin's driver name (`--ipam-driver`). */
  readonly driver: string;
  readonly stateDir: string;
  /** The running plugin process (replaced by {@link startPlugin}). */
  plugin(): PluginProcess | undefined;
  /** Start the plugin (again), with `extra` arguments after the common ones (default: the lab's `pluginArgs`). */
  startPlugin(extra?: readonly string[]): Promise<void>;
  /** Arguments every start gets: server, driver name, state dir, plugin dir, the engine's socket. */
  commonArgs(): string[];
  /** The server's active leases. */
  activeLeases(): Promise<ServerLease[]>;
  /** `docker network create -d macvlan --ipam-driver <driver> --subnet … --gateway … -o parent=…` arguments before the name. */
  macvlanArgs(parent?: string): string[];
  destroy(): Promise<void>;
}

export interface DriverLabOptions {
  readonly engine: DockerEngine;
  readonly name: string;
  readonly octet: number;
  readonly kind: ServerKind;
  readonly driver: string;
  readonly server: ServerOptions;
  /** Build the lab yourself (e.g. with a second port); default createLab. */
  readonly createLab?: () => Promise<Lab>;
  /** Arguments for each start of the plugin not given its own, after the common ones (e.g. `--metrics-addr`). */
  readonly pluginArgs?: readonly string[];
}

export async function startDriverLab(o: DriverLabOptions): Promise<DriverLab> {
  if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
  const lab = await (o.createLab ?? (() => createLab({ name: o.name, octet: o.octet })))();
  const server = createServer(o.kind, lab, o.server);
  let plugin: PluginProcess | undefined;
  let stateDir = '';
  try {
    await server.start();
    stateDir = await mkdtemp(join(tmpdir(), `d4d-e2e-${o.name}-`));
  } catch (err) {
    await server.stop().catch(() => undefined);
    await lab.destroy();
    throw err;
  }
  const commonArgs = (): string[] => [
    '--dhcp-server',
    lab.serverIp,
    '--driver-name',
    o.driver,
    '--state-dir',
    stateDir,
    '--plugin-dir',
    PLUGIN_DIR,
    '--docker-socket',
    o.engine.socket,
    '--config',
    '/dev/null',
  ];
  const self: DriverLab = {
    lab,
    server,
    driver: o.driver,
    stateDir,
    plugin: () => plugin,
    commonArgs,
    async startPlugin(extra = o.pluginArgs ?? []) {
      plugin = await startPlugin([...commonArgs(), ...extra], join(PLUGIN_DIR, `${o.driver}.sock`));
    },
    activeLeases: async () => (await server.leases()).filter((l) => l.active),
    macvlanArgs: (parent = lab.hostIf) => [
      'network',
      'create',
      '-d',
      'macvlan',
      '--ipam-driver',
      o.driver,
      '--subnet',
      `${lab.subnet}/24`,
      '--gateway',
      lab.serverIp,
      '-o',
      `parent=${parent}`,
    ],
    async destroy() {
      // A plugin that would not stop is a failure, reported once the rest is cleaned up: left
      // behind, this lab's subnet would stop the next engine's suite on the same octet.
      let stopFailure: unknown;
      await plugin?.stop().catch((err: unknown) => (stopFailure = err));
      await server.stop();
      await lab.destroy();
      if (stateDir !== '') await rm(stateDir, { recursive: true, force: true });
      if (stopFailure !== undefined) throw stopFailure;
    },
  };
  await self.startPlugin().catch(async (err: unknown) => {
    await self.destroy();
    throw err;
  });
  return self;
}

/** A predicate for `waitForLease`: active, for this MAC (and address). */
export const activeFor =
  (mac: string, ip?: string) =>
  (l: ServerLease): boolean =>
    l.active && l.mac === mac && (ip === undefined || l.ip === ip);
