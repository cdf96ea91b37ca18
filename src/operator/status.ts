/** `oam-docker-ipam status`: the daemon's `/d4d.Status` reply, readable. */
import type { AdminStatusReply } from '../admin-routes.js';
import { formatDuration } from './table.js';

export function formatStatus(s: AdminStatusReply, now: number): string {
  const lines = [`oam-docker-ipam ${s.Version}: ${s.Healthy ? 'healthy' : 'UNHEALTHY'}, up ${formatDuration(s.UptimeSeconds * 1000)} (since ${s.StartedAt})`];
  for (const p of s.Problems) lines.push(`  problem: ${p}`);
  if (s.PluginSocket !== undefined) {
    const { Path, FromSystemd } = s.PluginSocket;
    lines.push(`plugin socket ${Path}: ${FromSystemd ? 'held by systemd (oam-docker-ipam.socket): calls wait through a restart' : 'bound by the daemon'}`);
  }
  const d = s.DhcpServer;
  const reply = d.LastReplyAt === null ? 'no reply since the start' : `last reply ${ago(d.LastReplyAt, now)} (${d.LastReplyAt})`;
  const silent =
    d.UnansweredSinceReply > 0 ? `; NOT ANSWERING: ${d.UnansweredSinceReply} exchange(s) unanswered since, the last ${ago(d.LastUnansweredAt ?? '', now)}` : '';
  const reachable = d.UnansweredSinceReply > 0 ? 'unreachable' : d.LastReplyAt === null ? 'not asked yet' : 'reachable';
  lines.push(`DHCP server ${d.Address}: ${reachable}, ${reply}${silent}`);
  const byState = Object.entries(s.Leases).filter(([, n]) => n > 0);
  const total = byState.reduce((a, [, n]) => a + n, 0);
  lines.push(`leases: ${total}${byState.length === 0 ? '' : ` (${byState.map(([state, n]) => `${state} ${n}`).join(', ')})`}`);
  const m = s.LastMinute;
  lines.push(`last minute: ${m.Acquisitions} acquired, ${m.Renewals} renewed, ${m.Releases} released, ${m.Failures} failed`);
  if (s.LastErrors.length === 0) {
    lines.push('last errors: none since the start');
  } else {
    lines.push('last errors (newest last):');
    for (const e of s.LastErrors) {
      const lease = e.Ip === undefined ? '' : ` ${e.Ip}${e.Mac === undefined ? '' : ` (${e.Mac})`}`;
      lines.push(`  ${e.At} ${e.Source}${lease}: ${e.Message}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function ago(at: string, now: number): string {
  const t = Date.parse(at);
  return Number.isNaN(t) ? '?' : `${formatDuration(now - t)} ago`;
}
