/**
 * Thousands of connections held open on the plugin socket at once: idle ones, ones that sent half
 * a request line or half the headers, and ones that sent the headers of a POST and part of its
 * body. The daemon has no request or keep-alive timeout (Docker's plugin client has none), so
 * every one of them stays open until the client goes away; the daemon must keep serving real
 * calls beside them.
 */
import { connect, type Socket } from 'node:net';

export interface ConnectionFlood {
  /** Sockets connected (all of them, once `open` resolved). */
  readonly open: number;
  /** How many of each kind. */
  readonly byKind: Record<FloodKind, number>;
  /** Connection attempts refused with EAGAIN (listen backlog full) and retried. */
  readonly connectRetries: number;
  /** Sockets the daemon closed while the flood was held (e.g. a header timeout). */
  closedByServer(): number;
  /** Destroys every socket. */
  close(): void;
}

export const FLOOD_KINDS = ['idle', 'half-request-line', 'half-headers', 'half-body'] as const;
export type FloodKind = (typeof FLOOD_KINDS)[number];

const PARTIAL: Record<FloodKind, string> = {
  idle: '',
  'half-request-line': 'POST /IpamDriver.Request',
  'half-headers': 'POST /IpamDriver.RequestAddress HTTP/1.1\r\nHost: plugin\r\nContent-Le',
  'half-body': 'POST /IpamDriver.ReleaseAddress HTTP/1.1\r\nHost: plugin\r\nContent-Length: 4096\r\n\r\n{"PoolID": "',
};

/**
 * Connects, retrying while the listen backlog is full: a unix socket refuses with EAGAIN at once
 * where TCP would queue the SYN, and a client (Docker's included) tries again.
 */
async function connectOne(socketPath: string, stats: { retries: number }): Promise<Socket> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const s = connect(socketPath);
        s.once('connect', () => {
          s.off('error', reject);
          resolve(s);
        });
        s.once('error', reject);
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || attempt >= 100) throw err;
      stats.retries++;
      await new Promise((r) => setTimeout(r, 10 + attempt * 10));
    }
  }
}

/**
 * Opens `count` connections to `socketPath`, `batch` at a time (a listen backlog of 511 would
 * refuse a burst of thousands at once), each sending the start of its kind's request.
 */
export async function openConnectionFlood(socketPath: string, count: number, batch = 100): Promise<ConnectionFlood> {
  const sockets: Socket[] = [];
  const byKind = Object.fromEntries(FLOOD_KINDS.map((k) => [k, 0])) as Record<FloodKind, number>;
  let closedByServer = 0;
  let closing = false;
  const stats = { retries: 0 };
  try {
    for (let start = 0; start < count; start += batch) {
      const settled = await Promise.allSettled(Array.from({ length: Math.min(batch, count - start) }, () => connectOne(socketPath, stats)));
      const opened = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed !== undefined) {
        for (const s of opened) s.destroy();
        throw failed.reason;
      }
      for (const s of opened) {
        const kind = FLOOD_KINDS[sockets.length % FLOOD_KINDS.length] as FloodKind;
        byKind[kind]++;
        sockets.push(s);
        s.on('error', () => undefined); // a reset counts as closed below; it is not the test's error
        s.on('close', () => {
          if (!closing) closedByServer++;
        });
        if (PARTIAL[kind] !== '') s.write(PARTIAL[kind]);
      }
    }
  } catch (err) {
    for (const s of sockets) s.destroy();
    throw err;
  }
  return {
    open: sockets.length,
    byKind,
    connectRetries: stats.retries,
    closedByServer: () => closedByServer,
    close() {
      closing = true;
      for (const s of sockets) s.destroy();
    },
  };
}
