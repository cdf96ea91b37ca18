/** Types shared by the DHCP server fixtures (ISC dhcpd, Kea, dnsmasq). */
import type { Lab } from './netns.js';

/** Which DHCP server a fixture runs. */
export type ServerKind = 'isc' | 'kea' | 'dnsmasq';

/** Every server kind, in the order suites iterate them. */
export const SERVER_KINDS: readonly ServerKind[] = ['isc', 'kea', 'dnsmasq'];

/** A host reservation keyed on the hardware address (honoured by all three servers). */
export interface Reservation {
  /** `aa:bb:cc:dd:ee:ff`. */
  readonly mac: string;
  /** Reserved address inside the lab subnet. */
  readonly ip: string;
}

/** How a fixture configures its server. */
export interface ServerOptions {
  /**
   * Lease time in seconds offered to every client. ISC gets min/default/max-lease-time all set
   * to it (its min-lease-time would otherwise raise short leases); dnsmasq refuses less than
   * 120 s, so it gets max(120, leaseTimeSeconds).
   */
  readonly leaseTimeSeconds: number;
  /** Last octet of the first address of the dynamic range inside the lab /24. */
  readonly rangeFirst: number;
  /** Last octet of the last address of the dynamic range inside the lab /24. */
  readonly rangeLast: number;
  readonly reservations?: readonly Reservation[];
  /**
   * Keep the server's ping-before-offer check (ISC waits 1 s per new offer, dnsmasq stalls 3 s).
   * Default false: ISC `ping-check false;`, dnsmasq `--no-ping`. Kea 2.2 has no ping check.
   */
  readonly pingCheck?: boolean;
}

/** One lease as the server's own lease database records it (latest record per IP). */
export interface ServerLease {
  readonly ip: string;
  /** Lowercase `aa:bb:…`, or null when the record has none. */
  readonly mac: string | null;
  /** Client identifier (option 61) as lowercase colon hex, e.g. `01:02:aa:bb:cc:dd:ee`, or null. */
  readonly clientId: string | null;
  /** Expiry in epoch ms; null = infinite. */
  readonly endsAt: number | null;
  /** The record says the lease is bound and it has not yet expired. */
  readonly active: boolean;
}

/** A DHCP server running inside a lab's server netns. */
export interface DhcpServerFixture {
  readonly kind: ServerKind;
  /** The server's address, also its server identifier (option 54). */
  readonly serverIp: string;
  /**
   * Write the config (first start: in a fresh temp dir under the lab's work dir) and start the
   * server; resolves once its "ready" log line appeared.
   *
   * @throws Error with the server log if it exits or is not ready within 10 s.
   */
  start(): Promise<void>;
  /** SIGTERM the server and wait for it to exit. The lease DB is kept, so `start()` resumes with it. */
  stop(): Promise<void>;
  /** Parse the server's lease database; the latest record per IP wins. */
  leases(): Promise<ServerLease[]>;
  /** Server stdout and stderr captured so far (all starts), for failure messages. */
  log(): string;
}

/** What a server-specific module provides to the common fixture. */
export interface ServerDriver {
  readonly kind: ServerKind;
  /** Executable to run inside the netns. */
  readonly binary: string;
  /** Log line that means the server is answering. */
  readonly readyLine: RegExp;
  /** Log line that means the server will not answer although it keeps running. */
  readonly failLine?: RegExp;
  /** Write config files into `dir` (kept lease DB untouched) and return the command line. */
  prepare(dir: string, lab: Lab, opts: ServerOptions): Promise<ServerCommand>;
  /** Read and parse the lease DB in `dir`; `now` (epoch ms) decides `active`. */
  readLeases(dir: string, now: number): Promise<ServerLease[]>;
}

/** Arguments and extra environment for one server start. */
export interface ServerCommand {
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}
