/** Builds the plugin's fastify instance, not yet listening (tests use `inject`), and stops it. */
import { fastify, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../clock.js';
import type { IpamDriver } from './driver.js';
import { BODY_LIMIT_BYTES, ipamRoutes, PluginCalls } from './routes.js';

/** The calls under way of each server `buildServer` made, for `stopServing`. */
const callsOf = new WeakMap<FastifyInstance, PluginCalls>();

export async function buildServer(deps: { driver: IpamDriver; log: Logger }): Promise<FastifyInstance> {
  const app = fastify({
    // pino's Logger is a FastifyBaseLogger; the cast only drops pino's extra type parameters.
    loggerInstance: deps.log as FastifyBaseLogger,
    // Docker's plugin client has no request timeout; neither do we.
    requestTimeout: 0,
    bodyLimit: BODY_LIMIT_BYTES,
    // Calls that arrive while stopping are refused by the routes, with an {"Err": …} Docker shows.
    return503OnClosing: false,
  });
  // Docker reuses keep-alive connections and re-sends a request with an empty body if the
  // server closed one under it (docker-ipam.md §1.5): never time idle connections out. (Set on
  // the server itself: fastify reads a keepAliveTimeout option of 0 as "use the default".)
  app.server.keepAliveTimeout = 0;
  const calls = new PluginCalls();
  callsOf.set(app, calls);
  await app.register(ipamRoutes(deps.driver, calls));
  return app;
}

/**
 * Serves on a listening socket systemd passed (activation.ts). fastify's listen() takes a path
 * or a port only, and would read the address of a passed socket as a port's; the server it
 * closes at app.close() is the same either way. listen() on the passed socket sets its backlog
 * anew, for systemd's copy too: `backlog` goes as an argument, since Node ignores a `backlog`
 * beside `fd` in the options and would set 511.
 */
export async function listenOnFd(app: FastifyInstance, fd: number, backlog: number): Promise<void> {
  await app.ready();
  await new Promise<void>((resolve, reject) => {
    app.server.once('error', reject);
    app.server.listen({ fd }, backlog, () => {
      app.server.off('error', reject);
      resolve();
    });
  });
}

export interface StopServingOptions {
  clock: Clock;
  /** How long calls under way may take to finish. */
  graceMs: number;
  /** Called once the bound has passed with calls still under way: make them fail fast. */
  onGraceExpired: () => void;
  /** Called when connections without a call were still open after the calls ended, and are being closed. */
  onConnectionsForced?: () => void;
}

/**
 * Stops serving Docker: no new connections (Docker retries those until we are back), calls
 * that arrive on open connections refused, calls under way allowed to finish within
 * `graceMs` and then cut short through `onGraceExpired`; resolves once every connection is
 * closed. Returns how many calls were still under way when the bound passed.
 */
export async function stopServing(app: FastifyInstance, o: StopServingOptions): Promise<{ cutShort: number }> {
  const calls = callsOf.get(app);
  calls?.stop();
  // Closes the listening socket and idle connections; resolves when every connection is gone.
  const closed = app.close();
  let cutShort = 0;
  if (calls !== undefined && calls.size > 0) {
    let timer: TimerHandle | undefined;
    const expired = new Promise<'expired'>((resolve) => (timer = o.clock.setTimeout(() => resolve('expired'), o.graceMs)));
    if ((await Promise.race([calls.idle(), expired])) === 'expired') {
      cutShort = calls.size;
      o.onGraceExpired();
      await calls.idle();
    }
    if (timer !== undefined) o.clock.clearTimeout(timer);
  }
  // Replies sent since the stop began close their connections; one that went idle meanwhile
  // (its reply was under way at the stop) would hold the close forever.
  app.server.closeIdleConnections();
  // No call is under way now: a connection still open carries nothing that can be lost, and
  // one was seen to hold a stop until systemd's kill (Docker 20.10, after compose down of 50
  // containers; which state held it is not known). Past a short wait, they are all closed.
  let lingering: TimerHandle | undefined;
  const waited = new Promise<'lingering'>((resolve) => (lingering = o.clock.setTimeout(() => resolve('lingering'), LINGER_MS)));
  if ((await Promise.race([closed.then(() => 'closed' as const), waited])) === 'lingering') {
    o.onConnectionsForced?.();
    app.server.closeAllConnections();
    await closed;
  }
  if (lingering !== undefined) o.clock.clearTimeout(lingering);
  return { cutShort };
}

/** How long connections without a call may keep a stop waiting before they are closed. */
const LINGER_MS = 2_000;
