import { describe, expect, it } from 'vitest';
import { formatHex, formatIPv4Number, formatMacNumber, ipv4ToNumber, ipv4Number, isIPv4, macNumber, parseIPv4, parseMac } from './ipv4.js';

/** The rule, written the slow and obvious way: four decimal octets 0-255, no leading zeros. */
function reference(s: string): number[] | undefined {
  if (!/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(s)) return undefined;
  return s.split('.').map(Number);
}

/** A small deterministic generator, so a failure names an input that can be replayed. */
function* inputs(): Generator<string> {
  yield* [
    '0.0.0.0',
    '255.255.255.255',
    '10.0.0.1',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3',
    '1.2.3.4.',
    '.1.2.3',
    '1..2.3',
    '256.0.0.1',
    '1000.1.1.1',
    '',
    ' 1.2.3.4',
    '0.0.0.00',
  ];
  let seed = 7;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const chars = '0123456789.a ';
  for (let i = 0; i < 20_000; i++) {
    let s = '';
    for (let k = 1 + next(16); k > 0; k--) s += chars[next(chars.length)];
    yield s;
    yield [next(300), next(300), next(300), next(300)].join('.');
  }
}

describe('IPv4 and MAC text', () => {
  it('parses exactly the dotted quads the rule allows, to the same bytes and number', () => {
    const wrong: string[] = [];
    const attempt = <T>(f: () => T): T | 'threw' => {
      try {
        return f();
      } catch (err) {
        return err instanceof RangeError ? 'threw' : (err as T);
      }
    };
    for (const s of inputs()) {
      const want = reference(s);
      const bytes = attempt(() => [...parseIPv4(s)]);
      const num = attempt(() => ipv4ToNumber(s));
      const wantNum =
        want === undefined ? 'threw' : (((want[0] as number) << 24) | ((want[1] as number) << 16) | ((want[2] as number) << 8) | (want[3] as number)) >>> 0;
      if (isIPv4(s) !== (want !== undefined) || JSON.stringify(bytes) !== JSON.stringify(want ?? 'threw') || num !== wantNum) wrong.push(s);
    }
    expect(wrong).toEqual([]);
  });

  it('formats bytes as colon hex and parses a MAC back, in either case or with dashes', () => {
    expect(formatHex(Uint8Array.of())).toBe('');
    expect(formatHex(Uint8Array.of(0, 0x0a, 0xff, 0x42))).toBe('00:0a:ff:42');
    expect([...parseMac('02:42:AC:11:00:0F')]).toEqual([0x02, 0x42, 0xac, 0x11, 0x00, 0x0f]);
    expect([...parseMac('02-42-ac-11-00-0f')]).toEqual([0x02, 0x42, 0xac, 0x11, 0x00, 0x0f]);
    expect(() => parseMac('02:42:ac:11:00')).toThrow(RangeError);
    expect(() => parseMac('02:42:ac:11:00:0g')).toThrow(RangeError);
  });

  it('turns an address and a MAC into numbers and back, to the canonical text', () => {
    for (const ip of ['0.0.0.0', '10.233.188.232', '127.255.255.255', '128.0.0.0', '192.0.2.7', '255.255.255.255']) {
      expect(formatIPv4Number(ipv4Number(ip))).toBe(ip);
      expect(ipv4Number(ip)).toBe(ipv4ToNumber(ip));
    }
    expect(ipv4Number('10.0.0.01')).toBe(-1);
    expect(ipv4Number('')).toBe(-1);
    for (const mac of ['00:00:00:00:00:00', '02:42:ac:11:00:0f', '4a:ee:0a:40:1c:76', 'ff:ff:ff:ff:ff:ff']) {
      expect(formatMacNumber(macNumber(mac))).toBe(mac);
      expect(macNumber(mac)).toBe(Number.parseInt(mac.replaceAll(':', ''), 16));
    }
    expect(formatMacNumber(macNumber('02-42-AC-11-00-0F'))).toBe('02:42:ac:11:00:0f');
    expect(macNumber('02:42:ac:11:00')).toBe(-1);
    expect(macNumber('02:42:ac:11:00:0g')).toBe(-1);
  });
});
