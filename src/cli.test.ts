import { describe, expect, it } from 'vitest';
import { parseCli, UsageError } from './cli.js';

describe('parseCli', () => {
  it('parses probe with every option', () => {
    expect(parseCli(['--debug', '--dhcp-server', '10.0.0.1', 'probe', '--mac', '02:AA:bb:cc:dd:ee', '--ip', '10.0.0.9', '--hold', '30', '--timeout', '5'])).toEqual({
      kind: 'probe',
      debug: true,
      dhcpServer: '10.0.0.1',
      mac: '02:aa:bb:cc:dd:ee',
      requestedIp: '10.0.0.9',
      holdSeconds: 30,
      timeoutMs: 5000,
    });
  });

  it('has defaults', () => {
    expect(parseCli(['--dhcp-server', '10.0.0.1', 'probe'])).toMatchObject({ mac: undefined, requestedIp: undefined, holdSeconds: 0, timeoutMs: 60_000, debug: false });
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
    { desc: 'extra arguments', args: ['--dhcp-server', '10.0.0.1', 'probe', 'x'], want: /unexpected arguments: x/ },
  ])('rejects $desc', ({ args, want }) => {
    expect(() => parseCli(args)).toThrow(UsageError);
    expect(() => parseCli(args)).toThrow(want);
  });

  it('lists every bad setting at once', () => {
    expect(() => parseCli(['--dhcp-server', '10.0.0', 'probe', '--mac', 'zz', '--ip', '1.2.3.4.5', '--hold=-1', '--timeout', '0'])).toThrow(
      '--dhcp-server: not an IPv4 address: "10.0.0"; --mac: not a MAC address: "zz"; --ip: not an IPv4 address: "1.2.3.4.5"; --hold: want seconds ≥ 0, got "-1"; --timeout: want seconds > 0, got "0"',
    );
    expect(() => parseCli(['probe'])).toThrow('--dhcp-server is required');
  });
});
