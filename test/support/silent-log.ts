import { pino, type Logger } from 'pino';

/** A logger that writes nothing, for unit tests (set D4D_TEST_LOG=debug to see it). */
export function testLog(): Logger {
  return pino({ level: process.env.D4D_TEST_LOG ?? 'silent' });
}

/** A logger that keeps each line it writes, parsed, for tests that check what was said. */
export function recordingLog(level = 'info'): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}
