/**
 * The DHCP client: many container identities, one socket, one server.
 *
 * A transaction sends a message, waits for a reply that `mismatch()` accepts and retransmits on
 * a backoff schedule until it gets one or its deadline passes. Transactions are demultiplexed on
 * xid (unique among those in flight) and chaddr; replies must come from port 67, carry the
 * configured server's identifier and, for an ACK, the address that was asked for. That keeps a
 * misconfigured or rogue DHCP server on the segment from handing out our addresses; it is no
 * defence against a host that forges the real server's identity (nothing in DHCPv4 is). The client
 * has no notion of lease lifetimes: it performs one step when asked (acquire, renew, rebind,
 * reboot, release); `LeaseManager` decides when.
 *
 * Every datagram goes through one `Sender`: a bound on transactions in flight and on datagrams
 * per second, served by priority, so Docker's requests never queue behind lease upkeep and a
 * restart with thousands of overdue leases cannot flood the server. Each step takes an optional
 * signal (`AbortLike`) that stops it, retransmissions included (a release does not wait for a renewal).
 */
import { StepAbort, type AbortLike } from '../abort.js';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { sleep } from '../clock.js';
import { DecodeError } from './codec/decode-error.js';
import { MessageType, OptionCode } from './codec/option-codes.js';
import { decodePacket, encodePacket, type DhcpPacket } from './codec/packet.js';
import { getIPv4, getString, getUint8 } from './codec/options.js';
import { normalizeMac } from './codec/ipv4.js';
import { summarizePacket } from './codec/describe.js';
import { rfcBackoff } from './backoff.js';
import { bindingFromReply, type Binding } from './binding.js';
import { AddressUnavailableError, ClientClosedError, NakError, NoResponseError, TransactionAbortedError } from './errors.js';
import { Priority, QueueDeadlineError, Sender } from './sender.js';
import { acceptReply, type DropReason, type Expectation } from './match.js';
import { exchangeOutcome, exchangeStep, type DhcpObserver } from './observer.js';
import { buildDiscover, buildRebind, buildRelease, buildRenew, buildRequestForOffer, type ClientIdentity } from './messages.js';
import { relayed, type RelayAgent } from './relay.js';
import { ServerList } from './server-list.js';
import type { DhcpTransport, RemoteInfo } from './transport.js';
import { XidAllocator, type XidSource } from './xid.js';

/** DHCP server port (RFC 2131 §4.1). */
export const SERVER_PORT = 67;
/** Default bound on a whole acquisition: the RFC's "four times, for a total delay of 60 seconds". */
export const DEFAULT_ACQUIRE_TIMEOUT_MS = 60_000;
/** REQUESTs after an OFFER before starting over with a DISCOVER (RFC 2131 §3.1(5) example). */
const MAX_SELECT_REQUESTS = 4;
/** INIT-REBOOT tries before falling back to DISCOVER; unknown clients get silence (systemd: 2). */
const MAX_REBOOT_REQUESTS = 2;
/** Sends per renew/rebind step; the lease state machine spaces the steps themselves. */
const MAX_RENEW_REQUESTS = 2;
/** The replies that end a DISCOVER, and those that end a REQUEST. */
const OFFER_ONLY: readonly number[] = [MessageType.Offer];
const ACK_OR_NAK: readonly number[] = [MessageType.Ack, MessageType.Nak];
/** After a NAK while selecting, wait this long (doubling to the cap) before a new DISCOVER. */
const NAK_RESTART_MS = 1_000;
const NAK_RESTART_MAX_MS = 8_000;

export interface DhcpClientOptions {
  transport: DhcpTransport;
  clock: Clock;
  /** Address of the DHCP server all requests are unicast to (`DHCP_SERVER`). */
  server: string;
  /**
   * Further servers (`DHCP_SERVER`'s list after the first): a DISCOVER the preferred server
   * leaves unanswered is sent to the next; rebinds and INIT-REBOOTs go to all of them. See
   * `ServerList`.
   */
  otherServers?: readonly string[];
  /** Relay mode: send every message as this relay agent (giaddr, from port 67). See `relayed()`. */
  relay?: RelayAgent;
  /** UDP port of the server; 67 except in tests. */
  serverPort?: number;
  /** Server identifiers (option 54) to believe besides `server` itself, e.g. a multi-homed server. */
  extraServerIds?: readonly string[];
  log: Logger;
  /** Uniform [0, 1) for backoff fuzz. */
  random?: () => number;
  nextXid?: XidSource;
  /**
   * Transactions (acquire, renew, rebind, reboot) in flight against the server at once; default
   * 32 (`DEFAULT_MAX_IN_FLIGHT`), 4 suits dnsmasq. Docker's requests may use them all; renewals
   * and recoveries leave a quarter free, recoveries use at most a quarter. See `Sender`.
   */
  maxInFlight?: number;
  /** Former name of `maxInFlight`, when it bounded acquisitions only. */
  maxConcurrentAcquisitions?: number;
  /** Datagrams sent per second at most, retransmissions included (default 10,000). */
  maxDatagramsPerSecond?: number;
  /** First retransmission delay, default 4 s (RFC 2131 §4.1); tests lower it. */
  initialRetransmitMs?: number;
  /** DHCPRELEASEs sent per second at most (default 500), within `maxDatagramsPerSecond`. */
  releasesPerSecond?: number;
  /** Told of every accepted reply and every step's outcome (metrics, status). */
  observer?: DhcpObserver;
}

/** How one step is run: who waits for it, and a signal that abandons it. */
export interface StepOptions {
  /** Default: `Docker` for acquire and release, `Upkeep` for renew and rebind, `Recovery` for reboot. */
  priority?: Priority;
  /** Abandons the step, retransmissions included; it then rejects with `TransactionAbortedError`. */
  signal?: AbortLike;
}

export interface AcquireRequest {
  identity: ClientIdentity;
  /** Ask for this address (option 50). */
  requestedIp?: string;
  /** Fail with `AddressUnavailableError` rather than accept another address. */
  requireRequested?: boolean;
  /** Give up after this long; default `DEFAULT_ACQUIRE_TIMEOUT_MS`. */
  timeoutMs?: number;
  /** Abandons the acquisition (e.g. Docker hung up); it then rejects with `TransactionAbortedError`. */
  signal?: AbortLike;
  /**
   * Relay mode: an address inside the subnet to lease from (the network's), named to the
   * server by link or subnet selection; default the requested address. Without either the
   * server picks the subnet from the relay address.
   */
  link?: string;
  /**
   * Called once the REQUEST for an offer has gone out (again for each new offer after a NAK or
   * a silent server), with what the offer grants and `requestedAt` that REQUEST's first send:
   * the caller can record the address while the server answers, instead of after. Must not
   * throw.
   */
  onRequesting?: (offered: Binding) => void;
}

/** A lease as the client needs it to extend or give it back. */
export interface HeldAddress {
  identity: ClientIdentity;
  ip: string;
  serverId: string;
}

/** Counters of what the receive path saw; exported for metrics and tests. */
export type ClientStats = Record<DropReason | 'received' | 'accepted', number>;

/**
 * One transaction waiting for its reply. The receive path leaves the reply here and wakes the
 * wait under way, if any: a reply that comes while the transaction is still sending is found
 * when it starts waiting.
 */
interface Pending {
  readonly expect: Expectation;
  reply: DhcpPacket | undefined;
  /** An ACK's binding, read when the reply was accepted (`requestedAt` still 0). */
  binding: Binding | undefined;
  /** Ends the current wait for the reply; undefined between waits. */
  wake: (() => void) | undefined;
  /** Replies of the right kind dropped because of their server identifier, by identifier (made at the first). */
  untrusted: Map<string, number> | undefined;
}

interface ExchangeSpec {
  step: string;
  mac: string;
  xid: number;
  to: string;
  /** Where each attempt goes, asked again at every attempt; default `[to]`. */
  destinations?: () => readonly string[];
  /** A silent attempt makes the next listed server the preferred one (DISCOVER only). */
  failover?: boolean;
  /** Relay mode: the address that names the subnet (see `relayed()`). */
  link?: string | undefined;
  expect: Expectation;
  /** Builds the datagram for each attempt, so `secs` can advance. */
  build: () => DhcpPacket;
  maxAttempts: number;
  deadlineAt: number;
  priority: Priority;
  /** The transaction's signal: client closed, or the caller abandoned the step. */
  signal: AbortLike;
  /** Called once the first attempt has gone out, with the time it was built. */
  onFirstSent?: ((firstSentAt: number) => void) | undefined;
}

export class DhcpClient {
  readonly #o: Required<Pick<DhcpClientOptions, 'serverPort' | 'random' | 'initialRetransmitMs'>> & DhcpClientOptions;
  readonly #xids: XidAllocator;
  readonly #pending = new Map<number, Pending>();
  readonly #sender: Sender;
  readonly #trusted: ReadonlySet<string>;
  readonly #servers: ServerList;
  readonly #closing = new AbortController();
  /**
   * Every step under way, to abort at close(). Kept here rather than as listeners on the
   * closing signal: an EventTarget scans its listeners on every add and remove, so with
   * thousands of steps queued (a burst, a renewal wave at 50,000 leases) each one cost time
   * proportional to all the others.
   */
  readonly #steps = new Set<StepAbort>();
  readonly #lastWarnAt = new Map<DropReason, number>();
  readonly #serverSets = new Map<string, ReadonlySet<string>>();
  readonly stats: ClientStats = {
    received: 0,
    accepted: 0,
    malformed: 0,
    'wrong-port': 0,
    'not-a-reply': 0,
    'unknown-xid': 0,
    'wrong-chaddr': 0,
    'wrong-client-id': 0,
    'unexpected-type': 0,
    'foreign-server': 0,
    'wrong-address': 0,
    incomplete: 0,
  };

  constructor(options: DhcpClientOptions) {
    this.#o = { serverPort: SERVER_PORT, random: Math.random, initialRetransmitMs: 4_000, ...options };
    this.#xids = new XidAllocator(options.nextXid);
    this.#sender = new Sender({
      clock: options.clock,
      ...optional('maxInFlight', options.maxInFlight ?? options.maxConcurrentAcquisitions),
      ...optional('datagramsPerSecond', options.maxDatagramsPerSecond),
      ...optional('releasesPerSecond', options.releasesPerSecond),
    });
    this.#servers = new ServerList([options.server, ...(options.otherServers ?? []).filter((s) => s !== options.server)]);
    this.#trusted = new Set([...this.#servers.all, ...(options.extraServerIds ?? [])]);
    options.transport.onMessage((data, from) => this.#onDatagram(data, from));
  }

  /** The configured server address. */
  get server(): string {
    return this.#o.server;
  }

  /** Every configured server, in order; the first is `server`. */
  get servers(): readonly string[] {
    return this.#servers.all;
  }

  /** Transactions holding a slot of the sender now. */
  get inFlight(): number {
    return this.#sender.inFlight;
  }

  /** The sender's datagram rate, for callers that pace their own work to it. */
  get datagramsPerSecond(): number {
    return this.#sender.datagramsPerSecond;
  }

  /**
   * DISCOVER → OFFER → REQUEST → ACK (RFC 2131 §3.1). Retries within the deadline: a silent
   * REQUEST or a NAK (dnsmasq NAKs an offer it made twice) starts over with a DISCOVER.
   */
  acquire(req: AcquireRequest, options: StepOptions = {}): Promise<Binding> {
    // The deadline counts time spent waiting for a slot: the caller's patience does not restart.
    const deadlineAt = this.#o.clock.now() + (req.timeoutMs ?? DEFAULT_ACQUIRE_TIMEOUT_MS);
    const priority = options.priority ?? Priority.Docker;
    return this.#transaction('OFFER', req.identity.mac, priority, options.signal ?? req.signal, deadlineAt, (signal) =>
      this.#acquire(req, deadlineAt, priority, signal),
    );
  }

  async #acquire(req: AcquireRequest, deadlineAt: number, priority: Priority, signal: AbortLike): Promise<Binding> {
    const { clock } = this.#o;
    const { identity } = req;
    const startedAt = clock.now();
    const secs = (): number => Math.max(0, Math.floor((clock.now() - startedAt) / 1000));
    let nakDelayMs = NAK_RESTART_MS;
    for (;;) {
      // Each DISCOVER round is a new transaction with a new xid (RFC 2131 §4.4.1), so a late
      // reply to an abandoned round cannot complete this one.
      const xid = this.#xids.allocate();
      try {
        let discoverSecs = 0;
        const discover = await this.#exchange({
          step: 'OFFER',
          mac: identity.mac,
          xid,
          to: this.#servers.preferred,
          destinations: () => [this.#servers.preferred],
          failover: true,
          link: req.link ?? req.requestedIp,
          expect: this.#expect(xid, identity, OFFER_ONLY, this.#trusted),
          build: () => {
            discoverSecs = secs();
            return buildDiscover({ client: identity, xid, secs: discoverSecs, ...optional('requestedIp', req.requestedIp) });
          },
          maxAttempts: Infinity,
          deadlineAt,
          priority,
          signal,
        });
        const offer = discover.reply;
        const serverId = getIPv4(offer.options, OptionCode.ServerIdentifier) as string;
        if (req.requireRequested && req.requestedIp !== undefined && offer.yiaddr !== req.requestedIp) {
          // Requesting the other address would create a lease nobody asked for.
          throw new AddressUnavailableError(serverId, identity.mac, req.requestedIp, offer.yiaddr);
        }
        // The SELECTING REQUEST repeats the DISCOVER's secs (RFC 2131 §4.4.1).
        const selectSecs = discoverSecs;
        let answer: Answer;
        try {
          answer = await this.#exchange({
            step: 'ACK',
            mac: identity.mac,
            xid,
            to: serverId,
            link: req.link ?? offer.yiaddr,
            expect: this.#expect(xid, identity, ACK_OR_NAK, this.#onlyServer(serverId), offer.yiaddr),
            build: () => buildRequestForOffer({ client: identity, xid, secs: selectSecs, offeredIp: offer.yiaddr, serverId }),
            maxAttempts: MAX_SELECT_REQUESTS,
            deadlineAt,
            priority,
            signal,
            // An OFFER carries what its ACK will (address, server, lease time, parameters).
            onFirstSent: req.onRequesting === undefined ? undefined : (sentAt) => req.onRequesting?.(bindingFromReply(offer, sentAt)),
          });
        } catch (err) {
          if (err instanceof NoResponseError && clock.now() < deadlineAt) continue;
          throw err;
        }
        if (messageType(answer.reply) === MessageType.Ack) return bindingOf(answer);
        const reason = nakReason(answer.reply);
        if (req.requireRequested && req.requestedIp !== undefined) {
          throw new AddressUnavailableError(serverId, identity.mac, req.requestedIp, undefined);
        }
        this.#o.log.info({ mac: identity.mac, xid, ip: offer.yiaddr, reason }, 'NAK while selecting; starting over');
        if (clock.now() + nakDelayMs >= deadlineAt) throw new NakError(serverId, identity.mac, offer.yiaddr, reason);
        await sleep(clock, nakDelayMs * (0.5 + this.#o.random()), signal);
        nakDelayMs = Math.min(nakDelayMs * 2, NAK_RESTART_MAX_MS);
      } finally {
        this.#xids.release(xid);
      }
    }
  }

  /**
   * Extends a lease at T1: a REQUEST with ciaddr 0, options 50 and 54, to the server that
   * granted it (see `buildRenew` for why not the RFC RENEWING form).
   * Resolves with the new binding; rejects with `NakError` or `NoResponseError`.
   */
  renew(held: HeldAddress, deadlineAt: number, options: StepOptions = {}): Promise<Binding> {
    return this.#transaction('renew ACK', held.identity.mac, options.priority ?? Priority.Upkeep, options.signal, deadlineAt, (signal, priority) =>
      this.#requestOnce('renew', held, deadlineAt, MAX_RENEW_REQUESTS, priority, signal, (xid, secs) =>
        buildRenew({ client: held.identity, xid, secs, ip: held.ip, serverId: held.serverId }),
      ),
    );
  }

  /** Extends a lease at T2 in the INIT-REBOOT form, accepting any trusted server (RFC 2131 §4.4.5). */
  rebind(held: Omit<HeldAddress, 'serverId'>, deadlineAt: number, options: StepOptions = {}): Promise<Binding> {
    return this.#transaction('rebind ACK', held.identity.mac, options.priority ?? Priority.Upkeep, options.signal, deadlineAt, (signal, priority) =>
      this.#requestOnce('rebind', { ...held, serverId: this.#o.server }, deadlineAt, MAX_RENEW_REQUESTS, priority, signal, (xid, secs) =>
        buildRebind({ client: held.identity, xid, secs, ip: held.ip }),
      ),
    );
  }

  /**
   * Gets `ip` back for `identity` without a DISCOVER: INIT-REBOOT first (a DISCOVER for an
   * address a live container answers pings on makes ISC abandon it), then, if the server stays
   * silent (it does not know the client) or refuses, a DISCOVER that insists on `ip`.
   */
  reboot(identity: ClientIdentity, ip: string, timeoutMs = DEFAULT_ACQUIRE_TIMEOUT_MS, options: StepOptions = {}): Promise<Binding> {
    const deadlineAt = this.#o.clock.now() + timeoutMs;
    // One slot for both phases: a recovery is one piece of background work.
    return this.#transaction('reboot ACK', identity.mac, options.priority ?? Priority.Recovery, options.signal, deadlineAt, async (signal, priority) => {
      try {
        return await this.#requestOnce('reboot', { identity, ip, serverId: this.#o.server }, deadlineAt, MAX_REBOOT_REQUESTS, priority, signal, (xid, secs) =>
          buildRebind({ client: identity, xid, secs, ip }),
        );
      } catch (err) {
        if (!(err instanceof NoResponseError || err instanceof NakError)) throw err;
        this.#o.log.info({ mac: identity.mac, ip, err: err.message }, 'INIT-REBOOT not acknowledged; asking with DISCOVER');
      }
      return this.#acquire({ identity, requestedIp: ip, requireRequested: true }, deadlineAt, priority, signal);
    });
  }

  /**
   * DHCPRELEASE (RFC 2131 §4.4.4). Fire and forget: the server sends no reply. Paced, but holds
   * no transaction slot.
   */
  async release(held: HeldAddress, options: StepOptions = {}): Promise<void> {
    const { signal, dispose } = this.#stepSignal('RELEASE', held.identity.mac, options.signal);
    try {
      await this.#sender.unanswered(options.priority ?? Priority.Docker, signal);
      // Aborted after the grant, before this turn: a forgotten lease's RELEASE must not go out.
      if (signal.aborted) throw signal.reason;
    } finally {
      dispose();
    }
    const xid = this.#xids.allocate();
    try {
      const packet = this.#wire(buildRelease({ client: held.identity, xid, ip: held.ip, serverId: held.serverId }), held.ip);
      await this.#o.transport.send(encodePacket(packet), held.serverId, this.#o.serverPort);
      this.#o.log.debug({ mac: held.identity.mac, ip: held.ip, xid }, 'sent RELEASE');
    } catch (err) {
      // RELEASE is a courtesy (RFC 2131 §4.4.6): if it cannot be sent the lease simply expires.
      this.#o.log.warn({ mac: held.identity.mac, ip: held.ip, err }, 'could not send RELEASE; the lease will expire on its own');
    } finally {
      this.#xids.release(xid);
    }
  }

  /** Fails every transaction in flight with `ClientClosedError`. Does not close the transport. */
  close(): void {
    this.#closing.abort(new ClientClosedError());
    for (const step of this.#steps) step.abort(this.#closing.signal.reason);
    this.#steps.clear();
  }

  /**
   * Runs `task` as one transaction: a slot of the sender, and a signal that fires when the
   * client closes or the caller gives up. Translates both into the client's errors.
   */
  async #transaction<T>(
    step: string,
    mac: string,
    priority: Priority,
    callerSignal: AbortLike | undefined,
    deadlineAt: number,
    task: (signal: AbortLike, priority: Priority) => Promise<T>,
  ): Promise<T> {
    const { signal, dispose } = this.#stepSignal(step, mac, callerSignal);
    const { observer } = this.#o;
    const startedAt = observer === undefined ? 0 : this.#o.clock.now();
    let failure: unknown;
    try {
      return await this.#sender.transaction(priority, signal, deadlineAt, () => task(signal, priority));
    } catch (err) {
      failure = err instanceof QueueDeadlineError ? new NoResponseError(step, this.#o.server, mac, 0, 0) : err;
      throw failure;
    } finally {
      dispose();
      observer?.onExchange({ step: exchangeStep(step), outcome: exchangeOutcome(failure), durationMs: this.#o.clock.now() - startedAt });
    }
  }

  /**
   * The signal a step runs under: aborted with `ClientClosedError` when the client closes, or
   * with `TransactionAbortedError` when the caller's signal aborts. One `StepAbort` per step (a
   * tenth of a microsecond), so whatever waits on the step listens on a signal of its own.
   */
  #stepSignal(step: string, mac: string, callerSignal: AbortLike | undefined): { signal: AbortLike; dispose: () => void } {
    const ctl = new StepAbort();
    if (this.#closing.signal.aborted) {
      ctl.abort(this.#closing.signal.reason);
      return { signal: ctl, dispose: () => undefined };
    }
    this.#steps.add(ctl);
    if (callerSignal === undefined) return { signal: ctl, dispose: () => this.#steps.delete(ctl) };
    // The caller's signal is its own (one request, one lease): listening on it costs nothing.
    const onCaller = (): void => ctl.abort(new TransactionAbortedError(step, mac, callerSignal.reason));
    if (callerSignal.aborted) onCaller();
    else callerSignal.addEventListener('abort', onCaller, { once: true });
    return {
      signal: ctl,
      dispose: () => {
        this.#steps.delete(ctl);
        callerSignal.removeEventListener('abort', onCaller);
      },
    };
  }

  async #requestOnce(
    step: string,
    held: HeldAddress,
    deadlineAt: number,
    maxAttempts: number,
    priority: Priority,
    signal: AbortLike,
    build: (xid: number, secs: number) => DhcpPacket,
  ): Promise<Binding> {
    const { clock } = this.#o;
    const startedAt = clock.now();
    const xid = this.#xids.allocate();
    try {
      const servers = step === 'renew' ? this.#onlyServer(held.serverId) : this.#trusted;
      // A rebind and an INIT-REBOOT are broadcast in the RFC (any server may answer): here they
      // go to every listed server. A renewal goes to the server that granted the lease.
      const everyServer = step === 'renew' ? undefined : this.#servers.all;
      const answer = await this.#exchange({
        step: `${step} ACK`,
        mac: held.identity.mac,
        xid,
        to: everyServer?.join(', ') ?? held.serverId,
        ...(everyServer === undefined ? {} : { destinations: () => everyServer }),
        link: held.ip,
        expect: this.#expect(xid, held.identity, ACK_OR_NAK, servers, held.ip),
        build: () => build(xid, Math.max(0, Math.floor((clock.now() - startedAt) / 1000))),
        maxAttempts,
        deadlineAt,
        priority,
        signal,
      });
      const serverId = getIPv4(answer.reply.options, OptionCode.ServerIdentifier) as string;
      if (messageType(answer.reply) === MessageType.Nak) {
        throw new NakError(serverId, held.identity.mac, held.ip, nakReason(answer.reply));
      }
      return bindingOf(answer);
    } finally {
      this.#xids.release(xid);
    }
  }

  /** A message as it goes on the wire: as built in direct mode, as the relay agent forwards it in relay mode. */
  #wire(p: DhcpPacket, link: string | undefined): DhcpPacket {
    return this.#o.relay === undefined ? p : relayed(p, this.#o.relay, link);
  }

  #expect(xid: number, identity: ClientIdentity, types: readonly number[], servers: ReadonlySet<string>, ip?: string): Expectation {
    const mac = normalizeMac(identity.mac) ?? identity.mac;
    const e: Expectation = { xid, mac, clientId: identity.clientId, types, servers };
    if (ip !== undefined) e.ip = ip;
    return e;
  }

  /** `{ id }` as a set, one per server identifier: every SELECTING REQUEST and renewal asks for one. */
  #onlyServer(id: string): ReadonlySet<string> {
    let set = this.#serverSets.get(id);
    if (set === undefined) {
      // As many as servers our leases come from: a handful.
      set = new Set([id]);
      this.#serverSets.set(id, set);
    }
    return set;
  }

  /** One transaction: send, wait, retransmit on the RFC schedule, until a reply or the deadline. */
  async #exchange(spec: ExchangeSpec): Promise<Answer> {
    const { clock, log } = this.#o;
    const { signal } = spec;
    if (signal.aborted) throw signal.reason;
    const pending: Pending = { expect: spec.expect, reply: undefined, binding: undefined, wake: undefined, untrusted: undefined };
    this.#pending.set(spec.xid, pending);
    const delays = rfcBackoff(this.#o.random, this.#o.initialRetransmitMs);
    let firstSentAt: number | undefined;
    let attempts = 0;
    // Every server an attempt went to, for the error when none answered.
    const tried: string[] = [];
    try {
      while (attempts < spec.maxAttempts) {
        if (clock.now() >= spec.deadlineAt) break;
        const destinations = spec.destinations?.() ?? [spec.to];
        let bytes: Uint8Array | undefined;
        let packet: DhcpPacket | undefined;
        for (const to of destinations) {
          // The wait for the sender is part of the attempt: the schedule counts from the send.
          // Most datagrams find a token at once, and go without waiting for a turn.
          if (!this.#sender.takeDatagram()) await this.#sender.datagram(spec.priority, signal);
          // Aborted between the grant and this turn (a forget(), a release): send nothing more.
          if (signal.aborted) throw signal.reason;
          if (bytes === undefined) {
            const now = clock.now();
            packet = this.#wire(spec.build(), spec.link);
            bytes = encodePacket(packet);
            attempts++;
            firstSentAt ??= now;
          }
          if (!tried.includes(to)) tried.push(to);
          try {
            await this.#o.transport.send(bytes, to, this.#o.serverPort);
          } catch (err) {
            // A send error (no route, interface down) counts as a lost attempt; the schedule goes on.
            log.warn({ mac: spec.mac, xid: spec.xid, err }, `sending to ${to} failed`);
          }
          // close() may have come while the send was under way.
          if (signal.aborted) throw signal.reason;
        }
        if (packet !== undefined && log.isLevelEnabled('debug')) {
          log.debug({ mac: spec.mac, xid: spec.xid, attempt: attempts, to: destinations.join(', ') }, `sent ${summarizePacket(packet)}`);
        }
        // Only the first attempt builds the datagram here and sets firstSentAt.
        if (attempts === 1 && packet !== undefined) spec.onFirstSent?.(firstSentAt ?? clock.now());
        const waitMs = Math.min(delays.next().value, spec.deadlineAt - clock.now());
        if (pending.reply === undefined) await this.#waitForReply(pending, Math.max(0, waitMs), signal);
        if (pending.reply !== undefined) return answerOf(pending, firstSentAt ?? clock.now());
        if (spec.failover === true) {
          for (const to of destinations) this.#servers.noAnswer(to);
        }
      }
      // A reply may have arrived in the same tick as the deadline.
      await Promise.resolve();
      if (pending.reply !== undefined) return answerOf(pending, firstSentAt ?? clock.now());
      const relay = this.#o.relay === undefined ? undefined : { giaddr: this.#o.relay.address, link: spec.link, subnetOption: this.#o.relay.subnetOption };
      throw new NoResponseError(spec.step, tried.length > 0 ? tried.join(', ') : spec.to, spec.mac, attempts, spec.xid, pending.untrusted, relay);
    } finally {
      // Only if still ours: the receive path removes it when it accepts the reply.
      if (this.#pending.get(spec.xid) === pending) this.#pending.delete(spec.xid);
    }
  }

  /**
   * Resolves when the reply comes (`pending.wake`) or `ms` pass, rejects if `signal` aborts;
   * leaves no timer or listener behind (thousands of transactions a minute go through here).
   */
  #waitForReply(pending: Pending, ms: number, signal: AbortLike): Promise<void> {
    const { clock } = this.#o;
    return new Promise<void>((resolve, reject) => {
      const end = (): void => {
        pending.wake = undefined;
        clock.clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      const onAbort = (): void => {
        end();
        reject(signal.reason);
      };
      const wake = (): void => {
        end();
        resolve();
      };
      const timer = clock.setTimeout(wake, ms);
      pending.wake = wake;
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #onDatagram(data: Uint8Array, from: RemoteInfo): void {
    this.stats.received++;
    // Servers and relays answer from port 67 (RFC 2131 §4.1); anything else is not a reply.
    if (from.port !== this.#o.serverPort) {
      this.#drop('wrong-port', from);
      return;
    }
    let packet: DhcpPacket;
    try {
      packet = decodePacket(data);
    } catch (err) {
      this.#drop('malformed', from, err instanceof DecodeError ? err.message : String(err));
      return;
    }
    const pending = this.#pending.get(packet.xid);
    if (pending === undefined) {
      this.#drop(packet.op === 2 ? 'unknown-xid' : 'not-a-reply', from);
      return;
    }
    let verdict: ReturnType<typeof acceptReply>;
    try {
      verdict = acceptReply(packet, pending.expect);
    } catch (err) {
      this.#drop('malformed', from, err instanceof Error ? err.message : String(err));
      return;
    }
    if (typeof verdict === 'string') {
      const reason = verdict;
      if (reason === 'foreign-server') {
        // Remembered for the timeout error: a server whose identifier is not the configured
        // address (a secondary address, an explicit server-identifier) looks silent otherwise.
        const id = serverIdOf(packet);
        if (id !== undefined && !this.#trusted.has(id)) {
          pending.untrusted ??= new Map();
          pending.untrusted.set(id, (pending.untrusted.get(id) ?? 0) + 1);
        }
      }
      this.#drop(reason, from, packet);
      return;
    }
    // One reply per transaction: a second answer (the server answering a retransmission too,
    // both read in one turn before the transaction wakes) is a stray, like any unknown xid.
    this.#pending.delete(packet.xid);
    this.stats.accepted++;
    // --debug promises every packet: replies too, not only what is sent.
    if (this.#o.log.isLevelEnabled('debug')) {
      this.#o.log.debug({ mac: pending.expect.mac, xid: packet.xid, from: `${from.address}:${from.port}` }, `received ${summarizePacket(packet)}`);
    }
    this.#o.observer?.onReply(getUint8(packet.options, OptionCode.MessageType));
    pending.reply = packet;
    pending.binding = verdict.binding;
    pending.wake?.();
  }

  #drop(reason: DropReason, from: RemoteInfo, detail?: string | DhcpPacket): void {
    this.stats[reason]++;
    // Other clients' replies are routine on a shared segment; a foreign server is worth a
    // warning, but at most one per reason every 10 s, so a flood cannot flood the log too.
    let level: 'warn' | 'debug' = 'debug';
    if (reason === 'foreign-server' || reason === 'wrong-client-id' || reason === 'wrong-address') {
      const now = this.#o.clock.now();
      if (now - (this.#lastWarnAt.get(reason) ?? -Infinity) >= 10_000) {
        this.#lastWarnAt.set(reason, now);
        level = 'warn';
      }
    }
    if (!this.#o.log.isLevelEnabled(level)) return;
    const text = typeof detail === 'object' ? summarizePacket(detail) : detail;
    this.#o.log[level]({ reason, from: `${from.address}:${from.port}`, detail: text }, 'dropped DHCP datagram');
  }
}

/** What an exchange ends with: the reply, and when its request first went out. */
interface Answer {
  reply: DhcpPacket;
  /** An ACK's binding as `acceptReply` read it, with `requestedAt` still 0. */
  binding: Binding | undefined;
  firstSentAt: number;
}

function answerOf(pending: Pending, firstSentAt: number): Answer {
  return { reply: pending.reply as DhcpPacket, binding: pending.binding, firstSentAt };
}

/** The binding of an ACK, starting when its REQUEST first went out (RFC 2131 §4.4.1). */
function bindingOf(answer: Answer): Binding {
  // Read once already on receipt; the object is this reply's alone.
  const binding = answer.binding ?? bindingFromReply(answer.reply, 0);
  binding.requestedAt = answer.firstSentAt;
  return binding;
}

function messageType(p: DhcpPacket): number | undefined {
  return getUint8(p.options, OptionCode.MessageType);
}

function serverIdOf(p: DhcpPacket): string | undefined {
  try {
    return getIPv4(p.options, OptionCode.ServerIdentifier);
  } catch {
    return undefined;
  }
}

function nakReason(p: DhcpPacket): string | undefined {
  try {
    return getString(p.options, OptionCode.Message);
  } catch {
    return undefined;
  }
}

/** `{ [key]: value }` when value is defined, `{}` otherwise (for exactOptionalPropertyTypes). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}
