import { describe, expect, it } from 'vitest';
import { formatRecord } from './logger.js';

describe('formatRecord', () => {
  it('renders a JSON record as one readable line', () => {
    const line = JSON.stringify({
      level: 30,
      time: Date.UTC(2026, 0, 1, 12, 0, 1, 234),
      pid: 1,
      name: 'oam-docker-ipam',
      component: 'lease',
      msg: 'lease renewed',
      mac: '02:00:00:00:00:01',
      ip: '10.0.0.5',
      xid: 7,
    });
    expect(formatRecord(line)).toBe('12:00:01.234 INFO  [lease] lease renewed  mac=02:00:00:00:00:01 ip=10.0.0.5 xid=7\n');
  });

  it('passes through what is not JSON', () => {
    expect(formatRecord('plain text')).toBe('plain text\n');
  });
});
