import { describeLeaseSuite } from './lease-suite.js';

// The steady-state suite in relay mode: dnsmasq behind a router, the containers' subnet named by
// option 82 link selection (the default), the host without an address on it. Throttled as in
// direct mode (dnsmasq NAKs concurrent REQUESTs for one offer); its shortest lease is 2 minutes.
describeLeaseSuite({
  kind: 'dnsmasq',
  name: 'rdnql',
  octet: 124,
  relay: { infra: { octet: 125 } },
  leaseTimeSeconds: 120,
  concurrent: 50,
  maxConcurrentAcquisitions: 4,
});
