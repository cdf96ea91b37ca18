import { describeOutageSuite } from './outage-suite.js';

// The outage suite in relay mode: renewals and recoveries go through the relay path too.
describeOutageSuite({ kind: 'kea', name: 'rkeao', octet: 128, relay: { infra: { octet: 129 } }, leaseTimeSeconds: 40 });
