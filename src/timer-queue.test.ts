import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/support/fake-clock.js';
import { prng } from '../test/support/prng.js';
import { type Queued, TimerQueue } from './timer-queue.js';

interface Item extends Queued {
  name: string;
}

const item = (name: string): Item => ({ name, queueIndex: -1 });

describe('TimerQueue', () => {
  it('hands out items in due order, then in the order they were set, on one timer of the clock', async () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    const q = new TimerQueue<Item>(clock, (i) => fired.push(i.name));
    for (const [name, ms] of [
      ['c', 300],
      ['a', 100],
      ['b', 200],
      ['a2', 100],
      ['d', 5_000],
    ] as const)
      q.set(item(name), ms);
    expect(q.size).toBe(5);
    expect(clock.pending).toBe(1);
    await clock.advance(250);
    expect(fired).toEqual(['a', 'a2', 'b']);
    await clock.advance(10_000);
    expect(fired).toEqual(['a', 'a2', 'b', 'c', 'd']);
    expect(q.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('a cleared item never falls due; clearing the last leaves nothing armed', async () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    const q = new TimerQueue<Item>(clock, (i) => fired.push(Number(i.name)));
    const items = Array.from({ length: 50 }, (_, i) => item(String(i)));
    for (const [i, it] of items.entries()) q.set(it, 10 * (i + 1));
    for (let i = 0; i < 50; i += 2) q.clear(items[i] as Item);
    q.clear(items[0] as Item); // twice: nothing happens
    await clock.advance(1_000);
    expect(fired).toEqual(Array.from({ length: 25 }, (_, k) => 2 * k + 1));
    const late = item('-1');
    q.set(late, 100);
    q.clear(late);
    expect(clock.pending).toBe(0);
    await clock.advance(1_000);
    expect(fired).not.toContain(-1);
  });

  it('moves an item set again instead of queueing it twice', async () => {
    const clock = new FakeClock();
    const fired: Array<[string, number]> = [];
    const q = new TimerQueue<Item>(clock, (i) => fired.push([i.name, clock.now()]));
    const a = item('a');
    const t0 = clock.now();
    q.set(a, 100);
    q.set(item('b'), 200);
    q.set(a, 300);
    expect(q.size).toBe(2);
    await clock.advance(1_000);
    expect(fired).toEqual([
      ['b', t0 + 200],
      ['a', t0 + 300],
    ]);
  });

  it('hands out a wave of due items a batch per turn, and items set by the callback in a later turn', async () => {
    const clock = new FakeClock();
    let ran = 0;
    let chained = 0;
    const q: TimerQueue<Item> = new TimerQueue<Item>(
      clock,
      (i) => {
        if (i.name === 'chain') q.set(item('chained'), 0);
        else if (i.name === 'chained') chained++;
        else ran++;
      },
      10,
    );
    for (let i = 0; i < 35; i++) q.set(item('wave'), 1_000);
    q.set(item('chain'), 1_000);
    await clock.advance(999);
    expect(ran).toBe(0);
    // Each turn of the fake clock's timer hands out at most 10; all of them within the same instant.
    await clock.advance(1);
    expect(ran).toBe(35);
    expect(chained).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('keeps its order through thousands of random sets, moves and clears', async () => {
    const clock = new FakeClock();
    const fired: Array<{ dueAt: number; firedAt: number }> = [];
    const dueOf = new Map<Item, number>();
    const q = new TimerQueue<Item>(clock, (i) => fired.push({ dueAt: dueOf.get(i) as number, firedAt: clock.now() }));
    let seed = 11;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const all: Item[] = [];
    const live = new Set<Item>();
    for (let i = 0; i < 5_000; i++) {
      const it = rnd(5) === 0 && all.length > 0 ? (all[rnd(all.length)] as Item) : item(String(i));
      if (!all.includes(it)) all.push(it);
      const ms = rnd(100_000);
      dueOf.set(it, clock.now() + ms);
      q.set(it, ms);
      live.add(it);
      if (rnd(3) === 0) {
        const victim = all[rnd(all.length)] as Item;
        q.clear(victim);
        live.delete(victim);
      }
    }
    expect(q.size).toBe(live.size);
    await clock.advance(200_000);
    expect(fired).toHaveLength(live.size);
    expect(fired.every((f, i) => f.firedAt === f.dueAt && (i === 0 || (fired[i - 1] as { dueAt: number }).dueAt <= f.dueAt))).toBe(true);
  });

  it('keeps due order through thousands of sets, moves and clears, past the first size of its arrays', async () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    const q = new TimerQueue<Item>(clock, (i) => fired.push(i.name), 100_000);
    const rand = prng(7);
    const items = Array.from({ length: 3_000 }, (_, i) => item(String(i)));
    // The last set of each item wins; the order among equal due times is the order of those sets.
    const last = new Map<Item, { due: number; order: number }>();
    let order = 0;
    for (let round = 0; round < 3; round++) {
      for (const it of items) {
        if (rand() < 0.3) continue;
        const ms = Math.floor(rand() * 500);
        q.set(it, ms);
        last.set(it, { due: clock.now() + ms, order: order++ });
      }
      for (const it of items) {
        if (rand() < 0.1) {
          q.clear(it);
          last.delete(it);
        }
      }
    }
    expect(q.size).toBe(last.size);
    const expected = [...last.entries()].sort((a, b) => a[1].due - b[1].due || a[1].order - b[1].order).map(([it]) => it.name);
    await clock.advance(1_000);
    expect(fired).toEqual(expected);
    expect(q.size).toBe(0);
  });
});
