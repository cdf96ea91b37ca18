/**
 * The plugin's HTTP surface as a fastify plugin: the seven paths Docker POSTs to, one error
 * handler. Docker sends no Content-Type and reads only status and body: success is 200 with a
 * JSON body (never empty), failure is 500 `{"Err": message}` (docker-ipam.md §1.4).
 *
 * Every call is tracked from its arrival until both its handler has finished and its response
 * is closed, so a shutdown can wait for the calls under way (`PluginCalls`). A caller that hangs
 * up before the reply aborts the call's signal: RequestAddress then gives back what it got.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StepAbort, type AbortLike } from '../abort.js';
import { DaemonError } from '../errors.js';
import type { IpamDriver } from './driver.js';
import { parseBody, parseReleaseAddress, parseReleasePool, parseRequestAddress, parseRequestPool } from './protocol.js';

export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

/** Plugin calls under way, and whether new ones are still taken. */
export class PluginCalls {
  #count = 0;
  #stopping = false;
  #waiters: Array<() => void> = [];

  /** Calls whose handler or response is not finished yet. */
  get size(): number {
    return this.#count;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** From now on new calls are refused. */
  stop(): void {
    this.#stopping = true;
  }

  /** Resolves once no call is under way. */
  idle(): Promise<void> {
    if (this.#count === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  begin(): () => void {
    this.#count++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.#count === 0) for (const wake of this.#waiters.splice(0)) wake();
    };
  }
}

export function ipamRoutes(driver: IpamDriver, calls: PluginCalls = new PluginCalls()) {
  return async function routes(app: FastifyInstance): Promise<void> {
    // Take every body as text, whatever its Content-Type (Docker sends none): the handlers
    // parse it, so a bad body gets our error message rather than a framework one.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

    // While stopping, every reply closes its connection (Docker reconnects, and finds the
    // socket gone or the next instance): a connection kept open would hold the stop.
    // (With a callback, not async: an async hook costs every reply a promise.)
    app.addHook('onSend', (_req, reply, payload, done) => {
      if (calls.stopping) void reply.header('connection', 'close');
      done(null, payload);
    });

    const body = (raw: unknown): string => (typeof raw === 'string' ? raw : '');
    const send = (reply: FastifyReply, payload: unknown): FastifyReply => reply.code(200).type(PLUGIN_CONTENT_TYPE).send(payload);

    /**
     * Wraps a handler: refused while stopping, tracked in `calls`, and given a signal that
     * aborts when the connection closes before the response was sent. (The request's own
     * 'close' fires once its body is read; the response's fires on hang-up or after sending.)
     */
    const call =
      (handler: (req: FastifyRequest, reply: FastifyReply, signal: AbortLike) => Promise<FastifyReply>) =>
      async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
        if (calls.stopping) {
          // Docker retries a refused connection but not an answered call: say why it failed.
          return reply
            .code(503)
            .header('connection', 'close')
            .type(PLUGIN_CONTENT_TYPE)
            .send({ Err: 'oam-docker-ipam is stopping; try again once it is back' });
        }
        const end = calls.begin();
        // Every call gets one, and an AbortController costs every call about 18 µs (see abort.ts).
        const hangUp = new StepAbort();
        let handled = false;
        let closed = false;
        reply.raw.once('close', () => {
          closed = true;
          if (!reply.raw.writableFinished) hangUp.abort();
          if (handled) end();
        });
        try {
          return await handler(req, reply, hangUp);
        } finally {
          handled = true;
          if (closed) end();
        }
      };

    app.post(
      '/Plugin.Activate',
      call(async (_req, reply) => send(reply, { Implements: ['IpamDriver'] })),
    );
    app.post(
      '/IpamDriver.GetCapabilities',
      call(async (_req, reply) => send(reply, driver.capabilities())),
    );
    app.post(
      '/IpamDriver.GetDefaultAddressSpaces',
      call(async (_req, reply) => send(reply, driver.addressSpaces())),
    );
    app.post(
      '/IpamDriver.RequestPool',
      call(async (req, reply) => send(reply, await driver.requestPool(parseRequestPool(parseBody('RequestPool', body(req.body)))))),
    );
    app.post(
      '/IpamDriver.ReleasePool',
      call(async (req, reply) => {
        await driver.releasePool(parseReleasePool(parseBody('ReleasePool', body(req.body))));
        return send(reply, {});
      }),
    );
    app.post(
      '/IpamDriver.RequestAddress',
      call(async (req, reply, signal) => send(reply, await driver.requestAddress(parseRequestAddress(parseBody('RequestAddress', body(req.body))), signal))),
    );
    app.post(
      '/IpamDriver.ReleaseAddress',
      call(async (req, reply) => {
        await driver.releaseAddress(parseReleaseAddress(parseBody('ReleaseAddress', body(req.body))));
        return send(reply, {});
      }),
    );

    app.setNotFoundHandler((req, reply) => {
      void reply
        .code(404)
        .type(PLUGIN_CONTENT_TYPE)
        .send({ Err: `unknown endpoint ${req.method} ${req.url}` });
    });
    app.setErrorHandler((err: unknown, req, reply) => {
      if (err instanceof DaemonError) {
        req.log.warn({ code: err.code, url: req.url }, err.message);
        void reply.code(500).type(PLUGIN_CONTENT_TYPE).send({ Err: err.message });
        return;
      }
      const status = clientErrorStatus(err);
      if (status !== undefined) {
        // fastify's own refusals (a body past the size limit, a malformed request): the
        // caller's fault, said in Docker's error shape rather than as an internal error.
        const message = `${(err as Error).message}${status === 413 ? ` (limit ${BODY_LIMIT_BYTES / 1024 / 1024} MiB)` : ''}`;
        req.log.warn({ status, url: req.url }, message);
        void reply.code(status).type(PLUGIN_CONTENT_TYPE).send({ Err: message });
        return;
      }
      req.log.error({ err, url: req.url }, 'internal error');
      void reply.code(500).type(PLUGIN_CONTENT_TYPE).send({ Err: 'internal error (see the oam-docker-ipam log)' });
    });
  };
}

/** fastify's default body limit; Docker's bodies are a few hundred bytes. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/** The 4xx status of an error fastify raised about the request itself, if it is one. */
function clientErrorStatus(err: unknown): number | undefined {
  if (!(err instanceof Error) || !('statusCode' in err)) return undefined;
  const status = (err as Error & { statusCode: unknown }).statusCode;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
}
