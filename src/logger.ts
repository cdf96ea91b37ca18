/**
 * The root logger: JSON lines on stderr (stdout stays free for command output). With --debug on
 * a terminal the same records are printed as readable lines instead.
 */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { FdDestination, TurnBatcher } from './log-destination.js';

export function createLogger(options: { debug: boolean; tty?: boolean }): Logger {
  const level = options.debug ? 'debug' : 'info';
  const base = { name: 'oam-docker-ipam' };
  if (options.debug && (options.tty ?? process.stderr.isTTY)) return pino({ level, base }, readableStream(process.stderr));
  const out = new TurnBatcher(new FdDestination(2));
  // The lines of the last turn go out however the process ends, short of a signal that kills it.
  process.once('exit', () => out.flush());
  return pino({ level, base }, out);
}

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'name', 'component']);

/** `12:00:01.234 INFO  [dhcp] message key=value …` for each JSON record. */
export function formatRecord(line: string): string {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const time = typeof r.time === 'number' ? new Date(r.time).toISOString().slice(11, 23) : '';
  const level = LEVELS[r.level as number] ?? String(r.level);
  const component = typeof r.component === 'string' ? ` [${r.component}]` : '';
  const fields = Object.entries(r)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${time} ${level}${component} ${String(r.msg ?? '')}${fields ? `  ${fields}` : ''}\n`;
}

function readableStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') out.write(formatRecord(line));
      done();
    },
  });
}
