import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../test/support/fake-clock.js';
import { memoryReducingCollection, MemoryTrim, shouldTrim, type MemorySample } from './memory-trim.js';

const MB = 1024 * 1024;
const T = { growthBytes: 32 * MB, slackBytes: 16 * MB };

describe('shouldTrim', () => {
  const state = { calls: 10, baselineBytes: 100 * MB };
  it('trims an idle process that grew and has heap to give back', () => {
    expect(shouldTrim(state, 10, { rssBytes: 140 * MB, heapSlackBytes: 40 * MB }, T)).toBe(true);
  });
  it('waits while plugin calls keep coming', () => {
    expect(shouldTrim(state, 11, { rssBytes: 140 * MB, heapSlackBytes: 40 * MB }, T)).toBe(false);
  });
  it('leaves a process that did not grow enough', () => {
    expect(shouldTrim(state, 10, { rssBytes: 131 * MB, heapSlackBytes: 40 * MB }, T)).toBe(false);
  });
  it("leaves a heap V8's own reducer already shrank", () => {
    expect(shouldTrim(state, 10, { rssBytes: 150 * MB, heapSlackBytes: 2 * MB }, T)).toBe(false);
  });
});

/** A process whose memory the test sets; a collection brings it down to `live`. */
function fakeProcess(start: MemorySample) {
  let now = start;
  let calls = 0;
  let collections = 0;
  return {
    calls: () => calls,
    call: () => {
      calls++;
    },
    memory: () => now,
    set: (m: MemorySample) => {
      now = m;
    },
    collect: (live: number) => () => {
      collections++;
      now = { rssBytes: live, heapSlackBytes: MB };
    },
    get collections() {
      return collections;
    },
  };
}

describe('MemoryTrim', () => {
  const quiet = pino({ level: 'silent' });

  it('collects once after a burst, when the plugin has been idle a whole interval', async () => {
    const clock = new FakeClock();
    const p = fakeProcess({ rssBytes: 90 * MB, heapSlackBytes: 4 * MB });
    const trim = new MemoryTrim({ clock, calls: p.calls, memory: p.memory, collect: p.collect(120 * MB), log: quiet, checkMs: 10_000 });
    trim.start();
    // The burst: calls during every interval, memory up.
    for (let i = 0; i < 5; i++) {
      p.call();
      p.set({ rssBytes: (100 + 20 * i) * MB, heapSlackBytes: 50 * MB });
      await clock.advance(10_000);
    }
    expect(p.collections).toBe(0);
    // Idle: the first check after the last call sees it still changing, the next one collects.
    await clock.advance(10_000);
    expect(p.collections).toBe(1);
    // Nothing grew since: no further collection, however long it stays idle.
    await clock.advance(600_000);
    expect(p.collections).toBe(1);
    trim.stop();
    expect(clock.pending).toBe(0);
  });

  it('collects again only after memory grew as much again from the new baseline', async () => {
    const clock = new FakeClock();
    const p = fakeProcess({ rssBytes: 90 * MB, heapSlackBytes: 4 * MB });
    const trim = new MemoryTrim({ clock, calls: p.calls, memory: p.memory, collect: p.collect(120 * MB), log: quiet, checkMs: 10_000 });
    trim.start();
    p.set({ rssBytes: 160 * MB, heapSlackBytes: 50 * MB });
    await clock.advance(10_000);
    expect(p.collections).toBe(1);
    // 120 MB after it: 140 is less than 32 MB above.
    p.set({ rssBytes: 140 * MB, heapSlackBytes: 30 * MB });
    await clock.advance(30_000);
    expect(p.collections).toBe(1);
    p.set({ rssBytes: 153 * MB, heapSlackBytes: 30 * MB });
    await clock.advance(10_000);
    expect(p.collections).toBe(2);
    trim.stop();
  });

  it('follows the size down when V8 gives memory back on its own', async () => {
    const clock = new FakeClock();
    const p = fakeProcess({ rssBytes: 150 * MB, heapSlackBytes: 4 * MB });
    const trim = new MemoryTrim({ clock, calls: p.calls, memory: p.memory, collect: p.collect(100 * MB), log: quiet, checkMs: 10_000 });
    trim.start();
    p.set({ rssBytes: 100 * MB, heapSlackBytes: 2 * MB });
    await clock.advance(10_000);
    // From 100 MB, 135 is a growth of 35: trimmed (from the start's 150 it would not be).
    p.set({ rssBytes: 135 * MB, heapSlackBytes: 30 * MB });
    await clock.advance(10_000);
    expect(p.collections).toBe(1);
    trim.stop();
  });
});

describe('memoryReducingCollection', () => {
  it('is left to V8 before V8 12 (Node 20), whose own memory reducer runs after a burst', () => {
    expect(memoryReducingCollection('11.3.244.8-node.33')).toBeUndefined();
  });

  // Node 24's (the packaged executable's) is checked by test/packaging/sea-memory.test.ts.
});
