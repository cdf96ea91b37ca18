/**
 * Where the Docker demo keeps its files, and its record of what it started: `down` reads the
 * record to stop exactly the processes this demo started (a dockerd that was already running is
 * not the demo's to stop).
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessRef } from './processes.js';

/** Root-only (the demo runs as root) and gone at reboot, like everything the demo starts. */
export const DEMO_DIR = '/run/d4d-demo';
/** The daemon's log: JSON lines, one per event. Kept after the demo so it can be read. */
export const DAEMON_LOG = join(DEMO_DIR, 'oam-docker-ipam.log');
/** The log of a dockerd the demo started. */
export const DOCKERD_LOG = join(DEMO_DIR, 'dockerd.log');
/** The daemon's lease table. */
export const STATE_DIR = join(DEMO_DIR, 'state');
const RECORD = join(DEMO_DIR, 'run.json');

/** What a demo run started, updated as it goes. */
export interface DemoRecord {
  /** The worker process. */
  readonly worker: ProcessRef;
  readonly kind: string;
  /** Set when the demo started dockerd itself; absent when it used one already running. */
  dockerd?: ProcessRef;
  daemon?: ProcessRef;
}

export function writeRecord(record: DemoRecord): void {
  mkdirSync(DEMO_DIR, { recursive: true, mode: 0o700 });
  const tmp = `${RECORD}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(record)}\n`);
  renameSync(tmp, RECORD);
}

/** The record of the last run, or undefined when there is none (or it is unreadable). */
export function readRecord(): DemoRecord | undefined {
  try {
    return JSON.parse(readFileSync(RECORD, 'utf8')) as DemoRecord;
  } catch {
    return undefined;
  }
}

export function removeRecord(): void {
  rmSync(RECORD, { force: true });
}
