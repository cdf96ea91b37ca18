/** Percentiles, /proc readers and the figure-beside-target lines every benchmark prints. */
import { readFile } from 'node:fs/promises';

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}

export interface Verdict {
  readonly line: string;
  readonly met: boolean | null;
}

const verdicts: Verdict[] = [];

/**
 * Print `label: value` with its target (issue 7) beside it and whether it is met. `met` null means
 * the figure has a target but this run could not judge it (e.g. too few samples).
 */
export function figure(label: string, value: string, target: string, met: boolean | null): void {
  const mark = met === null ? '  n/a ' : met ? '  MET ' : '  MISS';
  const line = `${mark}  ${label.padEnd(52)} ${value.padStart(18)}   target ${target}`;
  verdicts.push({ line, met });
  console.log(line);
}

/** A figure with no target of its own (context for the others). */
export function info(label: string, value: string): void {
  console.log(`        ${label.padEnd(52)} ${value.padStart(18)}`);
}

/** Repeat every target line at the end, so a long run's verdict is in one place. */
export function printVerdicts(title: string): void {
  console.log(`\n== ${title}: targets ==`);
  for (const v of verdicts) console.log(v.line);
  const missed = verdicts.filter((v) => v.met === false).length;
  console.log(`${verdicts.length} figures with targets, ${missed} missed (a benchmark reports; it does not fail on a miss)`);
}

export function ms(v: number): string {
  return Number.isNaN(v) ? '—' : `${v.toFixed(v < 10 ? 2 : 1)} ms`;
}

/** Clock ticks per second for /proc/<pid>/stat utime and stime (USER_HZ, 100 on Linux). */
export const CLOCK_TICKS = 100;

export interface ProcSample {
  readonly atMs: number;
  /** utime + stime, seconds of CPU: every thread of the process (V8's collector's, libuv's pool's). */
  readonly cpuSeconds: number;
  /**
   * The main thread's alone (the event loop, where JavaScript runs), from its schedstat: in
   * nanoseconds, not 10 ms ticks.
   */
  readonly mainThreadCpuSeconds: number;
  readonly rssBytes: number;
  /**
   * /proc/<pid>/status VmHWM: the highest resident size since the process started, as the
   * kernel saw it, between samples too (a sample a second misses a peak of a few hundred ms).
   */
  readonly rssPeakBytes: number;
  /** /proc/<pid>/io write_bytes: bytes this process caused to be written to storage. */
  readonly writeBytes: number;
}

export async function sampleProc(pid: number): Promise<ProcSample> {
  const [stat, status, io, schedstat] = await Promise.all([
    readFile(`/proc/${pid}/stat`, 'utf8'),
    readFile(`/proc/${pid}/status`, 'utf8'),
    readFile(`/proc/${pid}/io`, 'utf8'),
    readFile(`/proc/${pid}/task/${pid}/schedstat`, 'utf8'),
  ]);
  // Fields after the command name, which may hold spaces and is wrapped in parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  const writeBytes = Number(/write_bytes:\s+(\d+)/.exec(io)?.[1] ?? Number.NaN);
  const mainThreadCpuSeconds = Number(schedstat.split(' ')[0]) / 1e9;
  return {
    atMs: performance.now(),
    cpuSeconds: (utime + stime) / CLOCK_TICKS,
    mainThreadCpuSeconds,
    rssBytes: rssKb * 1024,
    rssPeakBytes: hwmKb * 1024,
    writeBytes,
  };
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** Counts per whole second since `startMs` (epoch ms) of `times` (epoch ms), `seconds` buckets. */
export function perSecond(times: readonly number[], startMs: number, seconds: number): number[] {
  const buckets = new Array<number>(seconds).fill(0);
  for (const t of times) {
    const i = Math.floor((t - startMs) / 1000);
    if (i >= 0 && i < seconds) buckets[i] = (buckets[i] ?? 0) + 1;
  }
  return buckets;
}

/** A one-line sparkline of counts, so a rate over time reads at a glance in a terminal. */
export function sparkline(values: readonly number[]): string {
  const bars = ' ▁▂▃▄▅▆▇█';
  const max = Math.max(1, ...values);
  return values.map((v) => bars[Math.round((v / max) * 8)] ?? ' ').join('');
}

/** Sum of consecutive groups of `size` (e.g. per-second counts into 10 s counts). */
export function groups(values: readonly number[], size: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i += size) out.push(values.slice(i, i + size).reduce((a, b) => a + b, 0));
  return out;
}
