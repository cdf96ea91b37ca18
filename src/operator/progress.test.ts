import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { startProgress } from './progress.js';

function output(isTTY: boolean): { isTTY: boolean; text: string; write(s: string): void } {
  return {
    isTTY,
    text: '',
    write(s: string) {
      this.text += s;
    },
  };
}

describe('startProgress', () => {
  it('redraws one line in place on a terminal, and wipes it when stopped', async () => {
    const clock = new FakeClock();
    const out = output(true);
    const p = startProgress(out, clock, (ms) => `waiting ${ms / 1000} s`, 500);
    await clock.advance(1_000);
    p.stop();
    await clock.advance(1_000);
    expect(out.text).toBe('\r\x1b[2Kwaiting 0 s\r\x1b[2Kwaiting 0.5 s\r\x1b[2Kwaiting 1 s\r\x1b[2K');
  });

  it('writes nothing when the output is not a terminal (a pipe, a file)', async () => {
    const clock = new FakeClock();
    const out = output(false);
    const p = startProgress(out, clock, () => 'x', 10);
    p.update();
    await clock.advance(1_000);
    p.stop();
    expect(out.text).toBe('');
    expect(clock.pending).toBe(0);
  });
});
