import { describeOutageSuite } from './outage-suite.js';

// The outage suite in relay mode: renewals and recoveries go through the relay path too.
describeOutageSuite({ kind: 'dnsmasq', name: 'rdnqo', octet: 130, relay: { infra: { octet: 131 } }, leaseTimeSeconds: 120 });
