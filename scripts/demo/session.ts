/**
 * Runs a demo in two processes so that Ctrl-C cannot cut its teardown short.
 *
 * A terminal's Ctrl-C sends SIGINT to every process of the foreground process group: npm, tsx,
 * the demo, and everything the demo started (the DHCP server, the daemon, dockerd, a `docker rm`
 * under way). They died with the demo, so its teardown found no plugin to release addresses and
 * no engine to remove containers. So the demo's work runs in a worker in a session of its own
 * (`setsid`, via `detached`): its children inherit that session, and the terminal's signals reach
 * only this front process, which asks the worker to stop (SIGTERM) and waits for it.
 *
 * The worker stops, tearing down in order, on SIGTERM, SIGINT or SIGHUP, and when its stdin (a
 * pipe from the front) closes: the front was killed.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Argument that makes a demo script run as the worker. */
export const WORKER_ARG = '--demo-worker';

/** Whether this process is the worker (started by {@link runFront}). */
export function isWorker(): boolean {
  return process.argv.includes(WORKER_ARG);
}

/** The arguments the user gave, without {@link WORKER_ARG}. */
export function demoArgs(): string[] {
  return process.argv.slice(2).filter((a) => a !== WORKER_ARG);
}

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Front: starts `script` (a path under the repository) as the worker with `args` and relays
 * stop requests to it; resolves with the worker's exit status once it has exited.
 */
export async function runFront(script: string, args: readonly string[]): Promise<number> {
  // `--import tsx` rather than tsx's CLI: the CLI would relay signals to the worker itself.
  const worker = spawn(process.execPath, ['--import', 'tsx', script, WORKER_ARG, ...args], {
    cwd: REPO,
    detached: true,
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  let askedAt: number | undefined;
  let reminded = false;
  const stop = (): void => {
    if (askedAt === undefined) {
      askedAt = Date.now();
      worker.kill('SIGTERM');
    } else if (!reminded && Date.now() - askedAt > 1_000) {
      // npm and tsx forward the same Ctrl-C again, so one keypress arrives two or three times
      // within milliseconds: only a later one is the user pressing again.
      reminded = true;
      process.stdout.write('(still removing everything: wait for it to finish)\n');
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, stop);
  if (process.stdin.isTTY) {
    process.stdin.on('data', stop);
    process.stdin.resume();
  }
  const status = await new Promise<number>((resolve) => {
    worker.once('exit', (code, signal) => {
      if (signal !== null)
        process.stdout.write(`the demo was killed (${signal}) before it could clean up: npx tsx scripts/docker-demo.ts down removes what it left\n`);
      resolve(code ?? 1);
    });
    worker.once('error', (error) => {
      process.stderr.write(`could not start the demo: ${error.message}\n`);
      resolve(1);
    });
  });
  process.stdin.pause();
  return status;
}

/**
 * Worker: a promise that settles when the demo should stop, and a check to call between steps.
 * Everything the worker started is in its own session, so nothing else receives these signals.
 */
export function stopRequests(): { readonly requested: Promise<string>; isRequested(): boolean } {
  let why: string | undefined;
  let settle: (reason: string) => void = () => undefined;
  const requested = new Promise<string>((resolve) => (settle = resolve));
  const request = (reason: string): void => {
    if (why !== undefined) return;
    why = reason;
    settle(reason);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => request(sig));
  // The front holds the other end of stdin: its end means the front is gone.
  process.stdin.on('end', () => request('the terminal side of the demo exited'));
  process.stdin.on('error', () => request('the terminal side of the demo exited'));
  process.stdin.resume();
  return { requested, isRequested: () => why !== undefined };
}
