/** Small parsing helpers shared by the lease database readers. */

/** Lowercase colon hex of `bytes`, e.g. `01:02:aa`. */
export function toColonHex(bytes: Iterable<number>): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Normalise a MAC or client-id written as colon hex (any case, 1- or 2-digit groups) to lowercase 2-digit groups. */
export function normalizeColonHex(text: string): string {
  return text
    .split(':')
    .map((group) => group.toLowerCase().padStart(2, '0'))
    .join(':');
}

/** True if `text` is colon-separated hex such as `1:2:aa` or `01:02:aa`. */
export function isColonHex(text: string): boolean {
  return /^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2})*$/.test(text);
}

/** Keep the last lease per IP, in address order, so callers get a stable list. */
export function latestPerIp<T extends { readonly ip: string }>(records: Iterable<T>): T[] {
  const byIp = new Map<string, T>();
  for (const record of records) byIp.set(record.ip, record);
  return [...byIp.values()].sort((a, b) => ipToNumber(a.ip) - ipToNumber(b.ip));
}

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}
