/**
 * Malformed plugin API calls, and a runner that sends them over the plugin's unix socket.
 *
 * Every generated call is one the daemon must refuse: a body its parser rejects on a path that
 * reads a body (bad JSON, not an object, a field of the wrong type, binary, deep nesting, huge
 * strings next to a wrong type), an unknown path, or a wrong method on a known path. A body that
 * merely names an unknown pool is NOT generated: some of those are valid, idempotent calls (a
 * repeated ReleaseAddress succeeds), and a RequestPool Docker could send would create a pool.
 * Paths that read no body (Plugin.Activate, GetCapabilities, GetDefaultAddressSpaces) answer
 * whatever the body, so malformed bodies are not sent to them.
 */
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { below, type Random } from './mutate.js';

/** The paths that parse a JSON body, with a body Docker would send to each. */
const BODY_PATHS = {
  '/IpamDriver.RequestPool': { AddressSpace: 'LocalDefault', Pool: '10.0.0.0/24', SubPool: '', Options: {}, V6: false },
  '/IpamDriver.ReleasePool': { PoolID: 'pool' },
  '/IpamDriver.RequestAddress': { PoolID: 'pool', Address: '', Options: { 'com.docker.network.endpoint.macaddress': '02:00:00:00:00:01' } },
  '/IpamDriver.ReleaseAddress': { PoolID: 'pool', Address: '10.0.0.2' },
} as const;
type BodyPath = keyof typeof BODY_PATHS;
const PATHS = Object.keys(BODY_PATHS) as BodyPath[];
const KNOWN_PATHS = [...PATHS, '/Plugin.Activate', '/IpamDriver.GetCapabilities', '/IpamDriver.GetDefaultAddressSpaces'];

/** Field of each body whose wrong type the parser must refuse (V6 for RequestPool, whose strings are optional). */
const REQUIRED_TYPED_FIELD: Record<BodyPath, string> = {
  '/IpamDriver.RequestPool': 'V6',
  '/IpamDriver.ReleasePool': 'PoolID',
  '/IpamDriver.RequestAddress': 'PoolID',
  '/IpamDriver.ReleaseAddress': 'PoolID',
};

/** A body past fastify's default 1 MiB limit. */
const OVERSIZED_BYTES = 2 * 1024 * 1024;

export const BAD_REQUEST_KINDS = [
  'bad-json',
  'empty',
  'not-an-object',
  'wrong-type',
  'bad-options',
  'huge-string',
  'deep-nesting',
  'binary',
  'unknown-path',
  'wrong-method',
] as const;
export type BadRequestKind = (typeof BAD_REQUEST_KINDS)[number];

export interface BadRequest {
  kind: BadRequestKind;
  method: string;
  path: string;
  body: Buffer;
}

function pickOf<T>(random: Random, list: readonly T[]): T {
  return list[below(random, list.length)] as T;
}

/**
 * A value that is wrong for every typed field: not a string, and not a boolean or null either
 * (V6 accepts both: null is read as false).
 */
function wrongValue(random: Random): unknown {
  return pickOf(random, [0, -1, 1e308, [], ['a'], {}, { a: 1 }, [[[]]]]);
}

function text(random: Random, n: number): string {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789./:-"\\{}[],\u00e9\u2603';
  let s = '';
  for (let i = 0; i < n; i++) s += chars[below(random, chars.length)];
  return s;
}

/** Generates the `i`-th malformed call (kinds in rotation, details from `random`). */
export function badRequest(random: Random, i: number): BadRequest {
  const kind = BAD_REQUEST_KINDS[i % BAD_REQUEST_KINDS.length] as BadRequestKind;
  const path = pickOf(random, PATHS);
  const valid: Record<string, unknown> = { ...BODY_PATHS[path] };
  const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  const post = (body: Buffer): BadRequest => ({ kind, method: 'POST', path, body });
  switch (kind) {
    case 'bad-json': {
      const good = JSON.stringify(valid);
      return post(
        Buffer.from(
          pickOf(random, [
            good.slice(0, below(random, good.length - 1)), // truncated
            `${good}}`,
            good.replace(':', ''),
            good.replace(/"/g, "'"),
            `{,${text(random, below(random, 40))}`, // a comma cannot open an object: never `{}`
            'undefined',
            'NaN',
            '{"PoolID": "a",}',
          ]),
        ),
      );
    }
    case 'empty':
      return post(Buffer.from(pickOf(random, ['', ' ', '\n', '\r\n\t '])));
    case 'not-an-object':
      return post(Buffer.from(pickOf(random, ['null', '1', '"PoolID"', '[]', `[${JSON.stringify(valid)}]`, 'true', '-0'])));
    case 'wrong-type':
      return post(json({ ...valid, [REQUIRED_TYPED_FIELD[path]]: wrongValue(random) }));
    case 'bad-options': {
      // RequestPool and RequestAddress read Options; the others get a wrong required field too.
      const options = pickOf<unknown>(random, ['x', 7, true, [], [['a', 'b']], { k: 1 }, { k: null }, { k: { v: 'x' } }, { k: ['x'] }]);
      const body: Record<string, unknown> = { ...valid, Options: options };
      if (!('Options' in valid)) body[REQUIRED_TYPED_FIELD[path]] = wrongValue(random);
      return post(json(body));
    }
    case 'huge-string': {
      // 4 KB to 64 KB of text, and now and then 2 MiB (past the 1 MiB body limit), next to a defect.
      const huge = 'A'.repeat(random() < 0.01 ? OVERSIZED_BYTES : 4 * 1024 * (1 + below(random, 16)));
      const body: Record<string, unknown> =
        random() < 0.5 ? { ...valid, Junk: huge, [REQUIRED_TYPED_FIELD[path]]: wrongValue(random) } : { ...valid, [REQUIRED_TYPED_FIELD[path]]: [huge] };
      return post(json(body));
    }
    case 'deep-nesting': {
      const depth = pickOf(random, [10, 100, 1_000, 10_000]);
      const [open, close] = random() < 0.5 ? ['[', ']'] : ['{"a":', '}'];
      const nested = `${open.repeat(depth)}1${close.repeat(depth)}`;
      // As the typed field's value (wrong type), or as a whole body that is an array.
      return post(Buffer.from(random() < 0.5 ? `{"${REQUIRED_TYPED_FIELD[path]}":${nested}}` : `[${nested}]`));
    }
    case 'binary': {
      // Starting with 0xff (or NUL) so that it can never be JSON.
      const bytes = Buffer.alloc(1 + below(random, 4096));
      for (let b = 0; b < bytes.length; b++) bytes[b] = below(random, 256);
      bytes[0] = random() < 0.5 ? 0xff : 0x00;
      return post(bytes);
    }
    case 'unknown-path': {
      const p = pickOf(random, [
        `/IpamDriver.${text(random, 1 + below(random, 20)).replace(/[^a-z0-9]/g, 'x')}`,
        '/',
        '/NetworkDriver.CreateNetwork',
        '/IpamDriver.requestaddress',
        '/IpamDriver.RequestAddress/extra',
        '/IpamDriver..RequestAddress',
        `/${'x'.repeat(1 + below(random, 4000))}`,
        '/%00',
        '/%2e%2e/%2e%2e/etc/passwd',
        '/Plugin.Activate%20',
      ]);
      return { kind, method: 'POST', path: p, body: json(valid) };
    }
    case 'wrong-method':
      return { kind, method: pickOf(random, ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']), path: pickOf(random, KNOWN_PATHS), body: json(valid) };
  }
}

/** How the daemon answered the calls of one kind. */
export interface AbuseCounts {
  sent: number;
  /** Status >= 400 with a JSON object body whose `Err` is a non-empty string. */
  refused: number;
  /** Anything else: a 2xx/3xx, a body that is not `{"Err": …}`, a dropped connection. */
  wrong: number;
}

export interface AbuseResult {
  sent: number;
  refused: number;
  wrong: number;
  byKind: Record<BadRequestKind, AbuseCounts>;
  byStatus: Record<string, number>;
  /** The first few wrong answers, for the failure message. */
  examples: string[];
  elapsedMs: number;
}

interface Answer {
  status: number;
  body: string;
}

/**
 * Sends `r` on a connection of its own, headers first: the daemon refuses a declared length past
 * its body limit as soon as it reads the headers, answers and closes. Writing the body at once
 * would race that close, and Node's client drops an answer it has not read yet when a write
 * fails with EPIPE (Docker's Go client reads it). So the body follows only if no answer came
 * within a second, and writing stops as soon as one does.
 */
function sendRaw(socketPath: string, r: BadRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    const chunks: Buffer[] = [];
    let bodyTimer: NodeJS.Timeout | undefined;
    s.on('data', (c: Buffer) => {
      clearTimeout(bodyTimer);
      chunks.push(c);
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE/ECONNRESET while writing: the answer, if any, is already in `chunks`.
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    s.on('close', () => {
      clearTimeout(bodyTimer);
      const raw = Buffer.concat(chunks);
      const headerEnd = raw.indexOf('\r\n\r\n');
      const status = /^HTTP\/1\.1 (\d{3})/.exec(raw.subarray(0, 20).toString('latin1'));
      if (headerEnd === -1 || status === null) {
        resolve({ status: 0, body: `no HTTP answer (${raw.length} bytes)` });
        return;
      }
      resolve({ status: Number(status[1]), body: raw.subarray(headerEnd + 4).toString('utf8') });
    });
    s.write(`${r.method} ${r.path} HTTP/1.1\r\nHost: plugin\r\nConnection: close\r\nContent-Length: ${r.body.length}\r\n\r\n`);
    bodyTimer = setTimeout(() => s.end(r.body), 1_000);
  });
}

function send(socketPath: string, agent: Agent, r: BadRequest): Promise<Answer> {
  if (r.body.length >= OVERSIZED_BYTES) return sendRaw(socketPath, r);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, agent, method: r.method, path: r.path, headers: { Accept: 'application/vnd.docker.plugins.v1.2+json', 'Content-Length': r.body.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

/** Whether `a` is an HTTP error whose body is a JSON object with a non-empty string `Err`. */
export function isErrReply(a: Answer): boolean {
  if (a.status < 400) return false;
  try {
    const v: unknown = JSON.parse(a.body);
    return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { Err?: unknown }).Err === 'string' && (v as { Err: string }).Err !== '';
  } catch {
    return false;
  }
}

/**
 * Sends `count` malformed calls, `concurrency` at a time over keep-alive connections as Docker
 * does, and counts the answers.
 */
export async function sendBadRequests(socketPath: string, o: { count: number; random: Random; concurrency?: number }): Promise<AbuseResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency ?? 32 });
  const byKind = Object.fromEntries(BAD_REQUEST_KINDS.map((k) => [k, { sent: 0, refused: 0, wrong: 0 }])) as AbuseResult['byKind'];
  const result: AbuseResult = { sent: 0, refused: 0, wrong: 0, byKind, byStatus: {}, examples: [], elapsedMs: 0 };
  const startedAt = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < o.count) {
      const r = badRequest(o.random, next++);
      result.sent++;
      byKind[r.kind].sent++;
      let answer: Answer;
      try {
        answer = await send(socketPath, agent, r);
      } catch (err) {
        answer = { status: 0, body: `connection error: ${String(err)}` };
      }
      result.byStatus[answer.status] = (result.byStatus[answer.status] ?? 0) + 1;
      if (isErrReply(answer)) {
        result.refused++;
        byKind[r.kind].refused++;
      } else {
        result.wrong++;
        byKind[r.kind].wrong++;
        if (result.examples.length < 5) {
          result.examples.push(
            `${r.kind} ${r.method} ${r.path.slice(0, 80)} body=${JSON.stringify(r.body.subarray(0, 120).toString('latin1'))} -> ${answer.status} ${answer.body.slice(0, 200)}`,
          );
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency ?? 32 }, worker));
  } finally {
    agent.destroy();
  }
  result.elapsedMs = performance.now() - startedAt;
  return result;
}
