/** Builds the plugin's fastify instance, not yet listening (tests use `inject`). */
import { fastify, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { IpamDriver } from './driver.js';
import { ipamRoutes } from './routes.js';

export async function buildServer(deps: { driver: IpamDriver; log: Logger }): Promise<FastifyInstance> {
  const app = fastify({
    // pino's Logger is a FastifyBaseLogger; the cast only drops pino's extra type parameters.
    loggerInstance: deps.log as FastifyBaseLogger,
    // Docker's plugin client has no request timeout; neither do we.
    requestTimeout: 0,
  });
  // Docker reuses keep-alive connections and re-sends a request with an empty body if the
  // server closed one under it (docker-ipam.md §1.5): never time idle connections out. (Set on
  // the server itself: fastify reads a keepAliveTimeout option of 0 as "use the default".)
  app.server.keepAliveTimeout = 0;
  await app.register(ipamRoutes(deps.driver));
  return app;
}
