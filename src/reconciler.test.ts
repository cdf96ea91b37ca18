import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/support/fake-clock.js';
import { testLog } from '../test/support/silent-log.js';
import { DockerUnavailableError } from './docker/engine.js';
import type { DockerNetwork, HeldLease } from './ipam/reconcile.js';
import { Reconciler, type DockerReader, type LeaseHolder } from './reconciler.js';

const POOL = 'd4d/local/10.9.0.0/24/id=0000000a';
const GRACE = 60_000;
const INTERVAL = 10_000;

/** A lease table the reconciler releases from, recording each release. */
function holder(leases: HeldLease[]): LeaseHolder & { released: string[] } {
  const released: string[] = [];
  return {
    released,
    heldLeases: () => leases.filter((l) => !released.includes(l.ip)),
    releaseLease: async (_pool, ip) => {
      released.push(ip);
    },
  };
}

/** Docker as a list of networks the test changes; `down` makes every read fail. */
function docker(initial: DockerNetwork[]): DockerReader & { networks: DockerNetwork[]; down: boolean; reads: number } {
  const d = {
    networks: initial,
    down: false,
    reads: 0,
    async ipamNetworks(_driverName?: string): Promise<DockerNetwork[]> {
      d.reads++;
      if (d.down) throw new DockerUnavailableError('cannot reach the Docker engine at /nowhere (DOCKER_SOCKET): connect ENOENT');
      return d.networks;
    },
  };
  return d;
}

const lease = (n: number): HeldLease => ({ leaseId: `${POOL}#02:00:00:00:00:0${n}`, poolId: POOL, mac: `02:00:00:00:00:0${n}`, ip: `10.9.0.${n}` });
const lan = (ips: number[]): DockerNetwork => ({ id: 'n1', name: 'lan', subnets: ['10.9.0.0/24'], endpoints: ips.map((i) => ({ name: `c${i}`, mac: undefined, ip: `10.9.0.${i}` })) });

function setup(leases: HeldLease[], networks: DockerNetwork[]) {
  const clock = new FakeClock();
  const h = holder(leases);
  const d = docker(networks);
  const r = new Reconciler({ docker: d, leases: h, driverName: 'd4d', clock, graceMs: GRACE, intervalMs: INTERVAL, log: testLog() });
  return { clock, h, d, r };
}

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
});
