/**
 * The IPAM driver: Docker's calls in, DHCP leases out. No HTTP here (routes.ts adapts it).
 *
 * - Pools are Docker networks. An explicit `--subnet` is taken as given; with none, the subnet
 *   and router are learned from the DHCP server with a short-lived probe lease.
 * - Gateway and `--aux-address` requests are answered locally: those addresses belong to
 *   routers and other hosts, not to containers, so they must never be leased.
 * - An endpoint request (it carries the container's MAC) is a DHCP acquisition keyed by pool
 *   and MAC, or by pool and endpoint name when the name is the DHCP identity
 *   (`client-id=endpoint-name`): Docker gives a container a new random MAC at every start, and
 *   the lease of its previous start is taken over rather than fought. The lease is recorded on
 *   disk before the address is returned; if Docker hung up meanwhile, it is given back.
 * - `--ip-range` is a constraint: dynamic requests ask for an address inside it (option 50),
 *   and an address outside it is given back and refused.
 * - ReleaseAddress carries no MAC, so leases are found by pool and address.
 * Docker serializes calls per network but not across networks; nothing here waits on Docker.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { Logger } from 'pino';
import type { AbortLike } from '../abort.js';
import { systemClock, type Clock } from '../clock.js';
import type { DhcpClient } from '../dhcp/client.js';
import { Priority } from '../dhcp/sender.js';
import { formatHex, ipv4ToNumber, isIPv4, normalizeMac } from '../dhcp/codec/ipv4.js';
import { clientIdForMac, clientIdForName, type ClientIdentity } from '../dhcp/messages.js';
import { DaemonError } from '../errors.js';
import { NoResponseError } from '../dhcp/errors.js';
import type { Lease } from '../lease/lease.js';
import { poolOf, type LeaseManager } from '../lease/manager.js';
import { StoreError, type LeaseStore, type PoolRecord } from '../lease/store.js';
import { LEASES_PER_TURN, nextTurn } from '../turn.js';
import type { HeldLease } from './reconcile.js';
import { inSubnet, maskToPrefix, numberToIPv4, parseCidr, parsePoolId, parsePoolOptions, poolCidr, poolId, type Pool } from './pool.js';
import {
  BadRequestError,
  DATA_GATEWAY,
  GATEWAY_ADDRESS_TYPE,
  OPTION_ENDPOINT_NAME,
  OPTION_MAC_ADDRESS,
  OPTION_REQUEST_ADDRESS_TYPE,
  type AddressSpacesResponse,
  type CapabilitiesResponse,
  type ReleaseAddressRequest,
  type ReleasePoolRequest,
  type RequestAddressRequest,
  type RequestAddressResponse,
  type RequestPoolRequest,
  type RequestPoolResponse,
} from './protocol.js';

/** A request Docker sends that this driver cannot serve; the message says what to do instead. */
export class IpamError extends DaemonError {
  override readonly name = 'IpamError';
  readonly code = 'IPAM';
}

export interface IpamDriverOptions {
  manager: LeaseManager;
  client: DhcpClient;
  store: LeaseStore;
  log: Logger;
  /** Option 61 per container: `01`+MAC, or the Docker 29+ endpoint name. */
  clientIdMode: 'mac' | 'endpoint-name';
  /** Seeds the MAC of the probe that learns a subnet (one per daemon instance). */
  driverName: string;
  /**
   * Prefix of name-based client identifiers, so that containers with the same name on two
   * hosts (compose projects) are different DHCP clients. Default: this host's name.
   */
  hostName?: string;
  /** Pools and their reserved addresses from before a restart (from the lease table). */
  pools?: readonly PoolRecord[];
  /** Stamps each lease when it is handed out (reconciliation compares it); default the system clock. */
  clock?: Clock;
  /** Docker's endpoints as last read in the background; consulted before a name takeover. */
  dockerView?: DockerView;
}

/**
 * What the last background read of Docker showed, read-only: the driver never calls Docker
 * itself (dockerd holds the container lock while it waits for RequestAddress).
 */
export interface DockerView {
  /** Addresses of the endpoints of our networks at the last successful read; undefined when there is none. */
  endpointsSeen(): { at: number; ips: ReadonlySet<string> } | undefined;
  /** Asks for a fresh read soon, in the background (never awaited). */
  nudge(): void;
}

interface PoolState {
  pool: Pool;
  /** Gateway and aux addresses Docker reserved in this pool. */
  reserved: Set<string>;
  /** Learned from DHCP because Docker sent no subnet. */
  learned: boolean;
  /** `pool.subPool` parsed, at the pool's first request (not at each). */
  range?: { network: string; prefixLength: number };
}

export class IpamDriver {
  readonly #o: IpamDriverOptions;
  readonly #pools = new Map<string, PoolState>();
  readonly #clock: Clock;
  /**
   * Per lease id, the tail of the calls on it (requests, releases on reconciliation's behalf):
   * a second request for the same id starts only once the first has ended, its give-back
   * included, so it never shares an acquisition that is about to be given back.
   */
  readonly #turns = new Map<string, Promise<void>>();
  /** Addresses whose offers are not recorded now (`#noOffersOf`), with how many bar each. */
  readonly #offersBarred = new Map<string, number>();
  /**
   * Addresses a record on disk still names though its lease is gone (the write that would have
   * taken it back failed): barred like `#offersBarred` until the next start, where the replay
   * settles them. Few, and only after a write failed.
   */
  readonly #staleOnDisk = new Set<string>();

  constructor(options: IpamDriverOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    for (const record of options.pools ?? []) {
      try {
        this.#pools.set(record.id, { pool: parsePoolId(record.id), reserved: new Set(record.reserved), learned: false });
      } catch {
        options.log.warn({ pool: record.id }, 'ignoring a saved pool whose ID this version does not understand');
      }
    }
  }

  capabilities(): CapabilitiesResponse {
    // The MAC Docker passes is the container's real macvlan MAC: it is our DHCP identity.
    // Replay is off: leases are kept on disk across our restarts, and without live-restore a
    // dockerd restart releases and re-requests every endpoint anyway (docker-ipam.md §3.6).
    return { RequiresMACAddress: true, RequiresRequestReplay: false };
  }

  addressSpaces(): AddressSpacesResponse {
    return { LocalDefaultAddressSpace: 'local', GlobalDefaultAddressSpace: 'global' };
  }

  async requestPool(req: RequestPoolRequest): Promise<RequestPoolResponse> {
    if (req.V6) throw new IpamError('IPv6 is not supported: d4d leases IPv4 addresses from a DHCPv4 server; create the network without --ipv6');
    if (req.Pool === '') {
      if (req.SubPool !== '') throw new BadRequestError('an --ip-range needs a --subnet');
      return this.#learnPool(req.AddressSpace, parsePoolOptions(req.Options));
    }
    const net = parseCidr(req.Pool, 'subnet');
    let subPool: string | undefined;
    if (req.SubPool !== '') {
      const sub = parseCidr(req.SubPool, 'ip-range');
      if (sub.prefixLength < net.prefixLength || !inSubnet(sub.network, net.network, net.prefixLength)) {
        throw new BadRequestError(`ip-range ${req.SubPool} is not inside subnet ${req.Pool}`);
      }
      subPool = `${sub.network}/${sub.prefixLength}`;
    }
    const pool: Pool = {
      addressSpace: req.AddressSpace,
      network: net.network,
      prefixLength: net.prefixLength,
      subPool,
      ...parsePoolOptions(req.Options),
      tag: newTag(),
    };
    const id = poolId(pool);
    this.#pools.set(id, { pool, reserved: new Set(), learned: false });
    await this.#savePools();
    this.#o.log.info({ pool: id, subnet: poolCidr(pool) }, 'pool requested');
    return { PoolID: id, Pool: poolCidr(pool), Data: {} };
  }

  async releasePool(req: ReleasePoolRequest): Promise<void> {
    const leases = this.#o.manager.leasesInPool(req.PoolID);
    // A whole network's RELEASEs (docker network rm) go behind the ReleaseAddress of single
    // containers that Docker is waiting on.
    await Promise.all(leases.map((l) => this.#releaseAndSave(l.id, Priority.Upkeep)));
    this.#pools.delete(req.PoolID);
    await this.#savePools();
    this.#o.log.info({ pool: req.PoolID, released: leases.length }, 'pool released');
  }

  /**
   * `signal` aborts when the caller hangs up: what was acquired for it is then given back.
   */
  async requestAddress(req: RequestAddressRequest, signal?: AbortLike): Promise<RequestAddressResponse> {
    const state = this.#pool(req.PoolID);
    const { pool } = state;
    const cidr = (ip: string): RequestAddressResponse => ({ Address: `${ip}/${pool.prefixLength}`, Data: {} });
    if (req.Address !== '' && !isIPv4(req.Address)) throw new BadRequestError(`RequestAddress: not an IPv4 address: ${JSON.stringify(req.Address)}`);
    const inPool = (ip: string): boolean => inSubnet(ip, pool.network, pool.prefixLength);

    const mac = req.Options[OPTION_MAC_ADDRESS];
    if (mac === undefined && req.Options[OPTION_ENDPOINT_NAME] !== undefined) {
      // Docker 29+ names every endpoint: this is a container without a MAC (ipvlan, or an
      // engine that never read our capabilities), not an aux address.
      throw new IpamError(
        'request without a MAC address: d4d needs the endpoint MAC as the DHCP client identity; ipvlan networks send none (use macvlan), and an engine that started before the plugin must be restarted to read its capabilities',
      );
    }
    if (req.Options[OPTION_REQUEST_ADDRESS_TYPE] === GATEWAY_ADDRESS_TYPE || mac === undefined) {
      // The gateway, or an --aux-address: addresses of other hosts, reserved, never leased.
      const what = req.Options[OPTION_REQUEST_ADDRESS_TYPE] === GATEWAY_ADDRESS_TYPE ? 'gateway' : 'aux';
      if (req.Address === '') {
        if (what === 'gateway') {
          throw new IpamError(`no gateway given for ${poolCidr(pool)}: create the network with --gateway <your router's address>`);
        }
        throw new IpamError(
          'request without a MAC address: d4d needs the endpoint MAC as the DHCP client identity, and Docker sends none for ipvlan networks; use a macvlan network',
        );
      }
      if (!inPool(req.Address)) throw new IpamError(`${what} address ${req.Address} is outside the network's subnet ${poolCidr(pool)}`);
      state.reserved.add(req.Address);
      // Saved before the reply: after a restart the reservation must still keep this address
      // from being leased to a container.
      await this.#savePools();
      this.#o.log.info({ pool: req.PoolID, ip: req.Address, kind: what }, 'address reserved');
      return cidr(req.Address);
    }

    const normalized = normalizeMac(mac);
    if (normalized === undefined) throw new BadRequestError(`RequestAddress: bad MAC address ${JSON.stringify(mac)}`);
    if (req.Address !== '' && !inPool(req.Address)) throw new IpamError(`address ${req.Address} is outside the network's subnet ${poolCidr(pool)}`);
    if (pool.subPool !== undefined) state.range ??= parseCidr(pool.subPool, 'ip-range');
    const { range } = state;
    const inRange = (ip: string): boolean => range === undefined || inSubnet(ip, range.network, range.prefixLength);
    if (req.Address !== '' && !inRange(req.Address)) {
      // Refused before any DHCP: the range is the network's promise about its addresses.
      throw new IpamError(`address ${req.Address} is outside the network's --ip-range ${pool.subPool}: pick an --ip inside it`);
    }
    const { identity, byName } = this.#identity(normalized, req.Options[OPTION_ENDPOINT_NAME], pool.clientIdMode ?? this.#o.clientIdMode);
    const id = byName ? `${req.PoolID}#name:${identity.hostname}` : `${req.PoolID}#${normalized}`;
    return this.#inTurn(id, async () => {
      if (signal?.aborted === true) throw new CallerGoneError('the caller closed the connection before its turn; nothing was acquired');
      return this.#requestLease({ req, state, id, identity, byName, normalized, range, inPool, inRange, cidr }, signal);
    });
  }

  async #requestLease(
    r: {
      req: RequestAddressRequest;
      state: PoolState;
      id: string;
      identity: ClientIdentity;
      byName: boolean;
      normalized: string;
      range: { network: string; prefixLength: number } | undefined;
      inPool: (ip: string) => boolean;
      inRange: (ip: string) => boolean;
      cidr: (ip: string) => RequestAddressResponse;
    },
    signal: AbortLike | undefined,
  ): Promise<RequestAddressResponse> {
    const { req, state, id, identity, byName, normalized, range, inPool, inRange, cidr } = r;
    const { pool } = state;
    let requestedIp = req.Address === '' ? undefined : req.Address;
    const existing = byName ? this.#leaseOfName(req.PoolID, id, identity.clientId) : this.#o.manager.get(id);
    if (existing !== undefined) {
      const fits = req.Address === '' || req.Address === existing.ip;
      if (existing.id === id && existing.identity.mac === normalized && fits && existing.state !== 'EXPIRED' && existing.state !== 'REBOOTING') {
        // The same endpoint asking again: the acquisition below returns this lease as it is.
      } else if (byName && fits) {
        // The same name with a new MAC: Docker started the container again (random MAC) and the
        // release of its previous endpoint never reached us. Endpoint names are unique in a
        // network, so the old endpoint is gone and the lease is this one's: take it over. No
        // RELEASE: the server knows both by the same client id, and a RELEASE would free the
        // very address asked for next.
        // Unless Docker still shows an endpoint with that address: a running container renamed
        // (`docker rename web web-old`) keeps its endpoint and address under the new name,
        // and taking it over would give one address to two running containers.
        const seen = this.#o.dockerView?.endpointsSeen();
        if (seen?.ips.has(existing.ip) === true) {
          // The view may be stale (read before the old container stopped): ask for a fresh one.
          this.#o.dockerView?.nudge();
          this.#o.log.warn(
            {
              pool: req.PoolID,
              name: identity.hostname,
              ip: existing.ip,
              oldMac: existing.identity.mac,
              mac: normalized,
              seenAt: new Date(seen.at).toISOString(),
            },
            'endpoint name asked again while Docker still shows its address in use: not taken over',
          );
          throw new IpamError(
            `endpoint name ${identity.hostname ?? '?'}: its previous lease ${existing.ip} is still used by a running endpoint (renamed container?); remove it or pick another name ` +
              `(Docker showed it at ${new Date(seen.at).toISOString()}; if that container has just stopped, try again in a few seconds)`,
          );
        }
        this.#o.manager.forget(existing.id);
        requestedIp ??= existing.ip;
        this.#o.log.info(
          { pool: req.PoolID, name: identity.hostname, ip: existing.ip, oldMac: existing.identity.mac, mac: normalized },
          'endpoint name started again: taking its lease over',
        );
      } else {
        // A leftover lease for this MAC (or name) that does not fit this request: start afresh.
        await this.#releaseAndSave(existing.id);
      }
    }
    requestedIp ??= this.#hintInRange(pool, range, state.reserved, identity.clientId);
    // The offered address goes to disk while the server answers the REQUEST, so the reply
    // waits for the ACK or the write, whichever comes last, not for both one after the other.
    // Only when the table is idle: in a burst the record would wait for the commit under way
    // anyway, and the offer's record and the bound lease's would be two records to encode and
    // write where one does (a burst of 100 ran 20 % slower). Only an address the checks below
    // will accept: a refused one is never recorded.
    // Nor an address whose offers are barred (`#noOffersOf`); a recorded offer bars others'
    // until this call ends, its give-back included.
    let offered: { ip: string; saved: Promise<void>; compactions: number } | undefined;
    // Any offer recorded, even one a NAK made way for: a failed acquisition takes it back.
    let recorded = false;
    const allowOffers: Array<() => void> = [];
    const recordedIps: string[] = [];
    const onOffered = (o: Lease): void => {
      offered = undefined;
      if (!this.#o.store.idle) return;
      if (!inPool(o.ip) || state.reserved.has(o.ip) || !inRange(o.ip) || this.#o.manager.otherHolderOf(o.ip, id) !== undefined) return;
      if (this.#offersBarred.has(o.ip) || this.#staleOnDisk.has(o.ip)) return;
      allowOffers.push(this.#noOffersOf(o.ip));
      recordedIps.push(o.ip);
      // Counted before the record: a compaction its commit starts may leave it out.
      const compactions = this.#o.store.compactions;
      const saved = this.#o.store.put(o);
      // Awaited once the ACK is in; a failure is handled there.
      saved.catch(() => undefined);
      offered = { ip: o.ip, saved, compactions };
      recorded = true;
    };
    try {
      let lease: Lease;
      try {
        lease = await this.#o.manager.acquire(id, {
          identity,
          ...(requestedIp === undefined ? {} : { requestedIp }),
          ...(req.Address === '' ? {} : { requireRequested: true }),
          // Relay mode names the network's subnet to the server (link or subnet selection).
          link: pool.network,
          onOffered,
        });
      } catch (err) {
        // A lease taken over and forgotten above must not come back from the table at the next
        // start, nor an offer recorded for one that failed.
        // A record that could not be taken back stays on disk: its address stays barred.
        if (existing !== undefined) await this.#o.store.delete(existing.id).catch(() => this.#staleOnDisk.add(existing.ip));
        if (recorded && existing?.id !== id) {
          await this.#o.store.delete(id).catch(() => {
            for (const ip of recordedIps) this.#staleOnDisk.add(ip);
          });
        }
        throw err;
      }
      const ctx = { pool: req.PoolID, mac: normalized, ip: lease.ip, xid: lease.binding.xid };
      if (!inPool(lease.ip) || state.reserved.has(lease.ip)) {
        await this.#releaseAndSave(id);
        const why = inPool(lease.ip) ? `which this network reserves as its gateway or an aux address` : `outside the network's subnet ${poolCidr(pool)}`;
        throw new IpamError(
          `the DHCP server leased ${lease.ip} to ${normalized}, ${why}: give the network the DHCP server's subnet and exclude reserved addresses from its pool`,
        );
      }
      if (!inRange(lease.ip)) {
        await this.#releaseAndSave(id);
        throw new IpamError(
          `the DHCP server leased ${lease.ip} to ${normalized}, outside the network's --ip-range ${pool.subPool}: ` +
            `make the DHCP server's pool for ${poolCidr(pool)} lie inside ${pool.subPool}, or create the network with an --ip-range that covers the server's pool (or none)`,
        );
      }
      const holder = this.#o.manager.otherHolderOf(lease.ip, id);
      if (holder !== undefined) {
        // The server gave out an address another container of ours still uses (its lease was
        // lost in an outage): handing it out twice is never right.
        await this.#releaseAndSave(id).catch(() => undefined);
        this.#o.log.error({ ip: lease.ip, mac: normalized, holder: holder.identity.mac }, 'DHCP server offered an address another container still uses');
        const who =
          holder.identity.hostname === undefined
            ? `container MAC ${holder.identity.mac}`
            : `container ${holder.identity.hostname} (MAC ${holder.identity.mac})`;
        throw new IpamError(`the DHCP server leased ${lease.ip} to ${normalized}, but ${who} still uses it (its lease was lost): not handing it out twice`);
      }
      if (signal?.aborted === true) await this.#giveBack(id, ctx);
      try {
        // On disk before the reply (one record, group-committed with the requests beside it). A
        // lease taken over under another id (a table from before leases were keyed by name)
        // leaves the table in the same commit.
        const taken = existing !== undefined && existing.id !== id && this.#o.manager.get(existing.id) === undefined ? existing.id : undefined;
        const held = this.#o.manager.get(id) ?? lease;
        // Not when a compaction began since the offer's record: the file it makes may lack it.
        if (taken === undefined && offered?.ip === held.ip && offered.compactions === this.#o.store.compactions) {
          // The offer's record is on disk or on its way: the bound lease follows with the next
          // commit (it takes the offer's place if that is still queued). Until then a restart
          // finds the lease REBOOTING and asks the server for it again before trusting it.
          this.#o.store.putSoon(held);
          await offered.saved;
        } else {
          const put = this.#o.store.put(held);
          await (taken === undefined ? put : Promise.all([put, this.#o.store.delete(taken)]));
        }
      } catch (err) {
        // An address we cannot remember across a restart is an address we might hand out twice.
        // (The journal has just failed: its record of the release may fail too.)
        await this.#releaseAndSave(id).catch((e: unknown) => {
          if (!(e instanceof StoreError)) throw e;
        });
        throw err;
      }
      if (signal?.aborted === true) await this.#giveBack(id, ctx);
      this.#o.manager.noteHandedOut(id, this.#clock.now());
      this.#o.log.debug(ctx, 'address leased');
      return cidr(lease.ip);
    } finally {
      for (const allow of allowOffers) allow();
    }
  }

  /**
   * Docker hung up before our reply (dockerd restarted while we waited on DHCP): it will never
   * use this address nor release it, so give it back now rather than renew it forever.
   */
  async #giveBack(id: string, ctx: Record<string, unknown>): Promise<never> {
    await this.#releaseAndSave(id);
    this.#o.log.info(ctx, 'caller hung up before the reply: address given back');
    throw new CallerGoneError('the caller closed the connection before the reply; the address was given back');
  }

  async releaseAddress(req: ReleaseAddressRequest): Promise<void> {
    const state = this.#pools.get(req.PoolID);
    if (state?.reserved.delete(req.Address)) {
      await this.#savePools();
      this.#o.log.info({ pool: req.PoolID, ip: req.Address }, 'reserved address released');
      return;
    }
    const lease = this.#o.manager.holdersOf(req.Address).find((l) => poolOf(l.id) === req.PoolID);
    if (lease === undefined) {
      this.#o.log.info({ pool: req.PoolID, ip: req.Address }, 'release of an address we do not hold (already released)');
      return;
    }
    await this.#releaseAndSave(lease.id);
    this.#o.log.debug({ pool: req.PoolID, mac: lease.identity.mac, ip: lease.ip }, 'address released');
  }

  /**
   * Releases a lease on reconciliation's behalf, only if it is still the lease that was
   * planned: same id, same address, not handed out again since (same stamp). Waits for a
   * request on the same id under way. Resolves false when it released nothing.
   */
  releaseIfUnchanged(planned: Pick<HeldLease, 'leaseId' | 'ip' | 'requestedAt'>): Promise<boolean> {
    return this.#inTurn(planned.leaseId, async () => {
      const lease = this.#o.manager.get(planned.leaseId);
      if (lease === undefined || lease.ip !== planned.ip || this.#o.manager.handedOutAt(planned.leaseId) !== planned.requestedAt) return false;
      // Background work: Docker's own requests and releases go first.
      await this.#releaseAndSave(planned.leaseId, Priority.Upkeep);
      return true;
    });
  }

  /** Runs `fn` after every earlier call on lease `id` has ended; the chain is dropped when idle. */
  #inTurn<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const run = (this.#turns.get(id) ?? NO_TURN).then(fn);
    // Runs before anyone awaiting `run` resumes: a call that comes next finds no chain left.
    const end = (): void => {
      if (this.#turns.get(id) === tail) this.#turns.delete(id);
    };
    const tail = run.then(end, end);
    this.#turns.set(id, tail);
    return run;
  }

  async #savePools(): Promise<void> {
    await this.#o.store.setPools([...this.#pools.entries()].map(([id, st]) => ({ id, reserved: [...st.reserved] })));
  }

  /**
   * Releases lease `id` and records that it is gone. Until the record is on disk, no request
   * records an offer of its address (see `#noOffersOf`): the server may offer it to another
   * call as soon as it has it back, and that offer, replayed after a crash before the release's
   * record, would lose the address to the old lease.
   */
  async #releaseAndSave(id: string, priority: Priority = Priority.Docker): Promise<void> {
    const ip = this.#o.manager.get(id)?.ip;
    const allow = ip === undefined ? undefined : this.#noOffersOf(ip);
    try {
      await this.#o.manager.release(id, { priority });
      await this.#o.store.delete(id).catch((err: unknown) => {
        // The lease's record stays on disk: its address stays barred.
        if (ip !== undefined) this.#staleOnDisk.add(ip);
        throw err;
      });
    } finally {
      allow?.();
    }
  }

  /**
   * Until the function returned is called, a request offered `ip` does not record the offer
   * while its REQUEST is out, and puts its bound lease on disk after the ACK instead, before
   * the reply. A recorded offer is replayed after a crash as a lease the server has not
   * acknowledged: it loses its address to an acknowledged lease and to an earlier offer
   * (`laterKeepsAddress`), so it must never be the only record of a lease whose caller was
   * told while such a record may exist: a lease being released, or another call's offer.
   */
  #noOffersOf(ip: string): () => void {
    this.#offersBarred.set(ip, (this.#offersBarred.get(ip) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.#offersBarred.get(ip) ?? 1) - 1;
      if (n === 0) this.#offersBarred.delete(ip);
      else this.#offersBarred.set(ip, n);
    };
  }

  /** The pool of a PoolID, rebuilt from the ID itself after a restart. */
  #pool(id: string): PoolState {
    let state = this.#pools.get(id);
    if (state === undefined) {
      state = { pool: parsePoolId(id), reserved: new Set(), learned: false };
      this.#pools.set(id, state);
    }
    return state;
  }

  /** The DHCP identity of an endpoint, and whether it is its name (then leases are keyed by name). */
  #identity(mac: string, endpointName: string | undefined, mode: 'mac' | 'endpoint-name'): { identity: ClientIdentity; byName: boolean } {
    const name = endpointName?.replace(/^\//, '');
    const hostname = name !== undefined && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name) ? name : undefined;
    const byName = mode === 'endpoint-name' && hostname !== undefined;
    const clientId = byName ? clientIdForName(`${this.#o.hostName ?? osHostname()}/${hostname}`) : clientIdForMac(mac);
    return { identity: { mac, clientId, ...(hostname === undefined ? {} : { hostname }) }, byName };
  }

  /**
   * The lease of an endpoint name in a pool: under its key, or (tables written before leases
   * were keyed by name) the pool's lease with the same name-based client id.
   */
  #leaseOfName(poolIdText: string, id: string, clientId: Uint8Array): Lease | undefined {
    return (
      this.#o.manager.get(id) ?? this.#o.manager.leasesOfClientId(clientId).find((l) => poolOf(l.id) === poolIdText && sameBytes(l.identity.clientId, clientId))
    );
  }

  /**
   * An address inside the `--ip-range` to ask for (option 50), so that a server whose pool is
   * wider than the range can still honour it. Servers treat it as a hint and offer another
   * address when it is taken; whatever they lease is checked against the range afterwards.
   * The pick follows from the client id, so an identity asks for the same address each time,
   * skipping the subnet's network and broadcast addresses, reservations and addresses our
   * leases hold. None when there is no range or it is the whole subnet.
   */
  #hintInRange(
    pool: Pool,
    range: { network: string; prefixLength: number } | undefined,
    reserved: ReadonlySet<string>,
    clientId: Uint8Array,
  ): string | undefined {
    if (range === undefined || range.prefixLength <= pool.prefixLength) return undefined;
    const first = ipv4ToNumber(range.network);
    const size = 2 ** (32 - range.prefixLength);
    const net = ipv4ToNumber(pool.network);
    const broadcast = net + 2 ** (32 - pool.prefixLength) - 1;
    const start = createHash('sha256').update(clientId).digest().readUInt32BE(0) % size;
    for (let i = 0; i < size; i++) {
      const n = first + ((start + i) % size);
      const ip = numberToIPv4(n);
      if (n !== net && n !== broadcast && !reserved.has(ip) && !this.#o.manager.holds(ip)) return ip;
    }
    return undefined;
  }

  /**
   * No `--subnet`: lease an address for a probe identity, read the subnet mask and router from
   * the ACK, and give the address back. Docker re-asks (forever) while the pool overlaps a
   * host route, which the LAN subnet of a macvlan parent does; the second identical request
   * therefore fails with advice instead of returning the same subnet again.
   */
  async #learnPool(addressSpace: string, options: Pick<Pool, 'clientIdMode'>): Promise<RequestPoolResponse> {
    const digest = createHash('sha256').update(`d4d-probe:${this.#o.driverName}`).digest();
    const mac = formatHex(Uint8Array.of(0x02, 0xd4, digest[0] ?? 0, digest[1] ?? 0, digest[2] ?? 0, digest[3] ?? 0));
    const identity = { mac, clientId: clientIdForMac(mac) };
    const binding = await this.#o.client.acquire({ identity, timeoutMs: 20_000 }).catch((err: unknown) => {
      if (err instanceof NoResponseError) throw new IpamError(`${err.message}. ${noSegmentAddress()}`, { cause: err });
      throw err;
    });
    await this.#o.client.release({ identity, ip: binding.ip, serverId: binding.serverId });
    const prefixLength = binding.subnetMask === undefined ? undefined : maskToPrefix(binding.subnetMask);
    if (prefixLength === undefined) {
      throw new IpamError(`the DHCP server sent no usable subnet mask with ${binding.ip}; create the network with --subnet and --gateway`);
    }
    const net = parseCidr(`${binding.ip}/${prefixLength}`, 'learned subnet');
    const pool: Pool = { addressSpace, network: net.network, prefixLength, subPool: undefined, ...options, tag: newTag() };
    const id = poolId(pool);
    const router = binding.routers?.find((r) => inSubnet(r, net.network, prefixLength));
    const taken = [...this.#pools.values()].some((p) => p.pool.network === pool.network && p.pool.prefixLength === pool.prefixLength);
    if (taken) {
      throw new IpamError(
        `the DHCP server's subnet ${poolCidr(pool)} is already in use by a network of this host, or Docker refused it as on-link; ` +
          `create the network with --subnet ${poolCidr(pool)}${router ? ` --gateway ${router}` : ''} if its macvlan parent is on that LAN. ` +
          `In direct mode the server leases from the segment it hears this host on: ${noSegmentAddress()}`,
      );
    }
    this.#pools.set(id, { pool, reserved: new Set(), learned: true });
    await this.#savePools();
    this.#o.log.info({ pool: id, subnet: poolCidr(pool), router }, 'pool learned from the DHCP server');
    return { PoolID: id, Pool: poolCidr(pool), Data: router ? { [DATA_GATEWAY]: `${router}/${prefixLength}` } : {} };
  }

  /** Every lease with the PoolID it was requested in, one snapshot at a time (the operator's listing). */
  *leasesByPool(): IterableIterator<{ poolId: string; lease: Lease }> {
    for (const lease of this.#o.manager.snapshots()) yield { poolId: poolOf(lease.id), lease };
  }

  /**
   * Every lease as reconciliation plans with it: pool, MAC, address and when it was handed out.
   * Gathered `LEASES_PER_TURN` at a time with the event loop running in between: in one turn,
   * with a snapshot of each lease, 50,000 leases held the loop for 200–350 ms here, at every
   * reconciliation.
   */
  async heldLeases(): Promise<HeldLease[]> {
    const held: HeldLease[] = [];
    for (const v of this.#o.manager.views()) {
      const requestedAt = v.handedOutAt;
      held.push({ leaseId: v.id, poolId: poolOf(v.id), mac: v.mac, ip: v.ip, ...(requestedAt === undefined ? {} : { requestedAt }) });
      if (held.length % LEASES_PER_TURN === 0) await nextTurn();
    }
    return held;
  }
}

/** The start of a chain of calls on a lease id when none is under way. */
const NO_TURN: Promise<void> = Promise.resolve();

/** The caller hung up before the reply; nobody reads this error, the log line says what happened. */
export class CallerGoneError extends DaemonError {
  override readonly name = 'CallerGoneError';
  readonly code = 'CALLER_GONE';
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Why direct mode cannot learn or lease a subnet the host has no address in, and what does:
 * said when a network without --subnet fails (docs/engines.md, zero-config networks).
 */
function noSegmentAddress(): string {
  return (
    `if the macvlan parent is on another segment where this host has no address (a VLAN sub-interface), this host has no address to reach the DHCP server from on that segment, ` +
    `and direct mode can neither learn nor lease that segment's subnet: use relay mode, which names the subnet to the server`
  );
}

/** A fresh pool tag: 8 hex digits. */
function newTag(): string {
  return randomBytes(4).toString('hex');
}
