/** The decoder runs on whatever anyone sends to UDP/68: it must throw nothing but DecodeError. */
import { describe, expect, it } from 'vitest';
import { prng } from '../../../test/support/prng.js';
import { DecodeError } from './decode-error.js';
import { decodePacket, encodePacket } from './packet.js';
import { getIPv4List, getString, getUint32, getUint8, getIPv4 } from './options.js';
import { buildDiscover, clientIdForMac } from '../messages.js';
import { summarizePacket, describePacket } from './describe.js';

function decodeAndReadEverything(bytes: Uint8Array): void {
  const p = decodePacket(bytes);
  summarizePacket(p);
  describePacket(p);
  for (const code of p.options.keys()) {
    for (const read of [getUint8, getUint32, getIPv4, getIPv4List, getString]) {
      try {
        read(p.options, code);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
      }
    }
  }
}

function expectOnlyDecodeErrors(bytes: Uint8Array): void {
  try {
    decodeAndReadEverything(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError);
  }
}

describe('decoder robustness', () => {
  const valid = encodePacket(
    buildDiscover({ client: { mac: '02:00:00:00:00:01', clientId: clientIdForMac('02:00:00:00:00:01') }, xid: 1, secs: 0, requestedIp: '10.0.0.9' }),
  );

  it('survives every truncation of a valid packet', () => {
    for (let n = 0; n <= valid.length; n++) expectOnlyDecodeErrors(valid.subarray(0, n));
  });

  it('survives random bytes after a valid header', () => {
    const random = prng(0xd4d);
    for (let i = 0; i < 5000; i++) {
      const tail = Uint8Array.from({ length: Math.floor(random() * 400) }, () => Math.floor(random() * 256));
      const bytes = new Uint8Array(240 + tail.length);
      bytes.set(valid.subarray(0, 240));
      bytes.set(tail, 240);
      if (random() < 0.2) bytes[240] = 52; // provoke overload parsing now and then
      expectOnlyDecodeErrors(bytes);
    }
  });

  it('survives single-byte corruption of a valid packet', () => {
    const random = prng(42);
    for (let i = 0; i < 5000; i++) {
      const bytes = valid.slice();
      const at = Math.floor(random() * bytes.length);
      bytes[at] = Math.floor(random() * 256);
      expectOnlyDecodeErrors(bytes);
    }
  });

  it('survives entirely random datagrams', () => {
    const random = prng(7);
    for (let i = 0; i < 2000; i++) {
      expectOnlyDecodeErrors(Uint8Array.from({ length: Math.floor(random() * 700) }, () => Math.floor(random() * 256)));
    }
  });
});
