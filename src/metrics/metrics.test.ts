/** The metrics as a scrape shows them, fed the way the daemon feeds them. */
import { describe, expect, it } from 'vitest';
import { testLog } from '../../test/support/silent-log.js';
import { MessageType } from '../dhcp/codec/option-codes.js';
import { clientIdForMac } from '../dhcp/messages.js';
import type { LeaseEvent } from '../lease/events.js';
import type { Lease } from '../lease/lease.js';
import type { LeaseState } from '../lease/state.js';
import { serveMetrics } from './http.js';
import { DaemonMetrics } from './metrics.js';

const lease = { id: 'p#1', ip: '10.0.0.1', identity: { mac: '02:00:00:00:00:01', clientId: clientIdForMac('02:00:00:00:00:01') } } as Lease;
const ev = (type: LeaseEvent['type']): LeaseEvent => ({ type, lease }) as LeaseEvent;
const states: Record<LeaseState, number> = { SELECTING: 0, REQUESTING: 0, BOUND: 7, RENEWING: 2, REBINDING: 1, EXPIRED: 0, REBOOTING: 0, RELEASED: 0 };

function metrics(healthy = true): DaemonMetrics {
  return new DaemonMetrics({
    version: '1.2.3',
    leaseStates: () => states,
    dropped: () => ({ received: 9, accepted: 4, 'unknown-xid': 3, malformed: 2 }),
    healthy: () => healthy,
    processMetrics: false,
  });
}

describe('DaemonMetrics', () => {
  it('counts lease events, NAKs, timeouts and drops, and reads leases by state at scrape time', async () => {
    const m = metrics();
    for (const type of ['bound', 'bound', 'renewed', 'rebinding', 'reacquired', 'released', 'expired', 'address-lost', 'nak'] as const)
      m.onLeaseEvent(ev(type));
    m.onReply(MessageType.Ack);
    m.onReply(MessageType.Nak);
    m.onExchange({ step: 'renew', outcome: 'timeout', durationMs: 8_000 });
    m.onExchange({ step: 'acquire', outcome: 'ack', durationMs: 3 });
    m.onPluginCall('IpamDriver.RequestAddress', 200, 0.004);
    const { body, contentType } = await m.render();
    expect(contentType).toMatch(/^text\/plain/);
    for (const line of [
      'd4d_acquisitions_total 2',
      'd4d_renewals_total 1',
      'd4d_rebinds_total 1',
      'd4d_reacquisitions_total 1',
      'd4d_releases_total 1',
      'd4d_leases_expired_total 1',
      'd4d_leases_lost_total 1',
      'd4d_naks_total 1',
      'd4d_dhcp_timeouts_total{step="renew"} 1',
      'd4d_dhcp_dropped_total{reason="unknown-xid"} 3',
      'd4d_dhcp_dropped_total{reason="malformed"} 2',
      'd4d_leases{state="BOUND"} 7',
      'd4d_leases{state="REBINDING"} 1',
      'd4d_healthy 1',
      'd4d_build_info{version="1.2.3"} 1',
      'd4d_dhcp_exchange_duration_seconds_bucket{le="10",step="renew",outcome="timeout"} 1',
      'd4d_dhcp_exchange_duration_seconds_bucket{le="0.005",step="acquire",outcome="ack"} 1',
      'd4d_plugin_request_duration_seconds_bucket{le="0.005",call="IpamDriver.RequestAddress",code="200"} 1',
    ]) {
      expect(body).toContain(`\n${line}\n`);
    }
    expect(body).not.toContain('reason="received"');
    expect(body).not.toContain('state="RELEASED"');
  });

  it('serves GET /metrics on the address asked for, 404 elsewhere, and says when it cannot listen', async () => {
    const m = metrics(false);
    const server = await serveMetrics({ host: '127.0.0.1', port: 0, render: () => m.render(), log: testLog() });
    try {
      const base = `http://127.0.0.1:${server.address.port}`;
      const res = await fetch(`${base}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('\nd4d_healthy 0\n');
      expect((await fetch(`${base}/other`)).status).toBe(404);
      await expect(serveMetrics({ host: '127.0.0.1', port: server.address.port, render: () => m.render(), log: testLog() })).rejects.toThrow(
        `cannot serve metrics on 127.0.0.1:${server.address.port}: the port is in use; change METRICS_ADDR (--metrics-addr) or leave it unset`,
      );
    } finally {
      await server.close();
    }
  });
});
