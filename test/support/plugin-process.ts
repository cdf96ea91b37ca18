/** `oam-docker-ipam server` as a child process, ready once its socket answers. */
import { spawn, type ChildProcess } from 'node:child_process';
import { callPlugin } from './plugin-client.js';
import { stopWithin } from './process-stop.js';

export const BUILT_MAIN = new URL('../../dist/main.js', import.meta.url).pathname;

export interface PluginProcess {
  readonly process: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  log(): string;
  /** Sends `signal` and resolves with the exit code; rejects (after SIGKILL) when a SIGTERM is not obeyed within the unit's stop timeout. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function startPlugin(args: readonly string[], socketPath: string, options: { timeoutMs?: number; echo?: boolean } = {}): Promise<PluginProcess> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const proc = spawn(process.execPath, [BUILT_MAIN, ...args, 'server'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (c: Buffer): void => {
    output += c.toString();
    if (options.echo) process.stderr.write(c);
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);
  const deadline = Date.now() + timeoutMs;
  while (
    !(await callPlugin(socketPath, 'Plugin.Activate').then(
      () => true,
      () => false,
    ))
  ) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`oam-docker-ipam server did not come up on ${socketPath}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    process: proc,
    log: () => output,
    stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
      const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
      return stopWithin(proc, exited, { signal, log: () => output });
    },
  };
}
