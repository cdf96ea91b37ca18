/**
 * What the Docker end-to-end suite proved, on which engine and against which DHCP server: each
 * scenario test records its outcome in a JSON file per test file (rewritten at every run of
 * that file), and scripts/engines-table.ts renders them as the table in docs/engines.md.
 *
 * The files go to $D4D_E2E_RESULTS (default: d4d-e2e-results in the OS temp dir), never into
 * the repository: a run changes no tracked file; the table is regenerated and committed from a
 * green run on purpose.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { it } from 'vitest';
import type { DockerEngine, EngineVersions } from './docker-engines.js';

export const RESULTS_DIR = process.env.D4D_E2E_RESULTS ?? join(tmpdir(), 'd4d-e2e-results');

/** A row of the table: what users do, in the words of docs/engines.md. */
export type ScenarioId =
  | 'network-create-rm'
  | 'run-lease'
  | 'fixed-ip'
  | 'mac-reservation'
  | 'rm-releases'
  | 'plugin-restart'
  | 'dockerd-restart'
  | 'dockerd-kill9'
  | 'network-rm'
  | 'random-mac'
  | 'internal-no-gateway'
  | 'connect-disconnect'
  | 'two-networks'
  | 'compose-scale'
  | 'zero-config-advice'
  | 'zero-config-no-route'
  | 'reconcile-keeps'
  | 'reconcile-plugin-dead'
  | 'reconcile-docker-unreachable'
  | 'reconcile-dry-run'
  | 'reconcile-releases'
  | 'reconcile-dockerd-restart-in-flight'
  | 'socket-activation-restart';

export type ServerName = 'isc' | 'kea' | 'dnsmasq';

export interface ScenarioResult {
  readonly scenario: ScenarioId;
  readonly server: ServerName;
  readonly engine: string;
  readonly versions: EngineVersions;
  readonly file: string;
  readonly test: string;
  readonly status: 'pass' | 'fail';
  /** How the engine behaved where engines differ (e.g. "refused: needs --gateway"). */
  readonly outcome?: string;
  readonly ms: number;
  readonly at: string;
}

/**
 * A recorder for one test file: `scenario(...)` declares a test like `it`, and writes its
 * outcome after every test, so a run cut short still leaves what it proved.
 */
export function resultRecorder(testFile: string, engine: () => DockerEngine | undefined) {
  const file = basename(testFile);
  const results: ScenarioResult[] = [];
  const path = join(RESULTS_DIR, `${file.replace(/\.test\.ts$/, '')}.json`);
  const save = (): void => {
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(path, `${JSON.stringify({ file, results }, null, 2)}\n`);
  };
  save();
  /**
   * `server` names the DHCP server (or servers) the scenario ran against. `fn` may return a string: how the engine behaved, where engines differ; it is shown in the
   * table cell.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: most scenarios are async functions that return nothing (Promise<void>); a few return a string
  function scenario(title: string, id: ScenarioId, server: ServerName | readonly ServerName[], fn: () => Promise<string | void>, timeoutMs?: number): void {
    const servers = typeof server === 'string' ? [server] : server;
    it(
      title,
      async () => {
        const started = Date.now();
        const record = (status: 'pass' | 'fail', outcome?: string): void => {
          const e = engine();
          if (e === undefined) return;
          for (const one of servers) {
            results.push({
              scenario: id,
              server: one,
              engine: e.id,
              versions: e.versions,
              file,
              test: title,
              status,
              ...(outcome ? { outcome } : {}),
              ms: Date.now() - started,
              at: new Date().toISOString(),
            });
          }
          save();
        };
        try {
          const outcome = await fn();
          record('pass', outcome === undefined ? undefined : outcome);
        } catch (err) {
          record('fail');
          throw err;
        }
      },
      timeoutMs,
    );
  }
  return { scenario };
}
