/**
 * Soak: kill -9 under load, for as many cycles as asked (200+ for a real soak). Each cycle is
 * the fault suite's: a burst of concurrent RequestAddress (random MACs) and ReleaseAddress calls
 * on the plugin socket of the built daemon (dist/main.js, in its own network namespace, against
 * Kea with short leases), a SIGKILL at a random moment in the burst, a restart on the same
 * state dir, reconciliation with a stand-in Docker engine API that lists what callers kept, and
 * the checks of test/support/kill-soak.ts. Prints the figures and exits 1 on any violation.
 *
 *   sudo npm run build && sudo node --import tsx bench/soak.ts [--cycles 200] [--burst 200] [--lease 20] [--max-kill-delay-ms 2500]
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatFigures, KillSoak } from '../test/support/kill-soak.js';
import { labPrerequisites } from '../test/support/lab/prereqs.js';
import { BUILT_MAIN } from '../test/support/plugin-process.js';

const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '200' },
    burst: { type: 'string', default: '200' },
    lease: { type: 'string', default: '20' },
    'max-kill-delay-ms': { type: 'string', default: '2500' },
    quiet: { type: 'boolean', default: false },
  },
});
const cycles = Number(values.cycles);
const burst = Number(values.burst);
const leaseSeconds = Number(values.lease);
const maxKillDelayMs = Number(values['max-kill-delay-ms']);
for (const [name, v] of [
  ['cycles', cycles],
  ['burst', burst],
  ['lease', leaseSeconds],
  ['max-kill-delay-ms', maxKillDelayMs],
] as const) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`--${name} must be a whole number ≥ 1, got ${String(v)}`);
    process.exit(2);
  }
}
// The lab has 252 addresses; a burst larger than that would only measure pool exhaustion.
if (burst > 220) {
  console.error('--burst must be at most 220 (the lab pool has 252 addresses)');
  process.exit(2);
}
const prereqs = labPrerequisites();
if (!prereqs.ok) {
  console.error(`cannot run the soak: ${prereqs.reason}`);
  process.exit(1);
}
if (!existsSync(BUILT_MAIN)) {
  console.error(`${BUILT_MAIN} is missing: run npm run build first`);
  process.exit(1);
}

const started = Date.now();
const soak = await KillSoak.open({
  name: 'fsoak',
  octet: 202,
  leaseSeconds,
  burst,
  maxKillDelayMs,
  ...(values.quiet ? {} : { log: (line: string) => console.log(line) }),
});
let failed = false;
try {
  console.log(`soak: ${cycles} cycles of ${burst} calls, Kea ${leaseSeconds} s leases, SIGKILL within ${maxKillDelayMs} ms; ${new Date().toISOString()}`);
  for (let i = 0; i < cycles; i++) {
    const violations = await soak.cycle();
    for (const v of violations) console.log(`VIOLATION ${v}`);
    if (violations.length > 0) failed = true;
  }
} catch (err) {
  failed = true;
  console.error(`soak stopped: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\ndaemon log tail:\n${soak.daemonLog().slice(-3000)}`);
} finally {
  await soak.close();
}
const f = soak.figures;
console.log(`\n${formatFigures(f)}`);
console.log(`duration ${Math.round((Date.now() - started) / 1000)} s`);
if (f.refusals.length > 0) console.log(`refusals seen:\n  ${f.refusals.join('\n  ')}`);
process.exitCode = failed || f.violations.length > 0 ? 1 : 0;
