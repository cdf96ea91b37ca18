/** The demo's table: each container beside the server's lease for its MAC. */
import { describe, expect, it } from 'vitest';
import { leaseTable, serverRowFor } from '../../scripts/demo/lease-table.js';
import type { ServerLease } from '../support/lab/servers.js';

const NOW = Date.UTC(2026, 0, 1);
const lease = (ip: string, mac: string, active: boolean, endsInS: number | null): ServerLease => ({
  ip,
  mac,
  clientId: null,
  active,
  endsAt: endsInS === null ? null : NOW + endsInS * 1000,
});

describe('the demo lease table', () => {
  it('puts the active record for a MAC beside its container, not an older free one', () => {
    const leases = [lease('10.0.0.7', '02:00:00:00:00:01', false, -50), lease('10.0.0.9', '02:00:00:00:00:01', true, 118)];
    expect(serverRowFor('02:00:00:00:00:01', leases)?.ip).toBe('10.0.0.9');
    const lines = leaseTable([{ name: 'web', ip: '10.0.0.9', mac: '02:00:00:00:00:01' }], leases, { kind: 'kea', now: NOW });
    expect(lines).toEqual([
      "container  address   MAC                kea's lease for that MAC",
      'web        10.0.0.9  02:00:00:00:00:01  10.0.0.9, active, ends in 118 s',
    ]);
  });

  it('says when the server records another address, or none, and why none for an ISC fixed host', () => {
    const rows = [
      { name: 'a', ip: '10.0.0.5', mac: '02:00:00:00:00:0a' },
      { name: 'b', ip: '10.0.0.6', mac: '02:00:00:00:00:0b', note: 'reserved' },
      { name: 'c', ip: '10.0.0.7', mac: '02:00:00:00:00:0c' },
    ];
    const lines = leaseTable(rows, [lease('10.0.0.99', '02:00:00:00:00:0a', true, null)], { kind: 'isc', now: NOW, fixedMacs: new Set(['02:00:00:00:00:0b']) });
    expect(lines[1]).toContain('10.0.0.99, active, never ends  <- NOT the address 10.0.0.5');
    expect(lines[2]).toMatch(/\(no record: dhcpd keeps none for a fixed-address host\)\s+\(reserved\)$/);
    expect(lines[3]).toContain('(no record for this MAC)');
  });
});
