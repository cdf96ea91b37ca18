/**
 * What the DHCP client reports as it works, for metrics and `oam-docker-ipam status`: each
 * accepted reply, and each step (transaction) with its outcome and duration. Calls are made on
 * the client's hot path, once per reply and once per step, so observers must only count.
 */
import { AddressUnavailableError, ClientClosedError, NakError, NoResponseError, TransactionAbortedError } from './errors.js';

/** The client's steps that wait for a reply; RELEASE gets none and is not one. */
export type ExchangeStep = 'acquire' | 'renew' | 'rebind' | 'reboot';

/**
 * How a step ended: `ack`; `nak` (refused); `timeout` (sent, never answered); `no-slot` (waited
 * for a transaction slot past its deadline, nothing sent); `unavailable` (the server would not
 * give the address asked for); `aborted` (the caller gave up); `closed` (the client closed);
 * `error` (anything else).
 */
export type ExchangeOutcome = 'ack' | 'nak' | 'timeout' | 'no-slot' | 'unavailable' | 'aborted' | 'closed' | 'error';

export interface ExchangeReport {
  readonly step: ExchangeStep;
  readonly outcome: ExchangeOutcome;
  readonly durationMs: number;
}

export interface DhcpObserver {
  /** A reply was accepted for a transaction in flight; `messageType` is option 53. */
  onReply(messageType: number | undefined): void;
  /** A step ended. */
  onExchange(report: ExchangeReport): void;
}

/** The outcome of a step that ended with `err` (undefined: it succeeded). */
export function exchangeOutcome(err: unknown): ExchangeOutcome {
  if (err === undefined) return 'ack';
  if (err instanceof NakError) return 'nak';
  if (err instanceof NoResponseError) return err.attempts === 0 ? 'no-slot' : 'timeout';
  if (err instanceof AddressUnavailableError) return 'unavailable';
  if (err instanceof TransactionAbortedError) return 'aborted';
  if (err instanceof ClientClosedError) return 'closed';
  return 'error';
}

/** Which step a transaction of the client is, from the reply it waits for first. */
export function exchangeStep(awaited: string): ExchangeStep {
  if (awaited.startsWith('renew')) return 'renew';
  if (awaited.startsWith('rebind')) return 'rebind';
  if (awaited.startsWith('reboot')) return 'reboot';
  return 'acquire';
}

/** One observer that forwards to several (undefined ones skipped); undefined when none is left. */
export function fanOut(...observers: ReadonlyArray<DhcpObserver | undefined>): DhcpObserver | undefined {
  const list = observers.filter((o): o is DhcpObserver => o !== undefined);
  if (list.length <= 1) return list[0];
  return {
    onReply: (type) => {
      for (const o of list) o.onReply(type);
    },
    onExchange: (report) => {
      for (const o of list) o.onExchange(report);
    },
  };
}
