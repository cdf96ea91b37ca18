import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/support/fake-clock.js';
import { testLog } from '../test/support/silent-log.js';
import { DockerUnavailableError } from './docker/engine.js';
import type { DockerNetwork, HeldLease } from './ipam/reconcile.js';
import { Reconciler, type DockerReader, type LeaseHolder } from './reconciler.js';
import { countTurns } from '../test/support/turns.js';

const POOL = 'd4d/local/10.9.0.0/24/id=0000000a';
const GRACE = 60_000;
const INTERVAL = 10_000;

/** A lease table the reconciler releases from, recording each release; `requested` stamps a lease as the driver does. */
function holder(leases: HeldLease[]): LeaseHolder & { released: string[]; requested(ip: string, at: number): void } {
  const released: string[] = [];
  let table = leases;
  return {
    released,
    requested(ip, at) {
      table = table.map((l) => (l.ip === ip ? { ...l, requestedAt: at } : l));
    },
    heldLeases: async () => table.filter((l) => !released.includes(l.ip)),
    releaseLease: async (planned) => {
      const now = table.find((l) => l.leaseId === planned.leaseId && !released.includes(l.ip));
      if (now === undefined || now.ip !== planned.ip || now.requestedAt !== planned.requestedAt) return false;
      released.push(planned.ip);
      return true;
    },
  };
}

/** A logger whose lines the test reads. */
function recordingLog() {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino(
    { level: 'debug' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
        done();
      },
    }),
  );
  return { log, lines };
}

/** Docker as a list of networks the test changes; `down` makes every read fail. */
function docker(initial: DockerNetwork[]): DockerReader & { networks: DockerNetwork[]; down: boolean; reads: number } {
  const d = {
    networks: initial,
    down: false,
    reads: 0,
    async ipamNetworks(_driverName?: string, _signal?: AbortSignal): Promise<DockerNetwork[]> {
      d.reads++;
      if (d.down) throw new DockerUnavailableError('cannot reach the Docker engine at /nowhere (DOCKER_SOCKET): connect ENOENT');
      return d.networks;
    },
  };
  return d;
}

const lease = (n: number): HeldLease => ({ leaseId: `${POOL}#02:00:00:00:00:0${n}`, poolId: POOL, mac: `02:00:00:00:00:0${n}`, ip: `10.9.0.${n}` });
const OTHER_POOL = 'd4d/local/10.8.0.0/24/id=0000000b';
const otherLease = (n: number): HeldLease => ({
  leaseId: `${OTHER_POOL}#02:00:00:00:01:0${n}`,
  poolId: OTHER_POOL,
  mac: `02:00:00:00:01:0${n}`,
  ip: `10.8.0.${n}`,
});
const other = (ips: number[]): DockerNetwork => ({
  id: 'n2',
  name: 'other',
  subnets: ['10.8.0.0/24'],
  endpoints: ips.map((i) => ({ name: `o${i}`, mac: undefined, ip: `10.8.0.${i}` })),
});
const lan = (ips: number[]): DockerNetwork => ({
  id: 'n1',
  name: 'lan',
  subnets: ['10.9.0.0/24'],
  endpoints: ips.map((i) => ({ name: `c${i}`, mac: undefined, ip: `10.9.0.${i}` })),
});

function setup(leases: HeldLease[], networks: DockerNetwork[], log = testLog()) {
  const clock = new FakeClock();
  const h = holder(leases);
  const d = docker(networks);
  const r = new Reconciler({ docker: d, leases: h, driverName: 'd4d', clock, graceMs: GRACE, intervalMs: INTERVAL, log });
  return { clock, h, d, r };
}

describe('Reconciler, a large table', () => {
  it('plans a chunk of leases per turn of the event loop, with the same outcome', async () => {
    // 2,500 leases in a /20 of their own; Docker has every tenth address.
    const pool = 'd4d/local/10.20.0.0/20/id=0000000c';
    const ip = (n: number): string => `10.20.${n >> 8}.${n & 0xff}`;
    const leases: HeldLease[] = Array.from({ length: 2_500 }, (_, n) => ({ leaseId: `${pool}#${n}`, poolId: pool, mac: `m${n}`, ip: ip(n) }));
    const net: DockerNetwork = {
      id: 'n20',
      name: 'big',
      subnets: ['10.20.0.0/20'],
      endpoints: leases.filter((_, n) => n % 10 === 0).map((l) => ({ name: l.mac, mac: undefined, ip: l.ip })),
    };
    const { r } = setup(leases, [net]);
    const turns = countTurns();
    const report = await r.reconcile({ dryRun: true });
    expect(report.kept).toBe(250);
    expect(report.pending).toHaveLength(2_250);
    // The loop ran between the chunks (a single pass would let it run at most once).
    expect(turns.stop()).toBeGreaterThanOrEqual(2);
  });
});

describe('Reconciler', () => {
  it('runs at start-up and every interval, and releases a lease once it has been missing for the grace', async () => {
    const { clock, h, d, r } = setup([lease(1), lease(2)], [lan([1])]);
    r.start();
    await clock.advance(0);
    expect(d.reads).toBe(1);
    await clock.advance(GRACE - INTERVAL);
    expect(h.released).toEqual([]);
    await clock.advance(INTERVAL);
    expect(h.released).toEqual(['10.9.0.2']);
    await r.stop();
    const reads = d.reads;
    await clock.advance(INTERVAL * 5);
    expect(d.reads).toBe(reads);
  });

  it('releases nothing while Docker is unreachable, however long', async () => {
    const { clock, h, d, r } = setup([lease(1), lease(2)], [lan([1])]);
    r.start();
    await clock.advance(0);
    d.down = true;
    await clock.advance(GRACE * 3);
    expect(h.released).toEqual([]);
    await expect(r.reconcile({ dryRun: false })).rejects.toThrow(DockerUnavailableError);
    expect(h.released).toEqual([]);
    await r.stop();
  });

  it('does not release a lease whose endpoint shows up in the second read', async () => {
    const { clock, h, d, r } = setup([lease(1), lease(2)], [lan([1])]);
    await r.reconcile({ dryRun: false });
    await clock.advance(GRACE);
    const original = d.ipamNetworks.bind(d);
    // The first read still misses lease 2; by the confirming read its container is there.
    let call = 0;
    d.ipamNetworks = async () => (call++ === 0 ? original('d4d') : [lan([1, 2])]);
    const report = await r.reconcile({ dryRun: false });
    expect(report.released).toEqual([]);
    expect(h.released).toEqual([]);
  });

  it('a dry run reports what it would release and releases nothing', async () => {
    const { clock, h, r } = setup([lease(1), lease(2), lease(3)], [lan([1])]);
    await r.reconcile({ dryRun: true });
    await clock.advance(GRACE);
    const report = await r.reconcile({ dryRun: true });
    expect(report).toMatchObject({ dryRun: true, kept: 1, graceMs: GRACE });
    expect(report.released.map((c) => c.ip)).toEqual(['10.9.0.2', '10.9.0.3']);
    expect(h.released).toEqual([]);
  });

  it('with interval 0 runs only on demand', async () => {
    const clock = new FakeClock();
    const d = docker([lan([])]);
    const r = new Reconciler({ docker: d, leases: holder([]), driverName: 'd4d', clock, graceMs: GRACE, intervalMs: 0, log: testLog() });
    r.start();
    await clock.advance(INTERVAL * 10);
    expect(d.reads).toBe(0);
  });

  it('starts the grace again for a lease requested again after the first miss, and never releases a lease stamped since the plan', async () => {
    const { clock, h, r } = setup([lease(1), lease(2)], [lan([1])]);
    await r.reconcile({ dryRun: false });
    // The container (fixed MAC) is started again just before the grace ends; Docker records its endpoint a moment later.
    await clock.advance(GRACE - 50);
    h.requested('10.9.0.2', clock.now());
    await clock.advance(60);
    const report = await r.reconcile({ dryRun: false });
    expect(report.released).toEqual([]);
    expect(report.pending.map((c) => [c.ip, c.missingSinceAt])).toEqual([['10.9.0.2', clock.now()]]);
    expect(h.released).toEqual([]);
  });

  it('leaves out of the report a lease the driver declined to release (requested again between the plan and the release)', async () => {
    const { clock, h, r } = setup([lease(1), lease(2)], [lan([1])]);
    await r.reconcile({ dryRun: false });
    await clock.advance(GRACE);
    h.releaseLease = async () => false;
    const report = await r.reconcile({ dryRun: false });
    expect(report.released).toEqual([]);
    expect(h.released).toEqual([]);
  });

  it('automatic runs release network-gone leases only of networks seen in Docker before; an explicit run releases them and says so', async () => {
    const { clock, h, d, r } = setup([lease(1), otherLease(5), otherLease(6)], [lan([1]), other([5, 6])]);
    r.start();
    await clock.advance(0);
    // The network of 10.8.0.0/24, seen at the first run, is removed and its ReleasePool missed.
    d.networks = [lan([1])];
    await clock.advance(GRACE + INTERVAL);
    expect(h.released.sort()).toEqual(['10.8.0.5', '10.8.0.6']);
    await r.stop();

    const never = setup([lease(1), otherLease(5)], [lan([1])]);
    never.r.start();
    await never.clock.advance(GRACE * 3);
    expect(never.h.released).toEqual([]);
    const dry = await never.r.reconcile({ dryRun: true });
    expect(dry.released.map((c) => [c.ip, c.reason])).toEqual([['10.8.0.5', 'network-gone']]);
    expect(never.h.released).toEqual([]);
    const explicit = await never.r.reconcile({ dryRun: false });
    expect(explicit.released.map((c) => c.ip)).toEqual(['10.8.0.5']);
    expect(explicit.notes.join('\n')).toContain('leases whose subnet no network in Docker has were released (reason network-gone)');
    expect(never.h.released).toEqual(['10.8.0.5']);
    await never.r.stop();
  });

  it('takes a read showing none of our networks while leases are held as unreadable: logs an error, releases nothing', async () => {
    const { log, lines } = recordingLog();
    const { clock, h, d, r } = setup([lease(1), lease(2)], [lan([1, 2])], log);
    r.start();
    await clock.advance(0);
    expect(r.endpointsSeen()?.ips).toEqual(new Set(['10.9.0.1', '10.9.0.2']));
    // DOCKER_SOCKET now reaches another engine, one that does not use this plugin.
    d.networks = [];
    await clock.advance(GRACE * 3);
    expect(h.released).toEqual([]);
    expect(lines.some((l) => l.level === 50 && l.msg.includes('shows none of our networks'))).toBe(true);
    expect(r.endpointsSeen()).toBeUndefined();
    await r.stop();
  });

  it('shows the endpoints of the last read (none after a failed one), and a nudge reads again without releasing', async () => {
    const { clock, h, d, r } = setup([lease(1), lease(2)], [lan([1])]);
    expect(r.endpointsSeen()).toBeUndefined();
    await r.reconcile({ dryRun: true });
    expect(r.endpointsSeen()).toEqual({ at: clock.now(), ips: new Set(['10.9.0.1']) });
    await clock.advance(GRACE * 2);
    d.networks = [lan([1, 2])];
    r.nudge();
    await clock.advance(0);
    expect(r.endpointsSeen()).toEqual({ at: clock.now(), ips: new Set(['10.9.0.1', '10.9.0.2']) });
    d.down = true;
    r.nudge();
    await clock.advance(0);
    expect(r.endpointsSeen()).toBeUndefined();
    expect(h.released).toEqual([]);
  });

  it('stop aborts a read under way and returns at once; a release loop under way stops at the next lease', async () => {
    const { clock, d, r } = setup([lease(1), lease(2), lease(3)], [lan([1])]);
    let seen: AbortSignal | undefined;
    d.ipamNetworks = (_name, signal) =>
      new Promise((_resolve, reject) => {
        seen = signal;
        signal?.addEventListener('abort', () => reject(new DockerUnavailableError('Docker engine read aborted: reconciliation stopped')));
      });
    const run = r.reconcile({ dryRun: false });
    await clock.advance(0);
    await r.stop();
    expect(seen?.aborted).toBe(true);
    await expect(run).rejects.toThrow('reconciliation stopped');

    const two = setup([lease(1), lease(2), lease(3)], [lan([1])]);
    await two.r.reconcile({ dryRun: false });
    await two.clock.advance(GRACE);
    const release = two.h.releaseLease.bind(two.h);
    let stopping: Promise<void> | undefined;
    two.h.releaseLease = async (planned) => {
      stopping ??= two.r.stop();
      return release(planned);
    };
    const report = await two.r.reconcile({ dryRun: false });
    await stopping;
    expect(two.h.released).toEqual(['10.9.0.2']);
    expect(report.released.map((c) => c.ip)).toEqual(['10.9.0.2']);
  });
});
