/**
 * Processes the demo started, identified by pid and start time (a pid alone can be reused after
 * the process is gone), read from /proc; and stopping them with a verified outcome.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** A process as /proc shows it. */
export interface ProcessInfo {
  readonly pid: number;
  readonly ppid: number;
  /** Kernel command name (`/proc/<pid>/comm`, at most 15 characters). */
  readonly comm: string;
  readonly argv: readonly string[];
  /** Start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`). */
  readonly startTime: number;
}

/** What the demo records about a process it started, so that `down` finds that one and no other. */
export interface ProcessRef {
  readonly pid: number;
  readonly startTime: number;
}

/** The process `pid`, or undefined when it does not exist (or exits while being read). */
export function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may itself contain spaces or parentheses.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((a) => a !== '');
    // fields[0] is field 3 (state): ppid is field 4, starttime field 22.
    return { pid, ppid: Number(fields[1]), comm, argv, startTime: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/** Every process on the host. */
export function listProcesses(): ProcessInfo[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map((e) => readProcess(Number(e)))
    .filter((p): p is ProcessInfo => p !== undefined);
}

/** Whether `ref` still names the same running process (not a zombie, not a reused pid). */
export function isRunning(ref: ProcessRef): boolean {
  const p = readProcess(ref.pid);
  if (p === undefined || p.startTime !== ref.startTime) return false;
  const state = readFileSync(`/proc/${ref.pid}/stat`, 'utf8').split(') ')[1]?.[0];
  return state !== 'Z';
}

/** The reference to record for a process just started. */
export function refOf(pid: number): ProcessRef {
  const p = readProcess(pid);
  if (p === undefined) throw new Error(`process ${pid} is already gone`);
  return { pid, startTime: p.startTime };
}

/**
 * SIGTERM `ref`, wait up to `graceMs` for it to go, then SIGKILL. Resolves with how it ended;
 * rejects if it is still there after the SIGKILL.
 */
export async function stopProcess(ref: ProcessRef, graceMs: number): Promise<'terminated' | 'killed' | 'was gone'> {
  if (!isRunning(ref)) return 'was gone';
  signal(ref.pid, 'SIGTERM');
  if (await gone(ref, graceMs)) return 'terminated';
  signal(ref.pid, 'SIGKILL');
  if (await gone(ref, 5_000)) return 'killed';
  throw new Error(`pid ${ref.pid} is still running after SIGKILL`);
}

/** Resolves true once `ref` has exited, false after `timeoutMs`. */
export async function gone(ref: ProcessRef, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isRunning(ref)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}
