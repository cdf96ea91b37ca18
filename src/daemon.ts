/**
 * The running plugin: lease table, DHCP engine (socket, client and lease manager, engine.ts), IPAM
 * driver and the plugin socket, wired together and torn down in order. `main.ts` only calls
 * `startDaemon`.
 *
 * Start-up: load the lease table (damaged entries are dropped, an unreadable table stops the
 * start), resume every lease (renewals
 * continue where they were; expired ones are asked back with INIT-REBOOT), then listen. Stop:
 * Docker first (no new calls, those under way finish), then stop renewing, write what is still queued for the
 * table and close DHCP; leases are NOT released, because the containers keep running and the next start
 * resumes them.
 */
import { connect } from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { systemClock, type Clock } from './clock.js';
import { ConfigError, type Config } from './config.js';
import type { DhcpClient } from './dhcp/client.js';
import { DaemonError } from './errors.js';
import { adminRoutes } from './admin-routes.js';
import { DockerEngine } from './docker/engine.js';
import { closeEngine, openEngine, type EngineParts } from './engine.js';
import { collectGarbage } from './heap.js';
import { IpamDriver } from './ipam/driver.js';
import { inspectActivatedSocket } from './ipam/activation.js';
import { buildServer, listenOnFd, stopServing } from './ipam/server.js';
import type { LeaseEvent } from './lease/events.js';
import type { LeaseManager } from './lease/manager.js';
import { JournalLeaseStore, type LeaseStore, type Loaded } from './lease/store.js';
import { embedderAllocation, ReducerNudge } from './memory-reducer.js';
import { Monitoring } from './operator/monitoring.js';
import { Reconciler } from './reconciler.js';

/** The plugin socket could not be set up. */
export class SocketError extends DaemonError {
  override readonly name = 'SocketError';
  readonly code = 'SOCKET';
}

export interface Daemon {
  readonly socketPath: string;
  stop(): Promise<void>;
}

export async function startDaemon(config: Config, log: Logger, options: { version?: string } = {}): Promise<Daemon> {
  if (config.listenAddr !== undefined) checkListenAddr(config.listenAddr, log);
  const socketPath = join(config.pluginDir, `${config.driverName}.sock`);
  // A socket systemd passed is ours by construction (connecting to it would only queue a call).
  const activatedFd = await inspectActivatedSocket(process.env, process.pid, socketPath);
  if (activatedFd === undefined) await refuseIfServing(socketPath);

  // One table per driver name: two instances (two DHCP servers) must never share one.
  // The journal; a version 1 table (one JSON document) found beside it is imported once.
  const store = new JournalLeaseStore({
    path: join(config.stateDir, `leases-${config.driverName}.journal`),
    legacyPath: join(config.stateDir, `leases-${config.driverName}.json`),
    log: log.child({ component: 'store' }),
  });
  // Status, last errors and (with METRICS_ADDR) metrics: observers only, nothing on the request path scans.
  const monitoring = new Monitoring({
    config,
    clock: systemClock,
    version: options.version ?? 'unknown',
    log,
    pluginSocket: { path: socketPath, fromSystemd: activatedFd !== undefined },
  });
  // Direct mode: UDP/68; relay mode: RELAY_ADDR:67 (dhcp-mode.ts).
  const engine = await openEngine({
    socket: { config, onSocketError: (err) => log.error({ err }, 'DHCP socket error') },
    clock: systemClock,
    log,
    client: { observer: monitoring.dhcpObserver, maxConcurrentAcquisitions: config.maxConcurrent },
    manager: { observer: monitoring.leaseObserver },
  });
  const { transport, client, manager } = engine;
  monitoring.bind({ countByState: () => manager.countByState(), stats: client.stats });
  manager.on(monitoring.onLeaseEvent);
  const leaseLog = log.child({ component: 'lease' });
  manager.on((event) => {
    logEvent(leaseLog, event);
    // Renewals and recoveries change lease times and states: one record each, written with
    // the next commit without anyone waiting (one a crash loses only means a renewal due sooner
    // after it; one a failed write leaves is written again). Requests and releases record
    // theirs in the driver and wait for them.
    if (event.type !== 'bound' && event.type !== 'released') store.putSoon(event.lease);
  });
  // The table is read straight into the manager's (no other copy of it is made), then resumed.
  let loaded: Loaded;
  let restored: number;
  let collectedMs: number | undefined;
  try {
    const restoring = manager.restoring();
    loaded = await store.load(restoring);
    // Before any renewal is due: the replay's garbage goes now, not under a renewal wave. Only
    // an optimisation: a runtime that will not collect on request does not stop the start-up.
    const collecting = systemClock.now();
    try {
      collectGarbage();
      collectedMs = systemClock.now() - collecting;
    } catch (err) {
      log.warn({ err }, 'could not collect the heap after reading the lease table');
    }
    restored = restoring.start();
  } catch (err) {
    await engine.close();
    throw err;
  }
  const { pools, problems } = loaded;
  // From here on the manager's leases are the live table a compaction writes.
  store.follow({
    get size() {
      return manager.size;
    },
    values: () => manager.snapshots(),
  });

  // The driver sees Docker only through what the reconciler last read (set just below).
  let reconciler: Reconciler | undefined;
  const driver = new IpamDriver({
    manager,
    client,
    store,
    pools,
    log: log.child({ component: 'ipam' }),
    clientIdMode: config.clientIdMode,
    driverName: config.driverName,
    clock: systemClock,
    dockerView: { endpointsSeen: () => reconciler?.endpointsSeen(), nudge: () => reconciler?.nudge() },
  });
  // Reconciliation reads Docker in the background, never from a request handler (dockerd holds
  // the container lock while it waits for RequestAddress).
  reconciler = new Reconciler({
    docker: new DockerEngine({ socketPath: config.dockerSocket }),
    leases: {
      heldLeases: () => driver.heldLeases(),
      releaseLease: (planned) => driver.releaseIfUnchanged(planned),
    },
    driverName: config.driverName,
    clock: systemClock,
    graceMs: config.reconcileGraceMs,
    intervalMs: config.reconcileIntervalMs,
    log: log.child({ component: 'reconcile' }),
  });
  // fastify logs every request at info: only with --debug. Address events are logged by the driver.
  const app = await buildServer({ driver, log: log.child({ component: 'api' }, { level: config.debug ? 'debug' : 'warn' }) });
  monitoring.attach(app);
  await app.register(
    adminRoutes({
      reconciler,
      leases: () => driver.leasesByPool(),
      lastError: (id) => monitoring.activity.lastErrorOf(id),
      listed: (ids) => monitoring.activity.keepOnly(ids),
      status: () => monitoring.status(),
    }),
  );
  try {
    if (activatedFd !== undefined) {
      // systemd's socket (checked root-only): calls that came while we started wait in its queue.
      await listenOnFd(app, activatedFd, PLUGIN_BACKLOG);
    } else {
      await mkdir(config.pluginDir, { recursive: true, mode: 0o755 });
      await removeStaleSocket(socketPath);
      // Only root may talk to the plugin: it hands out addresses on the LAN. The socket is
      // created under a umask that leaves it 0600 from the first instant (a chmod after listen
      // alone would leave it connectable by anyone for a moment under a lax umask).
      const umask = process.umask(0o177);
      try {
        await app.listen({ path: socketPath, backlog: PLUGIN_BACKLOG });
      } finally {
        process.umask(umask);
      }
      await chmod(socketPath, 0o600);
    }
    await monitoring.start();
  } catch (err) {
    await engine.close();
    await app.close().catch(() => undefined);
    if (err instanceof DaemonError) throw err;
    throw new SocketError(`cannot serve the plugin socket ${socketPath}: ${(err as Error).message}`, { cause: err });
  }
  log.info(
    {
      socket: socketPath,
      socketFromSystemd: activatedFd !== undefined,
      dhcpServer: config.dhcpServer,
      dhcp: engine.description,
      stateDir: config.stateDir,
      restored,
      heapCollectedMs: collectedMs,
      damagedTable: problems.length > 0,
      configFile: config.configFile,
    },
    `serving IPAM driver "${config.driverName}"`,
  );
  // Only now, and in the background: Docker may be waiting for this socket to answer.
  const started = reconciler;
  started.start();
  const reducerNudge = startReducerNudge();

  let stopping: Promise<void> | undefined;
  return {
    socketPath,
    stop() {
      reducerNudge?.stop();
      stopping ??= stopPlugin({ app, reconciler: started, client, manager, store, transport, log, clock: systemClock, graceMs: STOP_GRACE_MS }).finally(() =>
        monitoring.stop(),
      );
      return stopping;
    },
  };
}

/** V8's memory reducer kept able to run after a burst (memory-reducer.ts); not needed before V8 13. */
function startReducerNudge(): ReducerNudge | undefined {
  const nudge = embedderAllocation();
  if (nudge === undefined) return undefined;
  const reducer = new ReducerNudge({ clock: systemClock, nudge });
  reducer.start();
  return reducer;
}

/**
 * The plugin socket's accept queue: compose starting dozens of containers connects dozens of
 * times at once, and a full queue makes connect() fail with EAGAIN (Node's default is 511).
 */
export const PLUGIN_BACKLOG = 4096;

/** Bound on the wait for plugin calls under way at a stop (systemd allows the whole stop 30 s). */
export const STOP_GRACE_MS = 10_000;

/** What a stop tears down. */
export interface PluginParts {
  app: FastifyInstance;
  /** Background reconciliation: stopped once Docker's calls are done, before DHCP closes. */
  reconciler?: { stop(): Promise<void> };
  client: DhcpClient;
  manager: LeaseManager;
  store: LeaseStore;
  transport: EngineParts['transport'];
  log: Logger;
  clock: Clock;
  /** Bound on the wait for plugin calls under way. */
  graceMs: number;
}

/**
 * Stops in the order that loses nothing: Docker first, then DHCP. The plugin socket stops
 * taking calls; calls under way finish with DHCP still open, so a ReleaseAddress sends its
 * RELEASE and a RequestAddress gets (and saves) its address; past `graceMs` their DHCP waits
 * are cut short. Then reconciliation stops (a Docker read under way is aborted). Only then do
 * renewals stop, the table is saved and DHCP closes. Leases are
 * NOT released: the containers keep running and the next start resumes them.
 */
export async function stopPlugin(p: PluginParts): Promise<void> {
  const { app, client, manager, store, log } = p;
  // Node removes the socket file it made itself; systemd's socket stays, and calls that come
  // meanwhile wait in its queue for the next start.
  const { cutShort } = await stopServing(app, {
    clock: p.clock,
    graceMs: p.graceMs,
    onGraceExpired: () => client.close(),
    onConnectionsForced: () => log.warn('plugin connections without a call still open at the stop: closed'),
  });
  if (cutShort > 0) log.warn({ calls: cutShort, graceMs: p.graceMs }, 'plugin calls still waiting on DHCP at the stop were cut short');
  log.info('stop: plugin socket closed');
  // Not before: fastify would keep accepting plugin connections meanwhile (and answer them 503,
  // which Docker never retries). Stopping aborts a Docker read under way and lets a RELEASE
  // under way go out with DHCP still open; no further release starts.
  await p.reconciler?.stop();
  log.info('stop: reconciliation stopped');
  // Nothing from Docker is under way now: closing the client only cuts a renewal under way
  // short, and the lease it was renewing is resumed at the next start.
  // Every change was recorded as it happened: only the records still queued are left to write,
  // once renewals have stopped and before the DHCP socket closes.
  await closeEngine(p, { beforeSocketClose: () => store.close().catch((err: unknown) => log.error({ err }, 'could not save the lease table')) });
  // Only a table with leases in it has anything to keep.
  log.info({ leases: manager.size }, manager.size === 0 ? 'stopped; no leases held' : 'stopped; leases kept for the next start');
}

/**
 * One line per address event, with pool, MAC, address and xid. Failures (rebinding, expiry,
 * NAK, address lost) are logged by the lease manager where it has their cause; not again here.
 */
function logEvent(log: Logger, e: LeaseEvent): void {
  if (e.type !== 'bound' && e.type !== 'renewed' && e.type !== 'reacquired' && e.type !== 'released') return;
  // The pool is the lease key up to '#'; what follows is the MAC or (name-keyed) the name.
  const pool = e.lease.id.slice(0, e.lease.id.indexOf('#'));
  const { mac } = e.lease.identity;
  const expiresAt = e.lease.expiresAt === null ? null : new Date(e.lease.expiresAt).toISOString();
  log.info({ event: e.type, pool, mac, ip: e.lease.ip, xid: e.lease.binding.xid, expiresAt }, `lease ${e.type}`);
}

function checkListenAddr(addr: string, log: Logger): void {
  for (const [name, list] of Object.entries(networkInterfaces())) {
    if (list?.some((a) => a.family === 'IPv4' && a.address === addr)) {
      log.info({ listenAddr: addr, interface: name }, 'LISTEN_ADDR found');
      return;
    }
  }
  throw new ConfigError([`LISTEN_ADDR ${addr} is not an address of this host (see ip -4 addr)`]);
}

/** Another live daemon on the same socket would lose its clients to us: refuse instead. */
async function refuseIfServing(path: string): Promise<void> {
  const live = await new Promise<boolean>((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) {
    throw new SocketError(
      `another process already serves ${path}, or systemd holds it (oam-docker-ipam.socket); stop it first (or pick another --driver-name)`,
    );
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    const st = await lstat(path);
    if (!st.isSocket()) throw new SocketError(`${path} exists and is not a socket; remove it or pick another --driver-name`);
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
