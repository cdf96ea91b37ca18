/**
 * The memory-reducing collection (src/memory-trim.ts) on the Node the single executable is built
 * from (packaging/build-sea.ts caches it): the executable runs only the daemon, so the built
 * module is run on that Node directly. Node 20, which runs the other suites, has no such
 * collection to offer (the unit tests check that it is left out there).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const CACHE = join(ROOT, 'node_modules/.cache/oam-docker-ipam-sea');

/** The cached Node of the executable, as `npm run build:sea` left it. */
function packagedNode(): string {
  const dirs = existsSync(CACHE) ? readdirSync(CACHE).filter((d) => d.startsWith('node-')) : [];
  if (dirs.length !== 1) throw new Error(`expected one cached Node in ${CACHE}, found ${dirs.length}: run npm run build:sea first`);
  return join(CACHE, dirs[0] as string, 'node');
}

// Garbage made and dropped (about 100 MB of small objects, collected as it is made: freed pages
// wait in V8's pool), then the collection: the pages go back to the system.
const SCRIPT = `
import { memoryReducingCollection, processMemory } from ${JSON.stringify(join(ROOT, 'dist/memory-trim.js'))};
const collect = memoryReducingCollection();
let keep = [];
for (let i = 0; i < 2_000_000; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 400_000) keep = []; }
keep = undefined;
const before = processMemory();
const t = performance.now();
collect?.();
const pauseMs = performance.now() - t;
const after = processMemory();
console.log(JSON.stringify({ v8: process.versions.v8, collect: typeof collect, gcLeft: 'gc' in globalThis, before, after, pauseMs }));
`;

it("gives memory back on the packaged executable's Node, without --expose-gc", async () => {
  const { stdout } = await promisify(execFile)(packagedNode(), ['--max-semi-space-size=8', '--input-type=module', '-e', SCRIPT]);
  const r = JSON.parse(stdout) as { v8: string; collect: string; gcLeft: boolean; before: { rssBytes: number }; after: { rssBytes: number }; pauseMs: number };
  expect(Number(r.v8.split('.')[0])).toBeGreaterThanOrEqual(12);
  expect(r.collect).toBe('function');
  expect(r.gcLeft).toBe(false);
  expect(r.before.rssBytes - r.after.rssBytes).toBeGreaterThan(20 * 1024 * 1024);
});
