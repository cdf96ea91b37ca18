import { pino, type Logger } from 'pino';

/** A logger that writes nothing, for unit tests (set D4D_TEST_LOG=debug to see it). */
export function testLog(): Logger {
  return pino({ level: process.env.D4D_TEST_LOG ?? 'silent' });
}
