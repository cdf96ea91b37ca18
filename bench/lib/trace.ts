/**
 * The steps of a RequestAddress inside the daemon, from the events `trace-preload.cjs` notes:
 * for the calls of one phase, how long each step took (median), so an added latency can be
 * split into the DHCP exchange, the lease table's write and the daemon's own work between.
 */
import { readFile } from 'node:fs/promises';
import { percentile } from './report.js';

/** [ms since the epoch, step]: call, send, recv, write, written, reply. */
export type TraceEvent = readonly [number, string];

export interface PhaseSteps {
  /** Calls that arrived in the phase. */
  readonly arrived: number;
  /**
   * Of those, calls alone in the daemon from arrival to reply, the only ones counted: at a high
   * rate, the quicker ones (a call slower than the gap to the next arrival overlaps it).
   */
  readonly calls: number;
  /** The most common sequence of steps, and how many calls followed it. */
  readonly pattern: string;
  readonly following: number;
  /** Each step of that sequence: median ms from the step before. */
  readonly steps: ReadonlyArray<{ readonly from: string; readonly to: string; readonly p50: number }>;
  /** Median ms from arrival to reply, over the calls that followed the pattern. */
  readonly total: number;
}

export async function readTrace(path: string): Promise<TraceEvent[]> {
  return JSON.parse(await readFile(path, 'utf8')) as TraceEvent[];
}

/**
 * The calls whose arrival falls within [from, to] (ms since the epoch), each with the events up
 * to its reply. Only calls alone in the daemon from arrival to reply count: with another under
 * way (a burst, a queue), whose datagrams and replies are whose cannot be told.
 */
export function phaseSteps(events: readonly TraceEvent[], from: number, to: number): PhaseSteps | undefined {
  const calls: TraceEvent[][] = [];
  let arrived = 0;
  let inFlight = 0;
  // The call under way, while it is the only one.
  let alone: TraceEvent[] | undefined;
  for (const e of events) {
    if (e[1] === 'call') {
      const inWindow = e[0] >= from && e[0] <= to;
      if (inWindow) arrived++;
      alone = inFlight === 0 && inWindow ? [e] : undefined;
      inFlight++;
    } else if (e[1] === 'reply') {
      inFlight = Math.max(0, inFlight - 1);
      if (alone !== undefined && inFlight === 0) calls.push([...alone, e]);
      alone = undefined;
    } else {
      alone?.push(e);
    }
  }
  if (calls.length === 0) return undefined;
  const byPattern = new Map<string, TraceEvent[][]>();
  for (const seq of calls) {
    const key = seq.map((e) => e[1]).join(' ');
    const group = byPattern.get(key);
    if (group === undefined) byPattern.set(key, [seq]);
    else group.push(seq);
  }
  const [pattern, same] = [...byPattern].sort((a, b) => b[1].length - a[1].length)[0] as [string, TraceEvent[][]];
  const first = same[0] as TraceEvent[];
  const steps = first.slice(1).map((e, k) => ({
    from: (first[k] as TraceEvent)[1],
    to: e[1],
    p50: percentile(
      same.map((seq) => (seq[k + 1] as TraceEvent)[0] - (seq[k] as TraceEvent)[0]),
      0.5,
    ),
  }));
  return {
    arrived,
    calls: calls.length,
    pattern,
    following: same.length,
    steps,
    total: percentile(
      same.map((seq) => (seq.at(-1) as TraceEvent)[0] - (seq[0] as TraceEvent)[0]),
      0.5,
    ),
  };
}
