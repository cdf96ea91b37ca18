import { describeLeaseSuite } from './lease-suite.js';

// The same scenarios with dnsmasq's default ping check: it stalls all DHCP for 3 s per new address.
describeLeaseSuite({ kind: 'dnsmasq', name: 'dnqp', octet: 33, leaseTimeSeconds: 120, concurrent: 50, maxConcurrentAcquisitions: 4, pingCheck: true });
