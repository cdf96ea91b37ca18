import { describe, expect, it } from 'vitest';
import { collectGarbage } from './heap.js';

describe('collectGarbage', () => {
  it('collects what nothing refers to, now, and can be called again', async () => {
    const refs: WeakRef<object>[] = [];
    // Made in a turn of its own: a WeakRef's target is kept until the turn that made it ends.
    await new Promise<void>((resolve) =>
      setTimeout(() => {
        for (let i = 0; i < 100; i++) refs.push(new WeakRef({ i, pad: new Array<number>(100).fill(i) }));
        resolve();
      }, 0),
    );
    // Not collected yet: the young generation has room for them. (A deref keeps its target
    // until the end of the turn, so the collection comes in the next.)
    expect(refs.some((r) => r.deref() !== undefined)).toBe(true);
    await new Promise((r) => setTimeout(r, 0));
    collectGarbage();
    expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0);
    collectGarbage();
    expect('gc' in globalThis).toBe(false);
  });
});
