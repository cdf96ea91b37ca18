/** `leases` from the saved table when no daemon answers, and the table it prints. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testLog } from '../../test/support/silent-log.js';
import type { AdminLease } from '../admin-routes.js';
import { clientIdForMac } from '../dhcp/messages.js';
import type { Lease } from '../lease/lease.js';
import { JournalLeaseStore } from '../lease/store.js';
import { formatLeases, leasesJson, listLeases, NoLeaseTableError } from './leases.js';

const T0 = Date.UTC(2026, 0, 1, 12);
const POOL = 'd4d/local/10.231.110.0/24/id=0000000b';

function lease(n: number, state: Lease['state'] = 'BOUND'): Lease {
  const mac = `02:d4:11:00:00:0${n}`;
  return {
    id: `${POOL}#${mac}`,
    identity: { mac, clientId: clientIdForMac(mac) },
    ip: `10.231.110.${20 + n}`,
    serverId: '10.231.110.1',
    state,
    binding: { ip: `10.231.110.${20 + n}`, serverId: '10.231.110.1', requestedAt: T0 - 30_000, leaseTimeSeconds: 120, xid: n },
    requestedAt: T0 - 30_000,
    renewAt: T0 + 30_000,
    rebindAt: T0 + 75_000,
    expiresAt: T0 + 90_000,
    retryAt: null,
    recoveryAttempts: 0,
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'd4d-leases-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('listLeases', () => {
  it('reads the saved lease table, with a note, when no daemon answers', async () => {
    const store = new JournalLeaseStore({ path: join(dir, 'leases-lan.journal'), log: testLog() });
    await store.load();
    await store.put(lease(2));
    await store.put(lease(1, 'EXPIRED'));
    await store.close();
    const listing = await listLeases({ socketPath: join(dir, 'lan.sock'), stateDir: dir, driverName: 'lan' });
    expect(listing).toMatchObject({ source: 'state-file', path: join(dir, 'leases-lan.journal') });
    expect(listing.note).toContain(
      `no oam-docker-ipam server answers on ${join(dir, 'lan.sock')}: these are the leases as last saved in ${join(dir, 'leases-lan.journal')}`,
    );
    expect(listing.leases.map((l) => [l.Ip, l.State, l.ClientId, l.Subnet])).toEqual([
      ['10.231.110.22', 'BOUND', '01:02:d4:11:00:00:02', '10.231.110.0/24'],
      ['10.231.110.21', 'EXPIRED', '01:02:d4:11:00:00:01', '10.231.110.0/24'],
    ]);
    expect(JSON.parse(leasesJson(listing))).toMatchObject({
      Source: 'state-file',
      Path: join(dir, 'leases-lan.journal'),
      Leases: [{ Ip: '10.231.110.22' }, { Ip: '10.231.110.21' }],
    });
  });

  it('fails, saying what to check, with neither a daemon nor a table', async () => {
    await expect(listLeases({ socketPath: join(dir, 'x.sock'), stateDir: dir, driverName: 'x' })).rejects.toThrow(NoLeaseTableError);
  });
});

describe('formatLeases', () => {
  it('prints one row per lease, by network then address, with times relative to now', () => {
    const base: AdminLease = {
      Pool: POOL,
      Subnet: '10.231.110.0/24',
      Networks: ['lan'],
      Mac: '02:d4:11:00:00:01',
      Ip: '10.231.110.100',
      State: 'BOUND',
      ClientId: '01:02:d4:11:00:00:01',
      ExpiresAt: '2026-01-01T12:01:30.000Z',
      GrantedAt: '2026-01-01T11:59:30.000Z',
    };
    const text = formatLeases(
      {
        source: 'daemon',
        leases: [
          base,
          {
            ...base,
            Ip: '10.231.110.9',
            Mac: '02:d4:11:00:00:02',
            State: 'EXPIRED',
            ExpiresAt: '2026-01-01T11:58:00.000Z',
            LastError: {
              At: '2026-01-01T11:59:55.000Z',
              Message: 'reboot: no reboot ACK reply from DHCP server 10.231.110.1 for 02:d4:11:00:00:02 after 2 attempt(s)',
            },
          },
          { ...base, Networks: [], Subnet: '10.0.0.0/24', Ip: '10.0.0.5', ExpiresAt: null },
        ],
      },
      T0,
    );
    expect(text).toBe(
      [
        'NETWORK/POOL  ADDRESS         MAC                CLIENT ID             STATE    EXPIRES IN         RENEWED  LAST ERROR',
        '10.0.0.0/24   10.0.0.5        02:d4:11:00:00:01  01:02:d4:11:00:00:01  BOUND    never              30s ago  -',
        'lan           10.231.110.9    02:d4:11:00:00:02  01:02:d4:11:00:00:01  EXPIRED  expired 2m00s ago  30s ago  5s ago: reboot: no reboot ACK reply from DHCP server 10.231.110.1 for 02:d4:11:…',
        'lan           10.231.110.100  02:d4:11:00:00:01  01:02:d4:11:00:00:01  BOUND    1m30s              30s ago  -',
        '',
      ].join('\n'),
    );
    expect(formatLeases({ source: 'state-file', note: 'from the file', leases: [] }, T0)).toBe('no leases\nnote: from the file\n');
  });
});
