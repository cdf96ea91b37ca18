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

  it('grants the most urgent waiter first (lower number), in call order within a priority', async () => {
    const clock = new FakeClock();
    const pacer = new Pacer(clock, 10);
    const granted: string[] = [];
    const all = [
      pacer.next(undefined, 2).then(() => granted.push('r0')),
      pacer.next(undefined, 2).then(() => granted.push('r1')),
      pacer.next(undefined, 1).then(() => granted.push('u0')),
      pacer.next(undefined, 0).then(() => granted.push('d0')),
      pacer.next(undefined, 0).then(() => granted.push('d1')),
    ];
    await clock.advance(40);
    await Promise.all(all);
    expect(granted).toEqual(['r0', 'd0', 'd1', 'u0', 'r1']);
  });
});
