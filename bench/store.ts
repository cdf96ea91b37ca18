/**
 * Lease table write cost, the version 1 table (whole file rewritten per change: temp file,
 * fsync, rename, directory fsync) against the journal (one record appended and fdatasync'd),
 * at 10,000 and 50,000 leases; and the longest event-loop block while the journal is compacted.
 *
 *   npx tsx bench/store.ts [--dir /var/lib/somewhere] [--compaction-only]   (the state directory's disk is measured)
 */
import { mkdir, mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { clientIdForMac } from '../src/dhcp/messages.js';
import { leaseFromBinding, type Lease } from '../src/lease/lease.js';
import { encodeLeaseTable, JournalLeaseStore } from '../src/lease/store.js';

const { values } = parseArgs({ options: { dir: { type: 'string' }, 'compaction-only': { type: 'boolean' } } });
const log = pino({ level: 'silent' });

function makeLease(i: number, expiresShift = 0): Lease {
  const mac = `02:d4:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
  const l = leaseFromBinding(
    `d4d/local/10.0.0.0/16/id=0a0b0c0d#${mac}`,
    { mac, clientId: clientIdForMac(mac) },
    {
      ip: `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`,
      serverId: '10.0.0.1',
      requestedAt: 1_700_000_000_000 + expiresShift,
      leaseTimeSeconds: 3600,
      xid: 1,
      routers: ['10.0.0.1'],
      subnetMask: '255.255.0.0',
      dnsServers: ['10.0.0.1'],
    },
    () => 0.5,
  );
  return l;
}

const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const f = (ms: number): string => `${ms.toFixed(2)} ms`;

/** The version 1 save, as it was: encode all, temp file, fsync, rename, directory fsync. */
async function saveV1(path: string, leases: Lease[]): Promise<void> {
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  await handle.writeFile(encodeLeaseTable(leases, Date.now()), 'utf8');
  await handle.sync();
  await handle.close();
  await rename(tmp, path);
  const d = await open(join(path, '..'), 'r');
  await d.sync();
  await d.close();
}

async function measure(n: number, root: string): Promise<void> {
  const dir = join(root, `n${n}`);
  await mkdir(dir, { recursive: true });
  const leases = Array.from({ length: n }, (_, i) => makeLease(i + 1));

  // Version 1: every change rewrites the table.
  const v1Path = join(dir, 'leases-bench.json');
  const v1Runs = n >= 50_000 ? 5 : 15;
  const v1Wall: number[] = [];
  const v1Cpu: number[] = [];
  for (let i = 0; i < v1Runs; i++) {
    leases[i] = makeLease(i + 1, 1000 * (i + 1));
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await saveV1(v1Path, leases);
    v1Wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    v1Cpu.push((c.user + c.system) / 1000);
  }

  // Journal: imported from the version 1 table, then one record per change.
  const store = new JournalLeaseStore({ path: join(dir, 'leases-bench.journal'), legacyPath: v1Path, log });
  const l0 = performance.now();
  await store.load();
  const loadMs = performance.now() - l0;
  const runs = 300;
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const lease = makeLease((i % n) + 1, 5000 * (i + 1));
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await store.put(lease);
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  // Group commit: 200 puts at once.
  const g0 = performance.now();
  await Promise.all(Array.from({ length: 200 }, (_, i) => store.put(makeLease(i + 1, 7))));
  const groupMs = performance.now() - g0;
  const sizes = store.sizes;
  await store.close();

  console.log(`\n${n.toLocaleString('en')} leases`);
  console.log(`  v1 whole-table save: p50 ${f(pct(v1Wall, 50))}  p99 ${f(pct(v1Wall, 99))}  CPU p50 ${f(pct(v1Cpu, 50))} per change  (${v1Runs} saves)`);
  console.log(`  journal put:         p50 ${f(pct(wall, 50))}  p99 ${f(pct(wall, 99))}  CPU p50 ${f(pct(cpu, 50))} per change  (${runs} puts)`);
  console.log(
    `  journal, 200 puts at once: ${f(groupMs)} in all;  import of the v1 table at start: ${f(loadMs)};  journal ${sizes.journal} B, live ${sizes.live} B`,
  );
}

async function compactionBlock(n: number, root: string): Promise<void> {
  const dir = join(root, `compact${n}`);
  await mkdir(dir, { recursive: true });
  const v1Path = join(dir, 'leases-bench.json');
  await writeFile(
    v1Path,
    encodeLeaseTable(
      Array.from({ length: n }, (_, i) => makeLease(i + 1)),
      Date.now(),
    ),
  );
  const store = new JournalLeaseStore({ path: join(dir, 'leases-bench.journal'), legacyPath: v1Path, log, compactRatio: 1, compactMinBytes: 0 });
  await store.load();
  const before = store.sizes.journal;
  // Ticks every millisecond: the largest gap between two is the longest block.
  let maxGap = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  await store.put(makeLease(1, 99)); // past 1 × live: compaction starts in the background
  const putMs = performance.now() - t0;
  // Appends go on while it runs.
  const during: number[] = [];
  for (let i = 0; i < 50; i++) {
    const p0 = performance.now();
    await store.put(makeLease(i + 2, 99));
    during.push(performance.now() - p0);
  }
  await store.close(); // waits for the compaction
  const totalMs = performance.now() - t0;
  clearInterval(ticker);
  console.log(
    `\ncompaction at ${n.toLocaleString('en')} leases (${(before / 1e6).toFixed(1)} MB): ${f(totalMs)} in all; longest event-loop block ${f(maxGap)} (target < 10 ms); put p50 during it ${f(pct(during, 50))}, first put ${f(putMs)}`,
  );
}

const root = values.dir ?? (await mkdtemp(join(tmpdir(), 'd4d-bench-store-')));
try {
  if (values['compaction-only'] !== true) for (const n of [10_000, 50_000]) await measure(n, root);
  await compactionBlock(50_000, root);
} finally {
  if (values.dir === undefined) await rm(root, { recursive: true, force: true });
}
