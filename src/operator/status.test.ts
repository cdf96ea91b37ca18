import { describe, expect, it } from 'vitest';
import type { AdminStatusReply } from '../admin-routes.js';
import { formatStatus } from './status.js';

const now = Date.UTC(2026, 0, 1, 12);
const reply: AdminStatusReply = {
  Version: '0.1.0',
  StartedAt: '2026-01-01T10:00:00.000Z',
  UptimeSeconds: 7200,
  Healthy: true,
  Problems: [],
  DhcpServer: { Address: '10.231.110.1', LastReplyAt: '2026-01-01T11:59:57.000Z', LastUnansweredAt: null, UnansweredSinceReply: 0 },
  Leases: { SELECTING: 0, REQUESTING: 0, BOUND: 11, RENEWING: 1, REBINDING: 0, EXPIRED: 0, REBOOTING: 0 },
  LastMinute: { Acquisitions: 2, Renewals: 5, Releases: 1, Failures: 0 },
  LastErrors: [],
};

describe('formatStatus', () => {
  it('shows a healthy daemon at a glance', () => {
    expect(formatStatus(reply, now)).toBe(
      [
        'oam-docker-ipam 0.1.0: healthy, up 2h00m (since 2026-01-01T10:00:00.000Z)',
        'DHCP server 10.231.110.1: reachable, last reply 3s ago (2026-01-01T11:59:57.000Z)',
        'leases: 12 (BOUND 11, RENEWING 1)',
        'last minute: 2 acquired, 5 renewed, 1 released, 0 failed',
        'last errors: none since the start',
        '',
      ].join('\n'),
    );
  });

  it('says where Docker reaches the plugin, and whether systemd holds that socket', () => {
    const held = formatStatus({ ...reply, PluginSocket: { Path: '/run/docker/plugins/d4d.sock', FromSystemd: true } }, now).split('\n');
    expect(held[1]).toBe('plugin socket /run/docker/plugins/d4d.sock: held by systemd (oam-docker-ipam.socket): calls wait through a restart');
    const own = formatStatus({ ...reply, PluginSocket: { Path: '/run/docker/plugins/d4d.sock', FromSystemd: false } }, now).split('\n');
    expect(own[1]).toBe('plugin socket /run/docker/plugins/d4d.sock: bound by the daemon');
  });

  it('says what is wrong when unhealthy, and lists the last errors', () => {
    const sick: AdminStatusReply = {
      ...reply,
      Healthy: false,
      Problems: ['the DHCP server is not answering: …'],
      DhcpServer: { ...reply.DhcpServer, LastUnansweredAt: '2026-01-01T11:59:59.000Z', UnansweredSinceReply: 2 },
      LastErrors: [{ At: '2026-01-01T11:59:59.000Z', Source: 'renew', Message: 'no renew ACK reply', Ip: '10.231.110.20', Mac: '02:d4:11:00:00:01' }],
    };
    const text = formatStatus(sick, now);
    expect(text).toContain('oam-docker-ipam 0.1.0: UNHEALTHY, up 2h00m');
    expect(text).toContain('  problem: the DHCP server is not answering: …');
    expect(text).toContain(
      'DHCP server 10.231.110.1: unreachable, last reply 3s ago (2026-01-01T11:59:57.000Z); NOT ANSWERING: 2 exchange(s) unanswered since, the last 1s ago',
    );
    expect(text).toContain('last errors (newest last):\n  2026-01-01T11:59:59.000Z renew 10.231.110.20 (02:d4:11:00:00:01): no renew ACK reply');
  });
});
