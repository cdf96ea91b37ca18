/**
 * Command-line parsing: argv in, a `Command` out. No side effects; `main.ts` acts on the result.
 */
import { parseArgs } from 'node:util';
import { isIPv4, normalizeMac } from './dhcp/codec/ipv4.js';
import type { ConfigFlags } from './config.js';
import { DaemonError } from './errors.js';

export const USAGE = `Usage: oam-docker-ipam [global options] <command> [options]

Commands:
  server     Run the Docker IPAM plugin: serve <plugin-dir>/<driver-name>.sock and keep every
             container's DHCP lease renewed. Leases are kept in <state-dir> across restarts.
  probe      Lease one address from the DHCP server for a MAC, print it, then release it.
             Checks, before any container runs, that this host can get leases from the server.
      --mac MAC          endpoint MAC to lease for (default: a random locally administered MAC)
      --ip IP            ask for this address (option 50) and fail if the server will not give it
      --hold SECONDS     keep the lease (renewing it) this long before releasing it (default 0)
      --timeout SECONDS  give up acquiring after this long (default 60)
             A MAC the running server (or its lease table) holds is refused: its RELEASE would
             free a running container's address.
  reconcile [--dry-run]
             Ask the running server to compare its leases with the endpoints Docker has now and
             release those no endpoint has had for RECONCILE_GRACE; print them as a table.
             With --dry-run, only print what would be released. Fails when the server is not
             running or Docker cannot be read (nothing is released then).

Global options (they override the configuration file and the environment):
  --config FILE        settings file (default /etc/oam-docker-ipam/oam-docker-ipam.conf)
  --dhcp-server IP[,IP...]
                       DHCP_SERVER: requests are unicast to IP:67; with several, a new lease
                       is asked of the next when the first does not answer
  --listen-addr IP     LISTEN_ADDR: this host's address on the DHCP server's network
  --relay              DHCP_MODE=relay: act as a DHCP relay agent on RELAY_ADDR:67 (answered
                       by unicast, across routers) instead of a client on UDP/68
  --relay-addr IP      RELAY_ADDR (default LISTEN_ADDR): the relay address (giaddr)
  --driver-name NAME   DRIVER_NAME (default d4d): docker network create --ipam-driver NAME
  --state-dir DIR      STATE_DIR (default /var/lib/oam-docker-ipam)
  --plugin-dir DIR     PLUGIN_DIR (default /run/docker/plugins)
  --dhcp-server-ids IP[,IP...]
                       DHCP_SERVER_IDS: server identifiers (option 54) trusted besides
                       DHCP_SERVER (a secondary address, an explicit server-identifier)
  --docker-socket PATH DOCKER_SOCKET (default /var/run/docker.sock): the engine API, read to
                       reconcile leases with Docker's endpoints
  --reconcile-interval SECONDS
                       RECONCILE_INTERVAL (default 60; 0 = only on demand): how often leases
                       are reconciled with Docker
  --reconcile-grace SECONDS
                       RECONCILE_GRACE (default 300): how long a lease must be missing from
                       Docker before it is released; covers a request in flight
  --debug              IPAM_DEBUG: log every packet and lease step
  -h, --help           show this help
  -v, --version        print the version

Signals: SIGINT, SIGTERM and SIGHUP stop the server, keeping leases on disk (containers keep their
addresses and the next start resumes renewing them); probe releases what it holds.
Exit status: 0 success, 1 failure (DHCP, configuration, socket), 2 bad usage.`;

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'server'; flags: ConfigFlags }
  | { kind: 'reconcile'; flags: ConfigFlags; dryRun: boolean }
  | {
      kind: 'probe';
      flags: ConfigFlags;
      mac: string | undefined;
      requestedIp: string | undefined;
      holdSeconds: number;
      timeoutMs: number;
    };

/** Bad command line; the message says what is wrong, `main` adds the usage. */
export class UsageError extends DaemonError {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}

export function parseCli(argv: readonly string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        debug: { type: 'boolean' },
        config: { type: 'string' },
        'dhcp-server': { type: 'string' },
        'listen-addr': { type: 'string' },
        'driver-name': { type: 'string' },
        'state-dir': { type: 'string' },
        'plugin-dir': { type: 'string' },
        'dhcp-server-ids': { type: 'string' },
        relay: { type: 'boolean' },
        'relay-addr': { type: 'string' },
        'docker-socket': { type: 'string' },
        'reconcile-interval': { type: 'string' },
        'reconcile-grace': { type: 'string' },
        'dry-run': { type: 'boolean' },
        mac: { type: 'string' },
        ip: { type: 'string' },
        hold: { type: 'string', default: '0' },
        timeout: { type: 'string', default: '60' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const [command, ...extra] = positionals;
  if (command === undefined) throw new UsageError('no command given');
  if (command !== 'probe' && command !== 'server' && command !== 'reconcile') throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);

  const flags: ConfigFlags = {};
  if (values.debug !== undefined) flags.debug = values.debug;
  if (values.config !== undefined) flags.configFile = values.config;
  if (values['dhcp-server'] !== undefined) flags.dhcpServer = values['dhcp-server'];
  if (values['listen-addr'] !== undefined) flags.listenAddr = values['listen-addr'];
  if (values['driver-name'] !== undefined) flags.driverName = values['driver-name'];
  if (values['state-dir'] !== undefined) flags.stateDir = values['state-dir'];
  if (values['plugin-dir'] !== undefined) flags.pluginDir = values['plugin-dir'];
  if (values['dhcp-server-ids'] !== undefined) flags.dhcpServerIds = values['dhcp-server-ids'];
  if (values.relay !== undefined) flags.relay = values.relay;
  if (values['relay-addr'] !== undefined) flags.relayAddr = values['relay-addr'];
  if (values['docker-socket'] !== undefined) flags.dockerSocket = values['docker-socket'];
  if (values['reconcile-interval'] !== undefined) flags.reconcileInterval = values['reconcile-interval'];
  if (values['reconcile-grace'] !== undefined) flags.reconcileGrace = values['reconcile-grace'];

  if (command !== 'reconcile' && values['dry-run'] !== undefined) throw new UsageError('--dry-run only goes with reconcile');
  if (command === 'server' || command === 'reconcile') {
    const probeOnly = (['mac', 'ip'] as const).filter((k) => values[k] !== undefined);
    if (probeOnly.length > 0) throw new UsageError(`--${probeOnly.join(', --')} only go with probe`);
    return command === 'server' ? { kind: 'server', flags } : { kind: 'reconcile', flags, dryRun: values['dry-run'] ?? false };
  }

  const problems: string[] = [];
  const mac = values.mac === undefined ? undefined : normalizeMac(values.mac);
  if (values.mac !== undefined && mac === undefined) problems.push(`--mac: not a MAC address: ${JSON.stringify(values.mac)}`);
  if (values.ip !== undefined && !isIPv4(values.ip)) problems.push(`--ip: not an IPv4 address: ${JSON.stringify(values.ip)}`);
  const hold = Number(values.hold);
  if (!Number.isFinite(hold) || hold < 0) problems.push(`--hold: want seconds ≥ 0, got ${JSON.stringify(values.hold)}`);
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) problems.push(`--timeout: want seconds > 0, got ${JSON.stringify(values.timeout)}`);
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  return { kind: 'probe', flags, mac, requestedIp: values.ip, holdSeconds: hold, timeoutMs: timeout * 1000 };
}
