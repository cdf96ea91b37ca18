/**
 * Pools and their IDs. Docker stores the PoolID in the network and in every endpoint and uses
 * the stored one after restarts, so IDs are self-describing: everything a later call needs
 * (address space, pool, sub-pool, options) is in the ID itself, and a daemon that lost its
 * memory can still serve ReleaseAddress for an old endpoint. Each RequestPool also gets a tag
 * of its own: two networks with the same subnet (one being created and rolled back while the
 * other runs containers) must not share an ID, or the ReleasePool of one would release the
 * other's leases. Identical IDs across calls only matter for request replay, which d4d does
 * not ask for.
 */
import { Address4 } from 'ip-address';
import { BadRequestError } from './protocol.js';
import { ipv4ToNumber } from '../dhcp/codec/ipv4.js';

export interface Pool {
  addressSpace: string;
  /** Network address, e.g. 10.99.0.0. */
  network: string;
  prefixLength: number;
  /** `--ip-range`, if given, as a CIDR. */
  subPool: string | undefined;
  /** `--ipam-opt client-id=…`: overrides DHCP_CLIENT_ID for this network. */
  clientIdMode?: 'mac' | 'endpoint-name';
  /** Distinguishes this RequestPool from others for the same subnet (8 hex digits). */
  tag?: string;
}

/** The `--ipam-opt` keys this driver understands. */
export const POOL_OPTIONS = ['client-id'] as const;

/**
 * Reads `--ipam-opt`s. Unknown keys are refused, so a typo is not silently ignored; keys
 * Docker itself adds (`com.docker.*`, e.g. swarm's serial allocation flag) are passed over.
 */
export function parsePoolOptions(options: Readonly<Record<string, string>>): Pick<Pool, 'clientIdMode'> {
  const out: Pick<Pool, 'clientIdMode'> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(options)) {
    if (key.startsWith('com.docker.')) continue;
    if (key === 'client-id') {
      if (value === 'mac' || value === 'endpoint-name') out.clientIdMode = value;
      else problems.push(`--ipam-opt client-id must be "mac" or "endpoint-name", got ${JSON.stringify(value)}`);
    } else {
      problems.push(`unknown --ipam-opt ${JSON.stringify(key)} (known: ${POOL_OPTIONS.join(', ')})`);
    }
  }
  if (problems.length > 0) throw new BadRequestError(problems.join('; '));
  return out;
}

const PREFIX = 'd4d';

export function poolCidr(p: Pool): string {
  return `${p.network}/${p.prefixLength}`;
}

/** The ID of a pool: `d4d/<space>/<network>/<len>[/<sub>/<sublen>][/cid=<mode>][/id=<tag>]`. */
export function poolId(p: Pool): string {
  return [
    PREFIX,
    encodeURIComponent(p.addressSpace),
    p.network,
    String(p.prefixLength),
    ...(p.subPool ? p.subPool.split('/') : []),
    ...(p.clientIdMode ? [`cid=${p.clientIdMode}`] : []),
    ...(p.tag ? [`id=${p.tag}`] : []),
  ].join('/');
}

/** The pool a PoolID describes; `BadRequestError` for IDs we never handed out. */
export function parsePoolId(id: string): Pool {
  const parts = id.split('/');
  let tag: string | undefined;
  if (/^id=[0-9a-f]{8}$/.test(parts.at(-1) ?? '')) tag = (parts.pop() as string).slice(3);
  let clientIdMode: Pool['clientIdMode'];
  const last = parts.at(-1) ?? '';
  if (last.startsWith('cid=')) {
    parts.pop();
    const mode = last.slice(4);
    if (mode !== 'mac' && mode !== 'endpoint-name') throw new BadRequestError(`unknown pool ${JSON.stringify(id)}: bad client-id mode`);
    clientIdMode = mode;
  }
  if (parts[0] !== PREFIX || (parts.length !== 4 && parts.length !== 6))
    throw new BadRequestError(`unknown pool ${JSON.stringify(id)}: not a PoolID of this driver`);
  const network = parseCidr(`${parts[2]}/${parts[3]}`, 'PoolID');
  const sub = parts.length === 6 ? parseCidr(`${parts[4]}/${parts[5]}`, 'PoolID') : undefined;
  return {
    addressSpace: decodeURIComponent(parts[1] as string),
    network: network.network,
    prefixLength: network.prefixLength,
    subPool: sub ? `${sub.network}/${sub.prefixLength}` : undefined,
    ...(clientIdMode ? { clientIdMode } : {}),
    ...(tag ? { tag } : {}),
  };
}

/** Parses `a.b.c.d/len` and masks host bits away (Docker ≤ 24 passes the user's text as is). */
export function parseCidr(text: string, what: string): { network: string; prefixLength: number } {
  let a: Address4;
  try {
    a = new Address4(text);
  } catch {
    throw new BadRequestError(`${what}: not an IPv4 subnet in CIDR form: ${JSON.stringify(text)}`);
  }
  if (!text.includes('/')) throw new BadRequestError(`${what}: not an IPv4 subnet in CIDR form: ${JSON.stringify(text)}`);
  if (a.subnetMask < 1 || a.subnetMask > 30) throw new BadRequestError(`${what}: prefix length /${a.subnetMask} leaves no room for hosts; want /1 to /30`);
  return { network: a.startAddress().correctForm(), prefixLength: a.subnetMask };
}

/** Whether `ip` lies in `network/prefixLength`. */
export function inSubnet(ip: string, network: string, prefixLength: number): boolean {
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  return (ipv4ToNumber(ip) & mask) >>> 0 === (ipv4ToNumber(network) & mask) >>> 0;
}

/** Dotted quad of a 32-bit address number (the inverse of `ipv4ToNumber`). */
export function numberToIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

/** Prefix length of a dotted subnet mask, or undefined if its ones are not contiguous. */
export function maskToPrefix(mask: string): number | undefined {
  const n = ipv4ToNumber(mask);
  let len = 0;
  while (len < 32 && (n & (0x80000000 >>> len)) !== 0) len++;
  const rebuilt = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return rebuilt === n ? len : undefined;
}
