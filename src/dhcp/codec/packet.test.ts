import { describe, expect, it } from 'vitest';
import { DecodeError } from './decode-error.js';
import { MessageType, OptionCode } from './option-codes.js';
import { decodePacket, encodePacket, encodedLength, HEADER_LENGTH, MIN_PACKET_LENGTH, type DhcpPacket } from './packet.js';
import { getIPv4, getString, getUint32, getUint8, leaseTimeSeconds } from './options.js';
import { buildDiscover, clientIdForMac } from '../messages.js';

const MAC = '02:42:0a:63:00:07';
const identity = { mac: MAC, clientId: clientIdForMac(MAC) };

/** Header (236 bytes) + cookie for a BOOTREPLY with xid 0x01020304 and chaddr = MAC. */
function header(): number[] {
  const h = new Array<number>(HEADER_LENGTH).fill(0);
  h[0] = 2; // op BOOTREPLY
  h[1] = 1; // htype Ethernet
  h[2] = 6; // hlen
  h.splice(4, 4, 1, 2, 3, 4); // xid
  h.splice(16, 4, 10, 99, 0, 7); // yiaddr 10.99.0.7
  h.splice(28, 6, 0x02, 0x42, 0x0a, 0x63, 0x00, 0x07); // chaddr
  return [...h, 99, 130, 83, 99]; // magic cookie
}

/** Round trip: encode(decode(x)) decodes to the same packet. */
function expectRoundTrip(p: DhcpPacket): void {
  const bytes = encodePacket(p);
  expect(bytes.length).toBe(encodedLength(p));
  const again = decodePacket(bytes);
  expect(again).toEqual(p);
  expect(encodePacket(again)).toEqual(bytes);
}

describe('decodePacket', () => {
  it('reads header fields and options', () => {
    // biome-ignore format: one option (code, length, value) per line
    const bytes = Uint8Array.from([
      ...header(),
      53, 1, 2, // message type OFFER
      54, 4, 10, 99, 0, 1, // server identifier
      51, 4, 0, 0, 2, 88, // lease time 600
      255,
    ]);
    const p = decodePacket(bytes);
    expect(p.op).toBe(2);
    expect(p.xid).toBe(0x01020304);
    expect(p.yiaddr).toBe('10.99.0.7');
    expect(getUint8(p.options, OptionCode.MessageType)).toBe(MessageType.Offer);
    expect(getIPv4(p.options, OptionCode.ServerIdentifier)).toBe('10.99.0.1');
    expect(leaseTimeSeconds(p.options, 0)).toBe(600);
  });

  it('treats Pad as one byte without a length (node-dhcp skips two)', () => {
    const bytes = Uint8Array.from([...header(), 0, 53, 1, 2, 0, 0, 54, 4, 10, 99, 0, 1, 0, 255]);
    const p = decodePacket(bytes);
    expect(getUint8(p.options, OptionCode.MessageType)).toBe(2);
    expect(getIPv4(p.options, OptionCode.ServerIdentifier)).toBe('10.99.0.1');
    expect([...p.options.keys()]).toEqual([53, 54]);
  });

  it('ignores everything after End', () => {
    const bytes = Uint8Array.from([...header(), 53, 1, 5, 255, 54, 99]);
    expect([...decodePacket(bytes).options.keys()]).toEqual([53]);
  });

  it('concatenates a repeated option (RFC 3396)', () => {
    const bytes = Uint8Array.from([...header(), 15, 3, 0x61, 0x62, 0x63, 53, 1, 5, 15, 2, 0x2e, 0x64, 255]);
    const p = decodePacket(bytes);
    expect(getString(p.options, OptionCode.DomainName)).toBe('abc.d');
    expect([...p.options.keys()]).toEqual([15, 53]);
  });

  it('joins thousands of repeated parts of one option', () => {
    const repeats = Array.from({ length: 5000 }, (_, i) => [224, 1, i & 0xff]).flat();
    const p = decodePacket(Uint8Array.from([...header(), 53, 1, 2, ...repeats, 255]));
    expect(p.options.get(224)?.length).toBe(5000);
    expect(p.options.get(224)?.[4999]).toBe(4999 & 0xff);
  });

  it('keeps unknown and vendor options byte for byte', () => {
    const bytes = Uint8Array.from([...header(), 53, 1, 2, 224, 3, 0xff, 0x80, 0x00, 82, 4, 1, 2, 0x13, 0x00, 255]);
    const p = decodePacket(bytes);
    expect(p.options.get(224)).toEqual(Uint8Array.of(0xff, 0x80, 0x00));
    expect(p.options.get(82)).toEqual(Uint8Array.of(1, 2, 0x13, 0x00));
    expectRoundTrip(p);
  });

  it('reads options from file and sname under overload (option 52)', () => {
    const bytes = Uint8Array.from([...header(), 52, 1, 3, 53, 1, 5, 255]);
    bytes.set([54, 4, 10, 99, 0, 1, 255], 108); // file carries the server identifier
    bytes.set([15, 2, 0x6c, 0x61, 255], 44); // sname carries a domain name
    const p = decodePacket(bytes);
    expect(getIPv4(p.options, OptionCode.ServerIdentifier)).toBe('10.99.0.1');
    expect(getString(p.options, OptionCode.DomainName)).toBe('la');
    expect(p.options.has(OptionCode.Overload)).toBe(false);
    expect(p.file.every((b) => b === 0)).toBe(true);
    expectRoundTrip(p);
  });

  it('shares no bytes with its input: changing the datagram afterwards changes nothing decoded', () => {
    const bytes = Uint8Array.from([...header(), 53, 1, 5, 54, 4, 10, 99, 0, 1, 255]);
    bytes.set([0x70, 0x78, 0x65], 108);
    const p = decodePacket(bytes);
    bytes.fill(0xee);
    expect(getIPv4(p.options, OptionCode.ServerIdentifier)).toBe('10.99.0.1');
    expect(getUint8(p.options, OptionCode.MessageType)).toBe(MessageType.Ack);
    expect(Array.from(p.file.subarray(0, 3))).toEqual([0x70, 0x78, 0x65]);
    expect(p.chaddr.every((b) => b !== 0xee)).toBe(true);
  });

  it('leaves file and sname alone without overload', () => {
    const bytes = Uint8Array.from([...header(), 53, 1, 5, 255]);
    bytes.set([0x70, 0x78, 0x65], 108); // "pxe" boot file name
    const p = decodePacket(bytes);
    expect(p.file.subarray(0, 3)).toEqual(Uint8Array.of(0x70, 0x78, 0x65));
    expectRoundTrip(p);
  });

  it('accepts an option area that ends without End', () => {
    const bytes = Uint8Array.from([...header(), 53, 1, 5]);
    expect(getUint8(decodePacket(bytes).options, 53)).toBe(5);
  });

  it.each([
    { desc: 'shorter than the fixed header', bytes: Uint8Array.from(header().slice(0, 200)), want: /too short/ },
    { desc: 'no room for the cookie', bytes: Uint8Array.from(header().slice(0, 238)), want: /too short/ },
    {
      desc: 'wrong magic cookie',
      bytes: Uint8Array.from([...header().slice(0, 236), 99, 130, 83, 98, 255]),
      want: /bad magic cookie: got 0x63825362, want 0x63825363/,
    },
    { desc: 'option length past the end', bytes: Uint8Array.from([...header(), 53, 1, 5, 54, 4, 10, 99]), want: /option 54 length 4 runs past/ },
    { desc: 'option without a length byte', bytes: Uint8Array.from([...header(), 53]), want: /no length byte/ },
    { desc: 'hlen over 16', bytes: Uint8Array.from([...header().map((b, i) => (i === 2 ? 17 : b)), 255]), want: /hardware address length 17/ },
    { desc: 'bad overload value', bytes: Uint8Array.from([...header(), 52, 1, 4, 255]), want: /bad option overload/ },
    {
      desc: 'overloaded file with a truncated option',
      bytes: (() => {
        const b = Uint8Array.from([...header(), 52, 1, 1, 255]);
        b.set([54, 200], 108 + 126);
        return b;
      })(),
      want: /option 54 length 200 runs past/,
    },
  ])('throws DecodeError: $desc', ({ bytes, want }) => {
    expect(() => decodePacket(bytes)).toThrow(DecodeError);
    expect(() => decodePacket(bytes)).toThrow(want);
  });

  it('getters reject option values of the wrong size', () => {
    const p = decodePacket(Uint8Array.from([...header(), 51, 3, 0, 2, 88, 54, 5, 1, 2, 3, 4, 5, 255]));
    expect(() => getUint32(p.options, OptionCode.LeaseTime)).toThrow(/option 51 has length 3, want 4/);
    expect(() => getIPv4(p.options, OptionCode.ServerIdentifier)).toThrow(DecodeError);
  });
});

describe('encodePacket', () => {
  it('pads to 300 bytes and ends options with End', () => {
    const p = buildDiscover({ client: identity, xid: 7, secs: 0 });
    const bytes = encodePacket(p);
    expect(bytes.length).toBe(MIN_PACKET_LENGTH);
    const end = bytes.indexOf(255, HEADER_LENGTH + 4);
    expect(bytes.subarray(end + 1).every((b) => b === 0)).toBe(true);
    expectRoundTrip(p);
  });

  it('splits options longer than 255 bytes and joins them again (RFC 3396)', () => {
    const p = buildDiscover({ client: identity, xid: 7, secs: 0 });
    const long = Uint8Array.from({ length: 600 }, (_, i) => i & 0xff);
    p.options.set(224, long);
    const bytes = encodePacket(p);
    expect(bytes.length).toBeGreaterThan(600 + HEADER_LENGTH);
    const again = decodePacket(bytes);
    expect(again.options.get(224)).toEqual(long);
  });

  it('writes the client identifier as binary 01 + MAC', () => {
    const p = buildDiscover({ client: identity, xid: 7, secs: 0 });
    expect(decodePacket(encodePacket(p)).options.get(OptionCode.ClientIdentifier)).toEqual(Uint8Array.of(1, 0x02, 0x42, 0x0a, 0x63, 0x00, 0x07));
  });

  it('keeps high-bit client identifier bytes intact (node-dhcp clears bit 7)', () => {
    const mac = 'aa:bb:cc:dd:ee:ff';
    const p = buildDiscover({ client: { mac, clientId: clientIdForMac(mac) }, xid: 7, secs: 0 });
    expect(decodePacket(encodePacket(p)).options.get(61)).toEqual(Uint8Array.of(1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff));
  });
});
