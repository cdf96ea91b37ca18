import { describeOutageSuite } from './outage-suite.js';

describeOutageSuite({ kind: 'dnsmasq', name: 'dnqo', octet: 32, leaseTimeSeconds: 120 });
