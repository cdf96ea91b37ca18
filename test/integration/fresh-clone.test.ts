/**
 * The README's install steps on a fresh clone: a copy of the tree without dist/ (what git would
 * check out, node_modules borrowed), `npm run build`, then the built entry run directly through
 * its shebang, and `npm install -g .` into a scratch prefix putting a working `oam-docker-ipam` on
 * PATH. No root needed.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
// The shebang (`#!/usr/bin/env node`) needs this node on PATH, as on an operator's host.
const ENV = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };

function sh(cmd: string, args: readonly string[], cwd: string, timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, env: ENV, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

describe('a fresh clone, built and installed as the README says', () => {
  let dir: string;
  let clone: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'd4d-fresh-'));
    clone = join(dir, 'd4d');
    // What a clone holds: tracked files plus new ones not ignored (the tree as it would be committed).
    const { stdout, code, stderr } = await sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT);
    expect(code, stderr).toBe(0);
    const files = stdout.split('\0').filter((f) => f !== '' && !f.startsWith('dist/'));
    for (const f of files) {
      await mkdir(dirname(join(clone, f)), { recursive: true });
      await cp(join(ROOT, f), join(clone, f)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error; // deleted in the work tree, not yet in git
      });
    }
    await symlink(join(ROOT, 'node_modules'), join(clone, 'node_modules'));
  }, 60_000);

  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('npm run build makes dist/main.js an executable that runs', async () => {
    const build = await sh('npm', ['run', 'build'], clone, 180_000);
    expect(build.code, build.stdout + build.stderr).toBe(0);
    expect((await stat(join(clone, 'dist/main.js'))).mode & 0o111).toBe(0o111);
    const help = await sh(join(clone, 'dist/main.js'), ['--help'], clone);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: oam-docker-ipam/);
  }, 200_000);

  it('npm install -g . puts oam-docker-ipam on PATH', async () => {
    const prefix = join(dir, 'global');
    const install = await sh('npm', ['install', '-g', '.', '--prefix', prefix, '--offline', '--no-audit', '--no-fund'], clone);
    expect(install.code, install.stdout + install.stderr).toBe(0);
    const version = JSON.parse(await readFile(join(clone, 'package.json'), 'utf8')) as { version: string };
    const ran = await sh(join(prefix, 'bin', 'oam-docker-ipam'), ['--version'], dir);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout.trim()).toBe(version.version);
  }, 120_000);
});
