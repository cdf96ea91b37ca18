import { describe, expect, it } from 'vitest';
import { parseCli, USAGE, UsageError } from './cli.js';

describe('parseCli', () => {
  it('parses server with every global option', () => {
    expect(
      parseCli(['--debug', '--dhcp-server', '10.0.0.1', '--listen-addr', '10.0.0.5', '--driver-name', 'lan', '--state-dir', '/s', '--plugin-dir', '/p', '--config', '/c.conf', 'server']),
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
    { desc: 'probe options on server', args: ['server', '--mac', '02:00:00:00:00:01'], want: /--mac only go with probe/ },
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
    expect(() => parseCli(['reconcile', '--mac', '02:00:00:00:00:01'])).toThrow('--mac only go with probe');
  });

  it('documents reconcile and the new settings in --help', () => {
    for (const text of ['reconcile [--dry-run]', '--dhcp-server-ids', 'DHCP_SERVER_IDS', '--docker-socket', 'DOCKER_SOCKET', 'RECONCILE_INTERVAL', 'RECONCILE_GRACE']) {
      expect(USAGE).toContain(text);
    }
  });

  it('lists every bad probe option at once', () => {
    expect(() => parseCli(['probe', '--mac', 'zz', '--ip', '1.2.3.4.5', '--hold=-1', '--timeout', '0'])).toThrow(
      '--mac: not a MAC address: "zz"; --ip: not an IPv4 address: "1.2.3.4.5"; --hold: want seconds ≥ 0, got "-1"; --timeout: want seconds > 0, got "0"',
    );
  });
});
