/** Errors of DHCP transactions. Each says what happened and what an operator can do about it. */
import { DaemonError } from '../errors.js';

/** No acceptable reply to a transaction within its schedule. */
export class NoResponseError extends DaemonError {
  override readonly name = 'NoResponseError';
  readonly code = 'DHCP_NO_RESPONSE';

  constructor(
    readonly step: string,
    readonly server: string,
    readonly mac: string,
    readonly attempts: number,
    readonly xid: number,
    /**
     * Replies that would have answered but carried a server identifier (option 54) we do not
     * trust, counted by identifier. A server whose identifier is not its address (a secondary
     * address, an explicit `server-identifier`) has every reply dropped: say so, not "no reply".
     */
    readonly untrusted: ReadonlyMap<string, number> = new Map(),
    /** Relay mode: where the server had to answer, and the subnet the request named. */
    readonly relay?: NoResponseRelayContext,
  ) {
    super(
      `no ${step} reply from DHCP server ${server} for ${mac} after ${attempts} attempt(s) (last xid 0x${xid.toString(16).padStart(8, '0')}): ` +
        (untrusted.size > 0
          ? untrustedAdvice(untrusted)
          : attempts === 0
            ? 'nothing was sent: the request waited for one of the DHCP transactions in flight (DHCP_MAX_CONCURRENT) until its deadline'
            : relay !== undefined
              ? relayAdvice(relay)
              : 'check that the server is running, that it serves the subnet of this host interface, and that the pool is not exhausted'),
    );
  }
}

export interface NoResponseRelayContext {
  /** RELAY_ADDR: the giaddr the server answers to, on port 67. */
  readonly giaddr: string;
  /** The address that named the subnet (link or subnet selection), if the request carried one. */
  readonly link: string | undefined;
  readonly subnetOption: string;
}

/** In relay mode the host's own interface says nothing: the server must know the containers' subnet and reach the relay address. */
function relayAdvice(r: NoResponseRelayContext): string {
  const subnet =
    r.subnetOption === 'none' || r.link === undefined
      ? `a subnet containing the relay address ${r.giaddr} (no subnet was named in the request)`
      : `a subnet containing ${r.link} (named by RELAY_SUBNET_OPTION ${r.subnetOption})`;
  return (
    `check that the server is running, that it has ${subnet} with addresses left, and that it can reach the relay address ${r.giaddr} ` +
    '(its replies go there on port 67: a route back, and no firewall dropping them)'
  );
}

function untrustedAdvice(untrusted: ReadonlyMap<string, number>): string {
  const total = [...untrusted.values()].reduce((a, b) => a + b, 0);
  const replies = `${total} ${total === 1 ? 'reply' : 'replies'}`;
  if (untrusted.size === 1) {
    const [id] = untrusted.keys();
    return `${replies} came from server identifier ${id as string}, which is not trusted: add it to DHCP_SERVER_IDS (--dhcp-server-ids) if that server is yours`;
  }
  const ids = [...untrusted].map(([id, n]) => `${id} (${n})`).join(', ');
  return `${replies} came from server identifiers ${ids}, which are not trusted: add the ones that are yours to DHCP_SERVER_IDS (--dhcp-server-ids)`;
}

/** The caller abandoned a transaction (a release overtook a renewal, Docker hung up). */
export class TransactionAbortedError extends DaemonError {
  override readonly name = 'TransactionAbortedError';
  readonly code = 'DHCP_ABORTED';

  constructor(
    readonly step: string,
    readonly mac: string,
    cause?: unknown,
  ) {
    super(`DHCP ${step} exchange for ${mac} abandoned before it completed`, cause === undefined ? undefined : { cause });
  }
}

/** The server refused a REQUEST with DHCPNAK. */
export class NakError extends DaemonError {
  override readonly name = 'NakError';
  readonly code = 'DHCP_NAK';

  constructor(
    readonly server: string,
    readonly mac: string,
    readonly ip: string,
    readonly reason: string | undefined,
  ) {
    super(`DHCP server ${server} refused ${ip} for ${mac} (DHCPNAK${reason ? `: ${reason}` : ''})`);
  }
}

/** The server will not give the address that was asked for (it offered another, or none). */
export class AddressUnavailableError extends DaemonError {
  override readonly name = 'AddressUnavailableError';
  readonly code = 'DHCP_ADDRESS_UNAVAILABLE';

  constructor(
    readonly server: string,
    readonly mac: string,
    readonly requestedIp: string,
    readonly offeredIp: string | undefined,
  ) {
    super(
      `DHCP server ${server} will not lease ${requestedIp} to ${mac}` +
        (offeredIp ? ` (it offered ${offeredIp} instead)` : '') +
        ": the address is in use, reserved for another client, or outside the server's pools; " +
        'pick a free address or add a reservation for this MAC',
    );
  }
}

/** UDP/68 could not be bound. */
export class TransportError extends DaemonError {
  override readonly name = 'TransportError';
  readonly code = 'DHCP_TRANSPORT';
}

/** The client was closed while a transaction was in flight. */
export class ClientClosedError extends DaemonError {
  override readonly name = 'ClientClosedError';
  readonly code = 'DHCP_CLIENT_CLOSED';

  constructor() {
    // Docker shows this message: say what it means for the address.
    super('oam-docker-ipam is stopping: DHCP is closed and nothing more is sent to the server (leases held are kept for the next start)');
  }
}
