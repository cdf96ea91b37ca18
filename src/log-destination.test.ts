import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FdDestination, TurnBatcher } from './log-destination.js';

const line = (i: number): string => `${JSON.stringify({ level: 30, i, msg: 'x'.repeat(180) })}\n`;

/** Everything waiting in a non-blocking pipe (our own read-write end), without waiting. */
function drain(fd: number): string {
  const buf = Buffer.alloc(1 << 20);
  let text = '';
  for (;;) {
    try {
      const n = readSync(fd, buf);
      text += buf.toString('utf8', 0, n);
    } catch {
      return text; // EAGAIN: empty
    }
  }
}

describe('FdDestination', () => {
  let dir: string;
  let fifo: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'd4d-log-'));
    fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes each line whole and in order to a file', () => {
    const path = join(dir, 'out');
    const fd = openSync(path, 'w');
    const out = new FdDestination(fd);
    for (let i = 0; i < 100; i++) out.write(line(i));
    closeSync(fd);
    expect(readFileSync(path, 'utf8')).toBe(Array.from({ length: 100 }, (_, i) => line(i)).join(''));
  });

  it('waits for a slow reader of a full non-blocking pipe and loses nothing', async () => {
    // Read-write and non-blocking: the open never waits, and a full pipe answers EAGAIN.
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    const path = join(dir, 'out');
    // The reader starts late, so the first 64 KB fill the pipe and the writer has to wait.
    const reader = spawn('sh', ['-c', `sleep 0.3; exec cat "${fifo}" > "${path}"`]);
    const exited = new Promise((resolve) => reader.once('exit', resolve));
    const sleeps: number[] = [];
    const out = new FdDestination(fd, {
      maxBlockMs: 10_000,
      sleep: (ms) => {
        sleeps.push(ms);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      },
    });
    const lines = Array.from({ length: 2_000 }, (_, i) => line(i));
    for (const l of lines) out.write(l);
    closeSync(fd);
    await exited;
    expect(sleeps.length).toBeGreaterThan(0);
    expect(out.dropped).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe(lines.join(''));
  });

  it('drops lines while the reader is stuck, without waiting again, and reports how many', () => {
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    let slept = 0;
    const out = new FdDestination(fd, { maxBlockMs: 30, sleep: (ms) => (slept += ms), now: () => Date.UTC(2026, 0, 1) });
    // Nobody reads: the pipe fills, the line that finds it full waits 30 ms, then lines drop.
    let i = 0;
    while (out.dropped === 0) out.write(line(i++));
    expect(slept).toBe(30);
    for (let k = 0; k < 5; k++) out.write(line(i++));
    expect(out.dropped).toBe(6);
    expect(slept).toBe(30);
    // Drain the pipe: the next line goes out after a warning with the count.
    const drained = drain(fd);
    out.write(line(i));
    expect(out.dropped).toBe(0);
    const after = drain(fd);
    closeSync(fd);
    // Every line that went out is whole.
    const all = `${drained}${after}`.split('\n').filter((l) => l !== '');
    for (const l of all) expect(() => JSON.parse(l)).not.toThrow();
    const notice = JSON.parse(all.at(-2) as string) as { level: number; dropped: number; msg: string };
    expect(notice).toMatchObject({ level: 40, dropped: 6 });
    expect(notice.msg).toContain('dropped');
    expect(JSON.parse(all.at(-1) as string)).toMatchObject({ i });
  });

  it('ends a line cut short by a full pipe before the next one, so a reader never sees two run together', () => {
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    const out = new FdDestination(fd, { maxBlockMs: 5, sleep: () => undefined });
    // Larger than the pipe holds: part of it goes out, then the pipe stays full and the rest is dropped.
    out.write(`${JSON.stringify({ big: 'y'.repeat(200_000) })}\n`);
    expect(out.dropped).toBe(1);
    let text = drain(fd);
    expect(text.length).toBeGreaterThan(0);
    expect(text.includes('\n')).toBe(false);
    out.write(line(1));
    text += drain(fd);
    closeSync(fd);
    const [torn, notice, next, rest] = text.split('\n');
    expect(() => JSON.parse(torn as string)).toThrow();
    expect(JSON.parse(notice as string)).toMatchObject({ level: 40, dropped: 1 });
    expect(JSON.parse(next as string)).toMatchObject({ i: 1 });
    expect(rest).toBe('');
  });
});

describe('TurnBatcher', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'd4d-log-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("writes one turn's lines together when the turn ends, in order", () => {
    const path = join(dir, 'out');
    const fd = openSync(path, 'w');
    const writes: number[] = [];
    const inner = new FdDestination(fd);
    const write = inner.write.bind(inner);
    inner.write = (text: string, lines?: number) => {
      writes.push(lines ?? 1);
      return write(text, lines);
    };
    const deferred: Array<() => void> = [];
    const out = new TurnBatcher(inner, { defer: (f) => deferred.push(f) });
    for (let i = 0; i < 10; i++) out.write(line(i));
    expect(readFileSync(path, 'utf8')).toBe('');
    expect(deferred).toHaveLength(1);
    deferred.shift()?.();
    for (let i = 10; i < 13; i++) out.write(line(i));
    deferred.shift()?.();
    closeSync(fd);
    expect(writes).toEqual([10, 3]);
    expect(readFileSync(path, 'utf8')).toBe(Array.from({ length: 13 }, (_, i) => line(i)).join(''));
  });

  it('writes at once when a batch grows past its bound, and flush() writes what is left', () => {
    const path = join(dir, 'out');
    const fd = openSync(path, 'w');
    const out = new TurnBatcher(new FdDestination(fd), { defer: () => undefined, maxBytes: 1_000 });
    for (let i = 0; i < 5; i++) out.write(line(i));
    // Each line is about 200 bytes: the fifth crossed 1,000 and went out with the four before it.
    expect(readFileSync(path, 'utf8')).toBe(Array.from({ length: 5 }, (_, i) => line(i)).join(''));
    out.write(line(5));
    out.flush();
    out.flush();
    closeSync(fd);
    expect(readFileSync(path, 'utf8')).toBe(Array.from({ length: 6 }, (_, i) => line(i)).join(''));
  });

  it('counts every line of a batch that a stuck reader made it drop', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    const inner = new FdDestination(fd, { maxBlockMs: 5, sleep: () => undefined });
    const out = new TurnBatcher(inner, { defer: () => undefined, maxBytes: 1 << 30 });
    // Nobody reads: fill the pipe until a line drops, then a batch of 7 lines finds it full.
    while (inner.dropped === 0) inner.write(line(0));
    const before = inner.dropped;
    for (let i = 0; i < 7; i++) out.write(line(i));
    out.flush();
    closeSync(fd);
    expect(inner.dropped).toBe(before + 7);
  });
});
