/**
 * Writes docs/configuration.md from the settings table (src/config-doc.ts renders it).
 * `--check` writes nothing and exits 1 when the committed page is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { CONFIGURATION_DOC, renderConfigurationDoc } from '../src/config-doc.js';

const path = new URL(`../${CONFIGURATION_DOC}`, import.meta.url);
const want = renderConfigurationDoc();
if (process.argv.includes('--check')) {
  let have = '';
  try {
    have = readFileSync(path, 'utf8');
  } catch {
    // Missing: out of date as well.
  }
  if (have !== want) {
    process.stderr.write(`${CONFIGURATION_DOC} is out of date: run npx tsx scripts/config-doc.ts\n`);
    process.exit(1);
  }
} else {
  writeFileSync(path, want);
  process.stdout.write(`wrote ${CONFIGURATION_DOC}\n`);
}
