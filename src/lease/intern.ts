/**
 * One shared copy of the values that leases repeat: every lease from a server carries the same
 * server identifier, subnet mask, routers and DNS servers. Held once each instead of once per
 * lease (an address list is an array of its own, about 100 bytes), which counts at 50,000 leases.
 */
import type { Binding } from '../dhcp/binding.js';

/** Past this many distinct values the tables start afresh: sharing is an economy, not a rule. */
const MAX_ENTRIES = 10_000;
const strings = new Map<string, string>();
const lists = new Map<string, string[]>();

export function internString(s: string): string {
  const known = strings.get(s);
  if (known !== undefined) return known;
  if (strings.size >= MAX_ENTRIES) strings.clear();
  strings.set(s, s);
  return s;
}

/** The shared copy of an address list; callers never change a binding's lists. */
export function internList(list: string[]): string[] {
  const key = list.join(',');
  const known = lists.get(key);
  if (known !== undefined) return known;
  if (lists.size >= MAX_ENTRIES) lists.clear();
  const copy = list.map(internString);
  lists.set(key, copy);
  return copy;
}

/** The binding with its repeated values replaced by their shared copies (in place). */
export function internBinding(b: Binding): Binding {
  b.serverId = internString(b.serverId);
  if (b.subnetMask !== undefined) b.subnetMask = internString(b.subnetMask);
  if (b.routers !== undefined) b.routers = internList(b.routers);
  if (b.dnsServers !== undefined) b.dnsServers = internList(b.dnsServers);
  if (b.domainName !== undefined) b.domainName = internString(b.domainName);
  return b;
}
