/**
 * The metrics listener: `GET /metrics` on METRICS_ADDR, plain node:http (a second fastify for
 * one path would be weight for nothing). Off unless configured. A listener that cannot be opened
 * stops the start: an operator who asked for metrics would otherwise scrape nothing unawares.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { DaemonError } from '../errors.js';

/** METRICS_ADDR could not be listened on. */
export class MetricsListenError extends DaemonError {
  override readonly name = 'MetricsListenError';
  readonly code = 'METRICS_LISTEN';
}

export interface MetricsServer {
  /** The address and port listened on (the port the kernel chose when 0 was asked). */
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

export async function serveMetrics(o: {
  host: string;
  port: number;
  render: () => Promise<{ contentType: string; body: string }>;
  log: Logger;
}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: scrape GET /metrics\n');
      return;
    }
    o.render().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: unknown) => {
        o.log.error({ err }, 'metrics could not be rendered');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be rendered (see the oam-docker-ipam log)\n');
      },
    );
  });
  // A scraper, not the world: a few connections at most, none held forever.
  server.maxConnections = 16;
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'the port is in use' : err.code === 'EADDRNOTAVAIL' ? 'no interface of this host has that address' : err.message;
      reject(
        new MetricsListenError(`cannot serve metrics on ${o.host}:${o.port}: ${why}; change METRICS_ADDR (--metrics-addr) or leave it unset`, { cause: err }),
      );
    });
    server.listen({ host: o.host, port: o.port }, () => resolve());
  });
  const bound = server.address();
  const address = typeof bound === 'object' && bound !== null ? { host: bound.address, port: bound.port } : { host: o.host, port: o.port };
  o.log.info({ metrics: `http://${address.host}:${address.port}/metrics` }, 'serving metrics');
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
