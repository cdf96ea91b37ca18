/**
 * Command-line parsing: argv in, a `Command` out. No side effects; `main.ts` acts on the result.
 *
 * The global options and the settings part of `--help` come from `SETTINGS` (config.ts), the
 * table docs/configuration.md is generated from too: a setting added there is parsed, shown in
 * `--help` and documented without another edit.
 */
import { parseArgs } from 'node:util';
import { isIPv4, normalizeMac } from './dhcp/codec/ipv4.js';
import { SETTINGS, type ConfigFlags, type SettingSpec } from './config.js';
import { DaemonError } from './errors.js';

/** Text width `--help` is wrapped to. */
const WIDTH = 100;
/** Column where option descriptions start. */
const DESC_COLUMN = 23;

/** What `--ipam-opt KEY=VALUE` accepts on `docker network create` (ipam/pool.ts parses them). */
export const NETWORK_OPTIONS = [
  {
    key: 'client-id',
    values: 'mac|endpoint-name',
    default: 'DHCP_CLIENT_ID',
    help: 'How containers of this network identify themselves to the DHCP server: mac (01 + MAC) or endpoint-name (type 0 + <host name>/<container name>, Docker 29+; a reservation keyed on it survives re-creating the container). Unknown --ipam-opt keys are refused.',
  },
] as const;

const COMMANDS = `Commands:
  server     Run the Docker IPAM plugin: serve <plugin-dir>/<driver-name>.sock and keep every
             container's DHCP lease renewed. Leases are kept in <state-dir> across restarts.
  probe      Lease one address from the DHCP server for a MAC, print it, then release it.
             Checks, before any container runs, that this host can get leases from the server.
      --mac MAC          endpoint MAC to lease for (default: a random locally administered MAC)
      --ip IP            ask for this address (option 50) and fail if the server will not give it
      --hold SECONDS     keep the lease (renewing it) this long before releasing it (default 0)
      --timeout SECONDS  give up acquiring after this long (default 60)
             A MAC the running server (or its lease table) holds is refused: its RELEASE would
             free a running container's address.
  reconcile [--dry-run]
             Ask the running server to compare its leases with the endpoints Docker has now and
             release those no endpoint has had for RECONCILE_GRACE; print them as a table.
             With --dry-run, only print what would be released. Fails when the server is not
             running or Docker cannot be read (nothing is released then).
  leases [--json]
             The running server's leases: network (or pool), address, MAC, client id, state,
             when each expires, when the server last granted or extended it, and its last error.
             When no server answers, the leases as last saved in <state-dir>, with a note.
  status [--json]
             Whether the running server is healthy: the DHCP server's last reply, leases by
             state, acquisitions and renewals in the last minute, the last errors, version and
             uptime. Unhealthy means either: the DHCP server has not replied since an exchange
             (acquire, renew, rebind, reboot) ended with no reply at all, or a lease is EXPIRED
             or REBOOTING (its container uses an address the server does not lease to it now).
             Exit status 0 when healthy, 1 when unhealthy or when no server answers: it can
             serve as a health check.
  check-config [--no-probe] [--timeout SECONDS]
             Validate the configuration file and flags, then lease one address (and release it)
             to show the subnet, router and lease time the DHCP server hands out; says what to
             fix when it cannot. --no-probe: validate only. --timeout: default 10.`;

const TRAILER = `Signals: SIGINT, SIGTERM and SIGHUP stop the server, keeping leases on disk (containers keep their
addresses and the next start resumes renewing them); probe releases what it holds.
Exit status: 0 success, 1 failure (DHCP, configuration, socket; status: unhealthy), 2 bad usage.`;

/** `--help`: commands, then every setting of `SETTINGS`, then the network options. */
export const USAGE = renderUsage();

function renderUsage(): string {
  const settings: readonly SettingSpec[] = SETTINGS;
  const flagged = settings.filter((s) => s.flag !== undefined);
  const fileOnly = settings.filter((s) => s.flag === undefined);
  const lines = ['Usage: oam-docker-ipam [global options] <command> [options]', '', COMMANDS, ''];
  lines.push('Global options (they override the configuration file and the environment):');
  for (const s of flagged) {
    const flag = s.flag as NonNullable<SettingSpec['flag']>;
    lines.push(...entry(`--${flag.name}${flag.arg === undefined ? '' : ` ${flag.arg}`}`, `${s.key} ${defaultText(s.default)}: ${s.help}`));
  }
  lines.push(...entry('-h, --help', 'show this help'), ...entry('-v, --version', 'print the version'), '');
  lines.push('Settings without a flag (configuration file or environment):');
  for (const s of fileOnly) lines.push(...entry(s.key, `${defaultText(s.default)}: ${s.help}`));
  lines.push('', 'Network options (docker network create --ipam-driver NAME --ipam-opt KEY=VALUE):');
  for (const o of NETWORK_OPTIONS) lines.push(...entry(`${o.key}=${o.values}`, `(default: ${o.default}): ${o.help}`));
  lines.push('', TRAILER);
  return lines.join('\n');
}

/** `(required)` stays as it is; other defaults read `(default: X)`. */
export function defaultText(value: string): string {
  if (value === '(required)') return value;
  return `(default: ${value.replace(/^\((.*)\)$/, '$1')})`;
}

/** One option: the term in its column, the description wrapped beside it (or below a long term). */
function entry(term: string, description: string): string[] {
  const head = `  ${term}`;
  const body = wrap(description, WIDTH - DESC_COLUMN);
  const pad = ' '.repeat(DESC_COLUMN);
  if (head.length >= DESC_COLUMN - 1) return [head, ...body.map((l) => pad + l)];
  return [head.padEnd(DESC_COLUMN) + (body[0] ?? ''), ...body.slice(1).map((l) => pad + l)];
}

/** Greedy word wrap. */
export function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') out.push(line);
  return out;
}

export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'server'; flags: ConfigFlags }
  | { kind: 'reconcile'; flags: ConfigFlags; dryRun: boolean }
  | { kind: 'leases'; flags: ConfigFlags; json: boolean }
  | { kind: 'status'; flags: ConfigFlags; json: boolean }
  | { kind: 'check-config'; flags: ConfigFlags; probe: boolean; timeoutMs: number }
  | {
      kind: 'probe';
      flags: ConfigFlags;
      mac: string | undefined;
      requestedIp: string | undefined;
      holdSeconds: number;
      timeoutMs: number;
    };

/** The `ConfigFlags` fields set by a switch (a flag without an argument). */
type SwitchField = { [K in keyof ConfigFlags]-?: NonNullable<ConfigFlags[K]> extends boolean ? K : never }[keyof ConfigFlags];

type CommandName = Exclude<Command['kind'], 'help' | 'version'>;
const COMMAND_NAMES: readonly CommandName[] = ['server', 'probe', 'reconcile', 'leases', 'status', 'check-config'];

/** Options of one command or a few, and which. */
const COMMAND_OPTIONS = {
  mac: { type: 'string', commands: ['probe'] },
  ip: { type: 'string', commands: ['probe'] },
  hold: { type: 'string', commands: ['probe'] },
  timeout: { type: 'string', commands: ['probe', 'check-config'] },
  'dry-run': { type: 'boolean', commands: ['reconcile'] },
  json: { type: 'boolean', commands: ['leases', 'status'] },
  'no-probe': { type: 'boolean', commands: ['check-config'] },
} as const satisfies Record<string, { type: 'string' | 'boolean'; commands: readonly CommandName[] }>;

/** Bad command line; the message says what is wrong, `main` adds the usage. */
export class UsageError extends DaemonError {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}

export function parseCli(argv: readonly string[]): Command {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  for (const s of SETTINGS as readonly SettingSpec[]) {
    if (s.flag !== undefined) options[s.flag.name] = { type: s.flag.arg === undefined ? 'boolean' : 'string' };
  }
  for (const [name, o] of Object.entries(COMMAND_OPTIONS)) options[name] = { type: o.type };
  // Switches also take D4D's Go-flag spelling, `--debug=true` / `--debug=false` (its unit file
  // passed `--debug="${IPAM_DEBUG}"`), with the values Go's flag package reads as booleans.
  const args = argv.flatMap((arg) => {
    const m = /^--([a-z][a-z0-9-]*)=(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.exec(arg);
    if (m === null || options[m[1] as string]?.type !== 'boolean') return [arg];
    return /^(1|t|true)$/i.test(m[2] as string) ? [`--${m[1] as string}`] : [];
  });
  let parsed: { values: Readonly<Record<string, string | boolean | undefined>>; positionals: string[] };
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const values: Readonly<Record<string, string | boolean | undefined>> = parsed.values;
  const str = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  const [name, ...extra] = parsed.positionals;
  if (name === undefined) throw new UsageError('no command given');
  const command = COMMAND_NAMES.find((c) => c === name);
  if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);

  const flags: ConfigFlags = {};
  for (const s of SETTINGS as readonly SettingSpec[]) {
    const v = s.flag === undefined ? undefined : values[s.flag.name];
    if (s.flag === undefined || v === undefined) continue;
    // The table says which flags are switches (no `arg`): parseArgs gave those a boolean.
    if (typeof v === 'boolean') flags[s.flag.field as SwitchField] = v;
    else flags[s.flag.field as Exclude<keyof ConfigFlags, SwitchField>] = v;
  }

  const misplaced = Object.entries(COMMAND_OPTIONS)
    .filter(([opt, o]) => values[opt] !== undefined && !(o.commands as readonly string[]).includes(command))
    .map(([opt, o]) => `--${opt} only goes with ${o.commands.join(' and ')}`);
  if (misplaced.length > 0) throw new UsageError(misplaced.join('; '));

  switch (command) {
    case 'server':
      return { kind: 'server', flags };
    case 'reconcile':
      return { kind: 'reconcile', flags, dryRun: values['dry-run'] === true };
    case 'leases':
    case 'status':
      return { kind: command, flags, json: values.json === true };
    case 'check-config': {
      const timeout = seconds(str('timeout') ?? '10');
      if (timeout === undefined) throw new UsageError(`--timeout: want seconds > 0, got ${JSON.stringify(str('timeout'))}`);
      return { kind: 'check-config', flags, probe: values['no-probe'] !== true, timeoutMs: timeout * 1000 };
    }
    case 'probe':
      break;
  }

  const problems: string[] = [];
  const macText = str('mac');
  const ipText = str('ip');
  const mac = macText === undefined ? undefined : normalizeMac(macText);
  if (macText !== undefined && mac === undefined) problems.push(`--mac: not a MAC address: ${JSON.stringify(macText)}`);
  if (ipText !== undefined && !isIPv4(ipText)) problems.push(`--ip: not an IPv4 address: ${JSON.stringify(ipText)}`);
  const holdText = str('hold') ?? '0';
  const hold = Number(holdText);
  if (!Number.isFinite(hold) || hold < 0) problems.push(`--hold: want seconds ≥ 0, got ${JSON.stringify(holdText)}`);
  const timeoutText = str('timeout') ?? '60';
  const timeout = seconds(timeoutText);
  if (timeout === undefined) problems.push(`--timeout: want seconds > 0, got ${JSON.stringify(timeoutText)}`);
  if (problems.length > 0) throw new UsageError(problems.join('; '));
  return { kind: 'probe', flags, mac, requestedIp: ipText, holdSeconds: hold, timeoutMs: (timeout as number) * 1000 };
}

/** A positive number of seconds, or undefined. */
function seconds(text: string): number | undefined {
  const n = Number(text);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
