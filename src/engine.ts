/**
 * The DHCP engine: one socket, the `DhcpClient` on it and the `LeaseManager` over the client,
 * opened together and closed in the one order that loses nothing. The daemon, `probe`,
 * `check-config`, the demos, the benchmarks and the lab tests all run this same engine; wiring it
 * once keeps them from drifting apart (a client option or a stop order fixed in one copy and not
 * the others).
 *
 * The socket is either the one the settings ask for (`DHCP_MODE`, see dhcp-mode.ts), with
 * DHCP_SERVER's servers and DHCP_SERVER_IDS, or one the caller has open: a lab bound in a
 * namespace, a recording or in-memory transport.
 */
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import type { Config } from './config.js';
import { DhcpClient, type DhcpClientOptions } from './dhcp/client.js';
import type { DhcpTransport } from './dhcp/transport.js';
import { openDhcpMode } from './dhcp-mode.js';
import { LeaseManager, type LeaseManagerOptions } from './lease/manager.js';

/** Where the engine's socket comes from. */
export type EngineSocket =
  /** The configured mode's socket, opened here; the servers and trusted identifiers of the settings. */
  | { config: Config; onSocketError: (err: Error) => void }
  /** A socket the caller opened, and the server to ask (`DhcpClientOptions.server`). */
  | { transport: DhcpTransport; server: string; description?: Record<string, unknown> };

/** The client's options besides those the engine supplies (tuning, observers, relay, xids). */
export type EngineClientOptions = Omit<DhcpClientOptions, 'transport' | 'clock' | 'log' | 'server'>;

/** The lease manager's options besides those the engine supplies (retry bounds, observer). */
export type EngineManagerOptions = Omit<LeaseManagerOptions, 'client' | 'clock' | 'log'>;

export interface EngineOptions {
  socket: EngineSocket;
  clock: Clock;
  /** The client logs as its child `{ component: 'dhcp' }`, the manager as `{ component: 'lease' }`. */
  log: Logger;
  /** Given last: they override what the mode sets (e.g. `extraServerIds`). */
  client?: EngineClientOptions;
  manager?: EngineManagerOptions;
}

/** What a stop closes: the engine's parts. */
export interface EngineParts {
  readonly transport: DhcpTransport;
  readonly client: DhcpClient;
  readonly manager: LeaseManager;
}

export interface Engine extends EngineParts {
  /** One line for the start-up log: the mode, relay address and servers. */
  readonly description: Record<string, unknown>;
  /** `closeEngine` of this engine; a second call returns the first one's promise. */
  close(o?: CloseEngineOptions): Promise<void>;
}

export interface CloseEngineOptions {
  /**
   * Runs once renewals have stopped and before the socket closes: the daemon saves the lease
   * table there, with nothing left that could change it.
   */
  beforeSocketClose?: () => Promise<void>;
}

/**
 * Opens the engine. In the configured mode it rejects as `openDhcpMode` does: a `TransportError`
 * naming the port's holder, or a `ConfigError` when the relay address is not this host's.
 */
export async function openEngine(o: EngineOptions): Promise<Engine> {
  let transport: DhcpTransport;
  let server: string;
  let description: Record<string, unknown>;
  let modeOptions: EngineClientOptions;
  if ('config' in o.socket) {
    const { config } = o.socket;
    const mode = await openDhcpMode(config, o.socket.onSocketError);
    transport = mode.transport;
    server = config.dhcpServer;
    description = mode.description;
    modeOptions = { ...mode.clientOptions, extraServerIds: config.dhcpServerIds };
  } else {
    ({ transport, server } = o.socket);
    description = o.socket.description ?? { server };
    modeOptions = {};
  }
  const client = new DhcpClient({ transport, clock: o.clock, server, ...modeOptions, ...o.client, log: o.log.child({ component: 'dhcp' }) });
  const manager = new LeaseManager({ client, clock: o.clock, ...o.manager, log: o.log.child({ component: 'lease' }) });
  let closing: Promise<void> | undefined;
  return {
    transport,
    client,
    manager,
    description,
    close(options) {
      closing ??= closeEngine({ transport, client, manager }, options);
      return closing;
    },
  };
}

/**
 * Closes an engine without releasing its leases: the client first (steps under way end, nothing
 * more is sent), then the manager (no renewal is armed again; it waits for the steps it ran),
 * then the socket. Leases stay in the manager for whoever saves them; the next start resumes them.
 */
export async function closeEngine(parts: EngineParts, o: CloseEngineOptions = {}): Promise<void> {
  parts.client.close();
  await parts.manager.stop();
  try {
    await o.beforeSocketClose?.();
  } finally {
    await parts.transport.close();
  }
}
