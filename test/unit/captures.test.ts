/**
 * The golden captures and their reader: every file holds the exchange its README entry
 * describes, and `readDhcpPayloads` gives the same payloads whatever the byte order and Linux
 * link type of the file. Reads files only, so it needs no lab.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { capturePath, readDhcpPayloads } from '../support/captures.js';
import { DhcpType, summarizeMessage } from '../support/lab/dhcp-bytes.js';
import { SERVER_KINDS } from '../support/lab/server-types.js';

const scratch = mkdtempSync(join(tmpdir(), 'captures-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Split a little-endian classic pcap (as tcpdump writes here) into its global header and frames. */
function splitPcap(file: Uint8Array): { header: Uint8Array; frames: Uint8Array[] } {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const frames: Uint8Array[] = [];
  for (let offset = 24; offset + 16 <= file.length; ) {
    const length = view.getUint32(offset + 8, true);
    frames.push(file.slice(offset + 16, offset + 16 + length));
    offset += 16 + length;
  }
  return { header: file.slice(0, 24), frames };
}

/** Write a classic pcap with `linkType` and byte order `littleEndian` holding `frames`. */
function writePcap(name: string, frames: readonly Uint8Array[], linkType: number, littleEndian: boolean): string {
  const header = new DataView(new ArrayBuffer(24));
  header.setUint32(0, 0xa1b2c3d4, littleEndian);
  header.setUint16(4, 2, littleEndian);
  header.setUint16(6, 4, littleEndian);
  header.setUint32(16, 262_144, littleEndian);
  header.setUint32(20, linkType, littleEndian);
  const parts: Uint8Array[] = [new Uint8Array(header.buffer)];
  for (const frame of frames) {
    const record = new DataView(new ArrayBuffer(16));
    record.setUint32(8, frame.length, littleEndian);
    record.setUint32(12, frame.length, littleEndian);
    parts.push(new Uint8Array(record.buffer), frame);
  }
  const path = join(scratch, name);
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

/** Replace a 14-byte Ethernet header by a Linux cooked v1 (16-byte) or v2 (20-byte) header. */
function toCooked(frame: Uint8Array, version: 1 | 2): Uint8Array {
  const payload = frame.subarray(14);
  const header = new Uint8Array(version === 1 ? 16 : 20);
  const view = new DataView(header.buffer);
  if (version === 1) view.setUint16(14, 0x0800);
  else view.setUint16(0, 0x0800);
  const out = new Uint8Array(header.length + payload.length);
  out.set(header);
  out.set(payload, header.length);
  return out;
}

describe('golden captures', () => {
  describe.each(SERVER_KINDS)('%s', (server) => {
    it('dora.pcap holds DISCOVER, OFFER, REQUEST, ACK of one transaction with the BROADCAST flag', () => {
      const payloads = readDhcpPayloads(capturePath(server, 'dora'));
      const summaries = payloads.map(summarizeMessage);
      expect(summaries.map((s) => s.type)).toEqual([DhcpType.DISCOVER, DhcpType.OFFER, DhcpType.REQUEST, DhcpType.ACK]);
      expect(new Set(summaries.map((s) => s.xid)).size).toBe(1);
      for (const p of payloads) expect(p[10]).toBe(0x80); // flags: BROADCAST
    });

    it('nak.pcap holds a REQUEST and the NAK that answers it', () => {
      const summaries = readDhcpPayloads(capturePath(server, 'nak')).map(summarizeMessage);
      expect(summaries.map((s) => [s.type, s.xid])).toEqual([
        [DhcpType.REQUEST, 0x4e414b21],
        [DhcpType.NAK, 0x4e414b21],
      ]);
      expect(summaries[1]?.yiaddr).toBe('0.0.0.0');
    });
  });

  describe('readDhcpPayloads', () => {
    const original = capturePath('kea', 'dora');
    const want = readDhcpPayloads(original);
    const { frames } = splitPcap(new Uint8Array(readFileSync(original)));

    it.each([
      { desc: 'big-endian Ethernet', linkType: 1, littleEndian: false, map: (f: Uint8Array) => f },
      { desc: 'Linux cooked v1 (113)', linkType: 113, littleEndian: true, map: (f: Uint8Array) => toCooked(f, 1) },
      { desc: 'Linux cooked v2 (276)', linkType: 276, littleEndian: false, map: (f: Uint8Array) => toCooked(f, 2) },
    ])('reads $desc', ({ desc, linkType, littleEndian, map }) => {
      const path = writePcap(`${desc.replaceAll(/\W+/g, '-')}.pcap`, frames.map(map), linkType, littleEndian);
      expect(readDhcpPayloads(path)).toEqual(want);
    });

    it('skips packets that are not IPv4 UDP on port 67/68', () => {
      const arp = new Uint8Array(42);
      arp.set([0x08, 0x06], 12);
      const path = writePcap('mixed.pcap', [arp, ...frames], 1, true);
      expect(readDhcpPayloads(path)).toEqual(want);
    });

    it('rejects pcapng with a hint', () => {
      const path = join(scratch, 'x.pcapng');
      writeFileSync(path, Buffer.from([0x0a, 0x0d, 0x0d, 0x0a, ...new Array<number>(28).fill(0)]));
      expect(() => readDhcpPayloads(path)).toThrow(/pcapng/);
    });
  });
});
