import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/support/fake-clock.js';
import { embedderAllocation, REDUCER_NUDGE_MS, ReducerNudge } from './memory-reducer.js';

describe('ReducerNudge', () => {
  it('nudges at start and then every period, until stopped', async () => {
    const clock = new FakeClock();
    let nudges = 0;
    const reducer = new ReducerNudge({ clock, nudge: () => nudges++ });
    reducer.start();
    expect(nudges).toBe(1);
    await clock.advance(REDUCER_NUDGE_MS - 1);
    expect(nudges).toBe(1);
    await clock.advance(1);
    expect(nudges).toBe(2);
    await clock.advance(10 * REDUCER_NUDGE_MS);
    expect(nudges).toBe(12);
    reducer.stop();
    expect(clock.pending).toBe(0);
    await clock.advance(10 * REDUCER_NUDGE_MS);
    expect(nudges).toBe(12);
  });

  it('keeps the period under the 100 s after which the decayed rate is zero again', () => {
    expect(REDUCER_NUDGE_MS).toBeLessThan(100_000);
  });
});

describe('embedderAllocation', () => {
  it('is not needed before V8 13 (Node 20 and 22), whose allocation rates have a floor', () => {
    expect(embedderAllocation('11.3.244.8-node.33')).toBeUndefined();
    expect(embedderAllocation('12.4.254.21-node.33')).toBeUndefined();
  });

  // Whether it lets Node 24's reducer run is checked on that Node by test/packaging/sea-memory.test.ts.
  it('is a script compiled in node:vm from V8 13 on, cheap enough to run every 30 s', () => {
    const allocate = embedderAllocation('13.6.233.17-node.63');
    expect(allocate).toBeTypeOf('function');
    allocate?.();
    const start = performance.now();
    for (let i = 0; i < 100; i++) allocate?.();
    expect((performance.now() - start) / 100).toBeLessThan(1);
  });
});
