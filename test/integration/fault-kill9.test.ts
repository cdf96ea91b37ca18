/**
 * Fault suite: kill -9 under load. The built daemon runs in its own network namespace against
 * Kea (20 s leases, so renewals happen during the run); bursts of 200 concurrent RequestAddress
 * (random MACs) and ReleaseAddress calls hit its plugin socket and it is SIGKILLed at a random
 * moment in each burst, then restarted on the same state directory. See kill-soak.ts for the
 * checks made after every cycle; bench/soak.ts runs the same cycle 200+ times.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { describeLab } from '../support/lab/prereqs.js';
import { formatFigures, KillSoak } from '../support/kill-soak.js';
import { BUILT_MAIN } from '../support/plugin-process.js';

const CYCLES = 20;

describeLab('fault: kill -9 under load', () => {
  let soak: KillSoak | undefined;

  beforeAll(async () => {
    if (!existsSync(BUILT_MAIN)) throw new Error(`${BUILT_MAIN} is missing: run npm run build first`);
    soak = await KillSoak.open({ name: 'fkill', octet: 61, leaseSeconds: 20, burst: 200, maxKillDelayMs: 2_500 });
  });

  afterAll(async () => {
    if (soak !== undefined) console.info(`[kill -9] ${formatFigures(soak.figures)}`);
    await soak?.close();
  });

  it(`keeps every promise to callers across ${CYCLES} SIGKILLs during bursts of 200 calls`, async () => {
    const s = soak as KillSoak;
    for (let i = 0; i < CYCLES; i++) {
      const violations = await s.cycle();
      expect(violations, `daemon log after the restart:\n${s.daemonLog().slice(-3000)}`).toEqual([]);
    }
    const f = s.figures;
    // The test must really have exercised what it claims.
    expect(f.cycles).toBe(CYCLES);
    expect(f.granted).toBeGreaterThan(CYCLES * 20);
    expect(f.releasesAcked).toBeGreaterThan(CYCLES * 10);
    expect(f.cut).toBeGreaterThan(0);
    expect(f.renewalsChecked).toBeGreaterThan(0);
    expect(f.duplicates).toBe(0);
    expect(f.leaks).toBe(0);
    // Every release Docker lost was freed by reconciliation (besides what the kills left).
    expect(f.releasesLost).toBeGreaterThan(0);
    expect(f.reconciled).toBeGreaterThanOrEqual(f.releasesLost);
  }, 240_000);
});
