import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ActivationError,
  checkActivatedSocket,
  checkRootOnly,
  forgetPassedFds,
  inspectActivatedSocket,
  passedFds,
  socketInode,
  unixSocketEntry,
} from './activation.js';

const PATH = '/run/docker/plugins/d4d.sock';

describe('passedFds', () => {
  it('takes the descriptors from 3 on, with their names, when LISTEN_PID is this process', () => {
    expect(passedFds({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a:b' }, 42)).toEqual([
      { fd: 3, name: 'a' },
      { fd: 4, name: 'b' },
    ]);
    expect(passedFds({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42)).toEqual([{ fd: 3, name: 'unknown' }]);
  });

  it('ignores variables meant for another process, or none at all', () => {
    expect(passedFds({ LISTEN_PID: '41', LISTEN_FDS: '1' }, 42)).toEqual([]);
    expect(passedFds({ LISTEN_FDS: '1' }, 42)).toEqual([]);
    expect(passedFds({}, 42)).toEqual([]);
  });

  it('refuses malformed variables meant for this process', () => {
    expect(() => passedFds({ LISTEN_PID: '42', LISTEN_FDS: 'x' }, 42)).toThrow(ActivationError);
    expect(() => passedFds({ LISTEN_PID: '42' }, 42)).toThrow(/LISTEN_FDS must be a count/);
    expect(() => passedFds({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'a' }, 42)).toThrow(/names 1 descriptors but LISTEN_FDS says 2/);
  });

  it('forgetPassedFds drops the three variables and nothing else', () => {
    const env: Record<string, string | undefined> = { LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'x', PATH: '/bin' };
    forgetPassedFds(env);
    expect(env).toEqual({ PATH: '/bin' });
  });
});

describe('/proc/net/unix', () => {
  const text = [
    'Num       RefCount Protocol Flags    Type St Inode Path',
    '000000008ae7af75: 00000003 00000000 00000000 0001 03 5918156',
    `0000000096e75448: 00000002 00000000 00010000 0001 01 777 ${PATH}`,
    '00000000833e066e: 00000002 00000000 00000000 0002 01 778 /run/systemd/notify',
    '00000000833e066f: 00000002 00000000 00010000 0001 01 779 /tmp/with space.sock',
  ].join('\n');

  it('finds a socket by inode: type, listening, path (spaces included)', () => {
    expect(unixSocketEntry(text, 777)).toEqual({ inode: 777, type: 1, listening: true, path: PATH });
    expect(unixSocketEntry(text, 778)).toEqual({ inode: 778, type: 2, listening: false, path: '/run/systemd/notify' });
    expect(unixSocketEntry(text, 5918156)).toEqual({ inode: 5918156, type: 1, listening: false, path: '' });
    expect(unixSocketEntry(text, 779)?.path).toBe('/tmp/with space.sock');
    expect(unixSocketEntry(text, 1)).toBeUndefined();
  });

  it('reads the inode from a /proc/self/fd link', () => {
    expect(socketInode('socket:[777]')).toBe(777);
    expect(socketInode('pipe:[777]')).toBeUndefined();
    expect(socketInode('/dev/null')).toBeUndefined();
  });
});

describe('checkActivatedSocket', () => {
  const one = [{ fd: 3, name: 'oam-docker-ipam.socket' }];
  const listening = { inode: 7, type: 1, listening: true, path: PATH };

  it('takes one listening stream socket at the path Docker looks for', () => {
    expect(checkActivatedSocket(one, listening, PATH)).toBe(3);
  });

  it('refuses anything else, saying what the socket unit needs', () => {
    expect(() => checkActivatedSocket([...one, { fd: 4, name: 'x' }], listening, PATH)).toThrow(
      `systemd passed 2 sockets; the plugin serves one: the socket unit needs a single ListenStream=${PATH}`,
    );
    expect(() => checkActivatedSocket(one, undefined, PATH)).toThrow('descriptor 3 (oam-docker-ipam.socket) is not a unix socket');
    expect(() => checkActivatedSocket(one, { ...listening, type: 2 }, PATH)).toThrow('is not a listening stream socket');
    expect(() => checkActivatedSocket(one, { ...listening, listening: false }, PATH)).toThrow('is not a listening stream socket');
    expect(() => checkActivatedSocket(one, { ...listening, path: '/run/docker/plugins/other.sock' }, PATH)).toThrow(
      `systemd passed the socket /run/docker/plugins/other.sock, but Docker looks for this plugin at ${PATH} (DRIVER_NAME)`,
    );
  });

  it('checkRootOnly refuses a socket others may connect to', () => {
    expect(() => checkRootOnly(PATH, { mode: 0o140600, uid: 0 })).not.toThrow();
    expect(() => checkRootOnly(PATH, { mode: 0o140644, uid: 0 })).not.toThrow();
    expect(() => checkRootOnly(PATH, { mode: 0o140666, uid: 0 })).toThrow(`the plugin socket ${PATH} is mode 0666 owned by uid 0`);
    expect(() => checkRootOnly(PATH, { mode: 0o140620, uid: 0 })).toThrow(ActivationError);
    expect(() => checkRootOnly(PATH, { mode: 0o140600, uid: 1000 })).toThrow('owned by uid 1000');
  });
});

describe('inspectActivatedSocket on a real listening socket', () => {
  let dir = '';
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve())));
    server = undefined;
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  /** This process's descriptor for a socket listening at `path` (as systemd would pass it). */
  async function listen(path: string): Promise<number> {
    const s = createServer();
    server = s;
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve) => s.listen(path, resolve));
    } finally {
      process.umask(umask);
    }
    // The handle's descriptor (Node keeps it internal): what systemd would hand over as fd 3.
    const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
    expect(fd).toBeGreaterThan(2);
    return fd;
  }

  it("reads the kernel's view of a listening socket's descriptor: its path passes, another is refused", async () => {
    dir = await mkdtemp(join(tmpdir(), 'd4d-activation-'));
    const path = join(dir, 'd4d.sock');
    const fd = await listen(path);
    const inode = socketInode(await readlink(`/proc/self/fd/${fd}`));
    expect(inode).toBeDefined();
    const entry = unixSocketEntry(await readFile('/proc/net/unix', 'utf8'), inode ?? -1);
    expect(entry).toEqual({ inode, type: 1, listening: true, path });
    expect(checkActivatedSocket([{ fd, name: 'x' }], entry, path)).toBe(fd);
    expect(() => checkActivatedSocket([{ fd, name: 'x' }], entry, join(dir, 'other.sock'))).toThrow(ActivationError);
  });

  it('without LISTEN_PID for this process: nothing passed, and the variables are gone', async () => {
    const env: Record<string, string | undefined> = { LISTEN_PID: '1', LISTEN_FDS: '1', HOME: '/root' };
    expect(await inspectActivatedSocket(env, process.pid, PATH)).toBeUndefined();
    expect(env).toEqual({ HOME: '/root' });
  });
});
