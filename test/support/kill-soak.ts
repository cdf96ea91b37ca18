/**
 * kill -9 under load, as a reusable harness (the fault test runs 20+ cycles, bench/soak.ts 200+).
 *
 * One cycle: a burst of concurrent plugin calls — ReleaseAddress for most addresses callers
 * hold, RequestAddress with random MACs for the rest, `burst` calls in all — and a SIGKILL of
 * the daemon at a random moment while they run; then a restart on the same state dir and the
 * checks:
 *   - every address returned to a caller and not released is in the lease table under the
 *     caller's MAC, and active in the DHCP server's lease database under that MAC;
 *   - every address held for longer than a lease time has been renewed (its server expiry
 *     moved past the one recorded when it was granted);
 *   - every release that was acknowledged is free in the server's database;
 *   - no address is held twice: not in the table, not among callers, and the server agrees
 *     with the table about who holds each address;
 *   - leases the table holds that no caller got (a request killed after the table write, a
 *     release killed before it, and one release a cycle that Docker "loses": the endpoint is
 *     forgotten without a call) are counted as orphans. Docker's view is served by a stand-in
 *     engine API that lists exactly the endpoints callers were told about and kept; the daemon
 *     reconciles with it (`d4d.Reconcile`), every orphan must be released, on the server too,
 *     and nothing a caller holds may be; a lease still held that no caller got is a leak.
 * Calls that fail without the kill (an `{"Err": …}` reply) are counted and reported, not hidden.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDockerStandin, type DockerStandin } from './docker-standin.js';
import { createIsolatedLab, type IsolatedLab } from './lab/isolated.js';
import { createServer, type DhcpServerFixture, type ServerLease } from './lab/servers.js';
import { readLeaseTable, replyAddress, startNetnsDaemon, type NetnsDaemon, type TableLease } from './netns-daemon.js';
import { callPlugin, type PluginReply } from './plugin-client.js';

export interface KillSoakOptions {
  /** Isolated lab name (1–6 chars) and subnet octet. */
  readonly name: string;
  readonly octet: number;
  /** Kea valid-lifetime; short, so renewals happen within the run. */
  readonly leaseSeconds: number;
  /** Plugin calls per burst. */
  readonly burst: number;
  /**
   * Longest delay from the start of a burst to the SIGKILL (ms). The kill comes once a random
   * number of the burst's calls have settled, or at a delay uniform in [10, this], if sooner.
   */
  readonly maxKillDelayMs: number;
  /** How many held addresses are kept across cycles (the rest are released), so some live long enough to be renewed. */
  readonly keep?: number;
  /**
   * After each restart, have the daemon reconcile with the stand-in Docker (`d4d.Reconcile`,
   * grace 1 s, no automatic runs so nothing is reconciled while calls are in flight) and count
   * what is left as leaks. Default true; false releases orphans through ReleaseAddress instead.
   */
  readonly reconcile?: boolean;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

export interface SoakFigures {
  cycles: number;
  requests: number;
  /** Requests answered with an address. */
  granted: number;
  /** Requests answered with `{"Err": …}` (not cut by the kill). */
  refused: number;
  /** Calls cut by the kill (connection reset). */
  cut: number;
  releases: number;
  releasesAcked: number;
  /**
   * Releases Docker lost (the endpoint forgotten, no call made): one a cycle, so that every run
   * has leases only reconciliation can free, however the kills fall.
   */
  releasesLost: number;
  /** (address, check) pairs verified: held in table and server, or free after a release. */
  leasesChecked: number;
  /** Held addresses verified renewed. */
  renewalsChecked: number;
  /** Table leases no caller got, before reconciliation. */
  orphans: number;
  /** Leases the daemon's reconciliation released. */
  reconciled: number;
  /** Orphans still held after reconciliation (only counted when the daemon reconciles). */
  leaks: number;
  duplicates: number;
  /** Every broken promise, one line each. */
  violations: string[];
  /** A sample of the `Err` texts of refused calls. */
  refusals: string[];
}

interface Held {
  mac: string;
  ip: string;
  grantedAt: number;
  /** Server expiry seen at the first check after the grant. */
  firstEndsAt?: number;
}

const POOL_FIRST = 2;
const POOL_LAST = 253;

export class KillSoak {
  readonly figures: SoakFigures = {
    cycles: 0,
    requests: 0,
    granted: 0,
    refused: 0,
    cut: 0,
    releases: 0,
    releasesAcked: 0,
    releasesLost: 0,
    reconciled: 0,
    leasesChecked: 0,
    renewalsChecked: 0,
    orphans: 0,
    leaks: 0,
    duplicates: 0,
    violations: [],
    refusals: [],
  };
  readonly #o: KillSoakOptions;
  readonly #held = new Map<string, Held>(); // by MAC
  #lab: IsolatedLab | undefined;
  #server: DhcpServerFixture | undefined;
  #docker: DockerStandin | undefined;
  #daemon: NetnsDaemon | undefined;
  #dir = '';
  #poolId = '';

  private constructor(o: KillSoakOptions) {
    this.#o = o;
  }

  static async open(o: KillSoakOptions): Promise<KillSoak> {
    const soak = new KillSoak(o);
    try {
      await soak.#setup();
    } catch (err) {
      await soak.close();
      throw err;
    }
    return soak;
  }

  get socketPath(): string {
    return join(this.#dir, 'plugins', `${this.#o.name}.sock`);
  }

  get tablePath(): string {
    return join(this.#dir, 'state', `leases-${this.#o.name}.journal`);
  }

  get dockerSocket(): string {
    return join(this.#dir, 'docker.sock');
  }

  get daemonArgs(): string[] {
    const lab = this.#need(this.#lab);
    return [
      '--dhcp-server',
      lab.serverIp,
      '--listen-addr',
      lab.hostIp,
      '--driver-name',
      this.#o.name,
      '--state-dir',
      join(this.#dir, 'state'),
      '--plugin-dir',
      join(this.#dir, 'plugins'),
      '--config',
      join(this.#dir, 'none.conf'),
    ];
  }

  /** The daemon's log since its last start. */
  daemonLog(): string {
    return this.#daemon?.log() ?? '';
  }

  async #setup(): Promise<void> {
    // Leftovers of a killed run: the lab removes its own by name; the scratch dir is ours.
    for (const stale of await readdir(tmpdir())) {
      if (stale.startsWith(`d4d-soak-${this.#o.name}-`)) await rm(join(tmpdir(), stale), { recursive: true, force: true });
    }
    this.#dir = await mkdtemp(join(tmpdir(), `d4d-soak-${this.#o.name}-`));
    await mkdir(join(this.#dir, 'state'));
    await writeFile(join(this.#dir, 'none.conf'), '# empty: everything comes from flags\n');
    const lab = await createIsolatedLab({ name: this.#o.name, octet: this.#o.octet });
    this.#lab = lab;
    this.#server = createServer('kea', lab, { leaseTimeSeconds: this.#o.leaseSeconds, rangeFirst: POOL_FIRST, rangeLast: POOL_LAST });
    await this.#server.start();
    this.#docker = await startDockerStandin(this.dockerSocket, () => [
      {
        id: 'f'.repeat(16) + this.#o.name.padEnd(48, '0'),
        name: `${this.#o.name}-net`,
        ipamDriver: this.#o.name,
        subnet: lab.subnet,
        prefixLength: 24,
        gateway: lab.serverIp,
        endpoints: [...this.#held.values()].map((h) => ({ mac: h.mac, ip: h.ip })),
      },
    ]);
    await this.#start();
    const pool = await callPlugin(this.socketPath, 'IpamDriver.RequestPool', {
      AddressSpace: 'local',
      Pool: `${lab.subnet}/24`,
      SubPool: '',
      Options: {},
      V6: false,
    });
    if (pool.status !== 200 || typeof pool.body.PoolID !== 'string') throw new Error(`RequestPool failed: ${JSON.stringify(pool)}`);
    this.#poolId = pool.body.PoolID;
    const gw = await callPlugin(this.socketPath, 'IpamDriver.RequestAddress', {
      PoolID: this.#poolId,
      Address: lab.serverIp,
      Options: { RequestAddressType: 'com.docker.network.gateway' },
    });
    if (gw.status !== 200) throw new Error(`gateway RequestAddress failed: ${JSON.stringify(gw)}`);
  }

  async #start(): Promise<void> {
    const lab = this.#need(this.#lab);
    // The grace is the shortest allowed: the harness reconciles only between bursts, when no
    // call is in flight, so nothing a caller is about to be told can be missing from Docker.
    const env = { DOCKER_SOCKET: this.dockerSocket, RECONCILE_INTERVAL: '0', RECONCILE_GRACE: '1' };
    this.#daemon = await startNetnsDaemon({ netns: lab.clientNs, args: this.daemonArgs, env, socketPath: this.socketPath });
  }

  /** One burst, kill, restart and check. Returns the violations of this cycle. */
  async cycle(): Promise<string[]> {
    const f = this.figures;
    const before = f.violations.length;
    const violation = (line: string): void => {
      f.violations.push(`cycle ${f.cycles + 1}: ${line}`);
    };
    const daemon = this.#need(this.#daemon);
    const keep = this.#o.keep ?? 24;
    // Release everything but the `keep` oldest that are younger than three leases (so addresses
    // rotate), and fill the burst with new requests.
    const now = Date.now();
    const byAge = [...this.#held.values()].sort((a, b) => a.grantedAt - b.grantedAt);
    const kept = byAge.filter((h) => now - h.grantedAt < 3 * this.#o.leaseSeconds * 1000).slice(0, keep);
    const toRelease = byAge.filter((h) => !kept.includes(h)).slice(0, this.#o.burst);
    // Docker loses one of the releases: it forgets the endpoint without calling us.
    const lost = toRelease.shift();
    if (lost !== undefined) {
      this.#held.delete(lost.mac);
      f.releasesLost += 1;
    }
    const newMacs = Array.from({ length: Math.max(0, this.#o.burst - toRelease.length) }, randomMac);

    const ackedReleases: Held[] = [];
    const told: Held[] = [];
    const calls: Array<Promise<void>> = [];
    const record = (reply: PluginReply): void => {
      f.refused += 1;
      const err = typeof reply.body.Err === 'string' ? reply.body.Err : JSON.stringify(reply.body);
      if (f.refusals.length < 20 && !f.refusals.includes(err)) f.refusals.push(err);
    };
    const cutOrFail =
      (what: string) =>
      (err: unknown): void => {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'EPIPE' || code === 'ENOENT' || /socket hang up/.test(String(err))) f.cut += 1;
        else violation(`${what}: unexpected client error ${String(err)}`);
      };
    // Interleave releases and requests, as Docker's per-network serialization does not apply
    // across networks and many hosts' worth of calls arrive together.
    const order = shuffle([...toRelease.map((h) => ({ kind: 'release' as const, h })), ...newMacs.map((mac) => ({ kind: 'request' as const, mac }))]);
    for (const op of order) {
      if (op.kind === 'release') {
        f.releases += 1;
        // Docker forgets the endpoint when it asks for the release, whatever the answer.
        this.#held.delete(op.h.mac);
        calls.push(
          callPlugin(this.socketPath, 'IpamDriver.ReleaseAddress', { PoolID: this.#poolId, Address: op.h.ip }).then(
            (reply) => {
              if (reply.status === 200) {
                f.releasesAcked += 1;
                ackedReleases.push(op.h);
              } else record(reply);
            },
            cutOrFail(`release ${op.h.ip}`),
          ),
        );
      } else {
        f.requests += 1;
        calls.push(
          callPlugin(this.socketPath, 'IpamDriver.RequestAddress', {
            PoolID: this.#poolId,
            Address: '',
            Options: { 'com.docker.network.endpoint.macaddress': op.mac },
          }).then(
            (reply) => {
              const ip = replyAddress(reply);
              if (ip === undefined) return record(reply);
              f.granted += 1;
              const h: Held = { mac: op.mac, ip, grantedAt: Date.now() };
              told.push(h);
              const twice = [...this.#held.values()].find((o) => o.ip === ip);
              if (twice !== undefined) {
                f.duplicates += 1;
                violation(`${ip} was given to ${op.mac} while ${twice.mac} holds it`);
              }
              this.#held.set(op.mac, h);
            },
            cutOrFail(`request ${op.mac}`),
          ),
        );
      }
    }
    // The kill comes while calls are under way, after a random number of them have settled
    // (a burst can end well within the longest delay: a delay alone let whole runs go uncut).
    let settled = 0;
    for (const c of calls) void c.finally(() => settled++);
    const killWhen = 1 + Math.floor(Math.random() * Math.max(1, calls.length - 1));
    const started = Date.now();
    const latest = started + 10 + Math.floor(Math.random() * Math.max(1, this.#o.maxKillDelayMs - 10));
    while (settled < killWhen && Date.now() < latest) await sleep(1);
    const killAfter = Date.now() - started;
    const alive = daemon.process.exitCode === null && daemon.process.signalCode === null;
    if (!alive) violation(`the daemon had exited on its own before the kill:\n${daemon.log().slice(-2000)}`);
    await daemon.stop('SIGKILL');
    await Promise.all(calls);
    f.cycles += 1;
    await this.#start();
    await this.#check(ackedReleases, violation);
    this.#o.log?.(
      `cycle ${f.cycles}: kill after ${killAfter} ms (${settled} of ${calls.length} calls settled); ${told.length} granted, ${ackedReleases.length}/${toRelease.length} releases acked; holding ${this.#held.size}; ${f.violations.length - before} violations`,
    );
    return f.violations.slice(before);
  }

  async #check(ackedReleases: readonly Held[], violation: (line: string) => void): Promise<void> {
    const f = this.figures;
    const server = this.#need(this.#server);
    let table = await readLeaseTable(this.tablePath);
    const tableIps = new Set<string>();
    for (const l of table) {
      if (tableIps.has(l.ip)) {
        f.duplicates += 1;
        violation(`${l.ip} is in the lease table twice`);
      }
      tableIps.add(l.ip);
    }
    // The server writes its database as it answers; an acknowledged RELEASE may still be on the
    // wire for a moment, so the server-side checks are retried for a short while.
    let leases: ServerLease[] = [];
    let problems: string[] = [];
    const deadline = Date.now() + 3_000;
    for (;;) {
      leases = await server.leases();
      problems = this.#serverProblems(table, leases, ackedReleases);
      if (problems.length === 0 || Date.now() > deadline) break;
      await sleep(100);
    }
    for (const p of problems) violation(p);
    f.leasesChecked += this.#held.size * 2 + ackedReleases.length;
    const now = Date.now();
    for (const h of this.#held.values()) {
      const lease = leases.find((l) => l.ip === h.ip && l.mac === h.mac && l.active);
      if (lease === undefined || lease.endsAt === null) continue;
      if (h.firstEndsAt === undefined) h.firstEndsAt = lease.endsAt;
      else if (now - h.grantedAt >= this.#o.leaseSeconds * 1000) {
        // Still active a full lease after the grant: it must have been extended.
        f.renewalsChecked += 1;
        if (lease.endsAt <= h.firstEndsAt) violation(`${h.ip} (${h.mac}) held ${Math.round((now - h.grantedAt) / 1000)} s but never renewed`);
      }
    }
    // Orphans: leases no caller got.
    const callerMacs = new Set([...this.#held.values()].map((h) => h.mac));
    const orphans = table.filter((l) => !callerMacs.has(l.mac));
    f.orphans += orphans.length;
    if (orphans.length === 0) return;
    if (this.#o.reconcile ?? true) {
      // The first run notes what Docker lacks; one after the grace releases it.
      const first = await callPlugin(this.socketPath, 'd4d.Reconcile', { DryRun: false });
      if (first.status !== 200) violation(`reconcile failed: ${JSON.stringify(first.body)}`);
      await sleep(1_100);
      const second = await callPlugin(this.socketPath, 'd4d.Reconcile', { DryRun: false });
      if (second.status !== 200) violation(`reconcile failed: ${JSON.stringify(second.body)}`);
      const released = Array.isArray(second.body.Released) ? (second.body.Released as Array<{ Error?: string; Ip?: string }>) : [];
      for (const r of released) if (r.Error !== undefined) violation(`reconcile could not release ${String(r.Ip)}: ${r.Error}`);
      f.reconciled += released.length;
      table = await readLeaseTable(this.tablePath);
      const left = table.filter((l) => !callerMacs.has(l.mac));
      f.leaks += left.length;
      for (const l of left) violation(`leak: ${l.ip} (${l.mac}) is held after reconciliation though no caller has it`);
      const lost = [...this.#held.values()].filter((h) => !table.some((l) => l.mac === h.mac && l.ip === h.ip));
      for (const h of lost) violation(`reconciliation released ${h.ip} (${h.mac}), which a caller holds`);
      // What it released is free on the server too (the RELEASE may still be on the wire).
      const freed = orphans.filter((o) => !table.some((l) => l.mac === o.mac));
      const settle = Date.now() + 3_000;
      let still: TableLease[] = [];
      do {
        const now2 = await server.leases();
        still = freed.filter((o) => now2.some((l) => l.active && l.mac === o.mac && l.ip === o.ip));
        if (still.length > 0) await sleep(100);
      } while (still.length > 0 && Date.now() < settle);
      for (const o of still) violation(`reconciliation released ${o.ip} (${o.mac}) but the server still has it active`);
      return;
    }
    // No reconciliation in the daemon: release them as an operator would, through the plugin.
    for (const o of orphans) {
      const pool = o.id.slice(0, o.id.lastIndexOf('#'));
      const reply = await callPlugin(this.socketPath, 'IpamDriver.ReleaseAddress', { PoolID: pool, Address: o.ip });
      if (reply.status !== 200) violation(`could not release orphan ${o.ip}: ${JSON.stringify(reply.body)}`);
    }
  }

  #serverProblems(table: readonly TableLease[], leases: readonly ServerLease[], ackedReleases: readonly Held[]): string[] {
    const problems: string[] = [];
    for (const h of this.#held.values()) {
      const row = table.find((l) => l.ip === h.ip);
      if (row?.mac !== h.mac) problems.push(`${h.ip} was given to ${h.mac} but the lease table has ${row === undefined ? 'no entry' : `it under ${row.mac}`}`);
      const lease = leases.find((l) => l.ip === h.ip);
      if (lease?.active !== true || lease.mac !== h.mac)
        problems.push(
          `${h.ip} was given to ${h.mac} but the server has ${lease === undefined ? 'no lease' : `${lease.active ? 'an active' : 'an inactive'} lease for ${String(lease.mac)}`}`,
        );
    }
    for (const r of ackedReleases) {
      const lease = leases.find((l) => l.ip === r.ip);
      if (lease?.active === true && lease.mac === r.mac) problems.push(`release of ${r.ip} (${r.mac}) was acknowledged but the server still has it active`);
    }
    // The server and the table agree on who holds what callers hold (checked above) and on the
    // rest of the table, except orphans: a release cut after its RELEASE went out but before the
    // table write leaves the table naming a lease the server already gave to a request that was
    // cut too. Neither was told to anyone; reconciliation and the server's expiry settle them.
    const callerMacs = new Set([...this.#held.values()].map((h) => h.mac));
    for (const l of table) {
      if (!callerMacs.has(l.mac)) continue;
      const lease = leases.find((s) => s.ip === l.ip && s.active);
      if (lease !== undefined && lease.mac !== l.mac) problems.push(`${l.ip}: the table says ${l.mac}, the server says ${String(lease.mac)}`);
    }
    return problems;
  }

  async close(): Promise<void> {
    await this.#daemon?.stop('SIGKILL');
    await this.#docker?.close().catch(() => undefined);
    await this.#server?.stop();
    await this.#lab?.destroy();
    if (this.#dir !== '') await rm(this.#dir, { recursive: true, force: true });
  }

  #need<T>(v: T | undefined): T {
    if (v === undefined) throw new Error('kill soak is not set up');
    return v;
  }
}

/** A random unicast, locally administered MAC. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] as number) & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** One line of figures for people. */
export function formatFigures(f: SoakFigures): string {
  return (
    `cycles ${f.cycles}, requests ${f.requests} (granted ${f.granted}, refused ${f.refused}), releases ${f.releases} (acked ${f.releasesAcked}, lost by Docker ${f.releasesLost}), ` +
    `calls cut by the kill ${f.cut}, leases checked ${f.leasesChecked}, renewals checked ${f.renewalsChecked}, orphans before reconciliation ${f.orphans} (released by it ${f.reconciled}), ` +
    `leaks ${f.leaks}, duplicates ${f.duplicates}, violations ${f.violations.length}`
  );
}
