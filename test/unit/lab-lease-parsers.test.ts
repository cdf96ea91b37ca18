/**
 * The lab's lease-file readers against records copied from the real servers (ISC dhcpd 4.4.3,
 * Kea 2.2.0, dnsmasq 2.90). Reads strings only, so it needs no lab.
 */
import { describe, expect, it } from 'vitest';
import { parseDnsmasqLeases } from '../support/lab/dnsmasq.js';
import { decodeIscUid, parseIscLeases } from '../support/lab/isc.js';
import { parseKeaLeases } from '../support/lab/kea.js';

/** 2026-11-23 10:39:00 UTC: between the starts and ends of the sample leases. */
const NOW = Date.UTC(2026, 10, 23, 10, 39, 0);

describe('parseIscLeases', () => {
  const file = `# The format of this file is documented in the dhcpd.leases(5) manual page.
authoring-byte-order little-endian;
server-duid "\\000\\001\\000\\0012\\226\\324!\\302@\\021\\252\\356\\265";

lease 10.231.239.100 {
  starts 1 2026/11/23 10:38:31;
  ends 1 2026/11/23 10:39:31;
  cltt 1 2026/11/23 10:38:31;
  binding state active;
  next binding state free;
  rewind binding state free;
  hardware ethernet 02:AA:bb:cc:dd:01;
  uid "\\001\\002\\252\\273\\314\\335\\001";
  set vendor-class-identifier = "udhcp 1.35.0";
}
lease 10.231.239.101 {
  starts 1 2026/11/23 10:38:31;
  ends never;
  binding state active;
  hardware ethernet 02:aa:bb:cc:dd:02;
}
lease 10.231.239.100 {
  starts 1 2026/11/23 10:38:31;
  ends 1 2026/11/23 10:38:40;
  binding state free;
  hardware ethernet 02:aa:bb:cc:dd:01;
  uid "\\001\\002\\252\\273\\314\\335\\001";
}
`;

  it('keeps the last block per address and decodes time, state, MAC and uid', () => {
    expect(parseIscLeases(file, NOW)).toEqual([
      { ip: '10.231.239.100', mac: '02:aa:bb:cc:dd:01', clientId: '01:02:aa:bb:cc:dd:01', endsAt: Date.UTC(2026, 10, 23, 10, 38, 40), active: false },
      { ip: '10.231.239.101', mac: '02:aa:bb:cc:dd:02', clientId: null, endsAt: null, active: true },
    ]);
  });

  it('counts an active binding whose end has passed as inactive', () => {
    expect(parseIscLeases(file.split('lease 10.231.239.101')[0] ?? '', Date.UTC(2026, 10, 23, 10, 40))[0]?.active).toBe(false);
  });

  it.each([
    { uid: '"\\001\\002\\252\\273\\314\\335\\001"', want: '01:02:aa:bb:cc:dd:01' },
    { uid: '"\\001AB\\"\\\\"', want: '01:41:42:22:5c' },
    { uid: '1:2:aa:bb', want: '01:02:aa:bb' },
  ])('decodes uid $uid', ({ uid, want }) => {
    expect(decodeIscUid(uid)).toBe(want);
  });
});

describe('parseKeaLeases', () => {
  const header = 'address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context';
  const bound = '10.231.239.100,02:aa:bb:cc:dd:01,01:02:aa:bb:cc:dd:01,60,1795430439,1,0,0,,0,';

  it('reads the last row per address', () => {
    expect(parseKeaLeases(`${header}\n${bound}\n`, 1795430400_000)).toEqual([
      { ip: '10.231.239.100', mac: '02:aa:bb:cc:dd:01', clientId: '01:02:aa:bb:cc:dd:01', endsAt: 1795430439_000, active: true },
    ]);
  });

  it('leaves out an address whose last row is the valid_lifetime 0 written for a RELEASE', () => {
    const released = '10.231.239.100,02:aa:bb:cc:dd:01,01:02:aa:bb:cc:dd:01,0,1795430379,1,0,0,,0,';
    expect(parseKeaLeases(`${header}\n${bound}\n${released}\n`, 1795430400_000)).toEqual([]);
  });

  it('reports an expired-reclaimed row (state 2) as inactive', () => {
    const reclaimed = bound.replace(/,0,$/, ',2,');
    expect(parseKeaLeases(`${header}\n${bound}\n${reclaimed}\n`, 1795430400_000)[0]?.active).toBe(false);
  });
});

describe('parseDnsmasqLeases', () => {
  it('reads expiry, MAC, IP and client id, with 0 = infinite and * = none', () => {
    const file = '1795430520 02:aa:bb:cc:dd:01 10.231.239.134 * 01:02:aa:bb:cc:dd:01\n0 02:aa:bb:cc:dd:02 10.231.239.60 host1 *\n';
    expect(parseDnsmasqLeases(file, 1795430400_000)).toEqual([
      { ip: '10.231.239.60', mac: '02:aa:bb:cc:dd:02', clientId: null, endsAt: null, active: true },
      { ip: '10.231.239.134', mac: '02:aa:bb:cc:dd:01', clientId: '01:02:aa:bb:cc:dd:01', endsAt: 1795430520_000, active: true },
    ]);
  });
});
