import { describeOutageSuite } from './outage-suite.js';

describeOutageSuite({ kind: 'kea', name: 'keao', octet: 22, leaseTimeSeconds: 40 });
