/** bench/lib/trace.ts: a phase's calls split into steps, overlapping calls left out. */
import { describe, expect, it } from 'vitest';
import { phaseSteps, type TraceEvent } from '../../bench/lib/trace.js';

/** One call's events at `t0` plus the offsets given. */
const call = (t0: number, offsets: Array<[number, string]>): TraceEvent[] => [[t0, 'call'], ...offsets.map(([dt, step]) => [t0 + dt, step] as const)];
const whole = (t0: number, ackAt: number): TraceEvent[] =>
  call(t0, [
    [0.1, 'send'],
    [0.3, 'recv'],
    [0.35, 'send'],
    [0.4, 'write'],
    [ackAt, 'recv'],
    [1.0, 'written'],
    [1.05, 'reply'],
  ]);

describe('phaseSteps', () => {
  it('gives the median of each step over the calls of the most common sequence', () => {
    const events = [...whole(100, 0.5), ...whole(200, 0.6), ...whole(300, 0.7), ...call(400, [[0.2, 'reply']])];
    const steps = phaseSteps(events, 100, 400);
    expect(steps).toMatchObject({ calls: 4, following: 3, pattern: 'call send recv send write recv written reply' });
    expect(steps?.total).toBeCloseTo(1.05);
    expect(steps?.steps.map((s) => [s.from, s.to, Number(s.p50.toFixed(2))])).toEqual([
      ['call', 'send', 0.1],
      ['send', 'recv', 0.2],
      ['recv', 'send', 0.05],
      ['send', 'write', 0.05],
      ['write', 'recv', 0.2],
      ['recv', 'written', 0.4],
      ['written', 'reply', 0.05],
    ]);
  });

  it('leaves out calls outside the window and calls another arrived during', () => {
    const overlapping: TraceEvent[] = [
      [500, 'call'],
      [500.1, 'send'],
      [500.2, 'call'],
      [500.3, 'reply'],
      [500.4, 'reply'],
    ];
    const events = [...whole(100, 0.5), ...overlapping];
    // Whose reply came first cannot be told: neither of the two counts.
    expect(phaseSteps(events, 400, 600)).toBeUndefined();
    expect(phaseSteps(events, 0, 600)?.calls).toBe(1);
    expect(phaseSteps(events, 0, 50)).toBeUndefined();
  });
});
