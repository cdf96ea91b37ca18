/**
 * The plugin's HTTP surface as a fastify plugin: the seven paths Docker POSTs to, one error
 * handler. Docker sends no Content-Type and reads only status and body: success is 200 with a
 * JSON body (never empty), failure is 500 `{"Err": message}` (docker-ipam.md §1.4).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { DaemonError } from '../errors.js';
import type { IpamDriver } from './driver.js';
import { parseBody, parseReleaseAddress, parseReleasePool, parseRequestAddress, parseRequestPool } from './protocol.js';

export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

export function ipamRoutes(driver: IpamDriver) {
  return async function routes(app: FastifyInstance): Promise<void> {
    // Take every body as text, whatever its Content-Type (Docker sends none): the handlers
    // parse it, so a bad body gets our error message rather than a framework one.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

    const body = (raw: unknown): string => (typeof raw === 'string' ? raw : '');
    const send = (reply: FastifyReply, payload: unknown): FastifyReply => reply.code(200).type(PLUGIN_CONTENT_TYPE).send(payload);

    app.post('/Plugin.Activate', async (_req, reply) => send(reply, { Implements: ['IpamDriver'] }));
    app.post('/IpamDriver.GetCapabilities', async (_req, reply) => send(reply, driver.capabilities()));
    app.post('/IpamDriver.GetDefaultAddressSpaces', async (_req, reply) => send(reply, driver.addressSpaces()));
    app.post('/IpamDriver.RequestPool', async (req, reply) =>
      send(reply, await driver.requestPool(parseRequestPool(parseBody('RequestPool', body(req.body))))),
    );
    app.post('/IpamDriver.ReleasePool', async (req, reply) => {
      await driver.releasePool(parseReleasePool(parseBody('ReleasePool', body(req.body))));
      return send(reply, {});
    });
    app.post('/IpamDriver.RequestAddress', async (req, reply) =>
      send(reply, await driver.requestAddress(parseRequestAddress(parseBody('RequestAddress', body(req.body))))),
    );
    app.post('/IpamDriver.ReleaseAddress', async (req, reply) => {
      await driver.releaseAddress(parseReleaseAddress(parseBody('ReleaseAddress', body(req.body))));
      return send(reply, {});
    });

    app.setNotFoundHandler((req, reply) => {
      void reply.code(404).type(PLUGIN_CONTENT_TYPE).send({ Err: `unknown endpoint ${req.method} ${req.url}` });
    });
    app.setErrorHandler((err: unknown, req, reply) => {
      if (err instanceof DaemonError) {
        req.log.warn({ code: err.code, url: req.url }, err.message);
        void reply.code(500).type(PLUGIN_CONTENT_TYPE).send({ Err: err.message });
        return;
      }
      req.log.error({ err, url: req.url }, 'internal error');
      void reply.code(500).type(PLUGIN_CONTENT_TYPE).send({ Err: 'internal error (see the oam-docker-ipam log)' });
    });
  };
}
