/** test/support/process-stop.ts: a daemon that ignores SIGTERM fails its stop, with its log, and is gone. */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { StopTimeoutError, stopWithin } from '../support/process-stop.js';

function child(script: string) {
  const proc = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  proc.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve) => proc.stdout?.once('data', () => resolve()));
  return { proc, exited, ready, log: () => out };
}

describe('stopWithin', () => {
  it('resolves with the exit code of a process that obeys SIGTERM', async () => {
    const c = child("process.on('SIGTERM', () => process.exit(3)); console.log('up'); setInterval(() => {}, 1000);");
    await c.ready;
    await expect(stopWithin(c.proc, c.exited, { signal: 'SIGTERM', log: c.log, boundMs: 5_000 })).resolves.toBe(3);
  });

  it('kills a process that ignores SIGTERM past the bound and rejects with its log', async () => {
    const c = child("process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log('up'); setInterval(() => {}, 1000);");
    await c.ready;
    const err = await stopWithin(c.proc, c.exited, { signal: 'SIGTERM', log: c.log, boundMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StopTimeoutError);
    expect(String(err)).toContain('300 ms after SIGTERM');
    expect(String(err)).toContain('ignoring SIGTERM');
    expect(c.proc.signalCode).toBe('SIGKILL');
  });
});
