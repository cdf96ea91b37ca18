/**
 * A small tmpfs mounted at a fixed path named after its user, for disk-full and read-only
 * faults. Fixed names let a later run unmount what a killed run left mounted.
 */
import { mkdir, readFile, rm, writeFile, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './lab/shell.js';

export interface SmallMount {
  readonly path: string;
  /** Write a filler file until the filesystem is full (ENOSPC). */
  fill(): Promise<void>;
  /** Remove the filler. */
  unfill(): Promise<void>;
  /** Remount read-only (true) or read-write (false). */
  setReadOnly(readOnly: boolean): Promise<void>;
  /** Unmount and remove the mount point. Idempotent. */
  remove(): Promise<void>;
}

async function mountedAt(path: string): Promise<boolean> {
  const mounts = await readFile('/proc/mounts', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[1] === path);
}

async function unmountAll(path: string): Promise<void> {
  // Mounts stack: unmount until nothing is left at the path.
  for (let i = 0; i < 10 && (await mountedAt(path)); i++) await run('umount', ['-l', path]);
}

/** Mount a `sizeKiB` tmpfs at `<tmpdir>/d4d-mnt-<name>`, after removing any left there. */
export async function createSmallMount(name: string, sizeKiB: number): Promise<SmallMount> {
  const path = join(tmpdir(), `d4d-mnt-${name}`);
  await unmountAll(path);
  await rm(path, { recursive: true, force: true });
  await mkdir(path, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, `d4d-${name}`, path]);
  const filler = join(path, 'filler');
  return {
    path,
    async fill() {
      const handle = await open(filler, 'a');
      const chunk = Buffer.alloc(4096, 0x55);
      try {
        for (;;) await handle.write(chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      } finally {
        await handle.close().catch(() => undefined);
      }
      // Also the last partial block, so not even a small table fits.
      await writeFile(join(path, 'filler-tail'), Buffer.alloc(1)).catch(() => undefined);
    },
    async unfill() {
      await rm(filler, { force: true });
      await rm(join(path, 'filler-tail'), { force: true });
    },
    async setReadOnly(readOnly) {
      // A daemon keeps its journal open for a second after its last commit, and a file open
      // for writing makes a remount read-only fail with "busy": try again for a few seconds,
      // as an operator would.
      for (let attempt = 1; ; attempt++) {
        try {
          await run('mount', ['-o', `remount,${readOnly ? 'ro' : 'rw'}`, path]);
          return;
        } catch (err) {
          if (attempt >= 20 || !/busy/i.test((err as Error).message)) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    },
    async remove() {
      await unmountAll(path);
      await rm(path, { recursive: true, force: true });
    },
  };
}
