/**
 * The README and the operator docs say what to type; this checks that it can be typed on a
 * fresh clone: every npm script, script path, file and systemd unit they name exists, every
 * `oam-docker-ipam` command line parses with the real parser (so each flag and command exists),
 * every `--ipam-opt` key is one the driver accepts, every path they name in backticks exists and
 * no link leaves the repository. (test/integration/fresh-clone.test.ts builds a copy of the tree
 * and runs the install steps.)
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCli, USAGE } from '../../src/cli.js';
import { linkTargets, namedPaths, shellCommands, type DocCommand } from '../support/doc-commands.js';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
/** Documents whose commands and paths are checked. */
const CHECKED = ['README.md', 'docs/operator-guide.md', 'docs/reservations.md', 'docs/architecture.md'];
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

/** System tools the documents may show; their own flags are not ours to check. */
const SYSTEM_TOOLS = new Set([
  'ip',
  'ss',
  'tail',
  'jq',
  'journalctl',
  'printf',
  'echo',
  'od',
  'tr',
  'dhcpd',
  'kea-dhcp4',
  'dnsmasq',
  'tcpdump',
  'hostname',
  'iptables',
]);
const DOCKER_VERBS = new Set(['network', 'run', 'exec', 'ps', 'rm', 'restart', 'inspect', 'logs', 'compose', 'info']);
const UNITS = new Set(['oam-docker-ipam', 'oam-docker-ipam.service', 'docker', 'docker.service']);

const exists = (path: string): boolean => existsSync(join(ROOT, path));

/** What is wrong with `c`, or undefined when it can be typed as shown. */
function problemWith(c: DocCommand): string | undefined {
  const [cmd, ...args] = c.words;
  const a = (i: number): string => args[i] ?? '';
  switch (cmd) {
    case 'npm':
      if (a(0) === 'run') return a(1) in pkg.scripts ? undefined : `package.json has no script ${a(1)}`;
      if (a(0) === 'test') return 'test' in pkg.scripts ? undefined : 'package.json has no test script';
      if (a(0) === 'ci' || (a(0) === 'install' && args.includes('-g') && args.includes('.'))) return undefined;
      return 'an npm command this test does not know';
    case 'npx':
      return a(0) === 'tsx' && exists(a(1)) ? undefined : `${a(1)} does not exist`;
    case 'bash':
      return exists(a(0)) ? undefined : `${a(0)} does not exist`;
    case 'install':
      return exists(args.at(-2) ?? '') ? undefined : `${args.at(-2) ?? '?'} does not exist`;
    case 'systemctl':
      return args.slice(1).every((u) => UNITS.has(u)) ? undefined : `unknown unit in ${args.join(' ')}`;
    case 'oam-docker-ipam':
      try {
        parseCli(args);
        return undefined;
      } catch (error) {
        return `oam-docker-ipam refuses it: ${error instanceof Error ? error.message : String(error)}`;
      }
    case 'docker': {
      if (!DOCKER_VERBS.has(a(0))) return `docker ${a(0)} is not a verb this test knows`;
      const keys = args.flatMap((w, i) => (args[i - 1] === '--ipam-opt' ? [w.split('=')[0] ?? ''] : []));
      const unknown = keys.filter((k) => !USAGE.includes(`${k}=`) && !USAGE.includes(`ipam-opt ${k}`));
      return unknown.length === 0 ? undefined : `--ipam-opt ${unknown.join(', ')}: not an option the driver accepts`;
    }
    default:
      return cmd !== undefined && SYSTEM_TOOLS.has(cmd) ? undefined : `${cmd ?? ''}: not a command this test knows (add a rule)`;
  }
}

describe.each(CHECKED)('%s', (doc) => {
  const text = (): string => readFileSync(join(ROOT, doc), 'utf8');
  it.skipIf(!exists(doc))('shows only commands that work on a fresh clone', () => {
    const commands = shellCommands(text());
    const problems = commands.map((c) => [c.text, problemWith(c)]).filter(([, p]) => p !== undefined);
    expect(problems).toEqual([]);
  });

  it.skipIf(!exists(doc))('names only paths that exist, and links only inside the repository', () => {
    const base = dirname(join(ROOT, doc));
    const missing = namedPaths(text()).filter((p) => !exists(p));
    const links = linkTargets(text()).filter((t) => !/^[a-z]+:/.test(t));
    const outside = links.filter((t) => relative(ROOT, resolve(base, t)).startsWith('..'));
    const broken = links.filter((t) => !existsSync(resolve(base, t)));
    expect({ missing, outside, broken }).toEqual({ missing: [], outside: [], broken: [] });
  });
});

describe('README.md, read from the top on a fresh clone', () => {
  it('builds and installs oam-docker-ipam before it first runs it', () => {
    const words = shellCommands(readFileSync(join(ROOT, 'README.md'), 'utf8')).map((c) => c.words.join(' '));
    const firstUse = words.findIndex((w) => w.startsWith('oam-docker-ipam'));
    const build = words.indexOf('npm run build');
    const install = words.findIndex((w) => w === 'npm install -g .' || w === 'npm link');
    expect(firstUse).toBeGreaterThan(0);
    expect(build).toBeGreaterThanOrEqual(0);
    expect(build).toBeLessThan(install);
    expect(install).toBeLessThan(firstUse);
  });

  it('puts the sample configuration where the README copies it from', () => {
    const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(text).toContain('install -D -m 0644 etc/oam-docker-ipam/oam-docker-ipam.conf /etc/oam-docker-ipam/oam-docker-ipam.conf');
    expect(exists('etc/oam-docker-ipam/oam-docker-ipam.conf')).toBe(true);
  });
});

describe('the command parser of this test', () => {
  it('finds commands, joins continuations and drops comments and sudo', () => {
    const md = ['```sh', 'sudo npm run demo   # the demo', 'docker network create \\', '  --ipam-driver d4d lan', '```', '```text', 'npm run nope', '```'].join(
      '\n',
    );
    expect(shellCommands(md).map((c) => c.words.join(' '))).toEqual(['npm run demo', 'docker network create --ipam-driver d4d lan']);
  });

  it('flags what would not work', () => {
    const bad = [
      'npm run no-such-script',
      'oam-docker-ipam --no-such-flag server',
      'oam-docker-ipam frobnicate',
      'npx tsx scripts/none.ts',
      'docker network create --ipam-opt colour=red x',
      'rm -rf /',
    ];
    for (const line of bad) expect(problemWith({ words: line.split(' '), text: line }), line).toBeDefined();
  });
});

describe('every document', () => {
  it('links only inside the repository', () => {
    const docs = [
      'README.md',
      ...readdirSync(join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const outside = docs.flatMap((doc) => {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      const base = dirname(join(ROOT, doc));
      const targets = [...linkTargets(text).filter((t) => !/^[a-z]+:/.test(t)), ...namedPaths(text)];
      return targets.filter((t) => relative(ROOT, resolve(t.startsWith('.') ? base : ROOT, t)).startsWith('..')).map((t) => `${doc}: ${t}`);
    });
    expect(outside).toEqual([]);
  });
});
