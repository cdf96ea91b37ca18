import { describeOutage } from './fault-outage-suite.js';

describeOutage('isc', 'foui', 65);
