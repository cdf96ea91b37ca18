import { describeLeaseSuite } from './lease-suite.js';

describeLeaseSuite({ kind: 'isc', name: 'iscl', octet: 11, leaseTimeSeconds: 10, concurrent: 200 });
