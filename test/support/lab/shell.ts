/**
 * Thin promise wrappers around `child_process.execFile` for the lab harness.
 *
 * Every lab step is a short-lived command (`ip`, `busybox`, …) whose failure should stop the test
 * with the exact command line and the tool's own complaint, so errors carry both.
 */
import { execFile } from 'node:child_process';

/** Output of a command that exited with status 0. */
export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Options for {@link run}. */
export interface RunOptions {
  /** Kill the command after this many milliseconds; default 15 000. */
  readonly timeoutMs?: number;
  /** Extra environment variables, merged over `process.env`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working directory; default the current one. */
  readonly cwd?: string;
}

/** Default command timeout: `ip` calls take milliseconds, so anything this slow is stuck. */
const DEFAULT_TIMEOUT_MS = 15_000;

/** Error thrown by {@link run} for a non-zero exit, a signal, a timeout or a missing binary. */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    message: string,
    readonly commandLine: string,
    readonly stdout: string,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Quote one argument for display so that a failing command line can be pasted into a shell. */
function quoteArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Render `cmd args…` as a shell-pasteable line for error messages. */
export function formatCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map(quoteArg).join(' ');
}

/**
 * Run `cmd` with `args` (no shell) and resolve with its output.
 *
 * @throws CommandError naming the command line, the exit status and stderr when the command
 *   fails, times out or cannot be started.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const commandLine = formatCommand(cmd, args);
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        encoding: 'utf8',
        timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
        env: opts.env === undefined ? process.env : { ...process.env, ...opts.env },
        ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ stdout, stderr });
          return;
        }
        const status = error.killed
          ? `killed (${error.signal ?? 'timeout'})`
          : typeof error.code === 'number'
            ? `exit status ${error.code}`
            : `error ${String(error.code ?? error.message)}`;
        const detail = stderr.trim() || stdout.trim() || error.message;
        reject(
          new CommandError(`command failed (${status}): ${commandLine}\n${detail}`, commandLine, stdout, stderr, {
            cause: error,
          }),
        );
      },
    );
  });
}

/** Run `cmd` inside network namespace `ns` (`ip netns exec ns cmd args…`). */
export function runIn(ns: string, cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
}
