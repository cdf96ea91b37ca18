import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS, type SettingSpec } from './config.js';
import { CONFIGURATION_DOC, renderConfigurationDoc } from './config-doc.js';

describe('docs/configuration.md', () => {
  it('is what the settings table generates (run npx tsx scripts/config-doc.ts after changing it)', () => {
    const committed = readFileSync(new URL(`../${CONFIGURATION_DOC}`, import.meta.url), 'utf8');
    expect(committed).toBe(renderConfigurationDoc());
  });

  it('has one row per setting, with its flag and default', () => {
    const page = renderConfigurationDoc();
    for (const s of SETTINGS as readonly SettingSpec[]) {
      const row = page.split('\n').find((l) => l.startsWith(`| \`${s.key}\``));
      expect(row, s.key).toBeDefined();
      if (s.flag !== undefined) expect(row).toContain(`\`--${s.flag.name}`);
      expect(row).toContain(s.default.replace(/^\((.*)\)$/, '$1'));
    }
  });
});
