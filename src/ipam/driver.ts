/**
 * The IPAM driver: Docker's calls in, DHCP leases out. No HTTP here (routes.ts adapts it).
 *
 * - Pools are Docker networks. An explicit `--subnet` is taken as given; with none, the subnet
 *   and router are learned from the DHCP server with a short-lived probe lease.
 * - Gateway and `--aux-address` requests are answered locally: those addresses belong to
 *   routers and other hosts, not to containers, so they must never be leased.
 * - An endpoint request (it carries the container's MAC) is a DHCP acquisition keyed by pool
 *   and MAC; the lease is saved to disk before the address is returned.
 * - ReleaseAddress carries no MAC, so leases are found by pool and address.
 * Docker serializes calls per network but not across networks; nothing here waits on Docker.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { Logger } from 'pino';
import type { DhcpClient } from '../dhcp/client.js';
import { formatHex, isIPv4, normalizeMac } from '../dhcp/codec/ipv4.js';
import { clientIdForMac, clientIdForName, type ClientIdentity } from '../dhcp/messages.js';
import { DaemonError } from '../errors.js';
import type { Lease } from '../lease/lease.js';
import type { LeaseManager } from '../lease/manager.js';
import type { LeaseStore, PoolRecord } from '../lease/store.js';
import { inSubnet, maskToPrefix, parseCidr, parsePoolId, parsePoolOptions, poolCidr, poolId, type Pool } from './pool.js';
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
}

interface PoolState {
  pool: Pool;
  /** Gateway and aux addresses Docker reserved in this pool. */
  reserved: Set<string>;
  /** Learned from DHCP because Docker sent no subnet. */
  learned: boolean;
}

export class IpamDriver {
  readonly #o: IpamDriverOptions;
  readonly #pools = new Map<string, PoolState>();

  constructor(options: IpamDriverOptions) {
    this.#o = options;
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
    const pool: Pool = { addressSpace: req.AddressSpace, network: net.network, prefixLength: net.prefixLength, subPool, ...parsePoolOptions(req.Options), tag: newTag() };
    const id = poolId(pool);
    this.#pools.set(id, { pool, reserved: new Set(), learned: false });
    await this.#savePools();
    this.#o.log.info({ pool: id, subnet: poolCidr(pool) }, 'pool requested');
    return { PoolID: id, Pool: poolCidr(pool), Data: {} };
  }

  async releasePool(req: ReleasePoolRequest): Promise<void> {
    const leases = this.#leasesOf(req.PoolID);
    await Promise.all(leases.map((l) => this.#o.manager.release(l.id)));
    this.#pools.delete(req.PoolID);
    await this.#savePools();
    this.#o.log.info({ pool: req.PoolID, released: leases.length }, 'pool released');
  }

  async requestAddress(req: RequestAddressRequest): Promise<RequestAddressResponse> {
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
    const identity = this.#identity(normalized, req.Options[OPTION_ENDPOINT_NAME], pool.clientIdMode ?? this.#o.clientIdMode);
    const id = `${req.PoolID}#${normalized}`;
    const existing = this.#o.manager.get(id);
    if (existing !== undefined && ((req.Address !== '' && existing.ip !== req.Address) || existing.state === 'EXPIRED' || existing.state === 'REBOOTING')) {
      // A leftover lease for this MAC that does not fit this request: start afresh.
      await this.#releaseAndSave(id);
    }
    const lease = await this.#o.manager.acquire(id, {
      identity,
      ...(req.Address === '' ? {} : { requestedIp: req.Address, requireRequested: true }),
    });
    const ctx = { pool: req.PoolID, mac: normalized, ip: lease.ip, xid: lease.binding.xid };
    if (!inPool(lease.ip) || state.reserved.has(lease.ip)) {
      await this.#releaseAndSave(id);
      const why = inPool(lease.ip) ? `which this network reserves as its gateway or an aux address` : `outside the network's subnet ${poolCidr(pool)}`;
      throw new IpamError(`the DHCP server leased ${lease.ip} to ${normalized}, ${why}: give the network the DHCP server's subnet and exclude reserved addresses from its pool`);
    }
    const holder = this.#o.manager.list().find((l) => l.ip === lease.ip && l.id !== id);
    if (holder !== undefined) {
      // The server gave out an address another container of ours still uses (its lease was
      // lost in an outage): handing it out twice is never right.
      await this.#o.manager.release(id).catch(() => undefined);
      this.#o.log.error({ ip: lease.ip, mac: normalized, holder: holder.identity.mac }, 'DHCP server offered an address another container still uses');
      throw new IpamError(`the DHCP server leased ${lease.ip} to ${normalized}, but container MAC ${holder.identity.mac} still uses it (its lease was lost): not handing it out twice`);
    }
    try {
      await this.#o.store.save(this.#o.manager.list());
    } catch (err) {
      // An address we cannot remember across a restart is an address we might hand out twice.
      await this.#o.manager.release(id);
      await this.#o.store.save(this.#o.manager.list()).catch(() => undefined);
      throw err;
    }
    this.#o.log.debug(ctx, 'address leased');
    return cidr(lease.ip);
  }

  async releaseAddress(req: ReleaseAddressRequest): Promise<void> {
    const state = this.#pools.get(req.PoolID);
    if (state?.reserved.delete(req.Address)) {
      await this.#savePools();
      this.#o.log.info({ pool: req.PoolID, ip: req.Address }, 'reserved address released');
      return;
    }
    const lease = this.#leasesOf(req.PoolID).find((l) => l.ip === req.Address);
    if (lease === undefined) {
      this.#o.log.info({ pool: req.PoolID, ip: req.Address }, 'release of an address we do not hold (already released)');
      return;
    }
    await this.#releaseAndSave(lease.id);
    this.#o.log.debug({ pool: req.PoolID, mac: lease.identity.mac, ip: lease.ip }, 'address released');
  }

  async #savePools(): Promise<void> {
    this.#o.store.setPools([...this.#pools.entries()].map(([id, st]) => ({ id, reserved: [...st.reserved] })));
    await this.#o.store.save(this.#o.manager.list());
  }

  async #releaseAndSave(id: string): Promise<void> {
    await this.#o.manager.release(id);
    await this.#o.store.save(this.#o.manager.list());
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

  #leasesOf(poolIdText: string): Lease[] {
    return this.#o.manager.list().filter((l) => l.id.startsWith(`${poolIdText}#`));
  }

  #identity(mac: string, endpointName: string | undefined, mode: 'mac' | 'endpoint-name'): ClientIdentity {
    const name = endpointName?.replace(/^\//, '');
    const hostname = name !== undefined && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name) ? name : undefined;
    const clientId =
      mode === 'endpoint-name' && hostname !== undefined ? clientIdForName(`${this.#o.hostName ?? osHostname()}/${hostname}`) : clientIdForMac(mac);
    return { mac, clientId, ...(hostname === undefined ? {} : { hostname }) };
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
    const binding = await this.#o.client.acquire({ identity, timeoutMs: 20_000 });
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
          `create the network with --subnet ${poolCidr(pool)}${router ? ` --gateway ${router}` : ''}`,
      );
    }
    this.#pools.set(id, { pool, reserved: new Set(), learned: true });
    await this.#savePools();
    this.#o.log.info({ pool: id, subnet: poolCidr(pool), router }, 'pool learned from the DHCP server');
    return { PoolID: id, Pool: poolCidr(pool), Data: router ? { [DATA_GATEWAY]: `${router}/${prefixLength}` } : {} };
  }
}

/** A fresh pool tag: 8 hex digits. */
function newTag(): string {
  return randomBytes(4).toString('hex');
}
