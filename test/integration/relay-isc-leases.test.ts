import { describeLeaseSuite } from './lease-suite.js';

// The steady-state suite in relay mode: ISC dhcpd behind a router, the containers' subnet named
// by option 82 link selection (the default), the host without an address on it.
describeLeaseSuite({ kind: 'isc', name: 'riscl', octet: 120, relay: { infra: { octet: 121 } }, leaseTimeSeconds: 10, concurrent: 200 });
