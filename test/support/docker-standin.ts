/**
 * A minimal stand-in for the Docker engine API on a unix socket: it answers the read-only calls
 * a reconciler makes (ping, version, network list and inspect, container list) from a callback
 * that says which networks and endpoints exist right now.
 *
 * Why not dockerd: the kill-under-load suite makes 200 plugin calls per cycle with random MACs
 * and needs Docker's view to be exactly "what callers were told and did not release" at every
 * instant; a real engine cannot create and remove 200 endpoints a cycle, and its view would lag.
 * The replies follow the engine API (1.41+): `Containers` only in inspect, `IPv4Address` in CIDR.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { rm } from 'node:fs/promises';

export interface StandinEndpoint {
  readonly mac: string;
  readonly ip: string;
}

export interface StandinNetwork {
  readonly id: string;
  readonly name: string;
  /** IPAM driver name of the network (the plugin's driver name). */
  readonly ipamDriver: string;
  readonly subnet: string;
  readonly prefixLength: number;
  readonly gateway?: string;
  readonly endpoints: readonly StandinEndpoint[];
}

export interface DockerStandin {
  readonly socketPath: string;
  /** Every request line seen (`GET /v1.43/networks`), for tests that check it was asked. */
  readonly requests: readonly string[];
  close(): Promise<void>;
}

const API_VERSION = '1.43';

export async function startDockerStandin(socketPath: string, networks: () => readonly StandinNetwork[]): Promise<DockerStandin> {
  const requests: string[] = [];
  const inspect = (n: StandinNetwork): Record<string, unknown> => ({
    ...summary(n),
    Containers: Object.fromEntries(
      n.endpoints.map((e, i) => {
        const cid = `${n.id.slice(0, 8)}${e.mac.replaceAll(':', '')}`.padEnd(64, '0');
        return [
          cid,
          {
            Name: `c${i}-${e.mac.replaceAll(':', '')}`,
            EndpointID: `ep${cid}`.slice(0, 64),
            MacAddress: e.mac,
            IPv4Address: `${e.ip}/${n.prefixLength}`,
            IPv6Address: '',
          },
        ];
      }),
    ),
  });
  const summary = (n: StandinNetwork): Record<string, unknown> => ({
    Name: n.name,
    Id: n.id,
    Created: '2024-01-01T00:00:00Z',
    Scope: 'local',
    Driver: 'macvlan',
    EnableIPv6: false,
    IPAM: {
      Driver: n.ipamDriver,
      Options: {},
      Config: [{ Subnet: `${n.subnet}/${n.prefixLength}`, ...(n.gateway === undefined ? {} : { Gateway: n.gateway }) }],
    },
    Internal: false,
    Attachable: false,
    Ingress: false,
    Containers: {},
    Options: {},
    Labels: {},
  });
  /** The engine's answer to one request: its status and body (a string is sent as text/plain). */
  const answer = (method: string | undefined, url: URL, path: string): [number, unknown] => {
    if (method !== 'GET' && method !== 'HEAD') return [405, { message: 'read-only stand-in' }];
    if (path === '/_ping') return [200, 'OK'];
    if (path === '/version') return [200, { Version: '24.0.0', ApiVersion: API_VERSION, MinAPIVersion: '1.12', Os: 'linux', Arch: 'amd64' }];
    const all = networks();
    if (path === '/networks') {
      const driver = driverFilter(url.searchParams.get('filters'));
      return [200, driver === undefined || driver.includes('macvlan') ? all.map(summary) : []];
    }
    const one = /^\/networks\/([^/]+)$/.exec(path);
    if (one !== null) {
      const n = all.find((x) => x.id === one[1] || x.name === one[1] || x.id.startsWith(one[1] ?? '-'));
      return n === undefined ? [404, { message: `network ${one[1] ?? ''} not found` }] : [200, inspect(n)];
    }
    if (path === '/containers/json') {
      const list = all.flatMap((n) =>
        Object.entries(inspect(n).Containers as Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string }>).map(
          ([id, c]) => ({
            Id: id,
            Names: [`/${c.Name}`],
            State: 'running',
            NetworkSettings: {
              Networks: {
                [n.name]: {
                  NetworkID: n.id,
                  EndpointID: c.EndpointID,
                  MacAddress: c.MacAddress,
                  IPAddress: c.IPv4Address.split('/')[0],
                  IPPrefixLen: n.prefixLength,
                },
              },
            },
          }),
        ),
      );
      return [200, list];
    }
    return [404, { message: `page not found: ${path}` }];
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://docker');
    requests.push(`${req.method ?? '?'} ${url.pathname}${url.search}`);
    const [status, body] = answer(req.method, url, url.pathname.replace(/^\/v1\.\d+/, ''));
    res.writeHead(status, {
      'Content-Type': typeof body === 'string' ? 'text/plain' : 'application/json',
      'Api-Version': API_VERSION,
      'Docker-Experimental': 'false',
      Server: 'Docker/24.0 (linux)',
    });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  await rm(socketPath, { force: true });
  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    socketPath,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(socketPath, { force: true });
    },
  };
}

/** The `driver` values of a `filters` query (`{"driver":{"macvlan":true}}` or `{"driver":["macvlan"]}`). */
function driverFilter(filters: string | null): string[] | undefined {
  if (filters === null) return undefined;
  try {
    const parsed = JSON.parse(filters) as Record<string, unknown>;
    const d = parsed.driver;
    if (Array.isArray(d)) return d.map(String);
    if (d !== null && typeof d === 'object') return Object.keys(d);
  } catch {
    // a malformed filter is ignored, as the engine would reject it; the reconciler sees all
  }
  return undefined;
}
