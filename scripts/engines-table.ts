/**
 * Renders what the Docker end-to-end suite proved into docs/engines.md: engine × scenario × DHCP
 * server, from the results the suite wrote ($D4D_E2E_RESULTS, default d4d-e2e-results in the OS
 * temp dir), and keeps those results beside it in docs/engines-results.json.
 *
 *   CI=true flock /tmp/d4d-docker.lock npx vitest run --project e2e && npx tsx scripts/engines-table.ts
 *
 * Refuses to write anything unless the results are from a green run on both engines: a table is
 * only as good as the run it came from.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR, type ScenarioId, type ScenarioResult, type ServerName } from '../test/support/docker-results.js';
import { describeVersions, ENGINE_IDS, type EngineId, type EngineVersions } from '../test/support/docker-engines.js';

const ROOT = new URL('..', import.meta.url).pathname;
const DOC = join(ROOT, 'docs', 'engines.md');
const JSON_OUT = join(ROOT, 'docs', 'engines-results.json');
const START = '<!-- engines-table:start (scripts/engines-table.ts writes this part) -->';
const END = '<!-- engines-table:end -->';

/** Rows, in the order people meet them; every scenario the suite records must have one. */
const SCENARIOS: Record<ScenarioId, string> = {
  'network-create-rm': '`network create -d macvlan --ipam-driver` with `--aux-address`, `network rm`: no gateway or aux lease',
  'run-lease': "`docker run`: the address the server leased to the container's MAC, on its interface; the server answers ping",
  'fixed-ip': '`--ip`: exactly that address, leased; released on removal',
  'mac-reservation': '`--mac-address` with a reservation: the reserved address, after restart and rm + run',
  'rm-releases': '`docker rm -f`: the lease is released',
  'plugin-restart': 'plugin restarted while containers run: leases renewed, removal releases',
  'dockerd-restart': "dockerd restart with `--restart always`: server leases = Docker's endpoints",
  'dockerd-kill9': "dockerd `kill -9` and start: server leases = Docker's endpoints; removal frees all",
  'network-rm': 'everything removed: no lease left',
  'random-mac': 'MACs Docker makes up (the DHCP identity)',
  'internal-no-gateway': 'macvlan `--internal` without `--gateway`',
  'connect-disconnect': '`network connect` / `disconnect` of a running container: one lease per network, released on disconnect',
  'two-networks': 'a container on two d4d networks with a reservation on each',
  'compose-scale': 'Compose (docs/compose.yaml): `up --scale web=50`, scale to 10, `down`: distinct active leases, released when gone',
  'zero-config-advice': 'no `--subnet`, parent with no host address: exact `--subnet`/`--gateway`, relay mode named; the advice works',
  'zero-config-no-route': 'no `--subnet`, no host address on the LAN: the error says so and names relay mode',
  'reconcile-keeps': "reconciliation keeps running containers' leases",
  'reconcile-plugin-dead': 'containers removed while the plugin is dead: leases kept until it is back',
  'reconcile-docker-unreachable': 'Docker unreachable: nothing released',
  'reconcile-dry-run': '`reconcile --dry-run`: lists, releases nothing',
  'reconcile-releases': "reconciliation frees exactly the removed containers' leases",
  'reconcile-dockerd-restart-in-flight': 'dockerd restarted during a RequestAddress: no lease Docker does not have',
  'socket-activation-restart': 'socket held by systemd, plugin down 20 s: `docker rm -f` and `docker run` wait for it; release and lease done when it is back',
};
const SERVERS: readonly ServerName[] = ['isc', 'kea', 'dnsmasq'];
const SERVER_LABEL: Record<ServerName, string> = { isc: 'ISC', kea: 'Kea', dnsmasq: 'dnsmasq' };

interface ResultsFile {
  file: string;
  results: ScenarioResult[];
}

function load(): ScenarioResult[] {
  let names: string[];
  try {
    names = readdirSync(RESULTS_DIR).filter((n) => n.endsWith('.json'));
  } catch {
    throw new Error(`no results in ${RESULTS_DIR}: run the e2e project first`);
  }
  return names.flatMap((n) => (JSON.parse(readFileSync(join(RESULTS_DIR, n), 'utf8')) as ResultsFile).results);
}

function render(results: readonly ScenarioResult[]): string {
  const versions = new Map<EngineId, EngineVersions>();
  for (const r of results) versions.set(r.engine as EngineId, r.versions);
  const short = (id: EngineId): string => versions.get(id)?.docker.split('.').slice(0, 2).join('.') ?? id;
  const cell = (engine: EngineId, scenario: ScenarioId, server: ServerName): string => {
    const r = results.find((x) => x.engine === engine && x.scenario === scenario && x.server === server);
    if (r === undefined) return '–';
    return r.outcome === undefined ? '✓' : `✓ ${r.outcome}`;
  };
  const columns = ENGINE_IDS.flatMap((e) => SERVERS.map((s) => ({ e, s })));
  const lines = [
    START,
    '',
    ...ENGINE_IDS.map((e) => {
      const v = versions.get(e);
      return `- **${short(e)}**: ${v === undefined ? 'not run' : describeVersions(v)}`;
    }),
    `- Run: ${[...new Set(results.map((r) => r.at.slice(0, 10)))].sort().join(', ')}; ${results.length} results, all passed. ✓ passed, – not part of the suite for that server (see below).`,
    '',
    `| scenario | ${columns.map(({ e, s }) => `${short(e)} ${SERVER_LABEL[s]}`).join(' | ')} |`,
    `|---|${columns.map(() => '---').join('|')}|`,
    ...(Object.keys(SCENARIOS) as ScenarioId[]).map((id) => `| ${SCENARIOS[id]} | ${columns.map(({ e, s }) => cell(e, id, s)).join(' | ')} |`),
    '',
    END,
  ];
  return lines.join('\n');
}

function main(): void {
  const results = load();
  const failed = results.filter((r) => r.status !== 'pass');
  if (failed.length > 0)
    throw new Error(
      `the last run failed ${failed.length} scenario(s): ${failed.map((r) => `${r.engine} ${r.scenario} ${r.server}`).join(', ')}; no table from a red run`,
    );
  const engines = new Set(results.map((r) => r.engine));
  const missing = ENGINE_IDS.filter((e) => !engines.has(e));
  if (missing.length > 0) throw new Error(`no results for ${missing.join(', ')}: run the whole e2e project`);
  const doc = readFileSync(DOC, 'utf8');
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${DOC} has no table markers`);
  writeFileSync(DOC, `${doc.slice(0, start)}${render(results)}${doc.slice(end + END.length)}`);
  const sorted = [...results].sort((a, b) => a.engine.localeCompare(b.engine) || a.scenario.localeCompare(b.scenario) || a.server.localeCompare(b.server));
  writeFileSync(JSON_OUT, `${JSON.stringify(sorted, null, 2)}\n`);
  console.log(`wrote ${DOC} and ${JSON_OUT} from ${results.length} results in ${RESULTS_DIR}`);
}

main();
