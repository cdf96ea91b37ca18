/** The root logger: JSON lines on stderr, so stdout stays free for command output. */
import { pino, type Logger } from 'pino';

export function createLogger(options: { debug: boolean }): Logger {
  return pino({ level: options.debug ? 'debug' : 'info', base: { name: 'oam-docker-ipam' } }, pino.destination(2));
}
