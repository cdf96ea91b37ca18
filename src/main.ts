#!/usr/bin/env node
/**
 * Composition root of `oam-docker-ipam`: parses the command line, loads the configuration,
 * runs the command (`server`: the plugin daemon; `probe`: one lease, printed; `reconcile`: ask
 * the daemon to reconcile with Docker, print the outcome) and maps the
 * outcome to an exit status (0 success, 1 failure, 2 bad usage).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { callAdmin, daemonLeases, daemonStatus, formatReconcileReply } from './admin-client.js';
import { RECONCILE_PATH, type AdminReconcileReply } from './admin-routes.js';
import { parseCli, USAGE, UsageError, type Command } from './cli.js';
import { systemClock } from './clock.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { startDaemon, type Daemon } from './daemon.js';
import { formatHex } from './dhcp/codec/ipv4.js';
import { clientIdForMac } from './dhcp/messages.js';
import { openEngine, type Engine } from './engine.js';
import { DaemonError } from './errors.js';
import { parsePoolId, poolCidr } from './ipam/pool.js';
import { readLeaseFile } from './lease/store.js';
import { createLogger } from './logger.js';
import { checkConfig } from './operator/check-config.js';
import { formatLeases, leasesJson, listLeases } from './operator/leases.js';
import { startProgress } from './operator/progress.js';
import { formatStatus } from './operator/status.js';

async function main(argv: readonly string[]): Promise<number> {
  let command: Command;
  try {
    command = parseCli(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`oam-docker-ipam: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (command.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command.kind === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (command.kind === 'check-config') {
    // It loads the configuration itself, to report every problem rather than stop at the first.
    const log = createLogger({ debug: command.flags.debug ?? false });
    return checkConfig({
      flags: command.flags,
      env: process.env,
      probe: command.probe,
      timeoutMs: command.timeoutMs,
      clock: systemClock,
      log,
      openDhcp: openEngine,
      print: (line) => process.stdout.write(`${line}\n`),
    });
  }
  // Commands that only talk to the running daemon (or read its table) need no DHCP server.
  const daemonOnly = command.kind === 'reconcile' || command.kind === 'leases' || command.kind === 'status';
  let config: Config;
  try {
    config = loadConfig({ flags: command.flags, env: process.env, requireDhcpServer: !daemonOnly });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`oam-docker-ipam: ${err.message}\n`);
    return 1;
  }
  if (command.kind === 'server') return server(config);
  if (command.kind === 'reconcile') return reconcile(command.dryRun, config);
  if (command.kind === 'leases') return leases(command.json, config);
  if (command.kind === 'status') return status(command.json, config);
  return probe(command, config);
}

/** Prints the running daemon's leases, or the saved table's with a note when it does not answer. */
async function leases(json: boolean, config: Config): Promise<number> {
  try {
    const listing = await listLeases({ socketPath: pluginSocket(config), stateDir: config.stateDir, driverName: config.driverName });
    process.stdout.write(json ? leasesJson(listing) : formatLeases(listing, systemClock.now()));
    return 0;
  } catch (err) {
    if (!(err instanceof DaemonError)) throw err;
    process.stderr.write(`oam-docker-ipam: leases: ${err.message}\n`);
    return 1;
  }
}

/** Prints the daemon's status; exit status 1 when it is unhealthy or does not answer (a health check). */
async function status(json: boolean, config: Config): Promise<number> {
  try {
    const reply = await daemonStatus(pluginSocket(config), 10_000);
    process.stdout.write(json ? `${JSON.stringify(reply, null, 2)}\n` : formatStatus(reply, systemClock.now()));
    return reply.Healthy ? 0 : 1;
  } catch (err) {
    if (!(err instanceof DaemonError)) throw err;
    process.stderr.write(`oam-docker-ipam: status: ${err.message}\n`);
    return 1;
  }
}

/** Asks the running daemon to reconcile with Docker now and prints what it released. */
async function reconcile(dryRun: boolean, config: Config): Promise<number> {
  try {
    // Two Docker reads and the releases: generous, but bounded. The daemon reports only at the
    // end, so a terminal gets the time it has been waiting.
    const progress = startProgress(process.stdout, systemClock, (ms) => `reconciling with Docker${dryRun ? ' (dry run)' : ''}… ${Math.floor(ms / 1000)} s`);
    const reply = (await callAdmin(pluginSocket(config), RECONCILE_PATH, { DryRun: dryRun }, 120_000).finally(() => progress.stop())) as AdminReconcileReply;
    process.stdout.write(formatReconcileReply(reply));
    return reply.Released.some((c) => c.Error !== undefined) ? 1 : 0;
  } catch (err) {
    if (!(err instanceof DaemonError)) throw err;
    process.stderr.write(`oam-docker-ipam: reconcile: ${err.message}\n`);
    return 1;
  }
}

function pluginSocket(config: Config): string {
  return join(config.pluginDir, `${config.driverName}.sock`);
}

/** Runs the plugin until SIGINT or SIGTERM. */
async function server(config: Config): Promise<number> {
  const log = createLogger({ debug: config.debug });
  // Listen for signals before starting, so one that arrives during start-up stops us cleanly
  // once the start is complete instead of killing the process half-way.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => resolve(sig));
  });
  let daemon: Daemon;
  try {
    if (config.missingDefaultFile !== undefined) {
      log.warn(
        { configFile: config.missingDefaultFile },
        'no configuration file: the default file is missing; settings come from flags and the environment only',
      );
    }
    daemon = await startDaemon(config, log, { version: version() });
  } catch (err) {
    if (!(err instanceof DaemonError)) throw err;
    log.fatal({ code: err.code }, err.message);
    process.stderr.write(`oam-docker-ipam: ${err.message}\n`);
    return 1;
  }
  const signal = await stopSignal;
  log.info({ signal }, 'stopping');
  await daemon.stop();
  return 0;
}

/** Leases one address, prints it as JSON, holds it for a while if asked, releases it. */
async function probe(c: Extract<Command, { kind: 'probe' }>, config: Config): Promise<number> {
  const log = createLogger({ debug: config.debug });
  if (c.mac !== undefined) {
    // Before anything is sent: a RELEASE for a container's MAC would free its address.
    try {
      await refuseHeldMac(c.mac, config);
    } catch (err) {
      if (!(err instanceof MacInUseError)) throw err;
      process.stderr.write(`oam-docker-ipam: ${err.message}\n`);
      return 1;
    }
  }
  const mac = c.mac ?? randomLocalMac();
  let engine: Engine;
  try {
    // The server's mode: in relay mode the probe is relayed too (and needs RELAY_ADDR:67 free).
    engine = await openEngine({ socket: { config, onSocketError: (err) => log.error({ err }, 'socket error') }, clock: systemClock, log });
  } catch (err) {
    if (!(err instanceof DaemonError)) throw err;
    process.stderr.write(`oam-docker-ipam: ${err.message}\n`);
    return 1;
  }
  const { client, manager } = engine;
  manager.on((e) => log.info({ event: e.type, mac: e.lease.identity.mac, ip: e.lease.ip, state: e.lease.state }, `lease ${e.type}`));
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // A signal during the acquisition ends it; a lease acquired by then is still released below.
  const onAbort = (): void => {
    if (manager.get('probe') === undefined) client.close();
  };
  stop.signal.addEventListener('abort', onAbort);
  try {
    const lease = await manager.acquire('probe', {
      identity: { mac, clientId: clientIdForMac(mac) },
      timeoutMs: c.timeoutMs,
      ...(c.requestedIp === undefined ? {} : { requestedIp: c.requestedIp, requireRequested: true }),
    });
    const b = lease.binding;
    process.stdout.write(
      `${JSON.stringify({
        mac,
        clientId: formatHex(lease.identity.clientId),
        ip: lease.ip,
        subnetMask: b.subnetMask ?? null,
        routers: b.routers ?? [],
        dnsServers: b.dnsServers ?? [],
        domainName: b.domainName ?? null,
        server: lease.serverId,
        leaseTimeSeconds: b.leaseTimeSeconds,
        renewAt: iso(lease.renewAt),
        rebindAt: iso(lease.rebindAt),
        expiresAt: iso(lease.expiresAt),
      })}\n`,
    );
    if (c.holdSeconds > 0 && !stop.signal.aborted) {
      let renewals = 0;
      const unsubscribe = manager.on((e) => {
        if (e.type === 'renewed') renewals++;
      });
      const progress = startProgress(process.stdout, systemClock, (ms) => {
        const left = Math.max(0, Math.ceil(c.holdSeconds - ms / 1000));
        return `holding ${lease.ip} for ${mac}: ${left} s left, ${manager.get('probe')?.state ?? '-'}, renewed ${renewals} time${renewals === 1 ? '' : 's'}`;
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, c.holdSeconds * 1000);
        stop.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      progress.stop();
      unsubscribe();
    }
    await manager.release('probe');
    return 0;
  } catch (err) {
    if (!(err instanceof DaemonError)) throw err;
    const message = stop.signal.aborted ? 'interrupted' : err.message;
    log.error({ code: err.code }, message);
    process.stderr.write(`oam-docker-ipam: ${message}\n`);
    return 1;
  } finally {
    stop.signal.removeEventListener('abort', onAbort);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await engine.close();
  }
}

/** `probe --mac` of a MAC a container's lease uses: its RELEASE would free that container's address. */
export class MacInUseError extends DaemonError {
  override readonly name = 'MacInUseError';
  readonly code = 'MAC_IN_USE';
}

/**
 * Throws `MacInUseError` when the running daemon holds a lease for `mac`, or a lease table in
 * STATE_DIR lists one (any driver name: the daemon of another may be stopped). The running
 * daemon's own table is taken from its memory, which is newer than its file.
 */
async function refuseHeldMac(mac: string, config: Config): Promise<void> {
  const holders: string[] = [];
  let daemonAnswered = false;
  try {
    for (const l of await daemonLeases(pluginSocket(config), 5_000)) {
      if (l.Mac !== mac) continue;
      const network = l.Networks.length > 0 ? `network ${l.Networks.join(', ')} (subnet ${l.Subnet})` : `subnet ${l.Subnet}`;
      holders.push(`${l.Ip} in ${network}, pool ${l.Pool}, held by the running server (driver ${config.driverName})`);
    }
    daemonAnswered = true;
  } catch (err) {
    // Not running, or a daemon without the admin paths: the lease tables decide.
    if (!(err instanceof DaemonError)) throw err;
  }
  const files = await readdir(config.stateDir).catch(() => [] as string[]);
  for (const file of files.filter((f) => /^leases-.+\.(json|journal)$/.test(f)).sort()) {
    if (daemonAnswered && (file === `leases-${config.driverName}.json` || file === `leases-${config.driverName}.journal`)) continue;
    const path = join(config.stateDir, file);
    const leases = await readLeaseFile(path).catch(() => undefined);
    if (leases === undefined) continue;
    for (const l of leases) {
      if (l.identity.mac !== mac) continue;
      const poolId = l.id.slice(0, l.id.indexOf('#'));
      let subnet = '?';
      try {
        subnet = poolCidr(parsePoolId(poolId));
      } catch {
        // A pool this version does not read: the pool ID says enough.
      }
      holders.push(`${l.ip} in subnet ${subnet}, pool ${poolId}, listed in the lease table ${path}`);
    }
  }
  if (holders.length > 0) {
    throw new MacInUseError(
      `${mac} holds ${holders.join('; ')}: probing it would release that container's lease on the DHCP server. Pick another --mac, or leave --mac out for a random one`,
    );
  }
}

/** A random unicast, locally administered MAC (RFC 7042 §2.1): no clash with real hardware. */
function randomLocalMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] as number) & 0xfc) | 0x02;
  return formatHex(b);
}

function iso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}

/** Set by the single-executable build (packaging/build-sea.ts), which has no package.json beside it. */
declare const D4D_BUILD_VERSION: string | undefined;

function version(): string {
  if (typeof D4D_BUILD_VERSION === 'string') return D4D_BUILD_VERSION;
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`oam-docker-ipam: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
