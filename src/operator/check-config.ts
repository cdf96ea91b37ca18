/**
 * `oam-docker-ipam check-config`: validates the configuration file and flags, looks at what the
 * settings point to (LISTEN_ADDR on this host, the state and plugin directories, the Docker
 * socket), then leases one address from the DHCP server for a random MAC and gives it back, to
 * show the subnet, router and lease time it hands out. Every finding says what to fix.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { ConfigError, loadConfig, type Config, type ConfigFlags } from '../config.js';
import type { Binding } from '../dhcp/binding.js';
import { formatHex, ipv4ToNumber } from '../dhcp/codec/ipv4.js';
import { AddressUnavailableError, NakError, NoResponseError } from '../dhcp/errors.js';
import { clientIdForMac } from '../dhcp/messages.js';
import type { Engine, EngineOptions } from '../engine.js';
import { DaemonError } from '../errors.js';
import { maskToPrefix, numberToIPv4 } from '../ipam/pool.js';

export type FindingLevel = 'ok' | 'warning' | 'error';

export interface Finding {
  readonly level: FindingLevel;
  readonly text: string;
}

/** Opens the DHCP engine: `openEngine` (tests pass a fake); the probe asks for the socket of the configured mode, as the server does. */
export type OpenDhcp = (options: EngineOptions) => Promise<Engine>;

export interface CheckConfigOptions {
  flags: ConfigFlags;
  env: Readonly<Record<string, string | undefined>>;
  /** Lease one address from the server; false: validate only. */
  probe: boolean;
  timeoutMs: number;
  clock: Clock;
  log: Logger;
  openDhcp: OpenDhcp;
  /** Each line of the report, as it is found. */
  print: (line: string) => void;
  /** Tests pass fakes; defaults read the host. */
  readFile?: (path: string) => string | undefined;
  interfaces?: () => ReturnType<typeof networkInterfaces>;
}

/** Runs the checks and prints the report; resolves with the exit status (1 when any error). */
export async function checkConfig(o: CheckConfigOptions): Promise<number> {
  const findings: Finding[] = [];
  const report = (f: Finding): void => {
    findings.push(f);
    o.print(`${f.level === 'ok' ? 'ok     ' : f.level === 'warning' ? 'warning' : 'ERROR  '} ${f.text}`);
  };
  let config: Config;
  try {
    config = loadConfig({ flags: o.flags, env: o.env, ...(o.readFile === undefined ? {} : { readFile: o.readFile }) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const issue of err.issues) report({ level: 'error', text: issue });
    return summary(findings, o.print);
  }
  for (const f of await checkSettings(config, o.interfaces ?? networkInterfaces)) report(f);
  if (o.probe && !findings.some((f) => f.level === 'error')) {
    for (const f of await probeServer(config, o)) report(f);
  } else if (o.probe) {
    o.print('(the DHCP server is not probed until the errors above are fixed)');
  }
  return summary(findings, o.print);
}

function summary(findings: readonly Finding[], print: (line: string) => void): number {
  const errors = findings.filter((f) => f.level === 'error').length;
  const warnings = findings.filter((f) => f.level === 'warning').length;
  const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
  print(
    errors === 0
      ? `check-config: OK${warnings > 0 ? ` (${plural(warnings, 'warning')})` : ''}`
      : `check-config: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`,
  );
  return errors === 0 ? 0 : 1;
}

/** What the valid settings point to, checked on this host. */
export async function checkSettings(config: Config, interfaces: () => ReturnType<typeof networkInterfaces>): Promise<Finding[]> {
  const out: Finding[] = [];
  if (config.configFile !== undefined) out.push({ level: 'ok', text: `configuration file ${config.configFile} read` });
  if (config.missingDefaultFile !== undefined) {
    out.push({
      level: 'warning',
      text: `no configuration file: the default ${config.missingDefaultFile} is missing, so settings come from flags and the environment only (the sample is etc/oam-docker-ipam/oam-docker-ipam.conf)`,
    });
  }
  out.push({
    level: 'ok',
    text: `DHCP server ${config.dhcpServer}${config.dhcpServerIds.length > 0 ? `, also trusting server identifiers ${config.dhcpServerIds.join(', ')}` : ''}`,
  });
  if (config.listenAddr !== undefined) {
    const owner = Object.entries(interfaces()).find(([, list]) => list?.some((a) => a.family === 'IPv4' && a.address === config.listenAddr));
    out.push(
      owner === undefined
        ? {
            level: 'error',
            text: `LISTEN_ADDR ${config.listenAddr} is not an address of this host (see ip -4 addr): the server would refuse to start; set this host's address on the DHCP server's network`,
          }
        : { level: 'ok', text: `LISTEN_ADDR ${config.listenAddr} is on interface ${owner[0]}` },
    );
  }
  out.push(await checkDir('STATE_DIR', config.stateDir, 'the lease table'));
  out.push(await checkDir('PLUGIN_DIR', config.pluginDir, 'the plugin socket'));
  const socket = join(config.pluginDir, `${config.driverName}.sock`);
  const served = await stat(socket).catch(() => undefined);
  out.push({
    level: 'ok',
    text: `plugin socket ${socket} (docker network create --ipam-driver ${config.driverName})${served?.isSocket() === true ? ': exists (a server may be running)' : ''}`,
  });
  const docker = await stat(config.dockerSocket).catch(() => undefined);
  out.push(
    docker?.isSocket() === true
      ? { level: 'ok', text: `DOCKER_SOCKET ${config.dockerSocket} exists` }
      : {
          level: 'warning',
          text: `DOCKER_SOCKET ${config.dockerSocket} is not a socket: reconciliation with Docker is skipped (nothing released) until the engine is there; set DOCKER_SOCKET if it listens elsewhere`,
        },
  );
  if (config.metrics !== undefined) out.push({ level: 'ok', text: `metrics will be served at http://${config.metrics.host}:${config.metrics.port}/metrics` });
  return out;
}

/** A directory the server writes to: present and writable, or creatable. */
async function checkDir(key: string, dir: string, what: string): Promise<Finding> {
  const st = await stat(dir).catch(() => undefined);
  if (st !== undefined && !st.isDirectory()) return { level: 'error', text: `${key} ${dir} is not a directory: point ${key} at a directory for ${what}` };
  // The directory, or the nearest parent that exists when it does not (the server creates it).
  let probe = dir;
  while (st === undefined && (await stat(probe).catch(() => undefined)) === undefined && dirname(probe) !== probe) probe = dirname(probe);
  const writable = await access(probe, constants.W_OK).then(
    () => true,
    () => false,
  );
  if (!writable) return { level: 'error', text: `${key} ${dir}: ${probe} is not writable by this user; run as root (the server needs root) or change ${key}` };
  return { level: 'ok', text: st === undefined ? `${key} ${dir} does not exist yet: the server creates it` : `${key} ${dir} is writable` };
}

/** Leases one address for a random MAC, reports what came with it, and releases it. */
async function probeServer(config: Config, o: CheckConfigOptions): Promise<Finding[]> {
  const mac = randomLocalMac();
  let engine: Engine;
  try {
    // The server's mode: direct, UDP/68; relay, RELAY_ADDR:67.
    engine = await o.openDhcp({ socket: { config, onSocketError: (err) => o.log.error({ err }, 'socket error') }, clock: o.clock, log: o.log });
  } catch (err) {
    if (!(err instanceof DaemonError)) throw err;
    return [{ level: 'error', text: `cannot probe the DHCP server: ${err.message}` }];
  }
  // The client alone: one exchange and its RELEASE, nothing for the lease manager to keep.
  const { client } = engine;
  const identity = { mac, clientId: clientIdForMac(mac) };
  try {
    const binding = await client.acquire({ identity, timeoutMs: o.timeoutMs });
    await client.release({ identity, ip: binding.ip, serverId: binding.serverId });
    return describeBinding(binding, mac, config);
  } catch (err) {
    if (!(err instanceof DaemonError)) throw err;
    return [{ level: 'error', text: `the DHCP server did not lease an address to ${mac}: ${err.message}${probeAdvice(err, config)}` }];
  } finally {
    await engine.close();
  }
}

/** What the probe learned, as findings; warnings where Docker networks would trip on it. */
export function describeBinding(b: Binding, mac: string, config: Config): Finding[] {
  const prefix = b.subnetMask === undefined ? undefined : maskToPrefix(b.subnetMask);
  const subnet =
    prefix === undefined ? undefined : `${numberToIPv4((ipv4ToNumber(b.ip) & (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0)) >>> 0)}/${prefix}`;
  const out: Finding[] = [
    { level: 'ok', text: `the DHCP server ${b.serverId} leased ${b.ip} to ${mac} (client id ${formatHex(clientIdForMac(mac))}) and took it back` },
  ];
  out.push(
    subnet === undefined
      ? { level: 'warning', text: 'no usable subnet mask (option 1) came with it: create networks with --subnet and --gateway' }
      : { level: 'ok', text: `subnet ${subnet} (docker network create --subnet ${subnet})` },
  );
  const router = b.routers?.[0];
  out.push(
    router === undefined
      ? { level: 'warning', text: 'no router (option 3) came with it: give networks --gateway yourself' }
      : { level: 'ok', text: `router ${b.routers?.join(', ')} (--gateway ${router})` },
  );
  const infinite = b.leaseTimeSeconds === 0xffffffff;
  const timers = [
    b.renewalTimeSeconds === undefined ? '' : `renew at ${b.renewalTimeSeconds} s`,
    b.rebindingTimeSeconds === undefined ? '' : `rebind at ${b.rebindingTimeSeconds} s`,
  ].filter((t) => t !== '');
  out.push({ level: 'ok', text: `lease time ${infinite ? 'infinite' : `${b.leaseTimeSeconds} s`}${timers.length > 0 ? ` (${timers.join(', ')})` : ''}` });
  if (b.dnsServers !== undefined || b.domainName !== undefined) {
    out.push({ level: 'ok', text: `DNS ${b.dnsServers?.join(', ') ?? '-'}${b.domainName === undefined ? '' : `, domain ${b.domainName}`}` });
  }
  if (config.dhcpServer !== b.serverId && !config.dhcpServerIds.includes(b.serverId)) {
    out.push({ level: 'warning', text: `the server identifies itself as ${b.serverId}, not ${config.dhcpServer}` });
  }
  return out;
}

function probeAdvice(err: DaemonError, config: Config): string {
  if (err instanceof NoResponseError && err.untrusted.size === 0) {
    return `. To fix: check that DHCP_SERVER ${config.dhcpServer} is the server's address and it runs; that it has a pool for the subnet of this host's interface${config.listenAddr === undefined ? '' : ` (LISTEN_ADDR ${config.listenAddr})`}; that UDP 67 to it and 68 back are not filtered (host firewall, DHCP snooping on the switch)`;
  }
  if (err instanceof NakError || err instanceof AddressUnavailableError)
    return '. To fix: the server refused a new client; check that its pool for this subnet is not exhausted and that it serves unknown clients';
  // The others (port 68 taken, permissions, untrusted server identifiers) say what to do themselves.
  return '';
}

/** A random unicast, locally administered MAC (RFC 7042 §2.1): no clash with real hardware. */
function randomLocalMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] as number) & 0xfc) | 0x02;
  return formatHex(b);
}
