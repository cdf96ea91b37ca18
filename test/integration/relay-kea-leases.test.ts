import { describeLeaseSuite } from './lease-suite.js';

// The steady-state suite in relay mode: Kea behind a router, the containers' subnet named by
// option 82 link selection (the default), the host without an address on it.
describeLeaseSuite({ kind: 'kea', name: 'rkeal', octet: 122, relay: { infra: { octet: 123 } }, leaseTimeSeconds: 10, concurrent: 200 });
