import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { Pacer } from './pacer.js';

describe('Pacer', () => {
  it('grants the first call at once and spaces the rest by the interval, in order', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer(clock, 10);
    const t0 = clock.now();
    const granted: number[] = [];
    const all = [0, 1, 2].map((i) => pacer.next().then(() => granted.push(i) && undefined));
    await clock.advance(0);
    expect(granted).toEqual([0]);
    await clock.advance(10);
    expect(granted).toEqual([0, 1]);
    await clock.advance(10);
    await Promise.all(all);
    expect(granted).toEqual([0, 1, 2]);
    expect(clock.now() - t0).toBe(20);
  });

  it('does not make an idle caller wait', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer(clock, 10);
    await pacer.next();
    await clock.advance(50);
    await pacer.next(); // resolves without the clock moving
  });
});
