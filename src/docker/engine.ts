/**
 * A small client of the Docker engine API, over its unix socket with node:http: only what
 * reconciliation needs (the engine's version, our networks and their endpoints). Read-only.
 *
 * The API version is negotiated as the docker CLI does: `GET /version` (unversioned) gives the
 * engine's newest version; we use it, capped at the newest one this client knows, and refuse
 * engines older than 1.41 (Docker 20.10), whose network inspect we have not checked. The
 * version is asked again after any failure, since a failure may be a dockerd upgrade+restart.
 *
 * Each API call is bounded as a whole (a hung or trickling engine is given up on), and a read
 * can be aborted (the daemon is stopping). Every call has its own connection: after a dockerd
 * restart a pooled one would be dead.
 *
 * Never call this from inside a plugin request handler: dockerd holds the container lock
 * while it waits for RequestAddress, and an API call that needs that lock would deadlock
 * (docker-ipam.md §1.6).
 */
import { request } from 'node:http';
import { normalizeMac } from '../dhcp/codec/ipv4.js';
import { DaemonError } from '../errors.js';
import type { DockerEndpoint, DockerNetwork } from '../ipam/reconcile.js';

/** Oldest engine API we talk to: Docker 20.10. */
export const MIN_API_VERSION = '1.41';
/** Newest engine API this client knows (Docker 29.0); newer engines are asked at this version. */
export const MAX_API_VERSION = '1.52';
/** Per API call, from the request to the reply's last byte: an engine that takes longer is treated as unreachable. */
export const DEFAULT_DOCKER_TIMEOUT_MS = 10_000;

/** The engine API socket could not be reached, or did not answer in time. */
export class DockerUnavailableError extends DaemonError {
  override readonly name = 'DockerUnavailableError';
  readonly code = 'DOCKER_UNAVAILABLE';
}

/** The engine answered with an error status or a body we cannot read. */
export class DockerApiError extends DaemonError {
  override readonly name = 'DockerApiError';
  readonly code = 'DOCKER_API';

  constructor(
    message: string,
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The engine's API is older than we support. */
export class DockerVersionError extends DaemonError {
  override readonly name = 'DockerVersionError';
  readonly code = 'DOCKER_VERSION';
}

/**
 * The API version to use with an engine whose newest is `engine`: that one, capped at
 * {@link MAX_API_VERSION}. Throws `DockerVersionError` below {@link MIN_API_VERSION}.
 */
export function negotiateApiVersion(engine: string): string {
  if (!/^\d+\.\d+$/.test(engine)) throw new DockerVersionError(`Docker engine reports API version ${JSON.stringify(engine)}, which is not a version number`);
  if (compareVersions(engine, MIN_API_VERSION) < 0) {
    throw new DockerVersionError(`Docker engine API ${engine} is too old: reconciliation needs API ${MIN_API_VERSION} or newer (Docker 20.10 or newer)`);
  }
  return compareVersions(engine, MAX_API_VERSION) > 0 ? MAX_API_VERSION : engine;
}

function compareVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split('.').map(Number);
  const [bMajor = 0, bMinor = 0] = b.split('.').map(Number);
  return aMajor !== bMajor ? aMajor - bMajor : aMinor - bMinor;
}

/** IDs of the networks in `GET /networks` whose IPAM driver is `driverName`. */
export function networkIdsOfDriver(list: unknown, driverName: string): string[] {
  if (!Array.isArray(list)) throw new DockerApiError('GET /networks: want a JSON array', 200);
  const ids: string[] = [];
  for (const n of list as unknown[]) {
    if (!isObject(n) || typeof n.Id !== 'string') throw new DockerApiError('GET /networks: a network without an Id', 200);
    if (isObject(n.IPAM) && n.IPAM.Driver === driverName) ids.push(n.Id);
  }
  return ids;
}

/** A network from `GET /networks/{id}`: IPv4 subnets and every endpoint's MAC and IPv4 address. */
export function parseNetwork(body: unknown): DockerNetwork {
  if (!isObject(body) || typeof body.Id !== 'string' || typeof body.Name !== 'string')
    throw new DockerApiError('GET /networks/{id}: want a network with Id and Name', 200);
  const config = isObject(body.IPAM) && Array.isArray(body.IPAM.Config) ? (body.IPAM.Config as unknown[]) : [];
  const subnets = config.flatMap((c) => (isObject(c) && typeof c.Subnet === 'string' && c.Subnet.includes('.') ? [c.Subnet] : []));
  const endpoints: DockerEndpoint[] = [];
  for (const [key, e] of Object.entries(isObject(body.Containers) ? body.Containers : {})) {
    if (!isObject(e)) continue;
    const ip = typeof e.IPv4Address === 'string' && e.IPv4Address !== '' ? e.IPv4Address.split('/')[0] : undefined;
    const mac = typeof e.MacAddress === 'string' ? normalizeMac(e.MacAddress) : undefined;
    endpoints.push({ name: typeof e.Name === 'string' && e.Name !== '' ? e.Name : key, mac, ip });
  }
  return { id: body.Id, name: body.Name, subnets, endpoints };
}

function aborted(socketPath: string, path: string): DockerUnavailableError {
  return new DockerUnavailableError(`Docker engine at ${socketPath}: GET ${path} aborted: reconciliation is stopping`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export interface DockerEngineOptions {
  /** The engine API socket, e.g. `/var/run/docker.sock`. */
  socketPath: string;
  timeoutMs?: number;
}

/** Reads networks and endpoints from the engine API. */
export class DockerEngine {
  readonly #socketPath: string;
  readonly #timeoutMs: number;
  #version: string | undefined;

  constructor(options: DockerEngineOptions) {
    this.#socketPath = options.socketPath;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_DOCKER_TIMEOUT_MS;
  }

  /** The negotiated API version, once a call succeeded. */
  get apiVersion(): string | undefined {
    return this.#version;
  }

  /** Every network whose IPAM driver is `driverName`, with its endpoints on this host; `signal` aborts the read. */
  async ipamNetworks(driverName: string, signal?: AbortSignal): Promise<DockerNetwork[]> {
    try {
      this.#version ??= negotiateApiVersion(await this.#apiVersionOfEngine(signal));
      const ids = networkIdsOfDriver(await this.#get(`/v${this.#version}/networks`, { signal }), driverName);
      const networks: DockerNetwork[] = [];
      for (const id of ids) {
        // A network removed between the list and the inspect is simply not there any more.
        const body = await this.#get(`/v${this.#version}/networks/${encodeURIComponent(id)}`, { allowNotFound: true, signal });
        if (body !== undefined) networks.push(parseNetwork(body));
      }
      return networks;
    } catch (err) {
      this.#version = undefined;
      throw err;
    }
  }

  async #apiVersionOfEngine(signal: AbortSignal | undefined): Promise<string> {
    const body = await this.#get('/version', { signal });
    if (!isObject(body) || typeof body.ApiVersion !== 'string') throw new DockerApiError('GET /version: no ApiVersion in the reply', 200);
    return body.ApiVersion;
  }

  #get(path: string, options: { allowNotFound?: boolean; signal?: AbortSignal | undefined } = {}): Promise<unknown> {
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(aborted(this.#socketPath, path));
    return new Promise((resolve, reject) => {
      // The first outcome wins; the timer and the abort listener go with it.
      let timer: NodeJS.Timeout | undefined;
      /** Why we cut the call off ourselves (timeout, abort): reported instead of the socket's error. */
      let cutOff: DockerUnavailableError | undefined;
      const cut = (err: DockerUnavailableError): void => {
        cutOff ??= err;
        req.destroy(err);
      };
      const onAbort = (): void => cut(aborted(this.#socketPath, path));
      const unreachable = (err: Error): DockerUnavailableError =>
        cutOff ??
        new DockerUnavailableError(`cannot reach the Docker engine at ${this.#socketPath} (DOCKER_SOCKET): GET ${path}: ${err.message}`, { cause: err });
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const resolve1 = (v: unknown): void => {
        settle();
        resolve(v);
      };
      const reject1 = (err: unknown): void => {
        settle();
        reject(err);
      };
      const req = request(
        { socketPath: this.#socketPath, agent: false, method: 'GET', path, headers: { Accept: 'application/json', Host: 'docker' } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('error', (err) => reject1(unreachable(err)));
          // Closed before its end (no-op once resolved).
          res.on('close', () => reject1(unreachable(new Error('connection closed before the reply ended'))));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status === 404 && options.allowNotFound) {
              resolve1(undefined);
              return;
            }
            let body: unknown;
            try {
              body = JSON.parse(text);
            } catch (err) {
              reject1(
                new DockerApiError(
                  `Docker engine at ${this.#socketPath}: GET ${path}: HTTP ${status}, reply is not JSON: ${JSON.stringify(text.slice(0, 200))}`,
                  status,
                  { cause: err },
                ),
              );
              return;
            }
            if (status !== 200) {
              const message = isObject(body) && typeof body.message === 'string' ? body.message : text.slice(0, 200);
              reject1(new DockerApiError(`Docker engine at ${this.#socketPath}: GET ${path}: HTTP ${status}: ${message}`, status));
              return;
            }
            resolve1(body);
          });
        },
      );
      timer = setTimeout(
        () =>
          cut(new DockerUnavailableError(`Docker engine at ${this.#socketPath} (DOCKER_SOCKET): GET ${path}: no complete answer within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => reject1(unreachable(err)));
      req.end();
    });
  }
}
