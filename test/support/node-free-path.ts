/**
 * A PATH as on a host without Node, for running the single executable the way an operator's
 * machine would: this machine has node in /usr/bin, so the PATH is a scratch directory of
 * symlinks to every command of the standard system directories except node and its tools.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The system PATH `env -i` users would give a daemon: `/usr/sbin:/usr/bin:/sbin:/bin`. */
export const SYSTEM_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'] as const;

/** Node and the commands that only run through it. */
const NODE_COMMANDS = new Set(['node', 'nodejs', 'npm', 'npx', 'corepack']);

export interface NodeFreePath {
  /** The directory to use as the whole PATH. */
  readonly path: string;
  /** How many commands it offers (a sanity figure for messages). */
  readonly commands: number;
  remove(): Promise<void>;
}

/** Builds the directory; see the module comment. */
export async function createNodeFreePath(): Promise<NodeFreePath> {
  const dir = await mkdtemp(join(tmpdir(), 'd4d-nonode-'));
  // Every alias of the node binary counts as node, whatever its name.
  const nodeBinaries = new Set<string>();
  for (const d of SYSTEM_DIRS) {
    for (const name of NODE_COMMANDS) {
      const real = await realpath(join(d, name)).catch(() => undefined);
      if (real !== undefined) nodeBinaries.add(real);
    }
  }
  const seen = new Set<string>();
  for (const d of SYSTEM_DIRS) {
    const names = await readdir(d).catch(() => [] as string[]);
    for (const name of names) {
      if (seen.has(name) || NODE_COMMANDS.has(name)) continue;
      const real = await realpath(join(d, name)).catch(() => undefined);
      // Dangling links and node under another name stay out; PATH order decides duplicates.
      if (real === undefined || nodeBinaries.has(real) || real.includes('/node_modules/')) continue;
      seen.add(name);
      await symlink(join(d, name), join(dir, name));
    }
  }
  return { path: dir, commands: seen.size, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs `file args` with only `env` (as `env -i` would) and resolves with its outcome. */
export function runIsolated(
  file: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      [...args],
      { env: { ...env }, cwd: options.cwd, timeout: options.timeoutMs ?? 30_000, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
