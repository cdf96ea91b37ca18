/**
 * Reconciliation with Docker, the pure part: which leases no Docker endpoint has any more, and
 * which of those have been missing long enough to be released. No I/O here; the reconciler in
 * `src/reconciler.ts` reads Docker, calls this, and releases what it says.
 *
 * Why a grace period: a RequestAddress leases the address before Docker records the endpoint,
 * and dockerd restarts remove endpoints that come back as containers restart. So a lease is
 * released only when every successful scan over at least `graceMs` missed it: the first scan
 * that misses it notes the time (a "sighting"), a scan that sees it clears the note, and a scan
 * `graceMs` or more after the note releases it. A scan that could not read Docker decides
 * nothing and changes no note: Docker being down never frees an address.
 *
 * A lease is "had" by Docker when an endpoint of one of our networks has its address. Matching
 * on the address rather than the MAC never frees an address a container uses, whatever MAC it
 * shows. Networks are matched to pools by subnet, since Docker does not show PoolIDs; a pool
 * with no network of that subnet lost its network while we were not listening (a ReleasePool
 * we missed), and its leases go the same way, with one caution: an engine that is not the one
 * using this plugin (DOCKER_SOCKET pointing elsewhere) shows none of our networks, so the
 * caller may restrict these releases to subnets Docker was seen to have (`networkGoneSubnets`);
 * the others are `unconfirmed` and wait for an operator's explicit run.
 *
 * A lease handed out again after a scan first missed it (a container started again with the
 * same MAC or name gets the same lease id and often the same address) is a new use of it: its
 * grace starts again.
 */
import { ipv4ToNumber, isIPv4 } from '../dhcp/codec/ipv4.js';
import { parsePoolId, poolCidr } from './pool.js';

/** One endpoint of a Docker network (`docker network inspect` → `Containers`). */
export interface DockerEndpoint {
  /** Container (or endpoint) name, for logs. */
  readonly name: string;
  /** Lowercase MAC, when Docker shows one. */
  readonly mac: string | undefined;
  /** IPv4 address without the prefix length, when the endpoint has one. */
  readonly ip: string | undefined;
}

/** A Docker network whose IPAM driver is ours. */
export interface DockerNetwork {
  readonly id: string;
  readonly name: string;
  /** IPv4 subnets as Docker shows them (`IPAM.Config[].Subnet`), possibly with host bits. */
  readonly subnets: readonly string[];
  readonly endpoints: readonly DockerEndpoint[];
}

/** A lease of the daemon, with the pool it belongs to. */
export interface HeldLease {
  /** The lease manager's key. */
  readonly leaseId: string;
  readonly poolId: string;
  readonly mac: string;
  readonly ip: string;
  /** When the driver last handed it out (epoch ms); absent for a lease restored from the table. */
  readonly requestedAt?: number;
}

/** When a scan first missed a lease, and the address it had then. */
export interface Sighting {
  readonly at: number;
  readonly ip: string;
}

/** `no-endpoint`: its network exists but no endpoint has the address; `network-gone`: no network has its subnet. */
export type ReleaseReason = 'no-endpoint' | 'network-gone';

/** A lease no endpoint has. */
export interface Candidate extends HeldLease {
  readonly reason: ReleaseReason;
  /** Names of the Docker networks with the pool's subnet (none when the network is gone). */
  readonly networks: readonly string[];
  /** When a scan first missed it (epoch ms). */
  readonly missingSinceAt: number;
  /** When it may be released: `missingSinceAt + graceMs`. */
  readonly releaseAt: number;
}

export interface ReconcileInput {
  readonly leases: readonly HeldLease[];
  /** Our networks as Docker has them; undefined when Docker could not be read. */
  readonly networks: readonly DockerNetwork[] | undefined;
  readonly now: number;
  readonly graceMs: number;
  /** Sightings from the previous plan (keyed by lease id). */
  readonly missingSince: ReadonlyMap<string, Sighting>;
  /**
   * Subnets whose `network-gone` leases may be released (keys as `subnetKey` gives them);
   * undefined: all of them. The others are returned as `unconfirmed`.
   */
  readonly networkGoneSubnets?: ReadonlySet<string>;
}

export interface ReconcilePlan {
  /** Missing for at least the grace: release these. */
  readonly release: readonly Candidate[];
  /** Missing, but not yet for the grace. */
  readonly pending: readonly Candidate[];
  /** `network-gone` past the grace, of a subnet not in `networkGoneSubnets`: not released. */
  readonly unconfirmed: readonly Candidate[];
  /** Leases an endpoint has (or all of them when Docker could not be read). */
  readonly kept: number;
  /** Sightings to pass to the next plan. */
  readonly missingSince: ReadonlyMap<string, Sighting>;
}

/** Compares the lease table with Docker's endpoints; see the module comment for the rules. */
export function planReconcile(input: ReconcileInput): ReconcilePlan {
  const planner = new ReconcilePlanner(input);
  for (const _ of planSteps(planner, input)) {
    // Each step is done as it is reached.
  }
  return planner.finish();
}

/**
 * Feeds `planner` every endpoint's address of `input.networks`, then every lease, one per step:
 * a caller that must not hold the event loop for the whole table pauses between steps.
 */
export function* planSteps(planner: ReconcilePlanner, input: Pick<ReconcileInput, 'networks' | 'leases'>): Generator<void> {
  for (const n of input.networks ?? [])
    for (const e of n.endpoints) {
      if (e.ip !== undefined) planner.addEndpoint(e.ip);
      yield;
    }
  for (const l of input.leases) {
    planner.add(l);
    yield;
  }
}

/**
 * `planReconcile` one endpoint and one lease at a time, so a caller can let the event loop run
 * between chunks of a large table: the same plan for the same endpoints and leases. The
 * endpoints' addresses (`addEndpoint`, those of `networks`) come first, then the leases (`add`).
 */
export class ReconcilePlanner {
  readonly #input: Omit<ReconcileInput, 'leases'>;
  readonly #inUse = new Set<string>();
  readonly #bySubnet = new Map<string, string[]>();
  readonly #release: Candidate[] = [];
  readonly #pending: Candidate[] = [];
  readonly #unconfirmed: Candidate[] = [];
  readonly #missingSince = new Map<string, Sighting>();
  #kept = 0;

  #adding = false;

  constructor(input: Omit<ReconcileInput, 'leases'>) {
    this.#input = input;
    for (const n of input.networks ?? []) {
      for (const s of n.subnets) {
        const key = subnetKey(s);
        if (key === undefined) continue;
        const names = this.#bySubnet.get(key) ?? [];
        if (!names.includes(n.name)) names.push(n.name);
        this.#bySubnet.set(key, names);
      }
    }
  }

  /** An address an endpoint of `networks` has. */
  addEndpoint(ip: string): void {
    if (this.#adding) throw new Error('ReconcilePlanner: every endpoint comes before the first lease');
    this.#inUse.add(ip);
  }

  /** The addresses the endpoints have, as given so far. */
  get endpointIps(): ReadonlySet<string> {
    return this.#inUse;
  }

  add(l: HeldLease): void {
    this.#adding = true;
    const { networks, now, graceMs } = this.#input;
    // Docker could not be read: every lease is kept, and the sightings stay as they were.
    if (networks === undefined || this.#inUse.has(l.ip)) {
      this.#kept++;
      return;
    }
    const before = this.#input.missingSince.get(l.leaseId);
    // A note about another address belongs to an earlier lease of the same key, and one older
    // than the lease's last request to an earlier use of it: start afresh.
    const stands = before !== undefined && before.ip === l.ip && (l.requestedAt === undefined || l.requestedAt < before.at);
    const sighting = stands ? before : { at: now, ip: l.ip };
    this.#missingSince.set(l.leaseId, sighting);
    const subnet = poolSubnet(l.poolId);
    const networksOfPool = this.#bySubnet.get(subnet ?? '') ?? [];
    const candidate: Candidate = {
      ...l,
      reason: networksOfPool.length === 0 ? 'network-gone' : 'no-endpoint',
      networks: networksOfPool,
      missingSinceAt: sighting.at,
      releaseAt: sighting.at + graceMs,
    };
    if (now - sighting.at < graceMs) this.#pending.push(candidate);
    else if (candidate.reason === 'network-gone' && this.#input.networkGoneSubnets !== undefined && !this.#input.networkGoneSubnets.has(subnet ?? ''))
      this.#unconfirmed.push(candidate);
    else this.#release.push(candidate);
  }

  finish(): ReconcilePlan {
    if (this.#input.networks === undefined) return { release: [], pending: [], unconfirmed: [], kept: this.#kept, missingSince: this.#input.missingSince };
    return { release: this.#release, pending: this.#pending, unconfirmed: this.#unconfirmed, kept: this.#kept, missingSince: this.#missingSince };
  }
}

/** `a.b.c.d/len` with the host bits cleared, or undefined when `text` is not an IPv4 CIDR. */
export function subnetKey(text: string): string | undefined {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d{1,2})$/.exec(text.trim());
  if (m === null || !isIPv4(m[1] as string)) return undefined;
  const len = Number(m[2]);
  if (len > 32) return undefined;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const n = (ipv4ToNumber(m[1] as string) & mask) >>> 0;
  return `${[n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.')}/${len}`;
}

/** The subnet a PoolID describes, or undefined for an ID this version does not read. */
function poolSubnet(poolId: string): string | undefined {
  try {
    return poolCidr(parsePoolId(poolId));
  } catch {
    return undefined;
  }
}
