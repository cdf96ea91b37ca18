/**
 * oam-docker-ipam(1), generated from the executable's own `--help`, so the manual says what the
 * shipped command does: each header at the left margin of `--help` ("Commands:", "Global
 * options (…):", "Signals: …") starts a man section; indented lines (commands, options and their
 * descriptions) are kept as they are laid out, other lines are filled as paragraphs. NAME,
 * FILES and SEE ALSO are added around it.
 *
 * Usage: oam-docker-ipam --help | tsx packaging/man-page.ts --version VERSION [--date YYYY-MM-DD]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_CONFIG_FILE, DEFAULT_DRIVER_NAME, DEFAULT_PLUGIN_DIR, DEFAULT_STATE_DIR } from '../src/config.js';

/** What the page says besides `--help`. */
export interface ManPageMeta {
  readonly version: string;
  /** `YYYY-MM-DD`, shown in the page footer. */
  readonly date: string;
}

/** A man section built from `--help`: a title and roff body lines. */
interface Section {
  readonly title: string;
  readonly body: string[];
}

/**
 * Escapes text for roff: a backslash is `\e`; `-` is `\-` so options print (and copy) as
 * ASCII hyphen-minus; a line must not start with a control character (`.` or `'`).
 */
export function escapeRoff(line: string): string {
  const text = line.replace(/\\/g, '\\e').replace(/-/g, '\\-');
  return /^[.']/.test(text) ? `\\&${text}` : text;
}

/** `Usage: <name> <args>`, the first line of `--help`. */
const USAGE_LINE = /^Usage:\s+(\S+)\s*(.*)$/;
/** A section header at the left margin: `Commands:`, `Global options (…):`, `Signals: text`. */
const HEADER_LINE = /^([A-Z][A-Za-z ]*?)(?:\s*\(([^)]*)\))?:(?:\s+(.*))?$/;

/** Appends `lines` to `body`: indented ones kept as laid out, others as a filled paragraph. */
function appendLines(body: string[], lines: readonly string[]): void {
  let verbatim: boolean | undefined;
  for (const line of lines) {
    const indented = /^\s/.test(line);
    if (indented !== verbatim) {
      if (verbatim === true) body.push('.fi');
      body.push('.PP');
      if (indented) body.push('.nf');
      verbatim = indented;
    }
    body.push(escapeRoff(indented ? line : line.trim()));
  }
  if (verbatim === true) body.push('.fi');
}

/** Renders the manual page for `help`, the text `oam-docker-ipam --help` prints. */
export function renderManPage(help: string, meta: ManPageMeta): string {
  const lines = help.replace(/\r/g, '').trimEnd().split('\n');
  const usage = USAGE_LINE.exec(lines[0] ?? '');
  if (usage === null) throw new Error(`--help does not start with "Usage: <name> …": ${JSON.stringify(lines[0] ?? '')}`);
  const name = usage[1] ?? '';
  // Lines before the first header describe the command as a whole.
  const description: Section = { title: 'DESCRIPTION', body: [] };
  const sections: Section[] = [description];
  let current = description;
  let paragraph: string[] = [];
  const flush = (): void => {
    appendLines(current.body, paragraph);
    paragraph = [];
  };
  for (const line of lines.slice(1)) {
    // A blank line ends a paragraph; a header at the left margin starts a section, even right
    // after the previous one's last line ("Signals: …" then "Exit status: …").
    const header = /^\S/.test(line) ? HEADER_LINE.exec(line) : null;
    if (line.trim() === '' || header !== null) flush();
    if (header === null) {
      if (line.trim() !== '') paragraph.push(line);
      continue;
    }
    current = { title: (header[1] ?? '').toUpperCase(), body: [] };
    sections.push(current);
    const note = header[2];
    if (note !== undefined) current.body.push('.PP', escapeRoff(`(${note})`));
    if (header[3] !== undefined) paragraph.push(header[3]);
  }
  flush();
  return [
    `.TH ${name.toUpperCase()} 1 "${meta.date}" "${name} ${meta.version}" "User Commands"`,
    '.SH NAME',
    `${escapeRoff(name)} \\- Docker IPAM driver that leases container addresses from the site's DHCP server`,
    '.SH SYNOPSIS',
    `.B ${escapeRoff(name)}`,
    escapeRoff(usage[2] ?? ''),
    ...sections.filter((s) => s.body.length > 0).flatMap((s) => [`.SH ${escapeRoff(s.title)}`, ...s.body]),
    '.SH FILES',
    ...[
      [DEFAULT_CONFIG_FILE, 'Settings, KEY=value lines (flags and the environment override them).'],
      [DEFAULT_STATE_DIR, 'The lease table, kept across restarts (STATE_DIR).'],
      [`${DEFAULT_PLUGIN_DIR}/${DEFAULT_DRIVER_NAME}.sock`, 'The plugin socket Docker connects to (PLUGIN_DIR, DRIVER_NAME).'],
      ['/usr/lib/systemd/system/oam-docker-ipam.service', 'The systemd unit.'],
    ].flatMap(([path, what]) => ['.TP', `.I ${escapeRoff(path ?? '')}`, escapeRoff(what ?? '')]),
    '.SH SEE ALSO',
    '.BR docker-network-create (1),',
    '.BR systemd.exec (5)',
    '.PP',
    `README.md and docs/install.md in /usr/share/doc/${escapeRoff(name)}.`,
    '',
  ].join('\n');
}

function main(): void {
  const { values } = parseArgs({ options: { version: { type: 'string' }, date: { type: 'string' } } });
  if (values.version === undefined) throw new Error('--version is required');
  // Reproducible builds set SOURCE_DATE_EPOCH; the date then does not change from build to build.
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const date = values.date ?? new Date(epoch === undefined ? Date.now() : Number(epoch) * 1000).toISOString().slice(0, 10);
  process.stdout.write(renderManPage(readFileSync(0, 'utf8'), { version: values.version, date }));
}

// Run as a command, not when a test imports it.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
