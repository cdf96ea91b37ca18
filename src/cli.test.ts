import { describe, expect, it } from 'vitest';
import { SETTINGS, type SettingSpec } from './config.js';
import { POOL_OPTIONS } from './ipam/pool.js';
import { NETWORK_OPTIONS, parseCli, USAGE, UsageError } from './cli.js';

describe('parseCli', () => {
  it('parses server with every global option', () => {
    expect(
      parseCli([
        '--debug',
        '--dhcp-server',
        '10.0.0.1',
        '--listen-addr',
        '10.0.0.5',
        '--driver-name',
        'lan',
        '--state-dir',
        '/s',
        '--plugin-dir',
        '/p',
        '--config',
        '/c.conf',
        'server',
      ]),
    ).toEqual({
      kind: 'server',
      flags: { debug: true, dhcpServer: '10.0.0.1', listenAddr: '10.0.0.5', driverName: 'lan', stateDir: '/s', pluginDir: '/p', configFile: '/c.conf' },
    });
  });

  it('leaves unset flags out, so the file and environment decide', () => {
    expect(parseCli(['server'])).toEqual({ kind: 'server', flags: {} });
  });

  it('parses probe with its options', () => {
    expect(parseCli(['--dhcp-server', '10.0.0.1', 'probe', '--mac', '02:AA:bb:cc:dd:ee', '--ip', '10.0.0.9', '--hold', '30', '--timeout', '5'])).toEqual({
      kind: 'probe',
      flags: { dhcpServer: '10.0.0.1' },
      mac: '02:aa:bb:cc:dd:ee',
      requestedIp: '10.0.0.9',
      holdSeconds: 30,
      timeoutMs: 5000,
    });
    expect(parseCli(['probe'])).toMatchObject({ mac: undefined, requestedIp: undefined, holdSeconds: 0, timeoutMs: 60_000 });
  });

  it.each([
    { args: ['-h'], want: { kind: 'help' } },
    { args: ['--version'], want: { kind: 'version' } },
  ])('$args', ({ args, want }) => {
    expect(parseCli(args)).toEqual(want);
  });

  it.each([
    { desc: 'no command', args: ['--dhcp-server', '10.0.0.1'], want: /no command given/ },
    { desc: 'unknown command', args: ['frobnicate'], want: /unknown command "frobnicate"/ },
    { desc: 'unknown flag', args: ['--nope', 'probe'], want: /Unknown option '--nope'/ },
    { desc: 'extra arguments', args: ['probe', 'x'], want: /unexpected arguments: x/ },
    { desc: 'probe options on server', args: ['server', '--mac', '02:00:00:00:00:01'], want: /--mac only goes with probe/ },
  ])('rejects $desc', ({ args, want }) => {
    expect(() => parseCli(args)).toThrow(UsageError);
    expect(() => parseCli(args)).toThrow(want);
  });

  it('parses the reconciliation and trusted-server flags', () => {
    expect(
      parseCli(['--dhcp-server-ids', '10.0.0.2,10.0.0.3', '--docker-socket', '/d.sock', '--reconcile-interval', '5', '--reconcile-grace', '2', 'server']),
    ).toEqual({ kind: 'server', flags: { dhcpServerIds: '10.0.0.2,10.0.0.3', dockerSocket: '/d.sock', reconcileInterval: '5', reconcileGrace: '2' } });
  });

  it('parses reconcile, with and without --dry-run', () => {
    expect(parseCli(['reconcile'])).toEqual({ kind: 'reconcile', flags: {}, dryRun: false });
    expect(parseCli(['--driver-name', 'lan', 'reconcile', '--dry-run'])).toEqual({ kind: 'reconcile', flags: { driverName: 'lan' }, dryRun: true });
    expect(() => parseCli(['probe', '--dry-run'])).toThrow('--dry-run only goes with reconcile');
    expect(() => parseCli(['reconcile', '--mac', '02:00:00:00:00:01'])).toThrow('--mac only goes with probe');
  });

  it('documents reconcile and the new settings in --help', () => {
    for (const text of [
      'reconcile [--dry-run]',
      '--dhcp-server-ids',
      'DHCP_SERVER_IDS',
      '--docker-socket',
      'DOCKER_SOCKET',
      'RECONCILE_INTERVAL',
      'RECONCILE_GRACE',
    ]) {
      expect(USAGE).toContain(text);
    }
  });

  it('lists every bad probe option at once', () => {
    expect(() => parseCli(['probe', '--mac', 'zz', '--ip', '1.2.3.4.5', '--hold=-1', '--timeout', '0'])).toThrow(
      '--mac: not a MAC address: "zz"; --ip: not an IPv4 address: "1.2.3.4.5"; --hold: want seconds ≥ 0, got "-1"; --timeout: want seconds > 0, got "0"',
    );
  });

  it('parses the operator commands and their options', () => {
    expect(parseCli(['--driver-name', 'lan', 'leases'])).toEqual({ kind: 'leases', flags: { driverName: 'lan' }, json: false });
    expect(parseCli(['leases', '--json'])).toEqual({ kind: 'leases', flags: {}, json: true });
    expect(parseCli(['status', '--json'])).toEqual({ kind: 'status', flags: {}, json: true });
    expect(parseCli(['--metrics-addr', '127.0.0.1:9468', 'server'])).toEqual({ kind: 'server', flags: { metricsAddr: '127.0.0.1:9468' } });
    expect(parseCli(['check-config'])).toEqual({ kind: 'check-config', flags: {}, probe: true, timeoutMs: 10_000 });
    expect(parseCli(['--dhcp-server', '10.0.0.1', 'check-config', '--no-probe', '--timeout', '3'])).toEqual({
      kind: 'check-config',
      flags: { dhcpServer: '10.0.0.1' },
      probe: false,
      timeoutMs: 3_000,
    });
  });

  it.each([
    { args: ['server', '--json'], want: '--json only goes with leases and status' },
    { args: ['status', '--no-probe'], want: '--no-probe only goes with check-config' },
    { args: ['leases', '--timeout', '3'], want: '--timeout only goes with probe and check-config' },
    { args: ['check-config', '--timeout', '0'], want: '--timeout: want seconds > 0, got "0"' },
  ])('refuses $args', ({ args, want }) => {
    expect(() => parseCli(args)).toThrow(want);
  });

  it('--help lists every setting of the table with its default, and every network option', () => {
    for (const s of SETTINGS as readonly SettingSpec[]) {
      expect(USAGE).toContain(s.key);
      if (s.flag !== undefined) expect(USAGE).toContain(`--${s.flag.name}`);
      const shown = s.default.replace(/^\((.*)\)$/, '$1');
      expect(USAGE).toContain(shown === 'required' ? `${s.key} (required)` : `(default: ${shown})`);
    }
    // The first-run gaps: settings that only the file or environment set, and --ipam-opt.
    for (const text of ['DHCP_CLIENT_ID', 'DHCP_MAX_CONCURRENT', 'client-id=mac|endpoint-name', 'leases [--json]', 'status [--json]', 'check-config']) {
      expect(USAGE).toContain(text);
    }
    expect(NETWORK_OPTIONS.map((o) => o.key)).toEqual([...POOL_OPTIONS]);
    expect(Math.max(...USAGE.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
  });

  it('takes every flag of the table on the command line into its field', () => {
    const args: string[] = [];
    const want: Record<string, string | boolean> = {};
    for (const s of SETTINGS as readonly SettingSpec[]) {
      if (s.flag === undefined) continue;
      if (s.flag.arg === undefined) {
        args.push(`--${s.flag.name}`);
        want[s.flag.field] = true;
      } else {
        args.push(`--${s.flag.name}`, `v-${s.flag.name}`);
        want[s.flag.field] = `v-${s.flag.name}`;
      }
    }
    expect(parseCli([...args, 'server'])).toEqual({ kind: 'server', flags: want });
  });

  it("takes D4D's --debug=true and --debug=false for a switch, and nothing else in that form", () => {
    expect(parseCli(['--debug=true', '--dhcp-server', '10.0.0.1', 'server'])).toEqual({ kind: 'server', flags: { debug: true, dhcpServer: '10.0.0.1' } });
    expect(parseCli(['--debug=false', '--dhcp-server', '10.0.0.1', 'server'])).toEqual({ kind: 'server', flags: { dhcpServer: '10.0.0.1' } });
    expect(() => parseCli(['--debug=yes', 'server'])).toThrow(UsageError);
    expect(parseCli(['--dhcp-server=true', 'server'])).toEqual({ kind: 'server', flags: { dhcpServer: 'true' } });
  });
});
