/**
 * d4d for real, on this machine: a DHCP server (Kea, or ISC with `isc`) in a network namespace
 * behind a veth pair standing in for the LAN, a Docker engine, `oam-docker-ipam server`, a d4d
 * macvlan network on the veth, and a few containers. Prints each container's DHCP address next
 * to the server's own lease table, then waits: Ctrl-C (or Enter) removes everything.
 *
 *   sudo npm run demo [-- isc]                          # installs what is missing, builds, runs
 *   sudo npx tsx scripts/docker-demo.ts down            # clean up after a run that was killed
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { containerOn, docker, ensureEngine, ensureTestImage, removeByPrefix, TEST_IMAGE, type Engine } from '../test/support/docker.js';
import { BUILT_MAIN, startPlugin, type PluginProcess } from '../test/support/plugin-process.js';
import { createLab, removeLabLeftovers } from '../test/support/lab/netns.js';
import { labPrerequisites } from '../test/support/lab/prereqs.js';
import { createServer, formatServerLease, type ServerKind } from '../test/support/lab/servers.js';

const BIN = BUILT_MAIN;
const PREFIX = 'd4ddemo-';
const DRIVER = 'd4d-demo';
const arg = process.argv[2] ?? 'kea';

if (arg === 'down') {
  await removeByPrefix(PREFIX).catch(() => undefined);
  await removeLabLeftovers('ddemo');
  console.log('removed the demo containers, network and namespace; a dockerd the demo started and that was killed with it is still running: stop it with pkill dockerd');
  process.exit(0);
}
if (arg !== 'kea' && arg !== 'isc') {
  console.error('usage: docker-demo.ts [kea|isc|down]');
  process.exit(2);
}
const prereqs = labPrerequisites(['dockerd', 'busybox']);
if (!prereqs.ok) {
  console.error(`cannot run the demo: ${prereqs.reason} (run bash scripts/setup.sh as root first)`);
  process.exit(1);
}
if (!existsSync(BIN)) {
  console.error('dist/main.js is missing: run npm run build first');
  process.exit(1);
}

const kind = arg as ServerKind;
let engine: Engine | undefined;
let plugin: PluginProcess | undefined;
const stateDir = await mkdtemp(join(tmpdir(), 'd4d-demo-'));
await removeByPrefix(PREFIX).catch(() => undefined);
const lab = await createLab({ name: 'ddemo', octet: 210 });
const server = createServer(kind, lab, { leaseTimeSeconds: 120, rangeFirst: 100, rangeLast: 199, reservations: [{ mac: '02:d4:de:00:00:50', ip: lab.network(50) }] });

try {
  await server.start();
  console.log(`1. ${kind} serves ${lab.subnet}/24 from ${lab.serverIp} (netns ${lab.serverNs}); the "LAN" is the veth ${lab.hostIf}`);
  engine = await ensureEngine();
  await ensureTestImage();
  console.log(`2. Docker engine ${engine.ours ? 'started' : 'already running'}; test image ${TEST_IMAGE}`);
  plugin = await startPlugin(['--dhcp-server', lab.serverIp, '--driver-name', DRIVER, '--state-dir', stateDir, '--config', '/dev/null'], `/run/docker/plugins/${DRIVER}.sock`, { echo: true });
  console.log(`3. oam-docker-ipam server is serving /run/docker/plugins/${DRIVER}.sock (its log: stderr, JSON)`);
  const net = `${PREFIX}lan`;
  const create = ['network', 'create', '-d', 'macvlan', '--ipam-driver', DRIVER, '--subnet', `${lab.subnet}/24`, '--gateway', lab.serverIp, '-o', `parent=${lab.hostIf}`, net];
  await docker(create);
  console.log(`4. docker ${create.join(' ')}`);
  const runs: Array<[string, string[]]> = [
    ['web', []],
    ['worker', []],
    ['db', ['--mac-address', '02:d4:de:00:00:50']],
    ['fixed', ['--ip', lab.network(180)]],
  ];
  for (const [c, extra] of runs) await docker(['run', '-d', '--name', `${PREFIX}${c}`, '--net', net, ...extra, TEST_IMAGE, 'sleep', '3600']);
  console.log('5. containers (db has a reservation for its MAC, fixed asked for --ip):');
  for (const [c] of runs) {
    const info = await containerOn(`${PREFIX}${c}`, net);
    console.log(`     ${`${PREFIX}${c}`.padEnd(16)} ${info.ip.padEnd(15)} ${info.mac}`);
  }
  await new Promise((r) => setTimeout(r, 300));
  console.log(`6. the ${kind} lease database:`);
  for (const l of await server.leases()) {
    console.log(`     ${formatServerLease(l)}`);
  }
  console.log(`\nTry: docker exec ${PREFIX}web ping -c1 ${lab.serverIp}   (leases renew every 60 s)`);
  console.log('Press Enter or Ctrl-C to remove everything.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.stdin.once('data', () => resolve());
    process.stdin.once('end', () => resolve());
  });
} finally {
  console.log('removing containers, network, plugin, DHCP server and namespace …');
  await removeByPrefix(PREFIX).catch(() => undefined);
  await plugin?.stop();
  await engine?.stop();
  await server.stop().catch(() => undefined);
  await lab.destroy();
  await rm(stateDir, { recursive: true, force: true });
  process.stdin.destroy();
}
