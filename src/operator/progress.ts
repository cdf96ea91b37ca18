/**
 * A progress line for the long operations an operator starts (`probe --hold`, `reconcile`):
 * redrawn in place every `everyMs`, and only when the output is a terminal, so that pipes,
 * files and scripts get the command's output alone. `stop()` wipes the line.
 */
import type { Clock, TimerHandle } from '../clock.js';

/** The output stream, as far as progress needs it (process.stdout fits). */
export interface ProgressOutput {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  /** Redraws now (after a change worth showing at once). */
  update(): void;
  /** Stops redrawing and clears the line. */
  stop(): void;
}

/** Clears the terminal line and returns to its start (ANSI: carriage return, erase line). */
const CLEAR = '\r\x1b[2K';

export function startProgress(out: ProgressOutput, clock: Clock, render: (elapsedMs: number) => string, everyMs = 500): Progress {
  if (out.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const startedAt = clock.now();
  let timer: TimerHandle | undefined;
  let stopped = false;
  const draw = (): void => {
    out.write(`${CLEAR}${render(clock.now() - startedAt)}`);
  };
  const tick = (): void => {
    draw();
    timer = clock.setTimeout(tick, everyMs);
  };
  tick();
  return {
    update: () => {
      if (!stopped) draw();
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      out.write(CLEAR);
    },
  };
}
