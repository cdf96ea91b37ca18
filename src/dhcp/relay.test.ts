import { describe, expect, it } from 'vitest';
import { FLAG_BROADCAST, OptionCode } from './codec/option-codes.js';
import { decodePacket, encodePacket } from './codec/packet.js';
import { getIPv4 } from './codec/options.js';
import { buildDiscover, buildRelease, clientIdForMac } from './messages.js';
import { relayed, SUBNET_SELECTION_OPTION, type SubnetOption } from './relay.js';

const MAC = '02:42:c0:00:02:07';
const client = { mac: MAC, clientId: clientIdForMac(MAC) };
const agent = (subnetOption: SubnetOption) => ({ address: '10.1.0.5', subnetOption });

describe('relayed()', () => {
  it('forwards as a relay agent: giaddr, hops 1, no BROADCAST flag; the original is untouched', () => {
    const discover = buildDiscover({ client, xid: 7, secs: 3 });
    const out = relayed(discover, agent('link-selection'), '10.2.0.0');
    expect(out).toMatchObject({ giaddr: '10.1.0.5', hops: 1, flags: 0, xid: 7, secs: 3, ciaddr: '0.0.0.0' });
    expect(discover).toMatchObject({ giaddr: '0.0.0.0', hops: 0, flags: FLAG_BROADCAST });
    expect(discover.options.has(OptionCode.RelayAgentInformation)).toBe(false);
  });

  it.each([
    { option: 'link-selection' as const, has82: true, has118: false },
    { option: 'subnet-selection' as const, has82: false, has118: true },
    { option: 'both' as const, has82: true, has118: true },
    { option: 'none' as const, has82: false, has118: false },
  ])('names the subnet with $option', ({ option, has82, has118 }) => {
    const wire = decodePacket(encodePacket(relayed(buildDiscover({ client, xid: 1, secs: 0 }), agent(option), '10.2.0.77')));
    // Option 82, sub-option 5 (RFC 3527): code 5, length 4, the address.
    expect(wire.options.get(OptionCode.RelayAgentInformation)).toEqual(has82 ? Uint8Array.of(5, 4, 10, 2, 0, 77) : undefined);
    expect(getIPv4(wire.options, SUBNET_SELECTION_OPTION)).toBe(has118 ? '10.2.0.77' : undefined);
    expect(wire.giaddr).toBe('10.1.0.5');
  });

  it('puts option 82 last (RFC 3046 §2.1) and names nothing without a link', () => {
    const out = relayed(buildDiscover({ client, xid: 1, secs: 0, requestedIp: '10.2.0.9' }), agent('both'), '10.2.0.9');
    expect([...out.options.keys()].at(-1)).toBe(OptionCode.RelayAgentInformation);
    const bare = relayed(buildRelease({ client, xid: 2, ip: '10.2.0.9', serverId: '10.9.0.1' }), agent('both'), undefined);
    expect(bare.options.has(OptionCode.RelayAgentInformation)).toBe(false);
    expect(bare.options.has(SUBNET_SELECTION_OPTION)).toBe(false);
    expect(bare).toMatchObject({ giaddr: '10.1.0.5', ciaddr: '10.2.0.9' });
  });
});
