import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/support/fake-clock.js';
import { TimerQueue } from './timer-queue.js';

describe('TimerQueue', () => {
  it('fires timers in due order, then in the order they were set, on one timer of the clock', async () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock);
    const fired: string[] = [];
    for (const [name, ms] of [
      ['c', 300],
      ['a', 100],
      ['b', 200],
      ['a2', 100],
      ['d', 5_000],
    ] as const)
      q.setTimeout(() => fired.push(name), ms);
    expect(q.size).toBe(5);
    expect(clock.pending).toBe(1);
    await clock.advance(250);
    expect(fired).toEqual(['a', 'a2', 'b']);
    await clock.advance(10_000);
    expect(fired).toEqual(['a', 'a2', 'b', 'c', 'd']);
    expect(q.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('a cleared timer never fires; clearing the last leaves nothing armed', async () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock);
    const fired: number[] = [];
    const handles = Array.from({ length: 50 }, (_, i) => q.setTimeout(() => fired.push(i), 10 * (i + 1)));
    for (let i = 0; i < 50; i += 2) q.clearTimeout(handles[i] as object);
    q.clearTimeout(handles[0] as object); // twice: nothing happens
    await clock.advance(1_000);
    expect(fired).toEqual(Array.from({ length: 25 }, (_, k) => 2 * k + 1));
    const h = q.setTimeout(() => fired.push(-1), 100);
    q.clearTimeout(h);
    expect(clock.pending).toBe(0);
    await clock.advance(1_000);
    expect(fired).not.toContain(-1);
  });

  it('runs a wave of due timers a batch per turn, and timers set by a callback in a later turn', async () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock, 10);
    let ran = 0;
    for (let i = 0; i < 35; i++) q.setTimeout(() => ran++, 1_000);
    let chained = 0;
    q.setTimeout(() => q.setTimeout(() => chained++, 0), 1_000);
    await clock.advance(999);
    expect(ran).toBe(0);
    // Each turn of the fake clock's timer runs at most 10; all of them within the same instant.
    await clock.advance(1);
    expect(ran).toBe(35);
    expect(chained).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('keeps its order through thousands of random sets and clears', async () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock);
    let seed = 11;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const fired: Array<{ dueAt: number; firedAt: number }> = [];
    const live = new Map<number, object>();
    for (let i = 0; i < 5_000; i++) {
      const ms = rnd(100_000);
      const dueAt = clock.now() + ms;
      live.set(
        i,
        q.setTimeout(() => fired.push({ dueAt, firedAt: clock.now() }), ms),
      );
      if (rnd(3) === 0) {
        const victim = rnd(i + 1);
        const h = live.get(victim);
        if (h !== undefined) q.clearTimeout(h);
        live.delete(victim);
      }
    }
    await clock.advance(200_000);
    expect(fired).toHaveLength(live.size);
    expect(fired.every((f, i) => f.firedAt === f.dueAt && (i === 0 || (fired[i - 1] as { dueAt: number }).dueAt <= f.dueAt))).toBe(true);
  });
});
