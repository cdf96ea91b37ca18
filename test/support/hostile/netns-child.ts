/**
 * A TypeScript helper process run inside a network namespace (`ip netns exec`), spoken to with
 * JSON lines: commands on its stdin, events on its stdout. The hostile lab's client, rogue server
 * and forger each run this way, because each needs a socket in its own netns.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { signalPid } from '../lab/processes.js';

export type Message = Record<string, unknown>;

export interface NetnsChild {
  readonly process: ChildProcess;
  send(msg: Message): void;
  /** The next event matching `pred` (events already received count), or a rejection after `timeoutMs`. */
  next(pred: (m: Message) => boolean, timeoutMs?: number): Promise<Message>;
  /** What it wrote to stderr. */
  stderr(): string;
  /** SIGKILL unless it has exited; resolves once it has. */
  stop(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs `script` (a path relative to the repository) in netns `ns` with `args` as JSON in argv[2]. */
export function startNetnsChild(ns: string, script: string, args: Message): NetnsChild {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', script, JSON.stringify(args)], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: Message[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let partial = '';
  proc.stdout?.setEncoding('utf8');
  proc.stdout?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        events.push(JSON.parse(line) as Message);
      } catch {
        stderr += `[stdout] ${line}\n`;
      }
    }
    for (const w of waiters) w();
  });
  proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  void exited.then(() => {
    for (const w of waiters) w();
  });
  return {
    process: proc,
    send(msg) {
      proc.stdin?.write(`${JSON.stringify(msg)}\n`);
    },
    next(pred, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const i = events.findIndex(pred);
          if (i !== -1) {
            const [found] = events.splice(i, 1);
            done();
            resolve(found as Message);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            done();
            reject(new Error(`${script} in ${ns} exited (${proc.exitCode ?? proc.signalCode}) before the awaited event:\n${stderr.slice(-3000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${script} in ${ns}: no awaited event within ${timeoutMs} ms:\n${stderr.slice(-3000)}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    stderr: () => stderr,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null && proc.pid !== undefined) signalPid(proc.pid, 'SIGKILL');
      await exited;
    },
  };
}

/** In the child: reads JSON-line commands from stdin. */
export function onCommands(handler: (cmd: Message) => void): void {
  let partial = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') handler(JSON.parse(line) as Message);
  });
}

/** In the child: writes one event. */
export function emit(event: Message): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}
