import { fastify } from 'fastify';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/support/fake-clock.js';
import { testLog } from '../test/support/silent-log.js';
import { formatReconcileReply } from './admin-client.js';
import { adminLease, adminRoutes, type AdminReconcileReply } from './admin-routes.js';
import { DockerUnavailableError } from './docker/engine.js';
import type { DockerNetwork } from './ipam/reconcile.js';
import { clientIdForMac } from './dhcp/messages.js';
import type { Lease } from './lease/lease.js';
import { Activity } from './operator/activity.js';
import { Monitoring } from './operator/monitoring.js';
import type { Config } from './config.js';
import { Reconciler } from './reconciler.js';
import { countTurns } from '../test/support/turns.js';

const POOL = 'd4d/local/10.9.0.0/24/id=0000000a';
const lan: DockerNetwork = { id: 'n1', name: 'lan', subnets: ['10.9.0.0/24'], endpoints: [{ name: 'web', mac: '02:00:00:00:00:01', ip: '10.9.0.1' }] };
const T0 = Date.UTC(2026, 0, 1);
const lease = (n: number): Lease => ({
  id: `${POOL}#02:00:00:00:00:0${n}`,
  identity: { mac: `02:00:00:00:00:0${n}`, clientId: clientIdForMac(`02:00:00:00:00:0${n}`) },
  ip: `10.9.0.${n}`,
  serverId: '10.9.0.254',
  state: 'BOUND',
  binding: { ip: `10.9.0.${n}`, serverId: '10.9.0.254', requestedAt: T0 - 60_000, leaseTimeSeconds: 600, xid: n },
  requestedAt: T0 - 60_000,
  renewAt: T0 + 240_000,
  rebindAt: T0 + 465_000,
  expiresAt: n === 2 ? null : T0 + 540_000,
  retryAt: null,
  recoveryAttempts: 0,
});

async function app(options: { down?: boolean; networks?: DockerNetwork[]; activity?: Activity; monitoring?: Monitoring; leases?: Lease[] } = {}) {
  const clock = new FakeClock(T0);
  const released: string[] = [];
  const leases = options.leases ?? [lease(1), lease(2)];
  const reconciler = new Reconciler({
    docker: {
      ipamNetworks: async () => {
        if (options.down) throw new DockerUnavailableError('cannot reach the Docker engine at /nowhere (DOCKER_SOCKET): connect ENOENT');
        return options.networks ?? [lan];
      },
    },
    leases: {
      heldLeases: async () => leases.filter((l) => !released.includes(l.ip)).map((l) => ({ leaseId: l.id, poolId: POOL, mac: l.identity.mac, ip: l.ip })),
      releaseLease: async ({ ip }) => {
        released.push(ip);
        return true;
      },
    },
    driverName: 'd4d',
    clock,
    graceMs: 60_000,
    intervalMs: 0,
    log: testLog(),
  });
  const a = fastify();
  const { activity, monitoring } = options;
  await a.register(
    adminRoutes({
      reconciler,
      leases: () => leases.filter((l) => !released.includes(l.ip)).map((l) => ({ poolId: POOL, lease: l })),
      ...(activity === undefined ? {} : { lastError: (id: string) => activity.lastErrorOf(id), listed: (ids: ReadonlySet<string>) => activity.keepOnly(ids) }),
      ...(monitoring === undefined ? {} : { status: () => monitoring.status() }),
    }),
  );
  return { a, clock, released };
}

describe('admin paths', () => {
  it('reconciles on request, a dry run first, and prints a table an operator can read', async () => {
    const { a, clock, released } = await app();
    const first = await a.inject({ method: 'POST', url: '/d4d.Reconcile', payload: '{"DryRun":true}' });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({
      DryRun: true,
      Released: [],
      Pending: [{ Mac: '02:00:00:00:00:02', Ip: '10.9.0.2', Networks: ['lan'], Reason: 'no-endpoint' }],
      Kept: 1,
      GraceSeconds: 60,
    });
    await clock.advance(60_000);
    const dry = await a.inject({ method: 'POST', url: '/d4d.Reconcile', payload: '{"DryRun":true}' });
    const reply = dry.json<AdminReconcileReply>();
    expect(reply.Released).toMatchObject([
      { Ip: '10.9.0.2', Subnet: '10.9.0.0/24', MissingSince: '2026-01-01T00:00:00.000Z', ReleaseAt: '2026-01-01T00:01:00.000Z' },
    ]);
    expect(released).toEqual([]);
    expect(formatReconcileReply(reply)).toBe(
      [
        'NETWORK  SUBNET       MAC                IP        WHY          MISSING SINCE             ACTION',
        'lan      10.9.0.0/24  02:00:00:00:00:02  10.9.0.2  no endpoint  2026-01-01T00:00:00.000Z  would release',
        'would release 1 lease; 0 missing from Docker for less than the grace (60 s), kept for now; 1 in use by Docker endpoints.',
        '',
      ].join('\n'),
    );
    const real = await a.inject({ method: 'POST', url: '/d4d.Reconcile', payload: '{}' });
    expect(real.json()).toMatchObject({ DryRun: false, Released: [{ Ip: '10.9.0.2' }] });
    expect(released).toEqual(['10.9.0.2']);
  });

  it('lists the leases with their pool and the network Docker last showed', async () => {
    const { a } = await app();
    await a.inject({ method: 'POST', url: '/d4d.Reconcile', payload: '{"DryRun":true}' });
    const res = await a.inject({ method: 'POST', url: '/d4d.Leases' });
    const granted = '2025-12-31T23:59:00.000Z';
    expect(res.json()).toEqual({
      Leases: [
        {
          Pool: POOL,
          Subnet: '10.9.0.0/24',
          Networks: ['lan'],
          Mac: '02:00:00:00:00:01',
          Ip: '10.9.0.1',
          State: 'BOUND',
          ClientId: '01:02:00:00:00:00:01',
          ExpiresAt: '2026-01-01T00:09:00.000Z',
          GrantedAt: granted,
          NextStepAt: '2026-01-01T00:04:00.000Z',
        },
        {
          Pool: POOL,
          Subnet: '10.9.0.0/24',
          Networks: ['lan'],
          Mac: '02:00:00:00:00:02',
          Ip: '10.9.0.2',
          State: 'BOUND',
          ClientId: '01:02:00:00:00:00:02',
          ExpiresAt: null,
          GrantedAt: granted,
          NextStepAt: '2026-01-01T00:04:00.000Z',
        },
      ],
    });
  });

  it('says when the daemon next asks the server about a lease: its renewal while bound, else its next attempt', () => {
    const retrying = (state: Lease['state'], retryAt: number | null): Lease => ({ ...lease(1), state, retryAt });
    expect(adminLease(POOL, lease(1), []).NextStepAt).toBe('2026-01-01T00:04:00.000Z');
    expect(adminLease(POOL, retrying('RENEWING', T0 + 300_000), []).NextStepAt).toBe('2026-01-01T00:05:00.000Z');
    expect(adminLease(POOL, retrying('EXPIRED', T0 + 900_000), []).NextStepAt).toBe('2026-01-01T00:15:00.000Z');
    expect(adminLease(POOL, { ...lease(1), renewAt: null }, []).NextStepAt).toBeNull();
  });

  it("lists a lease's last failed step, and forgets those of leases no longer held", async () => {
    const clock = new FakeClock(T0);
    const activity = new Activity({ clock });
    const { a } = await app({ activity });
    await clock.advance(5_000);
    activity.stepFailed(lease(1), 'renew', new DockerUnavailableError('no renew ACK reply'));
    activity.stepFailed({ ...lease(3), id: 'gone' }, 'renew', new DockerUnavailableError('x'));
    const res = await a.inject({ method: 'POST', url: '/d4d.Leases' });
    expect(res.json<{ Leases: Array<{ LastError?: unknown }> }>().Leases.map((l) => l.LastError)).toEqual([
      { At: '2026-01-01T00:00:05.000Z', Message: 'renew: no renew ACK reply' },
      undefined,
    ]);
    expect(activity.lastErrorOf('gone')).toBeUndefined();
  });

  it('lists a large table a chunk per turn of the event loop, as one JSON document', async () => {
    const many = Array.from({ length: 2_500 }, (_, n) => ({ ...lease(1), id: `${POOL}#${n}`, ip: `10.9.${n >> 8}.${n & 0xff}` }));
    const activity = new Activity({ clock: new FakeClock(T0) });
    const { a } = await app({ leases: many, activity });
    activity.stepFailed({ ...lease(3), id: 'gone' }, 'renew', new DockerUnavailableError('x'));
    // The networks a lease is shown with are those of the last read of Docker.
    await a.inject({ method: 'POST', url: '/d4d.Reconcile', payload: '{"DryRun":true}' });
    const turns = countTurns();
    const res = await a.inject({ method: 'POST', url: '/d4d.Leases' });
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const listed = res.json<{ Leases: Array<{ Ip: string; Networks: string[] }> }>().Leases;
    expect(listed.map((l) => l.Ip)).toEqual(many.map((l) => l.ip));
    expect(listed[2_499]?.Networks).toEqual(['lan']);
    expect(turns.stop()).toBeGreaterThanOrEqual(2);
    // Records of leases no longer listed are dropped once the listing is complete.
    expect(activity.lastErrorOf('gone')).toBeUndefined();
  });

  it('lists an empty table as an empty list', async () => {
    const { a } = await app({ leases: [] });
    const res = await a.inject({ method: 'POST', url: '/d4d.Leases' });
    expect(res.json()).toEqual({ Leases: [] });
  });

  it('serves the status, and only when given one', async () => {
    const clock = new FakeClock(T0);
    const monitoring = new Monitoring({
      config: { dhcpServer: '10.9.0.254', metrics: undefined } as Config,
      clock,
      version: '9.9.9',
      log: testLog(),
      pluginSocket: { path: '/run/docker/plugins/d4d.sock', fromSystemd: true },
    });
    monitoring.bind({
      countByState: () => ({ SELECTING: 0, REQUESTING: 0, BOUND: 3, RENEWING: 1, REBINDING: 0, EXPIRED: 0, REBOOTING: 0, RELEASED: 0 }),
      stats: {} as never,
    });
    const { a } = await app({ monitoring });
    await clock.advance(90_000);
    monitoring.dhcpObserver.onReply(5);
    const res = await a.inject({ method: 'POST', url: '/d4d.Status' });
    expect(res.json()).toEqual({
      Version: '9.9.9',
      StartedAt: '2026-01-01T00:00:00.000Z',
      UptimeSeconds: 90,
      Healthy: true,
      Problems: [],
      DhcpServer: { Address: '10.9.0.254', LastReplyAt: '2026-01-01T00:01:30.000Z', LastUnansweredAt: null, UnansweredSinceReply: 0 },
      Leases: { SELECTING: 0, REQUESTING: 0, BOUND: 3, RENEWING: 1, REBINDING: 0, EXPIRED: 0, REBOOTING: 0 },
      LastMinute: { Acquisitions: 0, Renewals: 0, Releases: 0, Failures: 0 },
      LastErrors: [],
      PluginSocket: { Path: '/run/docker/plugins/d4d.sock', FromSystemd: true },
    });
    const { a: without } = await app();
    expect((await without.inject({ method: 'POST', url: '/d4d.Status' })).statusCode).toBe(404);
  });

  it.each([
    { desc: 'Docker unreachable', down: true, payload: '{}', want: 'cannot reach the Docker engine at /nowhere (DOCKER_SOCKET): connect ENOENT' },
    { desc: 'a body that is not JSON', down: false, payload: 'dry', want: '/d4d.Reconcile: body is not JSON' },
    { desc: 'a DryRun that is not a boolean', down: false, payload: '{"DryRun":"yes"}', want: '/d4d.Reconcile: DryRun must be true or false' },
  ])('answers 500 {"Err"} on $desc', async ({ down, payload, want }) => {
    const { a, released } = await app({ down });
    const res = await a.inject({ method: 'POST', url: '/d4d.Reconcile', payload });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ Err: want });
    expect(released).toEqual([]);
  });

  it('says so when an explicit run releases leases whose network Docker does not show', async () => {
    const { a, clock, released } = await app({ networks: [{ ...lan, name: 'lan', subnets: ['10.7.0.0/24'] }] });
    await a.inject({ method: 'POST', url: '/d4d.Reconcile', payload: '{"DryRun":true}' });
    await clock.advance(60_000);
    const res = await a.inject({ method: 'POST', url: '/d4d.Reconcile', payload: '{}' });
    const reply = res.json<AdminReconcileReply>();
    expect(reply.Released.map((c) => [c.Ip, c.Reason])).toEqual([['10.9.0.2', 'network-gone']]);
    expect(released).toEqual(['10.9.0.2']);
    expect(reply.Notes).toEqual([expect.stringContaining('released (reason network-gone): automatic runs release those only for networks they saw removed')]);
    expect(formatReconcileReply(reply)).toContain('note: leases whose subnet no network in Docker has were released');
  });
});
