/**
 * DockerEngine over a real unix socket, against a small node:http server that answers as the
 * Docker engine API does (replies shaped as Docker 20.10 and 28.x send them), hangs, or
 * trickles.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DockerEngine, DockerUnavailableError, DockerVersionError } from './engine.js';

type Route = (req: IncomingMessage, res: ServerResponse) => void;

let dir: string;
let sock: string;
let server: Server | undefined;
let paths: string[];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'd4d-engine-'));
  sock = join(dir, 'docker.sock');
  paths = [];
});

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((r) => (server === undefined ? r(undefined) : server.close(() => r(undefined))));
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

const json = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

/** An engine at `apiVersion` answering `routes` by path without the version prefix (`/networks`, `/networks/{id}`). */
async function engine(apiVersion: string, routes: Record<string, Route>): Promise<void> {
  server = createServer((req, res) => {
    const path = req.url ?? '';
    paths.push(path);
    if (path === '/version') return json(res, 200, { Version: '28.3.3', ApiVersion: apiVersion, MinAPIVersion: '1.24', Os: 'linux' });
    const route = routes[path.replace(/^\/v\d+\.\d+/, '')];
    if (route === undefined) return json(res, 404, { message: `page not found: ${path}` });
    route(req, res);
  });
  await new Promise<void>((resolve) => server?.listen(sock, resolve));
}

/** `GET /networks` as Docker 28.x lists them (no Containers in the list). */
const list28 = [
  {
    Name: 'bridge',
    Id: 'br0',
    Scope: 'local',
    Driver: 'bridge',
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '172.17.0.0/16', Gateway: '172.17.0.1' }] },
    Containers: {},
    Options: {},
    Labels: {},
  },
  {
    Name: 'lan',
    Id: '5d9c0f1e2a3b',
    Created: '2025-08-01T10:00:00.000000000Z',
    Scope: 'local',
    Driver: 'macvlan',
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: { Driver: 'd4d', Options: {}, Config: [{ Subnet: '192.168.1.0/24', IPRange: '192.168.1.128/25', Gateway: '192.168.1.1' }] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: {},
    Options: { parent: 'eth0' },
    Labels: {},
  },
];

/** `GET /networks/{id}` of Docker 28.x (API 1.51). */
const inspect28 = {
  ...list28[1],
  Containers: {
    '8a4e1c2d3b4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b': {
      Name: 'web',
      EndpointID: 'e1f2',
      MacAddress: '02:42:c0:a8:01:82',
      IPv4Address: '192.168.1.130/24',
      IPv6Address: '',
    },
    '1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c': {
      Name: 'db',
      EndpointID: 'e3f4',
      MacAddress: '02:42:C0:A8:01:83',
      IPv4Address: '192.168.1.131/24',
      IPv6Address: '',
    },
  },
  Status: { IPAM: { Subnets: { '192.168.1.0/24': { IPsInUse: 5, DynamicIPsAvailable: 126 } } } },
};

/** Docker 20.10 (API 1.41): the same network as it showed it. */
const list20 = [
  {
    Name: 'lan',
    Id: 'aa11',
    Scope: 'local',
    Driver: 'macvlan',
    EnableIPv6: false,
    IPAM: { Driver: 'd4d', Options: {}, Config: [{ Subnet: '10.9.0.0/24', Gateway: '10.9.0.1' }] },
    Containers: {},
    Options: { parent: 'eth0' },
    Labels: {},
  },
];
const inspect20 = {
  ...list20[0],
  Containers: { '3f1c': { Name: 'web', EndpointID: 'e1', MacAddress: '02:42:0a:09:00:0b', IPv4Address: '10.9.0.11/24', IPv6Address: '' } },
};

describe('DockerEngine over a unix socket', () => {
  it('reads our networks from Docker 28.x (API 1.51) at the version it negotiated', async () => {
    await engine('1.51', { '/networks': (_q, r) => json(r, 200, list28), '/networks/5d9c0f1e2a3b': (_q, r) => json(r, 200, inspect28) });
    const docker = new DockerEngine({ socketPath: sock });
    expect(await docker.ipamNetworks('d4d')).toEqual([
      {
        id: '5d9c0f1e2a3b',
        name: 'lan',
        subnets: ['192.168.1.0/24'],
        endpoints: [
          { name: 'web', mac: '02:42:c0:a8:01:82', ip: '192.168.1.130' },
          { name: 'db', mac: '02:42:c0:a8:01:83', ip: '192.168.1.131' },
        ],
      },
    ]);
    expect(docker.apiVersion).toBe('1.51');
    expect(paths).toEqual(['/version', '/v1.51/networks', '/v1.51/networks/5d9c0f1e2a3b']);
  });

  it('reads Docker 20.10 (API 1.41), and asks a newer engine at the newest version it knows', async () => {
    await engine('1.41', { '/networks': (_q, r) => json(r, 200, list20), '/networks/aa11': (_q, r) => json(r, 200, inspect20) });
    const old = new DockerEngine({ socketPath: sock });
    expect(await old.ipamNetworks('d4d')).toEqual([
      { id: 'aa11', name: 'lan', subnets: ['10.9.0.0/24'], endpoints: [{ name: 'web', mac: '02:42:0a:09:00:0b', ip: '10.9.0.11' }] },
    ]);
    expect(paths.at(-1)).toBe('/v1.41/networks/aa11');
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await engine('1.53', { '/networks': (_q, r) => json(r, 200, []) });
    const newer = new DockerEngine({ socketPath: sock });
    expect(await newer.ipamNetworks('d4d')).toEqual([]);
    expect(paths.at(-1)).toBe('/v1.52/networks');
  });

  it('refuses an engine older than Docker 20.10', async () => {
    await engine('1.40', {});
    await expect(new DockerEngine({ socketPath: sock }).ipamNetworks('d4d')).rejects.toThrow(DockerVersionError);
  });

  it('skips a network removed between the list and its inspect (404), and reads the others', async () => {
    const two = [list28[1], { ...list28[1], Id: 'gone0', Name: 'lan2', IPAM: { ...list28[1]?.IPAM, Config: [{ Subnet: '192.168.2.0/24' }] } }];
    await engine('1.51', {
      '/networks': (_q, r) => json(r, 200, two),
      '/networks/5d9c0f1e2a3b': (_q, r) => json(r, 200, inspect28),
      '/networks/gone0': (_q, r) => json(r, 404, { message: 'network gone0 not found' }),
    });
    const networks = await new DockerEngine({ socketPath: sock }).ipamNetworks('d4d');
    expect(networks.map((n) => n.name)).toEqual(['lan']);
  });

  it('gives up on an engine that never answers, within its timeout', async () => {
    await engine('1.51', { '/networks': () => undefined });
    const startedAt = Date.now();
    await expect(new DockerEngine({ socketPath: sock, timeoutMs: 200 }).ipamNetworks('d4d')).rejects.toThrow(DockerUnavailableError);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });

  it('gives up on an engine that trickles its reply for longer than the timeout (the bound is per call, not per silence)', async () => {
    await engine('1.51', {
      '/networks': (_q, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('[');
        const timer = setInterval(() => res.write(' '), 50);
        res.on('close', () => clearInterval(timer));
      },
    });
    const startedAt = Date.now();
    await expect(new DockerEngine({ socketPath: sock, timeoutMs: 300 }).ipamNetworks('d4d')).rejects.toThrow(/no complete answer within 300 ms/);
    expect(Date.now() - startedAt).toBeLessThan(1_500);
  });

  it('stops a call under way when its signal aborts', async () => {
    await engine('1.51', { '/networks': () => undefined });
    const abort = new AbortController();
    const read = new DockerEngine({ socketPath: sock, timeoutMs: 60_000 }).ipamNetworks('d4d', abort.signal);
    setTimeout(() => abort.abort(), 100);
    const startedAt = Date.now();
    await expect(read).rejects.toThrow(/aborted/);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    // An already aborted signal sends nothing.
    const before = paths.length;
    await expect(new DockerEngine({ socketPath: sock }).ipamNetworks('d4d', abort.signal)).rejects.toThrow(/aborted/);
    expect(paths.length).toBe(before);
  });
});
