/**
 * Node 24's memory reducer, on the Node the single executable is built from (packaging/build-sea.ts
 * caches it): the executable runs only the daemon, so the built module (src/memory-reducer.ts) is
 * run on that Node directly. Two processes make the same burst of garbage and then wait: one
 * with the daemon's nudge, one without. Node 20, which runs the other suites, needs no nudge
 * (the unit tests check that it gets none).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const ROOT = new URL('../..', import.meta.url).pathname;
const CACHE = join(ROOT, 'node_modules/.cache/oam-docker-ipam-sea');
const WAIT_S = 30;

/** The cached Node of the executable, as `npm run build:sea` left it. */
function packagedNode(): string {
  const dirs = existsSync(CACHE) ? readdirSync(CACHE).filter((d) => d.startsWith('node-')) : [];
  if (dirs.length !== 1) throw new Error(`expected one cached Node in ${CACHE}, found ${dirs.length}: run npm run build:sea first`);
  return join(CACHE, dirs[0] as string, 'node');
}

// A burst of about 2 s (objects kept for a while, then dropped, as requests' are), then the
// resident size every second while idle. Exits early once it has halved.
const script = (nudged: boolean): string => `
import { systemClock } from ${JSON.stringify(join(ROOT, 'dist/clock.js'))};
import { embedderAllocation, ReducerNudge } from ${JSON.stringify(join(ROOT, 'dist/memory-reducer.js'))};
const nudge = ${nudged} ? embedderAllocation() : undefined;
if (${nudged} && nudge === undefined) throw new Error('no nudge on ' + process.versions.v8);
nudge && new ReducerNudge({ clock: systemClock, nudge }).start();
let window = [];
for (let i = 0; i < 6_000_000; i++) { window.push({ i, s: 'x' + i }); if (window.length > 1_000_000) window = []; }
window = undefined;
const peak = process.memoryUsage.rss();
const samples = [];
const t0 = Date.now();
const timer = setInterval(() => {
  const rss = process.memoryUsage.rss();
  samples.push(rss);
  if (rss < peak / 2 || Date.now() - t0 >= ${WAIT_S * 1000}) {
    clearInterval(timer);
    console.log(JSON.stringify({ v8: process.versions.v8, peak, samples }));
  }
}, 1000);
`;

async function run(nudged: boolean): Promise<{ v8: string; peak: number; samples: number[] }> {
  const { stdout } = await promisify(execFile)(packagedNode(), ['--max-semi-space-size=8', '--input-type=module', '-e', script(nudged)]);
  return JSON.parse(stdout) as { v8: string; peak: number; samples: number[] };
}

it(`gives a burst's memory back within ${WAIT_S} s with the nudge, and keeps it without (the V8 behaviour it works around)`, async () => {
  const [nudged, plain] = await Promise.all([run(true), run(false)]);
  expect(Number(nudged.v8.split('.')[0])).toBeGreaterThanOrEqual(13);
  const mb = (b: number): number => Math.round(b / 1e6);
  const nudgedLow = Math.min(...nudged.samples);
  const plainLow = Math.min(...plain.samples);
  const detail = `nudged: peak ${mb(nudged.peak)} MB, lowest ${mb(nudgedLow)} MB after ${nudged.samples.length} s; plain: peak ${mb(plain.peak)} MB, lowest ${mb(plainLow)} MB in ${plain.samples.length} s`;
  expect(nudgedLow, detail).toBeLessThan(nudged.peak / 2);
  // If this fails, Node's V8 runs its reducer on its own again and the nudge can go.
  expect(plainLow, detail).toBeGreaterThan(plain.peak * 0.8);
}, 60_000);
