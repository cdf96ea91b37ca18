/** oam-docker-ipam(1) as generated from --help (packaging/man-page.ts). */
import { describe, expect, it } from 'vitest';
import { escapeRoff, renderManPage } from '../../packaging/man-page.js';
import { USAGE } from '../../src/cli.js';

const META = { version: '1.2.3', date: '2026-01-02' };
/** The roff requests the generator may emit; any other line starting with "." would be a bug. */
const REQUESTS = /^\.(TH|SH|PP|nf|fi|TP|I|B|BR)( |$)/;

describe('renderManPage', () => {
  const page = renderManPage(USAGE, META);
  const lines = page.split('\n');

  it('has the title, name and synopsis of the command', () => {
    expect(lines[0]).toBe('.TH OAM-DOCKER-IPAM 1 "2026-01-02" "oam-docker-ipam 1.2.3" "User Commands"');
    expect(page).toContain('.SH NAME\noam\\-docker\\-ipam \\- ');
    const usageArgs = /^Usage: oam-docker-ipam (.*)$/m.exec(USAGE)?.[1] ?? 'missing';
    expect(page).toContain(`.SH SYNOPSIS\n.B oam\\-docker\\-ipam\n${escapeRoff(usageArgs)}\n`);
  });

  it('makes every section of --help a man section, and keeps every option', () => {
    const headers = [...USAGE.matchAll(/^([A-Z][A-Za-z ]*?)(?:\s*\([^)]*\))?:/gm)].map((m) => (m[1] ?? '').toUpperCase()).filter((h) => h !== 'USAGE');
    expect(headers.length).toBeGreaterThan(2);
    for (const h of headers) expect(lines).toContain(`.SH ${h}`);
    const options = new Set(USAGE.match(/--[a-z][a-z-]*/g));
    expect(options.size).toBeGreaterThan(10);
    for (const o of options) expect(page).toContain(o.replace(/-/g, '\\-'));
  });

  it('emits no stray roff requests', () => {
    expect(lines.filter((l) => l.startsWith('.') && !REQUESTS.test(l))).toEqual([]);
    expect(lines.filter((l) => l.startsWith("'"))).toEqual([]);
  });

  it('escapes what roff would interpret', () => {
    const help = "Usage: tool [x]\n\nNotes:\n.not a request\n  \\n stays text, 'quoted' too\n";
    const out = renderManPage(help, META);
    expect(out).toContain('\n\\&.not a request\n');
    expect(out).toContain("\n  \\en stays text, 'quoted' too\n");
    expect(escapeRoff("'x")).toBe("\\&'x");
  });

  it('refuses help text that does not start with a usage line', () => {
    expect(() => renderManPage('oam-docker-ipam 1.0\n', META)).toThrow('--help does not start with "Usage: <name> …"');
  });
});
