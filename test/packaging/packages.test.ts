/**
 * The packages ./build-rpm.sh makes (dist/packages/): what the RPM and the .deb list, that both
 * carry the executable that was built, a man page groff renders without warnings, and the .deb
 * installed on this machine with dpkg -i, run, its units checked by systemd-analyze, removed with dpkg -r
 * (the configuration file stays) and purged, leaving the machine as it was found.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeLab } from '../support/lab/prereqs.js';
import { createNodeFreePath, runIsolated, type NodeFreePath } from '../support/node-free-path.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SEA = join(ROOT, 'dist/sea/oam-docker-ipam');
const PACKAGE = 'oam-docker-ipam';
const CONF = '/etc/oam-docker-ipam/oam-docker-ipam.conf';
const UNIT = '/usr/lib/systemd/system/oam-docker-ipam.service';
const SOCKET_UNIT = '/usr/lib/systemd/system/oam-docker-ipam.socket';
const DOC = '/usr/share/doc/oam-docker-ipam';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sh(file: string, args: readonly string[], input?: Buffer): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(file, [...args], { maxBuffer: 256 * 1024 * 1024, encoding: 'buffer', timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout: stdout.toString('latin1'), stderr: stderr.toString() });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function ok(file: string, args: readonly string[]): Promise<string> {
  const r = await sh(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}:\n${r.stdout.slice(0, 2000)}${r.stderr}`);
  return r.stdout;
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** Every file the packages must hold, from the repository; directories apart. */
function expectedFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'), { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => `${DOC}/docs/${e.name}`);
  return [
    '/usr/bin/oam-docker-ipam',
    UNIT,
    SOCKET_UNIT,
    CONF,
    '/usr/share/man/man1/oam-docker-ipam.1.gz',
    `${DOC}/README.md`,
    `${DOC}/copyright`,
    `${DOC}/THIRD-PARTY-NOTICES`,
    ...docs,
  ].sort();
}

/** What `systemctl enable` of both units creates. */
const ENABLED = ['/etc/systemd/system/multi-user.target.wants/oam-docker-ipam.service', '/etc/systemd/system/sockets.target.wants/oam-docker-ipam.socket'];

/** What the install test may create; each must be as it was before once the package is purged. */
const FOOTPRINT = [
  '/usr/bin/oam-docker-ipam',
  '/etc/oam-docker-ipam',
  DOC,
  UNIT,
  SOCKET_UNIT,
  '/usr/share/man/man1/oam-docker-ipam.1.gz',
  '/var/lib/oam-docker-ipam',
  ...ENABLED,
];

async function dpkgStatus(): Promise<string> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax, not a template
  const r = await sh('dpkg-query', ['-W', '-f=${Status}', PACKAGE]);
  // Purged: dpkg no longer lists it, or lists it as not installed (still in its available list).
  return r.code === 0 && !r.stdout.endsWith(' not-installed') ? r.stdout : 'not known';
}

describeLab(
  'the RPM and the .deb',
  () => {
    let version: string;
    let rpmFile: string;
    let debFile: string;
    let builtSha: string;

    beforeAll(async () => {
      version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
      rpmFile = join(ROOT, `dist/packages/${PACKAGE}-${version}-1.x86_64.rpm`);
      debFile = join(ROOT, `dist/packages/${PACKAGE}_${version}-1_amd64.deb`);
      for (const f of [SEA, rpmFile, debFile]) if (!existsSync(f)) throw new Error(`${f} is missing: run ./build-rpm.sh ${version} first`);
      builtSha = sha256(await readFile(SEA));
    });

    describe('contents', () => {
      it('rpm -qpl lists the executable, the unit, the configuration, the docs and the man page', async () => {
        const listed = (await ok('rpm', ['-qpl', rpmFile])).trim().split('\n');
        const dirs = ['/etc/oam-docker-ipam', DOC, `${DOC}/docs`];
        expect(listed.sort()).toEqual([...expectedFiles(), ...dirs].sort());
        // Epoch 1: an upgrade of D4D's own RPM (2.0.0), whatever our version number.
        expect(await ok('rpm', ['-qp', '--qf', '%{NAME} %{EPOCH}:%{VERSION} %{RELEASE} %{ARCH}', rpmFile])).toBe(`${PACKAGE} 1:${version} 1 x86_64`);
      });

      it('marks the configuration %config(noreplace), the executable 0755, everything root-owned', async () => {
        const rows = (
          await ok('rpm', [
            '-qp',
            '--qf',
            '[%{FILENAMES}\t%{FILEFLAGS:fflags}\t%{FILEMODES:perms}\t%{FILEUSERNAME}:%{FILEGROUPNAME}\t%{FILEDIGESTS}\n]',
            rpmFile,
          ])
        )
          .trim()
          .split('\n');
        const byPath = new Map(
          rows.map((r) => {
            const [path = '', ...rest] = r.split('\t');
            return [path, rest] as const;
          }),
        );
        expect(byPath.get(CONF)?.[0]).toBe('cn');
        expect(byPath.get('/usr/bin/oam-docker-ipam')?.slice(1, 3)).toEqual(['-rwxr-xr-x', 'root:root']);
        expect(rows.filter((r) => !r.includes('\troot:root\t'))).toEqual([]);
        // The executable is the one just built, byte for byte (rpm's file digests are SHA-256).
        expect(byPath.get('/usr/bin/oam-docker-ipam')?.[3]).toBe(builtSha);
      });

      it('dpkg-deb -c lists the same files, with the configuration as a conffile', async () => {
        const listing = (await ok('dpkg-deb', ['-c', debFile])).trim().split('\n');
        const files = listing.filter((l) => !l.startsWith('d')).map((l) => l.split(/\s+/).slice(5).join(' ').replace(/^\./, ''));
        expect(files.sort()).toEqual(expectedFiles());
        expect(listing.filter((l) => !l.includes(' root/root '))).toEqual([]);
        expect(listing.find((l) => l.endsWith(' ./usr/bin/oam-docker-ipam'))?.startsWith('-rwxr-xr-x')).toBe(true);
        expect((await ok('dpkg-deb', ['-f', debFile, 'Package', 'Version', 'Architecture'])).trim().split('\n')).toEqual([
          `Package: ${PACKAGE}`,
          `Version: ${version}-1`,
          'Architecture: amd64',
        ]);
        expect((await ok('dpkg-deb', ['-I', debFile, 'conffiles'])).trim()).toBe(CONF);
      });

      it('the .deb carries the built executable and a man page that groff renders without a warning', async () => {
        const dir = await mkdtemp(join(tmpdir(), 'd4d-deb-'));
        try {
          await ok('dpkg-deb', ['-x', debFile, dir]);
          expect(sha256(await readFile(join(dir, 'usr/bin/oam-docker-ipam')))).toBe(builtSha);
          const page = join(dir, 'usr/share/man/man1/oam-docker-ipam.1.gz');
          const rendered = await sh('man', ['--warnings=w', '-l', '-P', 'cat', page]);
          expect(rendered.stderr).toBe('');
          expect(rendered.code).toBe(0);
          // Generated from this executable's --help: each of its options is in the page.
          const help = await ok(SEA, ['--help']);
          for (const option of new Set(help.match(/--[a-z][a-z-]+/g))) expect(rendered.stdout.replace(/\u2010/g, '-'), option).toContain(option);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      });
    });

    describe('dpkg -i, run, dpkg -r, dpkg --purge', () => {
      let found: Map<string, boolean>;
      let noNode: NodeFreePath | undefined;

      beforeAll(async () => {
        // A previous run of this file that died half-way: its package goes first.
        if ((await dpkgStatus()) !== 'not known') await ok('dpkg', ['--purge', PACKAGE]);
        if (existsSync('/usr/bin/oam-docker-ipam')) throw new Error("/usr/bin/oam-docker-ipam exists and no package owns it: not this test's to overwrite");
        found = new Map(FOOTPRINT.map((p) => [p, existsSync(p)]));
      });

      afterAll(async () => {
        if ((await dpkgStatus()) !== 'not known') await sh('dpkg', ['--purge', PACKAGE]);
        await noNode?.remove();
      });

      it('installs with dpkg -i; dpkg --verify finds every file as packaged', async () => {
        await ok('dpkg', ['-i', debFile]);
        expect(await dpkgStatus()).toBe('install ok installed');
        expect(await sh('dpkg', ['--verify', PACKAGE])).toEqual({ code: 0, stdout: '', stderr: '' });
        for (const f of expectedFiles()) expect(existsSync(f), f).toBe(true);
      });

      it('the installed command runs from PATH with no node on it, and its manual opens with man', async () => {
        // Made now: the system directories, with what the package just put there.
        noNode = await createNodeFreePath();
        const env = { PATH: noNode.path };
        expect(await runIsolated('oam-docker-ipam', ['--version'], env)).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
        const help = await runIsolated('oam-docker-ipam', ['--help'], env);
        expect(help.code).toBe(0);
        expect(help.stdout).toMatch(/^Usage: oam-docker-ipam /);
        const man = await runIsolated('man', ['-P', 'cat', 'oam-docker-ipam'], { ...env, MANPATH: '/usr/share/man' });
        expect(man.code, man.stderr).toBe(0);
        expect(man.stdout).toContain('OAM-DOCKER-IPAM(1)');
      });

      it("the installed units are the repository's, pass systemd-analyze verify, the service with a low exposure level", async () => {
        expect(await readFile(UNIT, 'utf8')).toBe(await readFile(join(ROOT, 'systemd/oam-docker-ipam.service'), 'utf8'));
        expect(await readFile(SOCKET_UNIT, 'utf8')).toBe(await readFile(join(ROOT, 'systemd/oam-docker-ipam.socket'), 'utf8'));
        expect(await sh('systemd-analyze', ['verify', UNIT, SOCKET_UNIT])).toEqual({ code: 0, stdout: '', stderr: '' });
        const security = await sh('systemd-analyze', ['security', '--offline=yes', '--threshold=25', UNIT]);
        const overall = /Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout)?.[1];
        expect(security.code, `exposure ${overall ?? '?'}:\n${security.stdout}`).toBe(0);
        expect(Number(overall)).toBeLessThanOrEqual(2.5);
      });

      it('systemctl enable by name enables the socket and the service (offline: the symlinks)', async () => {
        // Works without systemd running: only the symlinks.
        await ok('systemctl', ['enable', 'oam-docker-ipam.socket', 'oam-docker-ipam.service']);
        for (const link of ENABLED) expect(existsSync(link), link).toBe(true);
      });

      it('dpkg -r disables both units and removes everything but the configuration file, which keeps its changes', async () => {
        await appendFile(CONF, 'DHCP_SERVER=192.0.2.1\n');
        const edited = await readFile(CONF, 'utf8');
        await ok('dpkg', ['-r', PACKAGE]);
        for (const link of ENABLED) expect(existsSync(link), link).toBe(false);
        expect(await dpkgStatus()).toBe('deinstall ok config-files');
        for (const f of expectedFiles().filter((p) => p !== CONF)) expect(existsSync(f), f).toBe(false);
        expect(await readFile(CONF, 'utf8')).toBe(edited);
      });

      it('dpkg --purge removes the configuration too, leaving the machine as it was found', async () => {
        await ok('dpkg', ['--purge', PACKAGE]);
        expect(await dpkgStatus()).toBe('not known');
        expect(new Map(FOOTPRINT.map((p) => [p, existsSync(p)]))).toEqual(found);
      });
    });
  },
  { requires: ['rpm', 'dpkg-deb', 'dpkg', 'systemd-analyze', 'man'] },
);
