/**
 * Settings of the daemon, from (strongest first) command-line flags, the environment, the
 * configuration file (dotenv format, `/etc/oam-docker-ipam/oam-docker-ipam.conf`) and defaults.
 * The key names are D4D's, so existing configuration files keep working. This is the only
 * module that reads `process.env` or the file; everything else receives a frozen `Config`.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { parse } from 'dotenv';
import { isIPv4 } from './dhcp/codec/ipv4.js';
import { DEFAULT_SUBNET_OPTION, SUBNET_OPTIONS, type SubnetOption } from './dhcp/relay.js';
import { DaemonError } from './errors.js';

/** Where the configuration file is looked for when none is named. */
export const DEFAULT_CONFIG_FILE = '/etc/oam-docker-ipam/oam-docker-ipam.conf';
/** Plugin name Docker knows us by (`--ipam-driver d4d`); the socket is `<PLUGIN_DIR>/<name>.sock`. */
export const DEFAULT_DRIVER_NAME = 'd4d';
export const DEFAULT_STATE_DIR = '/var/lib/oam-docker-ipam';
/** Where Docker looks for legacy plugin sockets (docker-ipam.md §1.1). */
export const DEFAULT_PLUGIN_DIR = '/run/docker/plugins';
/** Acquisitions in flight per server; see docs/performance.md for why not more. */
export const DEFAULT_MAX_CONCURRENT = 32;
/** The Docker engine API socket reconciliation reads networks and endpoints from. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
/** How often the lease table is compared with Docker's endpoints: a minute costs two API calls per network. */
export const DEFAULT_RECONCILE_INTERVAL_MS = 60_000;
/**
 * How long a lease must be seen without an endpoint in Docker before it is released. It covers
 * a request in flight (the address is leased before Docker records the endpoint) with a wide
 * margin, and a dockerd restart (endpoints come back as containers restart).
 */
export const DEFAULT_RECONCILE_GRACE_MS = 300_000;

export interface Config {
  /** Log every packet and lease step. `IPAM_DEBUG`, `--debug`; default false. */
  readonly debug: boolean;
  /**
   * DHCP server requests are unicast to (port 67). `DHCP_SERVER`, `--dhcp-server`; required,
   * except by commands that only talk to the running daemon (then empty when not set).
   */
  readonly dhcpServer: string;
  /** This host's address on the DHCP server's segment, checked at start. `LISTEN_ADDR`, `--listen-addr`; optional. */
  readonly listenAddr: string | undefined;
  /** Plugin name. `DRIVER_NAME`, `--driver-name`; default `d4d`. */
  readonly driverName: string;
  /** Lease table directory. `STATE_DIR`, `--state-dir`; default `/var/lib/oam-docker-ipam`. */
  readonly stateDir: string;
  /** Plugin socket directory. `PLUGIN_DIR`, `--plugin-dir`; default `/run/docker/plugins`. */
  readonly pluginDir: string;
  /**
   * What identifies a container to the DHCP server (option 61): `mac` (`01`+MAC, default), or
   * `endpoint-name` (type 0 + `<host>/<container name>`, Docker 29+), so a name-keyed reservation
   * keeps a container's address across restarts without pinning its MAC. `DHCP_CLIENT_ID`.
   */
  readonly clientIdMode: 'mac' | 'endpoint-name';
  /** Acquisitions in flight at once. `DHCP_MAX_CONCURRENT`; default 32 (4 suits dnsmasq). */
  readonly maxConcurrent: number;
  /**
   * Server identifiers (option 54) trusted besides DHCP_SERVER: a server that answers from a
   * secondary address or sends an explicit `server-identifier`. `DHCP_SERVER_IDS`,
   * `--dhcp-server-ids` (comma-separated IPv4); default none.
   */
  readonly dhcpServerIds: readonly string[];
  /**
   * Every DHCP server, in order: `DHCP_SERVER` is a comma-separated list whose first entry is
   * `dhcpServer`. New acquisitions move to the next when one does not answer; rebinds ask all.
   */
  readonly dhcpServers: readonly string[];
  /**
   * `direct` (default): a DHCP client on UDP/68 on the server's segment. `relay`: a DHCP relay
   * agent on UDP/67 of `relayAddr`, across routers. `DHCP_MODE`, `--relay`.
   */
  readonly dhcpMode: 'direct' | 'relay';
  /** Relay mode: the relay address (giaddr), an address of this host. `RELAY_ADDR`, `--relay-addr`; default LISTEN_ADDR. */
  readonly relayAddr: string | undefined;
  /** Relay mode: how a network's subnet is named to the server. `RELAY_SUBNET_OPTION`; default link-selection. */
  readonly relaySubnetOption: SubnetOption;
  /** Docker engine API socket, read by reconciliation. `DOCKER_SOCKET`, `--docker-socket`; default `/var/run/docker.sock`. */
  readonly dockerSocket: string;
  /** Milliseconds between automatic reconciliations with Docker, 0 = none. `RECONCILE_INTERVAL` (seconds); default 60 s. */
  readonly reconcileIntervalMs: number;
  /** Milliseconds a lease must be seen without a Docker endpoint before it is released. `RECONCILE_GRACE` (seconds); default 300 s. */
  readonly reconcileGraceMs: number;
  /** The configuration file that was read, if any. */
  readonly configFile: string | undefined;
  /** The default configuration file, when none was named and it does not exist (commands say so). */
  readonly missingDefaultFile: string | undefined;
  /** Where Prometheus metrics are served; undefined = off. `METRICS_ADDR`, `--metrics-addr` (`IP:PORT`). */
  readonly metrics: { readonly host: string; readonly port: number } | undefined;
}

/** Every problem with the settings, reported together so one fix-and-retry is enough. */
export class ConfigError extends DaemonError {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG';

  constructor(readonly issues: readonly string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
  }
}

/** Settings given on the command line; undefined means "not given". */
export interface ConfigFlags {
  debug?: boolean;
  dhcpServer?: string;
  listenAddr?: string;
  driverName?: string;
  stateDir?: string;
  pluginDir?: string;
  configFile?: string;
  /** Comma-separated, as DHCP_SERVER_IDS. */
  dhcpServerIds?: string;
  dockerSocket?: string;
  /** Seconds, as RECONCILE_INTERVAL. */
  reconcileInterval?: string;
  /** Seconds, as RECONCILE_GRACE. */
  reconcileGrace?: string;
  /** `IP:PORT`, as METRICS_ADDR. */
  metricsAddr?: string;
  /** `--relay`: DHCP_MODE=relay. */
  relay?: boolean;
  relayAddr?: string;
}

export interface ConfigSources {
  flags: ConfigFlags;
  env: Readonly<Record<string, string | undefined>>;
  /** Reads the configuration file; tests pass a fake. Returns undefined when it does not exist. */
  readFile?: (path: string) => string | undefined;
  /** False for commands that never talk DHCP themselves (`reconcile`); default true. */
  requireDhcpServer?: boolean;
}

/**
 * One setting as the operator sees it: its key in the configuration file and the environment,
 * its command-line flag (if it has one), its default and what it does. `--help` and
 * docs/configuration.md are both generated from `SETTINGS`, and `loadConfig` reads no key that
 * is not listed there (`SettingKey`), so the three cannot drift apart.
 */
export interface SettingSpec {
  /** Key in the configuration file and the environment. */
  readonly key: string;
  /** Read from the environment only, never from the file (the file's own path). */
  readonly envOnly?: boolean;
  /** Command-line flag: `--name ARG`, stored as `ConfigFlags[field]`; a flag without `arg` is a switch. */
  readonly flag?: { readonly name: string; readonly arg?: string; readonly field: keyof ConfigFlags };
  /** The default as shown to the operator. */
  readonly default: string;
  /** What it does, in a sentence or two. */
  readonly help: string;
}

/** Every setting, in the order `--help` and docs/configuration.md list them. */
export const SETTINGS = [
  {
    key: 'OAM_DOCKER_IPAM_CONF',
    envOnly: true,
    flag: { name: 'config', arg: 'FILE', field: 'configFile' },
    default: DEFAULT_CONFIG_FILE,
    help: 'The configuration file (dotenv format: KEY=value lines). A file named here must exist; the default file may be missing, and the commands then say so.',
  },
  {
    key: 'DHCP_SERVER',
    flag: { name: 'dhcp-server', arg: 'IP', field: 'dhcpServer' },
    default: '(required)',
    help: "The DHCP server's unicast address: requests are sent to IP:67. Several, separated by commas, for a fleet of servers: a new lease is asked of the next one when the first does not answer, and a lease no renewal extended is asked of all. Not needed by leases, status and reconcile.",
  },
  {
    key: 'LISTEN_ADDR',
    flag: { name: 'listen-addr', arg: 'IP', field: 'listenAddr' },
    default: '(none)',
    help: "This host's address on the DHCP server's network; when set, the server refuses to start if no interface has it.",
  },
  {
    key: 'DRIVER_NAME',
    flag: { name: 'driver-name', arg: 'NAME', field: 'driverName' },
    default: DEFAULT_DRIVER_NAME,
    help: 'The plugin name (docker network create --ipam-driver NAME). The socket is PLUGIN_DIR/NAME.sock and the lease table STATE_DIR/leases-NAME.journal.',
  },
  {
    key: 'STATE_DIR',
    flag: { name: 'state-dir', arg: 'DIR', field: 'stateDir' },
    default: DEFAULT_STATE_DIR,
    help: 'Where the lease table is kept across restarts.',
  },
  {
    key: 'PLUGIN_DIR',
    flag: { name: 'plugin-dir', arg: 'DIR', field: 'pluginDir' },
    default: DEFAULT_PLUGIN_DIR,
    help: 'Where Docker looks for plugin sockets.',
  },
  {
    key: 'DHCP_CLIENT_ID',
    default: 'mac',
    help: 'What identifies a container to the DHCP server (option 61): mac (01 + its MAC) or endpoint-name (type 0 + <host name>/<container name>, Docker 29+), so that a reservation survives re-creating the container. --ipam-opt client-id=... overrides it for one network.',
  },
  {
    key: 'DHCP_MAX_CONCURRENT',
    default: String(DEFAULT_MAX_CONCURRENT),
    help: "DHCP transactions in flight at once (acquisitions, renewals, recoveries), 1 to 1024. Docker's requests may use them all, background work leaves a quarter free. 4 suits dnsmasq.",
  },
  {
    key: 'DHCP_SERVER_IDS',
    flag: { name: 'dhcp-server-ids', arg: 'IP[,IP...]', field: 'dhcpServerIds' },
    default: '(none)',
    help: 'Server identifiers (option 54) trusted besides DHCP_SERVER: a server answering from a secondary address, or with an explicit server-identifier.',
  },
  {
    key: 'DOCKER_SOCKET',
    flag: { name: 'docker-socket', arg: 'PATH', field: 'dockerSocket' },
    default: DEFAULT_DOCKER_SOCKET,
    help: "The Docker engine API, read to reconcile leases with Docker's endpoints.",
  },
  {
    key: 'RECONCILE_INTERVAL',
    flag: { name: 'reconcile-interval', arg: 'SECONDS', field: 'reconcileInterval' },
    default: String(DEFAULT_RECONCILE_INTERVAL_MS / 1000),
    help: 'How often leases are reconciled with Docker; 0 = only on demand (oam-docker-ipam reconcile).',
  },
  {
    key: 'RECONCILE_GRACE',
    flag: { name: 'reconcile-grace', arg: 'SECONDS', field: 'reconcileGrace' },
    default: String(DEFAULT_RECONCILE_GRACE_MS / 1000),
    help: 'How long a lease must be missing from Docker before it is released; covers a request in flight.',
  },
  {
    key: 'DHCP_MODE',
    flag: { name: 'relay', field: 'relay' },
    default: 'direct',
    help: "direct: a DHCP client on UDP/68 of this host, on the DHCP server's segment. relay (--relay): a DHCP relay agent on UDP/67 of RELAY_ADDR, answered by unicast, across routers; nothing uses port 68 and the host needs no address on the containers' network. See docs/relay.md.",
  },
  {
    key: 'RELAY_ADDR',
    flag: { name: 'relay-addr', arg: 'IP', field: 'relayAddr' },
    default: '(LISTEN_ADDR)',
    help: 'Relay mode: the address of this host the DHCP server answers (giaddr). The server must route to it, and maps it to a subnet for networks created without --subnet.',
  },
  {
    key: 'RELAY_SUBNET_OPTION',
    default: DEFAULT_SUBNET_OPTION,
    help: "Relay mode: how a network's subnet is named to the server: link-selection (option 82 sub-option 5), subnet-selection (option 118), both, or none (the server picks it from RELAY_ADDR).",
  },
  {
    key: 'METRICS_ADDR',
    flag: { name: 'metrics-addr', arg: 'IP:PORT', field: 'metricsAddr' },
    default: '(off)',
    help: 'Serve Prometheus metrics at http://IP:PORT/metrics (for example 127.0.0.1:9468). Off when not set.',
  },
  {
    key: 'IPAM_DEBUG',
    flag: { name: 'debug', field: 'debug' },
    default: 'false',
    help: 'Log every DHCP packet sent and received and every lease step.',
  },
] as const satisfies readonly SettingSpec[];

/** A key `loadConfig` may read: only those of `SETTINGS`. */
export type SettingKey = (typeof SETTINGS)[number]['key'];

/** Keys the configuration file may set. */
const FILE_KEYS: readonly string[] = SETTINGS.filter((s: SettingSpec) => s.envOnly !== true).map((s) => s.key);

/** Builds the configuration or throws `ConfigError` listing every problem. */
export function loadConfig(sources: ConfigSources): Readonly<Config> {
  const issues: string[] = [];
  const read = sources.readFile ?? readOptionalFile;
  const explicitFile = sources.flags.configFile ?? sources.env.OAM_DOCKER_IPAM_CONF;
  const configFile = explicitFile ?? DEFAULT_CONFIG_FILE;
  let file: Record<string, string> = {};
  let fileRead: string | undefined;
  let missingDefaultFile: string | undefined;
  try {
    const text = read(configFile);
    if (text === undefined) {
      if (explicitFile !== undefined) issues.push(`configuration file ${configFile} does not exist`);
      else missingDefaultFile = configFile;
    } else {
      file = parse(text);
      fileRead = configFile;
      for (const key of Object.keys(file)) {
        if (!FILE_KEYS.includes(key)) issues.push(`${configFile}: unknown setting ${key} (known: ${FILE_KEYS.join(', ')})`);
      }
    }
  } catch (err) {
    issues.push(`cannot read configuration file ${configFile}: ${(err as Error).message}`);
  }
  const setting = (key: SettingKey, flag: string | boolean | undefined): string | undefined => {
    if (flag !== undefined) return String(flag);
    const fromEnv = sources.env[key];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    const fromFile = file[key];
    return fromFile !== undefined && fromFile !== '' ? fromFile : undefined;
  };

  const debugText = setting('IPAM_DEBUG', sources.flags.debug) ?? 'false';
  const debug = parseBool(debugText);
  if (debug === undefined) issues.push(`IPAM_DEBUG must be true or false, got ${JSON.stringify(debugText)}`);

  const dhcpServer = setting('DHCP_SERVER', sources.flags.dhcpServer);
  if (dhcpServer === undefined) {
    if (sources.requireDhcpServer !== false) {
      // The usual first run: nothing was configured at all. Say where the file was looked for.
      const where =
        missingDefaultFile === undefined
          ? 'set it in the configuration file'
          : `the default configuration file ${missingDefaultFile} is missing: create it with DHCP_SERVER=<address>`;
      issues.push(`DHCP_SERVER is required: the address of the DHCP server (${where}, or pass --dhcp-server)`);
    }
  }
  // A list: the first is asked first, the next when it does not answer (dhcp/server-list.ts).
  const dhcpServers = dhcpServer === undefined ? [] : dhcpServer.split(',').map((t) => t.trim());
  for (const server of dhcpServers) {
    if (!isIPv4(server) || server === '0.0.0.0' || server === '255.255.255.255') {
      issues.push(`DHCP_SERVER must be the server's unicast IPv4 address, got ${JSON.stringify(server)} (several servers: separate them with commas)`);
    }
  }

  // D4D's packaged file says LISTEN_ADDR=0.0.0.0, meaning any address: the same as not set.
  const listenAddrText = setting('LISTEN_ADDR', sources.flags.listenAddr);
  const listenAddr = listenAddrText === '0.0.0.0' ? undefined : listenAddrText;
  if (listenAddr !== undefined && !isIPv4(listenAddr)) issues.push(`LISTEN_ADDR must be an IPv4 address, got ${JSON.stringify(listenAddr)}`);

  const dhcpMode = setting('DHCP_MODE', sources.flags.relay === true ? 'relay' : undefined) ?? 'direct';
  if (dhcpMode !== 'direct' && dhcpMode !== 'relay') issues.push(`DHCP_MODE must be "direct" or "relay", got ${JSON.stringify(dhcpMode)}`);
  const relayAddrText = setting('RELAY_ADDR', sources.flags.relayAddr);
  if (relayAddrText !== undefined && !isIPv4(relayAddrText)) issues.push(`RELAY_ADDR must be an IPv4 address, got ${JSON.stringify(relayAddrText)}`);
  const relayAddr = relayAddrText ?? listenAddr;
  if (dhcpMode === 'relay' && relayAddr === undefined && sources.requireDhcpServer !== false) {
    issues.push("DHCP_MODE=relay needs the relay address: set RELAY_ADDR (--relay-addr) or LISTEN_ADDR to this host's address that the DHCP server answers");
  }
  const relaySubnetOption = setting('RELAY_SUBNET_OPTION', undefined) ?? DEFAULT_SUBNET_OPTION;
  if (!(SUBNET_OPTIONS as readonly string[]).includes(relaySubnetOption)) {
    issues.push(`RELAY_SUBNET_OPTION must be one of ${SUBNET_OPTIONS.join(', ')}, got ${JSON.stringify(relaySubnetOption)}`);
  }

  const driverName = setting('DRIVER_NAME', sources.flags.driverName) ?? DEFAULT_DRIVER_NAME;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(driverName)) {
    issues.push(`DRIVER_NAME must be letters, digits, '.', '_' or '-' (it names the socket file), got ${JSON.stringify(driverName)}`);
  }

  const stateDir = setting('STATE_DIR', sources.flags.stateDir) ?? DEFAULT_STATE_DIR;
  if (!isAbsolute(stateDir)) issues.push(`STATE_DIR must be an absolute path, got ${JSON.stringify(stateDir)}`);
  const pluginDir = setting('PLUGIN_DIR', sources.flags.pluginDir) ?? DEFAULT_PLUGIN_DIR;
  if (!isAbsolute(pluginDir)) issues.push(`PLUGIN_DIR must be an absolute path, got ${JSON.stringify(pluginDir)}`);

  const clientIdMode = setting('DHCP_CLIENT_ID', undefined) ?? 'mac';
  if (clientIdMode !== 'mac' && clientIdMode !== 'endpoint-name') {
    issues.push(`DHCP_CLIENT_ID must be "mac" or "endpoint-name", got ${JSON.stringify(clientIdMode)}`);
  }
  const maxText = setting('DHCP_MAX_CONCURRENT', undefined) ?? String(DEFAULT_MAX_CONCURRENT);
  const maxConcurrent = Number(maxText);
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1 || maxConcurrent > 1024) {
    issues.push(`DHCP_MAX_CONCURRENT must be a whole number from 1 to 1024, got ${JSON.stringify(maxText)}`);
  }

  const idsText = setting('DHCP_SERVER_IDS', sources.flags.dhcpServerIds);
  const dhcpServerIds = idsText === undefined ? [] : idsText.split(',').map((t) => t.trim());
  for (const id of dhcpServerIds) {
    if (!isIPv4(id)) issues.push(`DHCP_SERVER_IDS must be IPv4 addresses separated by commas, got ${JSON.stringify(id)}`);
  }

  const dockerSocket = setting('DOCKER_SOCKET', sources.flags.dockerSocket) ?? DEFAULT_DOCKER_SOCKET;
  if (!isAbsolute(dockerSocket)) issues.push(`DOCKER_SOCKET must be an absolute path, got ${JSON.stringify(dockerSocket)}`);
  const intervalText = setting('RECONCILE_INTERVAL', sources.flags.reconcileInterval);
  const reconcileIntervalMs = intervalText === undefined ? DEFAULT_RECONCILE_INTERVAL_MS : secondsToMs(intervalText, 0);
  if (reconcileIntervalMs === undefined) {
    issues.push(`RECONCILE_INTERVAL must be seconds ≥ 0 (0 turns automatic reconciliation off), got ${JSON.stringify(intervalText)}`);
  }
  const graceText = setting('RECONCILE_GRACE', sources.flags.reconcileGrace);
  const reconcileGraceMs = graceText === undefined ? DEFAULT_RECONCILE_GRACE_MS : secondsToMs(graceText, 1);
  if (reconcileGraceMs === undefined) issues.push(`RECONCILE_GRACE must be seconds ≥ 1 (it must cover a request in flight), got ${JSON.stringify(graceText)}`);

  const metricsText = setting('METRICS_ADDR', sources.flags.metricsAddr);
  const metrics = metricsText === undefined ? undefined : parseHostPort(metricsText);
  if (metricsText !== undefined && metrics === undefined) {
    issues.push(`METRICS_ADDR must be IP:PORT (an IPv4 address of this host, or 0.0.0.0, and a port from 1 to 65535), got ${JSON.stringify(metricsText)}`);
  }

  if (issues.length > 0) throw new ConfigError(issues);
  return Object.freeze({
    debug: debug as boolean,
    dhcpServer: dhcpServers[0] ?? '',
    listenAddr,
    driverName,
    stateDir,
    pluginDir,
    clientIdMode: clientIdMode as Config['clientIdMode'],
    maxConcurrent,
    dhcpServerIds: Object.freeze(dhcpServerIds),
    dockerSocket,
    reconcileIntervalMs: reconcileIntervalMs as number,
    reconcileGraceMs: reconcileGraceMs as number,
    configFile: fileRead,
    missingDefaultFile,
    metrics: metrics === undefined ? undefined : Object.freeze(metrics),
    dhcpServers: Object.freeze(dhcpServers),
    dhcpMode: dhcpMode as Config['dhcpMode'],
    relayAddr,
    relaySubnetOption: relaySubnetOption as SubnetOption,
  });
}

/** A plain number of seconds (fractions allowed) of at least `min`, in ms; undefined if not. */
function secondsToMs(text: string, min: number): number | undefined {
  const t = text.trim();
  if (!/^\d+(\.\d+)?$/.test(t)) return undefined;
  const seconds = Number(t);
  // A day at most: longer would only hide a typo (and overflows no timer).
  return seconds >= min && seconds <= 86_400 ? Math.round(seconds * 1000) : undefined;
}

/** `a.b.c.d:port`, or undefined. */
function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text.trim());
  if (m === null || !isIPv4(m[1] as string)) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65_535 ? { host: m[1] as string, port } : undefined;
}

function parseBool(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off'].includes(t)) return false;
  return undefined;
}

function readOptionalFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
