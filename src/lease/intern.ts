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
const params = new Map<string, BindingParams>();
/**
 * The list and the parameters handed out last: nearly every binding repeats them, and comparing
 * with them spares the key a lookup needs (a string and an array per lease acquired, renewed or
 * restored, which a burst of 10,000 requests made as garbage).
 */
let lastList: string[] | undefined;
let lastParams: BindingParams | undefined;

/**
 * What a binding says besides its address, start and transaction: the same for every lease a
 * server grants on one subnet, so one shared object stands for it in each of them (eight fields
 * of every lease held, 64 bytes each, were 3 MB at 50,000 leases).
 */
export interface BindingParams {
  readonly serverId: string;
  readonly leaseTimeSeconds: number;
  readonly renewalTimeSeconds: number | undefined;
  readonly rebindingTimeSeconds: number | undefined;
  readonly subnetMask: string | undefined;
  readonly routers: string[] | undefined;
  readonly dnsServers: string[] | undefined;
  readonly domainName: string | undefined;
}

export function internString(s: string): string {
  const known = strings.get(s);
  if (known !== undefined) return known;
  if (strings.size >= MAX_ENTRIES) strings.clear();
  strings.set(s, s);
  return s;
}

/** The shared copy of an address list; callers never change a binding's lists. */
export function internList(list: string[]): string[] {
  if (lastList !== undefined && sameList(list, lastList)) return lastList;
  lastList = internListByKey(list);
  return lastList;
}

function internListByKey(list: string[]): string[] {
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

/** The shared copy of a binding's parameters (the binding itself is left as it is). */
export function internParams(b: Binding): BindingParams {
  if (lastParams !== undefined && sameParams(b, lastParams)) return lastParams;
  lastParams = internParamsByKey(b);
  return lastParams;
}

function internParamsByKey(b: Binding): BindingParams {
  // A present value is prefixed, so an absent one, an empty one and any text differ. NUL
  // separates the fields: only the domain name, the last field, could carry one.
  const opt = (v: string | number | undefined): string => (v === undefined ? '-' : `=${v}`);
  const list = (v: string[] | undefined): string => (v === undefined ? '-' : `=${v.join(',')}`);
  const key = [
    b.serverId,
    b.leaseTimeSeconds,
    opt(b.renewalTimeSeconds),
    opt(b.rebindingTimeSeconds),
    opt(b.subnetMask),
    list(b.routers),
    list(b.dnsServers),
    opt(b.domainName),
  ].join('\u0000');
  const known = params.get(key);
  if (known !== undefined) return known;
  if (params.size >= MAX_ENTRIES) params.clear();
  const p: BindingParams = {
    serverId: internString(b.serverId),
    leaseTimeSeconds: b.leaseTimeSeconds,
    renewalTimeSeconds: b.renewalTimeSeconds,
    rebindingTimeSeconds: b.rebindingTimeSeconds,
    subnetMask: b.subnetMask === undefined ? undefined : internString(b.subnetMask),
    routers: b.routers === undefined ? undefined : internList(b.routers),
    dnsServers: b.dnsServers === undefined ? undefined : internList(b.dnsServers),
    domainName: b.domainName === undefined ? undefined : internString(b.domainName),
  };
  params.set(key, p);
  return p;
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameParams(b: Binding, p: BindingParams): boolean {
  return (
    b.serverId === p.serverId &&
    b.leaseTimeSeconds === p.leaseTimeSeconds &&
    b.renewalTimeSeconds === p.renewalTimeSeconds &&
    b.rebindingTimeSeconds === p.rebindingTimeSeconds &&
    b.subnetMask === p.subnetMask &&
    sameList(b.routers, p.routers) &&
    sameList(b.dnsServers, p.dnsServers) &&
    b.domainName === p.domainName
  );
}
