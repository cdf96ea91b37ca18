import { describeLeaseSuite } from './lease-suite.js';

describeLeaseSuite({ kind: 'kea', name: 'keal', octet: 21, leaseTimeSeconds: 10, concurrent: 200 });
