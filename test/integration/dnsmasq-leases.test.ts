import { describeLeaseSuite } from './lease-suite.js';

// dnsmasq does not reserve offered addresses and NAKs a second REQUEST for one ("address in
// use"), so acquisitions against it are throttled. Its shortest lease is 2 minutes.
describeLeaseSuite({ kind: 'dnsmasq', name: 'dnql', octet: 31, leaseTimeSeconds: 120, concurrent: 50, maxConcurrentAcquisitions: 4 });
