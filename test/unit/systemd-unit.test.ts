/**
 * systemd/oam-docker-ipam.service against what the daemon uses by default (src/config.ts): the
 * sandbox must leave writable exactly the directories it writes, keep the Docker socket and the
 * configuration file within reach, and start before Docker. `systemd-analyze verify` and its
 * security review run on the installed unit in test/packaging/packages.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_FILE, DEFAULT_DOCKER_SOCKET, DEFAULT_DRIVER_NAME, DEFAULT_PLUGIN_DIR, DEFAULT_STATE_DIR } from '../../src/config.js';
import { PLUGIN_BACKLOG, STOP_GRACE_MS } from '../../src/daemon.js';
import { UNIT_STOP_TIMEOUT_MS } from '../support/process-stop.js';
import { unitEnvironment } from '../support/unit-environment.js';

const ROOT = new URL('../..', import.meta.url).pathname;

/** `Key=value` lines of a unit file by key, in order; comments and section headers skipped. */
function parseUnit(text: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m === null) continue;
    const [, key = '', value = ''] = m;
    directives.set(key, [...(directives.get(key) ?? []), value]);
  }
  return directives;
}

describe('the systemd unit', () => {
  const unit = parseUnit(readFileSync(join(ROOT, 'systemd/oam-docker-ipam.service'), 'utf8'));
  const one = (key: string): string => {
    const values = unit.get(key) ?? [];
    expect(values, key).toHaveLength(1);
    return values[0] ?? '';
  };
  const words = (key: string): string[] => (unit.get(key) ?? []).flatMap((v) => v.split(/\s+/)).filter((w) => w !== '');

  it('starts before Docker and never waits for it', () => {
    expect(words('Before')).toContain('docker.service');
    // After= or Requires= on Docker would be an ordering cycle with Before=.
    for (const key of ['After', 'Requires', 'Wants', 'BindsTo']) expect(words(key), key).not.toContain('docker.service');
  });

  it("allows a stop the daemon's grace for plugin calls under way and more, and the tests stop it within the same bound", () => {
    expect(one('KillSignal')).toBe('SIGTERM');
    const timeoutMs = Number(one('TimeoutStopSec')) * 1000;
    expect(timeoutMs).toBe(UNIT_STOP_TIMEOUT_MS);
    // The grace, then reconciliation, renewals and the last records: seconds at most.
    expect(timeoutMs).toBeGreaterThanOrEqual(2 * STOP_GRACE_MS);
  });

  it('reads the configuration file the daemon reads, and the repository ships it at that path', () => {
    expect(one('EnvironmentFile')).toBe(`-${DEFAULT_CONFIG_FILE}`);
    expect(existsSync(join(ROOT, DEFAULT_CONFIG_FILE))).toBe(true);
    expect(one('ExecStart')).toBe('/usr/bin/oam-docker-ipam server');
  });

  it('leaves writable the lease table and the plugin directory, and only those', () => {
    expect(one('ProtectSystem')).toBe('strict');
    expect(`/var/lib/${one('StateDirectory')}`).toBe(DEFAULT_STATE_DIR);
    expect(`/run/${one('RuntimeDirectory')}`).toBe(DEFAULT_PLUGIN_DIR);
    // Created at start (Docker may not have made it yet) and never removed (other plugins' sockets).
    expect(one('RuntimeDirectoryPreserve')).toBe('yes');
    expect(words('ReadWritePaths')).toEqual([DEFAULT_PLUGIN_DIR]);
  });

  it('keeps the Docker socket within reach: not under a directory the sandbox hides', () => {
    expect(one('PrivateTmp')).toBe('yes');
    expect(one('ProtectHome')).toBe('yes');
    for (const hidden of ['/tmp/', '/var/tmp/', '/home/', '/root/', '/run/user/']) expect(DEFAULT_DOCKER_SOCKET.startsWith(hidden), hidden).toBe(false);
  });

  it('keeps only what the daemon uses: port 67/68 binding, unix, IPv4 and netlink sockets', () => {
    expect(one('CapabilityBoundingSet')).toBe('CAP_NET_BIND_SERVICE');
    expect(one('NoNewPrivileges')).toBe('yes');
    expect(words('RestrictAddressFamilies').sort()).toEqual(['AF_INET', 'AF_NETLINK', 'AF_UNIX']);
    // V8 needs writable-then-executable memory: this must never be switched on.
    expect(unit.has('MemoryDenyWriteExecute')).toBe(false);
    // A refused system call fails with EPERM instead of killing the daemon.
    expect(one('SystemCallErrorNumber')).toBe('EPERM');
  });
});

describe('the systemd socket unit', () => {
  const socket = parseUnit(readFileSync(join(ROOT, 'systemd/oam-docker-ipam.socket'), 'utf8'));
  const service = parseUnit(readFileSync(join(ROOT, 'systemd/oam-docker-ipam.service'), 'utf8'));

  it('holds the socket where Docker looks for the default driver, root-only, and only when enabled by name', () => {
    expect(socket.get('ListenStream')).toEqual([join(DEFAULT_PLUGIN_DIR, `${DEFAULT_DRIVER_NAME}.sock`)]);
    // The daemon refuses a socket others may connect to; systemd's default is 0666.
    expect(socket.get('SocketMode')).toEqual(['0600']);
    expect(socket.get('SocketUser')).toBeUndefined();
    expect(socket.get('Backlog')).toEqual([String(PLUGIN_BACKLOG)]);
    // Accept=yes would start one daemon per connection.
    expect(socket.get('Accept') ?? ['no']).toEqual(['no']);
    expect(socket.get('Before')).toEqual(['docker.service']);
    // Opt-in: Also= would enable it with the service, and a DRIVER_NAME other than the socket's
    // would then stop the daemon at the next boot.
    expect(service.get('Also')).toBeUndefined();
    expect(socket.get('RemoveOnStop')).toEqual(['yes']);
  });
});

describe('the unit environment the benchmarks give their daemon', () => {
  it('is what the unit sets, its allocator setting among it', () => {
    expect(unitEnvironment(readFileSync(join(ROOT, 'systemd/oam-docker-ipam.service'), 'utf8'))).toMatchObject({ MALLOC_ARENA_MAX: '2' });
  });

  it('reads Environment= as systemd does: several per line, quoted values, escapes, the last one winning', () => {
    const unit = [
      '[Service]',
      'Environment=A=1 B=2',
      `Environment="C=one two" 'D=x "y"' E="z\\"q" F=a\\sb G=\\x41\\101`,
      'Environment = A=3',
      'EnvironmentFile=-/x',
    ].join('\n');
    expect(unitEnvironment(unit)).toEqual({ A: '3', B: '2', C: 'one two', D: 'x "y"', E: 'z"q', F: 'a b', G: 'AA' });
  });

  it('forgets every assignment before an empty Environment=', () => {
    expect(unitEnvironment('Environment=A=1\nEnvironment=\nEnvironment=B=2')).toEqual({ B: '2' });
  });

  it('refuses what it cannot read rather than guessing', () => {
    expect(() => unitEnvironment('Environment="A=1')).toThrow(/unterminated " quote/);
    expect(() => unitEnvironment('Environment=novalue')).toThrow(/not NAME=value/);
    expect(() => unitEnvironment('Environment=A=a\\ b')).toThrow(/escape systemd does not take/);
    expect(() => unitEnvironment('Environment=A=%n')).toThrow(/specifier/);
    expect(() => unitEnvironment('Environment=A=1 \\')).toThrow(/continues on the next line/);
  });
});
