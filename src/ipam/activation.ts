/**
 * systemd socket activation of the plugin socket (sd_listen_fds(3)): systemd binds
 * `/run/docker/plugins/<name>.sock` itself (systemd/oam-docker-ipam.socket) and hands it to each
 * start of the daemon as file descriptor 3. The socket then outlives the daemon: a call Docker
 * makes while the daemon restarts waits in the socket's queue for the next start instead of
 * failing after Docker's ~15 s of retries, and Docker never finds the socket missing at boot.
 *
 * The parsing is pure; `inspectActivatedSocket` reads what the kernel says of the descriptor, so
 * the daemon serves only the socket Docker looks for, and only if it is root-only.
 */
import { readFile, readlink, stat } from 'node:fs/promises';
import { DaemonError } from '../errors.js';

/** The first descriptor systemd passes (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/** The passed sockets are not the one plugin socket this daemon can serve. */
export class ActivationError extends DaemonError {
  override readonly name = 'ActivationError';
  readonly code = 'ACTIVATION';
}

export interface PassedFd {
  readonly fd: number;
  /** From LISTEN_FDNAMES (FileDescriptorName=); systemd's default is the socket unit's name. */
  readonly name: string;
}

/**
 * The descriptors passed to this process: none unless LISTEN_PID is this process (the variables
 * are inherited by children they were not meant for). Malformed variables meant for us throw.
 */
export function passedFds(env: Readonly<Record<string, string | undefined>>, pid: number): PassedFd[] {
  const listenPid = env.LISTEN_PID;
  if (listenPid === undefined || listenPid.trim() !== String(pid)) return [];
  const raw = env.LISTEN_FDS ?? '';
  if (!/^\d{1,4}$/.test(raw)) throw new ActivationError(`LISTEN_FDS must be a count of descriptors, got ${JSON.stringify(raw)}`);
  const count = Number(raw);
  const names = env.LISTEN_FDNAMES === undefined ? [] : env.LISTEN_FDNAMES.split(':');
  if (env.LISTEN_FDNAMES !== undefined && names.length !== count) {
    throw new ActivationError(`LISTEN_FDNAMES names ${names.length} descriptors but LISTEN_FDS says ${count}`);
  }
  return Array.from({ length: count }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names[i] ?? 'unknown' }));
}

/** Drops the variables so that nothing this process starts takes them for its own. */
export function forgetPassedFds(env: Record<string, string | undefined>): void {
  for (const key of ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES']) delete env[key];
}

/** One line of /proc/net/unix: what the kernel says of a unix socket. */
export interface UnixSocketEntry {
  readonly inode: number;
  /** SOCK_STREAM is 1. */
  readonly type: number;
  /** Accepting connections (__SO_ACCEPTCON in Flags). */
  readonly listening: boolean;
  /** The bound path; '' for an unbound socket, '@…' for an abstract one. */
  readonly path: string;
}

const SO_ACCEPTCON = 0x10000;

/** The entry of socket `inode` in /proc/net/unix's text, if it is there. */
export function unixSocketEntry(procNetUnix: string, inode: number): UnixSocketEntry | undefined {
  for (const line of procNetUnix.split('\n').slice(1)) {
    // Num RefCount Protocol Flags Type St Inode [Path]; the path may contain spaces.
    const m = /^\s*[0-9a-fA-F]+:\s+[0-9a-fA-F]+\s+[0-9a-fA-F]+\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+[0-9a-fA-F]+\s+(\d+)(?: (.*))?$/.exec(line);
    if (m === null || Number(m[3]) !== inode) continue;
    return { inode, type: Number.parseInt(m[2] ?? '', 16), listening: (Number.parseInt(m[1] ?? '', 16) & SO_ACCEPTCON) !== 0, path: m[4] ?? '' };
  }
  return undefined;
}

/** The socket inode a /proc/self/fd link names (`socket:[12345]`). */
export function socketInode(link: string): number | undefined {
  const m = /^socket:\[(\d+)\]$/.exec(link);
  return m === null ? undefined : Number(m[1]);
}

/** What the daemon needs of the passed sockets: one, a listening unix stream socket at `expectedPath`. */
export function checkActivatedSocket(fds: readonly PassedFd[], entry: UnixSocketEntry | undefined, expectedPath: string): number {
  const fix = `the socket unit needs a single ListenStream=${expectedPath}`;
  if (fds.length !== 1) throw new ActivationError(`systemd passed ${fds.length} sockets; the plugin serves one: ${fix}`);
  const only = fds[0] as PassedFd;
  if (entry === undefined) throw new ActivationError(`descriptor ${only.fd} (${only.name}) is not a unix socket: ${fix}`);
  if (entry.type !== 1 || !entry.listening) throw new ActivationError(`descriptor ${only.fd} (${only.name}) is not a listening stream socket: ${fix}`);
  if (entry.path !== expectedPath) {
    throw new ActivationError(
      `systemd passed the socket ${entry.path || '(unbound)'}, but Docker looks for this plugin at ${expectedPath} (DRIVER_NAME): set ListenStream=${expectedPath} in the socket unit, or DRIVER_NAME to the socket's name`,
    );
  }
  return only.fd;
}

/** Only root may connect: connecting to a unix socket needs write permission on its file. */
export function checkRootOnly(path: string, file: { mode: number; uid: number }): void {
  if (file.uid !== 0 || (file.mode & 0o022) !== 0) {
    throw new ActivationError(
      `the plugin socket ${path} is mode ${(file.mode & 0o777).toString(8).padStart(4, '0')} owned by uid ${file.uid}: others could take addresses from it; set SocketMode=0600 (and no SocketUser=) in the socket unit`,
    );
  }
}

/**
 * The descriptor of the plugin socket systemd passed, checked, or undefined when none was
 * passed (the daemon binds the socket itself then). Clears the LISTEN_* variables.
 */
export async function inspectActivatedSocket(env: Record<string, string | undefined>, pid: number, expectedPath: string): Promise<number | undefined> {
  const fds = passedFds(env, pid);
  forgetPassedFds(env);
  if (fds.length === 0) return undefined;
  let entry: UnixSocketEntry | undefined;
  if (fds.length === 1) {
    const inode = socketInode(await readlink(`/proc/self/fd/${(fds[0] as PassedFd).fd}`).catch(() => ''));
    if (inode !== undefined) entry = unixSocketEntry(await readFile('/proc/net/unix', 'utf8'), inode);
  }
  const fd = checkActivatedSocket(fds, entry, expectedPath);
  // /proc/net/unix keeps the path a socket was bound to even once its file is gone: a daemon
  // that bound the socket itself and stopped after systemd took the path over removes it.
  const file = await stat(expectedPath).catch((err: unknown) => {
    throw new ActivationError(
      `the passed socket's file ${expectedPath} cannot be read (${(err as Error).message}), so Docker cannot reach it: with the service stopped, restart oam-docker-ipam.socket`,
      { cause: err },
    );
  });
  checkRootOnly(expectedPath, file);
  return fd;
}
