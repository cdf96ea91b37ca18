import { describeOutageSuite } from './outage-suite.js';

describeOutageSuite({ kind: 'isc', name: 'isco', octet: 12, leaseTimeSeconds: 40 });
