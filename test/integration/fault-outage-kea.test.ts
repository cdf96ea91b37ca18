import { describeOutage } from './fault-outage-suite.js';

describeOutage('kea', 'fouk', 63);
