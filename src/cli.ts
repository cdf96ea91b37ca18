/**
 * Command-line parsing: argv in, a `Command` out. No side effects; `main.ts` acts on the result.
 */
import { parseArgs } from 'node:util';
import { isIPv4, normalizeMac } from './dhcp/codec/ipv4.js';
import { DaemonError } from './errors.js';

export const USAGE = `Usage: oam-docker-ipam [--debug] --dhcp-server IP <command> [options]

Commands:
  probe      Lease one address from the DHCP server for a MAC, print it, then release it.
             Checks, before any container runs, that this host can get leases from the server.
      --mac MAC          endpoint MAC to lease for (default: a random locally administered MAC)
      --ip IP            ask for this address (option 50) and fail if the server will not give it
      --hold SECONDS     keep the lease (renewing it) this long before releasing it (default 0)
      --timeout SECONDS  give up acquiring after this long (default 60)

Global options:
  --dhcp-server IP   the DHCP server to use; requests are unicast to IP:67
  --debug            log every packet (JSON lines on stderr)
  -h, --help         show this help
  -v, --version      print the version

Signals: SIGINT and SIGTERM release what probe holds and exit.
Exit status: 0 success, 1 the DHCP exchange failed, 2 bad usage.`;

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | {
      kind: 'probe';
      debug: boolean;
      dhcpServer: string;
      mac: string | undefined;
      requestedIp: string | undefined;
      holdSeconds: number;
      timeoutMs: number;
    };

/** Bad command line; the message says what is wrong, `main` adds the usage. */
export class UsageError extends DaemonError {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}

export function parseCli(argv: readonly string[]): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        debug: { type: 'boolean', default: false },
        'dhcp-server': { type: 'string' },
        mac: { type: 'string' },
        ip: { type: 'string' },
        hold: { type: 'string', default: '0' },
        timeout: { type: 'string', default: '60' },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };
  const [command, ...extra] = positionals;
  if (command === undefined) throw new UsageError('no command given');
  if (command !== 'probe') throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);

  const problems: string[] = [];
  const server = values['dhcp-server'];
  if (server === undefined) problems.push('--dhcp-server is required');
  else if (!isIPv4(server)) problems.push(`--dhcp-server: not an IPv4 address: ${JSON.stringify(server)}`);
  const mac = values.mac === undefined ? undefined : normalizeMac(values.mac);
  if (values.mac !== undefined && mac === undefined) problems.push(`--mac: not a MAC address: ${JSON.stringify(values.mac)}`);
  if (values.ip !== undefined && !isIPv4(values.ip)) problems.push(`--ip: not an IPv4 address: ${JSON.stringify(values.ip)}`);
  const hold = Number(values.hold);
  if (!Number.isFinite(hold) || hold < 0) problems.push(`--hold: want seconds ≥ 0, got ${JSON.stringify(values.hold)}`);
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) problems.push(`--timeout: want seconds > 0, got ${JSON.stringify(values.timeout)}`);
  if (problems.length > 0) throw new UsageError(problems.join('; '));

  return {
    kind: 'probe',
    debug: values.debug,
    dhcpServer: server as string,
    mac,
    requestedIp: values.ip,
    holdSeconds: hold,
    timeoutMs: timeout * 1000,
  };
}
