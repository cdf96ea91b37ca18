/**
 * Told when a lease step fails (a renewal unanswered, a rebind refused, a recovery that did not
 * get the address back), with the error: `oam-docker-ipam leases` shows it as the lease's last
 * error. Lease events say what happened to a lease; this says what went wrong on the way, which
 * events do not carry. Called once per failed step: observers must only record.
 */
import type { DaemonError } from '../errors.js';
import type { Lease } from './lease.js';
import type { Action } from './state.js';

export interface LeaseStepObserver {
  stepFailed(lease: Readonly<Lease>, step: Exclude<Action, 'wait'>, error: DaemonError): void;
}
