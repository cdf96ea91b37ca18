/** What happens to leases, for logs, persistence and operators' alerts. */
import type { DaemonError } from '../errors.js';
import type { Lease } from './lease.js';

export type LeaseEvent =
  /** A new lease was acquired. */
  | { type: 'bound'; lease: Lease }
  /** The server extended the lease (at T1 or T2). */
  | { type: 'renewed'; lease: Lease; previousExpiresAt: number | null }
  /** T2 passed without a renewal: asking any server now. */
  | { type: 'rebinding'; lease: Lease }
  /** The lease ran out. The container still uses the address, which the server may give away. */
  | { type: 'expired'; lease: Lease }
  /** The server refused to extend the lease (DHCPNAK). */
  | { type: 'nak'; lease: Lease; reason: string | undefined }
  /** An expired or refused lease was won back, same address. */
  | { type: 'reacquired'; lease: Lease }
  /** The server will not give the address back: the container's address is no longer leased. */
  | { type: 'address-lost'; lease: Lease; error: DaemonError }
  /** The lease was given back with DHCPRELEASE. */
  | { type: 'released'; lease: Lease };

export type LeaseEventType = LeaseEvent['type'];
export type LeaseListener = (event: LeaseEvent) => void;
