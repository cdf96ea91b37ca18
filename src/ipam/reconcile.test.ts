import { describe, expect, it } from 'vitest';
import { planReconcile, ReconcilePlanner, subnetKey, type DockerNetwork, type HeldLease, type Sighting } from './reconcile.js';

const POOL = 'd4d/local/10.9.0.0/24/id=0000000a';
const OTHER_POOL = 'd4d/local/10.8.0.0/24/id=0000000b';
const lease = (mac: string, ip: string, poolId = POOL): HeldLease => ({ leaseId: `${poolId}#${mac}`, poolId, mac, ip });
const net = (name: string, subnet: string, endpoints: Array<[string, string]>): DockerNetwork => ({
  id: `id-${name}`,
  name,
  subnets: [subnet],
  endpoints: endpoints.map(([mac, ip], i) => ({ name: `c${i}`, mac, ip })),
});
const GRACE = 60_000;

describe('planReconcile', () => {
  const a = lease('02:00:00:00:00:0a', '10.9.0.10');
  const b = lease('02:00:00:00:00:0b', '10.9.0.11');
  const lan = net('lan', '10.9.0.0/24', [['02:00:00:00:00:0a', '10.9.0.10']]);

  it('keeps leases an endpoint has, and only notes the first sighting of a missing one', () => {
    const plan = planReconcile({ leases: [a, b], networks: [lan], now: 1_000, graceMs: GRACE, missingSince: new Map() });
    expect(plan.kept).toBe(1);
    expect(plan.release).toEqual([]);
    expect(plan.pending).toEqual([{ ...b, reason: 'no-endpoint', networks: ['lan'], missingSinceAt: 1_000, releaseAt: 1_000 + GRACE }]);
    expect([...plan.missingSince]).toEqual([[b.leaseId, { at: 1_000, ip: b.ip }]]);
  });

  it('releases a lease only once scans spanning the grace all missed it', () => {
    const first = planReconcile({ leases: [a, b], networks: [lan], now: 1_000, graceMs: GRACE, missingSince: new Map() });
    const early = planReconcile({ leases: [a, b], networks: [lan], now: 1_000 + GRACE - 1, graceMs: GRACE, missingSince: first.missingSince });
    expect(early.release).toEqual([]);
    expect(early.pending.map((c) => c.leaseId)).toEqual([b.leaseId]);
    const due = planReconcile({ leases: [a, b], networks: [lan], now: 1_000 + GRACE, graceMs: GRACE, missingSince: early.missingSince });
    expect(due.release).toEqual([{ ...b, reason: 'no-endpoint', networks: ['lan'], missingSinceAt: 1_000, releaseAt: 1_000 + GRACE }]);
    expect(due.pending).toEqual([]);
  });

  it('starts the grace again when the endpoint shows up in between (a request that was in flight)', () => {
    const first = planReconcile({ leases: [a, b], networks: [lan], now: 0, graceMs: GRACE, missingSince: new Map() });
    const withB = net('lan', '10.9.0.0/24', [
      ['02:00:00:00:00:0a', '10.9.0.10'],
      ['02:00:00:00:00:0b', '10.9.0.11'],
    ]);
    const seen = planReconcile({ leases: [a, b], networks: [withB], now: 10_000, graceMs: GRACE, missingSince: first.missingSince });
    expect(seen.kept).toBe(2);
    expect(seen.missingSince.size).toBe(0);
    const gone = planReconcile({ leases: [a, b], networks: [lan], now: GRACE + 1, graceMs: GRACE, missingSince: seen.missingSince });
    expect(gone.release).toEqual([]);
    expect(gone.pending[0]?.missingSinceAt).toBe(GRACE + 1);
  });

  it('starts the grace again for a lease that now has another address (released and leased again between scans)', () => {
    const missingSince = new Map<string, Sighting>([[b.leaseId, { at: 0, ip: '10.9.0.99' }]]);
    const plan = planReconcile({ leases: [a, b], networks: [lan], now: GRACE * 2, graceMs: GRACE, missingSince });
    expect(plan.release).toEqual([]);
    expect(plan.pending[0]?.missingSinceAt).toBe(GRACE * 2);
  });

  it('releases, after the grace, the leases of a pool whose network Docker no longer has', () => {
    const orphan = lease('02:00:00:00:00:0c', '10.8.0.12', OTHER_POOL);
    const first = planReconcile({ leases: [a, orphan], networks: [lan], now: 0, graceMs: GRACE, missingSince: new Map() });
    expect(first.pending).toEqual([{ ...orphan, reason: 'network-gone', networks: [], missingSinceAt: 0, releaseAt: GRACE }]);
    const due = planReconcile({ leases: [a, orphan], networks: [lan], now: GRACE, graceMs: GRACE, missingSince: first.missingSince });
    expect(due.release.map((c) => [c.leaseId, c.reason])).toEqual([[orphan.leaseId, 'network-gone']]);
  });

  it('matches networks by subnet whatever Docker wrote (host bits, a network listed twice)', () => {
    const sloppy = net('lan', '10.9.0.7/24', [['02:00:00:00:00:0b', '10.9.0.11']]);
    const plan = planReconcile({ leases: [a, b], networks: [sloppy, net('lan2', '10.9.0.0/24', [])], now: 0, graceMs: GRACE, missingSince: new Map() });
    expect(plan.kept).toBe(1);
    expect(plan.pending).toMatchObject([{ leaseId: a.leaseId, reason: 'no-endpoint', networks: ['lan', 'lan2'] }]);
  });

  it('keeps a lease whose address an endpoint of another subnet has: never frees an address in use', () => {
    const elsewhere = net('other', '10.7.0.0/16', [['02:00:00:00:00:0b', '10.9.0.11']]);
    const plan = planReconcile({ leases: [b], networks: [lan, elsewhere], now: 0, graceMs: GRACE, missingSince: new Map() });
    expect(plan.kept).toBe(1);
  });

  it('starts the grace again for a lease requested again after the first miss (same id and address, a new container)', () => {
    const missingSince = new Map<string, Sighting>([[b.leaseId, { at: 1_000, ip: b.ip }]]);
    const again = planReconcile({ leases: [a, { ...b, requestedAt: 1_500 }], networks: [lan], now: 1_000 + GRACE, graceMs: GRACE, missingSince });
    expect(again.release).toEqual([]);
    expect(again.pending.map((c) => c.missingSinceAt)).toEqual([1_000 + GRACE]);
    // Requested before the miss was noted: the miss stands.
    const before = planReconcile({ leases: [a, { ...b, requestedAt: 500 }], networks: [lan], now: 1_000 + GRACE, graceMs: GRACE, missingSince });
    expect(before.release.map((c) => [c.leaseId, c.requestedAt])).toEqual([[b.leaseId, 500]]);
  });

  it('releases network-gone leases only of subnets it is told Docker showed before; the others wait for an explicit run', () => {
    const orphan = lease('02:00:00:00:00:0c', '10.8.0.12', OTHER_POOL);
    const missingSince = new Map<string, Sighting>([[orphan.leaseId, { at: 0, ip: orphan.ip }]]);
    const never = planReconcile({
      leases: [a, orphan],
      networks: [lan],
      now: GRACE * 5,
      graceMs: GRACE,
      missingSince,
      networkGoneSubnets: new Set(['10.9.0.0/24']),
    });
    expect(never.release).toEqual([]);
    expect(never.pending).toEqual([]);
    expect(never.unconfirmed).toMatchObject([{ leaseId: orphan.leaseId, reason: 'network-gone', missingSinceAt: 0 }]);
    expect(never.missingSince.get(orphan.leaseId)).toEqual({ at: 0, ip: orphan.ip });
    const seen = planReconcile({
      leases: [a, orphan],
      networks: [lan],
      now: GRACE * 5,
      graceMs: GRACE,
      missingSince,
      networkGoneSubnets: new Set(['10.8.0.0/24']),
    });
    expect(seen.release.map((c) => c.leaseId)).toEqual([orphan.leaseId]);
  });

  it('releases nothing and forgets nothing while Docker cannot be read', () => {
    const missingSince = new Map<string, Sighting>([[b.leaseId, { at: 0, ip: b.ip }]]);
    const plan = planReconcile({ leases: [a, b], networks: undefined, now: GRACE * 10, graceMs: GRACE, missingSince });
    expect(plan).toEqual({ release: [], pending: [], unconfirmed: [], kept: 2, missingSince });
  });

  it('forgets sightings of leases that are gone from the table', () => {
    const missingSince = new Map<string, Sighting>([['gone#02:00:00:00:00:01', { at: 0, ip: '10.9.0.1' }]]);
    expect(planReconcile({ leases: [a], networks: [lan], now: 5, graceMs: GRACE, missingSince }).missingSince.size).toBe(0);
  });
});

describe('subnetKey', () => {
  it.each([
    { text: '10.9.0.0/24', want: '10.9.0.0/24' },
    { text: '10.9.0.77/24', want: '10.9.0.0/24' },
    { text: '10.9.0.0', want: undefined },
    { text: 'fd00::/64', want: undefined },
    { text: '10.9.0.0/33', want: undefined },
  ])('$text', ({ text, want }) => {
    expect(subnetKey(text)).toBe(want);
  });
});

describe('ReconcilePlanner', () => {
  it('gives, fed one lease at a time, the plan planReconcile gives for the whole table', () => {
    const pool = 'd4d/local/10.30.0.0/24/id=0000000d';
    const gone = 'd4d/local/10.31.0.0/24/id=0000000e';
    const leases: HeldLease[] = [
      { leaseId: 'a', poolId: pool, mac: 'm1', ip: '10.30.0.1' },
      { leaseId: 'b', poolId: pool, mac: 'm2', ip: '10.30.0.2' },
      { leaseId: 'c', poolId: gone, mac: 'm3', ip: '10.31.0.3' },
      { leaseId: 'd', poolId: pool, mac: 'm4', ip: '10.30.0.4', requestedAt: 5_000 },
    ];
    const networks: DockerNetwork[] = [{ id: 'n', name: 'lan', subnets: ['10.30.0.0/24'], endpoints: [{ name: 'c1', mac: undefined, ip: '10.30.0.1' }] }];
    const missingSince = new Map([
      ['b', { at: 1_000, ip: '10.30.0.2' }],
      ['c', { at: 1_000, ip: '10.31.0.3' }],
      ['d', { at: 1_000, ip: '10.30.0.4' }],
    ]);
    const input = { networks, now: 100_000, graceMs: 60_000, missingSince, networkGoneSubnets: new Set<string>() };
    const whole = planReconcile({ ...input, leases });
    const planner = new ReconcilePlanner(input);
    planner.addEndpoint('10.30.0.1');
    expect([...planner.endpointIps]).toEqual(['10.30.0.1']);
    for (const l of leases) planner.add(l);
    expect(planner.finish()).toEqual(whole);
    // Endpoints after a lease would change what that lease was judged against.
    expect(() => planner.addEndpoint('10.30.0.2')).toThrow(/before the first lease/);
    expect(whole.kept).toBe(1);
    expect(whole.release.map((c) => c.leaseId)).toEqual(['b']);
    expect(whole.pending.map((c) => c.leaseId)).toEqual(['d']);
    expect(whole.unconfirmed.map((c) => c.leaseId)).toEqual(['c']);
  });

  it('keeps every lease and the sightings as they were when Docker could not be read', () => {
    const missingSince = new Map([['x', { at: 1, ip: '10.0.0.1' }]]);
    const planner = new ReconcilePlanner({ networks: undefined, now: 10, graceMs: 5, missingSince });
    planner.add({ leaseId: 'x', poolId: 'p', mac: 'm', ip: '10.0.0.1' });
    planner.add({ leaseId: 'y', poolId: 'p', mac: 'n', ip: '10.0.0.2' });
    const plan = planner.finish();
    expect(plan.kept).toBe(2);
    expect(plan.release).toEqual([]);
    expect(plan.missingSince).toBe(missingSince);
  });
});
