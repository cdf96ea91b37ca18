/**
 * Golden tests: real exchanges captured from ISC dhcpd 4.4, Kea 2.2 and dnsmasq 2.90
 * (test/fixtures/captures/README.md says how) go through our codec.
 */
import { describe, expect, it } from 'vitest';
import { capturePath, readDhcpPayloads } from '../../../test/support/captures.js';
import { MessageType, OptionCode } from './option-codes.js';
import { chaddrText, decodePacket, encodePacket } from './packet.js';
import { getIPv4, getUint32, getUint8 } from './options.js';
import { bindingFromReply } from '../binding.js';
import { mismatch } from '../match.js';

const SERVER = '10.231.242.1';

describe.each(['isc', 'kea', 'dnsmasq'] as const)('captures from %s', (server) => {
  const dora = readDhcpPayloads(capturePath(server, 'dora')).map((bytes) => ({ bytes, packet: decodePacket(bytes) }));
  const nak = readDhcpPayloads(capturePath(server, 'nak')).map((bytes) => decodePacket(bytes));

  it('decodes DISCOVER, OFFER, REQUEST, ACK', () => {
    expect(dora.map(({ packet }) => getUint8(packet.options, OptionCode.MessageType))).toEqual([
      MessageType.Discover,
      MessageType.Offer,
      MessageType.Request,
      MessageType.Ack,
    ]);
    const [, offer, , ack] = dora.map((d) => d.packet);
    expect(getIPv4(offer!.options, OptionCode.ServerIdentifier)).toBe(SERVER);
    expect(getUint32(ack!.options, OptionCode.LeaseTime)).toBe(600);
    expect(ack!.yiaddr).toBe(offer!.yiaddr);
    expect(chaddrText(ack!)).toBe(chaddrText(dora[0]!.packet));
  });

  it('re-encodes every message to the same options and header', () => {
    for (const { bytes, packet } of dora) {
      const again = decodePacket(encodePacket(packet));
      expect(again).toEqual(packet);
      // Identical bytes up to the End option; only the padding may differ (Kea does not pad).
      const end = bytes.indexOf(255, 240);
      expect(encodePacket(packet).subarray(0, end + 1)).toEqual(bytes.subarray(0, end + 1));
    }
  });

  it('accepts the real OFFER and ACK as answers to their transaction', () => {
    const [discover, offer, , ack] = dora.map((d) => d.packet);
    const expect_ = {
      xid: discover!.xid,
      mac: chaddrText(discover!),
      clientId: discover!.options.get(OptionCode.ClientIdentifier) as Uint8Array,
      servers: new Set([SERVER]),
    };
    expect(mismatch(offer!, { ...expect_, types: [MessageType.Offer] })).toBeUndefined();
    expect(mismatch(ack!, { ...expect_, types: [MessageType.Ack, MessageType.Nak] })).toBeUndefined();
    expect(mismatch(ack!, { ...expect_, types: [MessageType.Ack], servers: new Set(['10.0.0.1']) })).toBe('foreign-server');
    expect(bindingFromReply(ack!, 0)).toMatchObject({ ip: ack!.yiaddr, serverId: SERVER, leaseTimeSeconds: 600 });
  });

  it('decodes the NAK with its server identifier', () => {
    expect(nak.map((p) => getUint8(p.options, OptionCode.MessageType))).toEqual([MessageType.Request, MessageType.Nak]);
    expect(getIPv4(nak[1]!.options, OptionCode.ServerIdentifier)).toBe(SERVER);
    expect(nak[1]!.xid).toBe(nak[0]!.xid);
  });
});

describe('server differences seen in the captures', () => {
  const ack = (server: string) => decodePacket(readDhcpPayloads(capturePath(server, 'dora'))[3] as Uint8Array);

  it('only Kea echoes the client identifier (RFC 6842), so the echo must never be required', () => {
    expect(ack('kea').options.has(OptionCode.ClientIdentifier)).toBe(true);
    expect(ack('isc').options.has(OptionCode.ClientIdentifier)).toBe(false);
    expect(ack('dnsmasq').options.has(OptionCode.ClientIdentifier)).toBe(false);
  });

  it('only dnsmasq sends T1/T2 by default', () => {
    expect(bindingFromReply(ack('dnsmasq'), 0)).toMatchObject({ renewalTimeSeconds: 300, rebindingTimeSeconds: 525 });
    expect(bindingFromReply(ack('isc'), 0).renewalTimeSeconds).toBeUndefined();
    expect(bindingFromReply(ack('kea'), 0).renewalTimeSeconds).toBeUndefined();
  });
});
