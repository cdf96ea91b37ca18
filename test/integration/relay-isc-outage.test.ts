import { describeOutageSuite } from './outage-suite.js';

// The outage suite in relay mode: renewals and recoveries go through the relay path too.
describeOutageSuite({ kind: 'isc', name: 'risco', octet: 126, relay: { infra: { octet: 127 } }, leaseTimeSeconds: 40 });
