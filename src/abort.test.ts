import { describe, expect, it } from 'vitest';
import { StepAbort, type AbortLike } from './abort.js';

describe('StepAbort', () => {
  it('runs each listener once, in order, with the reason set; removed ones never', () => {
    const a = new StepAbort();
    const seen: string[] = [];
    const one = (): void => void seen.push(`one:${String((a.reason as Error).message)}`);
    const two = (): void => void seen.push('two');
    const three = (): void => void seen.push('three');
    a.addEventListener('abort', one);
    a.addEventListener('abort', two);
    a.addEventListener('abort', three);
    a.removeEventListener('abort', two);
    expect(a.aborted).toBe(false);
    a.abort(new Error('gone'));
    a.abort(new Error('again'));
    expect(a.aborted).toBe(true);
    expect(seen).toEqual(['one:gone', 'three']);
    a.addEventListener('abort', two); // after the abort: never called
    expect(seen).toEqual(['one:gone', 'three']);
  });

  it('is what an AbortSignal is to the code that waits', () => {
    const ctl = new AbortController();
    const like: AbortLike = ctl.signal;
    let called = 0;
    like.addEventListener('abort', () => called++, { once: true });
    ctl.abort();
    expect(called).toBe(1);
    expect(new StepAbort().reason).toBeUndefined();
  });
});
