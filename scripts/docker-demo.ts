/**
 * d4d for real, on this machine: a DHCP server (Kea, or ISC dhcpd with `isc`) in a network
 * namespace behind a veth pair standing in for the LAN, a Docker engine, `oam-docker-ipam server`,
 * a d4d macvlan network on the veth, and four containers. Prints each container's address beside
 * the server's lease for its MAC, then waits: Enter or Ctrl-C removes everything, in order.
 *
 *   sudo npm run demo [-- isc]                      # installs what is missing, builds, runs
 *   sudo npx tsx scripts/docker-demo.ts down        # remove what a killed run left behind
 *
 * The work runs in a process of its own session (scripts/demo/session.ts), so Ctrl-C reaches
 * only the part attached to the terminal, and the teardown runs with every part still alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { USAGE } from '../src/cli.js';
import { containerOn, docker, ensureTestImage, TEST_IMAGE } from '../test/support/docker.js';
import { callPlugin } from '../test/support/plugin-client.js';
import { BUILT_MAIN } from '../test/support/plugin-process.js';
import { listNetns } from '../test/support/lab/namespaces.js';
import { createLab, type Lab } from '../test/support/lab/netns.js';
import { findBinary, labPrerequisites } from '../test/support/lab/prereqs.js';
import { createServer, type DhcpServerFixture, type ServerKind, type ServerLease } from '../test/support/lab/servers.js';
import { removeLeftovers, type DemoNames } from './demo/down.js';
import { leaseTable, type TableRow } from './demo/lease-table.js';
import { isRunning, refOf, stopProcess } from './demo/processes.js';
import { DAEMON_LOG, DEMO_DIR, DOCKERD_LOG, readRecord, removeRecord, STATE_DIR, writeRecord, type DemoRecord } from './demo/run-file.js';
import { demoArgs, isWorker, runFront, stopRequests } from './demo/session.js';

const SCRIPT = fileURLToPath(import.meta.url);
const PREFIX = 'd4ddemo-';
const NETWORK = `${PREFIX}lan`;
const DRIVER = 'd4d-demo';
const PLUGIN_DIR = '/run/docker/plugins';
const SOCKET = `${PLUGIN_DIR}/${DRIVER}.sock`;
const LAB_NAME = 'ddemo';
const RESERVED_MAC = '02:d4:de:00:00:50';
const LEASE_SECONDS = 120;
const NAMES: DemoNames = { prefix: PREFIX, driver: DRIVER, socket: SOCKET, labs: [LAB_NAME] };

/**
 * Raised between steps once a stop was asked for: what was started so far is then removed.
 * Declared before the top-level code below, which runs the worker.
 */
class StopRequested extends Error {}

/** One thing to undo: resolves with what it did, throws with what went wrong. */
interface Undo {
  readonly what: string;
  readonly undo: () => Promise<string>;
}

const args = demoArgs();
const mode = args[0] ?? 'kea';

if (mode === 'down') {
  console.log('Removing what the Docker demo left behind:');
  const { actions, failures, dockerChecked } = await removeLeftovers(NAMES, (line) => console.log(line), { stopRunningDemo: true, noteUnchecked: true });
  if (actions === 0)
    console.log(`  nothing to remove: no demo daemon, dockerd, namespace or link${dockerChecked ? `, no ${PREFIX}* container or network` : ''}`);
  process.exit(failures > 0 ? 1 : 0);
}
if (mode !== 'kea' && mode !== 'isc') {
  console.error('usage: docker-demo.ts [kea|isc|down]');
  process.exit(2);
}
if (!isWorker()) {
  const prereqs = labPrerequisites(['dockerd', 'busybox']);
  if (!prereqs.ok) {
    console.error(`cannot run the demo: ${prereqs.reason} (run bash scripts/setup.sh as root first)`);
    process.exit(1);
  }
  if (!existsSync(BUILT_MAIN)) {
    console.error('dist/main.js is missing: run npm run build first');
    process.exit(1);
  }
  const running = readRecord();
  if (running !== undefined && isRunning(running.worker)) {
    console.error(`another demo run is going (pid ${running.worker.pid}): stop it first (Ctrl-C in its terminal, or npx tsx scripts/docker-demo.ts down)`);
    process.exit(1);
  }
  process.exit(await runFront(SCRIPT, args));
}
process.exit(await worker(mode));

async function worker(kind: ServerKind): Promise<number> {
  const stop = stopRequests();
  const checkStop = (): void => {
    if (stop.isRequested()) throw new StopRequested();
  };
  mkdirSync(DEMO_DIR, { recursive: true, mode: 0o700 });
  const record: DemoRecord = { worker: refOf(process.pid), kind };
  writeRecord(record);
  const undos: Undo[] = [];
  let failed = false;

  console.log(`d4d demo: ${kind === 'kea' ? 'Kea' : 'ISC dhcpd'}, Docker, oam-docker-ipam, a macvlan network and four containers.`);
  console.log('Enter or Ctrl-C at any point removes everything the demo started.\n');
  try {
    const earlier = await removeLeftovers(NAMES, (line) => console.log(line), { stopRunningDemo: false, noteUnchecked: false });
    if (earlier.actions > 0) console.log('   (above: what an earlier run had left, removed first)\n');
    checkStop();

    const lab = await createLab({ name: LAB_NAME, octet: 140 });
    undos.push({ what: 'the lab namespace', undo: () => destroyLab(lab) });
    const server = createServer(kind, lab, {
      leaseTimeSeconds: LEASE_SECONDS,
      rangeFirst: 100,
      rangeLast: 199,
      reservations: [{ mac: RESERVED_MAC, ip: lab.network(50) }],
    });
    await server.start();
    undos.push({ what: `the ${kind} server`, undo: () => stopServer(server) });
    console.log(`1. ${kind} serves ${lab.subnet}/24 from ${lab.serverIp} in network namespace ${lab.serverNs}; the "LAN" is the veth ${lab.hostIf}`);
    checkStop();

    const engineUp = await docker(['info', '--format', '{{.ServerVersion}}'], 10_000).then(
      () => true,
      () => false,
    );
    if (engineUp) {
      console.log('2. Docker engine: already running (it stays running afterwards)');
    } else {
      const dockerd = await startDockerd();
      record.dockerd = refOf(dockerd.pid ?? 0);
      writeRecord(record);
      undos.push({ what: 'dockerd', undo: () => stopChild(dockerd, 'dockerd, which the demo had started', 30_000) });
      console.log(`2. Docker engine: started dockerd (pid ${dockerd.pid ?? '?'}; its log: ${DOCKERD_LOG})`);
    }
    await ensureTestImage();
    checkStop();

    const daemon = await startDaemon(lab.serverIp);
    record.daemon = refOf(daemon.pid ?? 0);
    writeRecord(record);
    undos.push({ what: 'oam-docker-ipam', undo: () => stopDaemon(daemon) });
    console.log(`3. oam-docker-ipam server answers on ${SOCKET} (pid ${daemon.pid ?? '?'}); its log: ${DAEMON_LOG}`);
    checkStop();

    const create = [
      'network',
      'create',
      '-d',
      'macvlan',
      '--ipam-driver',
      DRIVER,
      '--subnet',
      `${lab.subnet}/24`,
      '--gateway',
      lab.serverIp,
      '-o',
      `parent=${lab.hostIf}`,
      NETWORK,
    ];
    await docker(create);
    undos.push({ what: `network ${NETWORK}`, undo: () => removeNetwork(NETWORK) });
    console.log(`4. docker ${create.join(' ')}`);
    checkStop();

    const runs: Array<{ name: string; extra: string[]; note?: string }> = [
      { name: `${PREFIX}web`, extra: [] },
      { name: `${PREFIX}worker`, extra: [] },
      { name: `${PREFIX}db`, extra: ['--mac-address', RESERVED_MAC], note: `the server reserves ${lab.network(50)} for its MAC` },
      { name: `${PREFIX}fixed`, extra: ['--ip', lab.network(180)], note: 'asked for with --ip' },
    ];
    const macs: string[] = [];
    console.log('5. docker run -d --net d4ddemo-lan … four containers:');
    const rows: TableRow[] = [];
    for (const r of runs) {
      checkStop();
      // Checked once the containers are gone: Docker's ReleaseAddress reached the server.
      if (macs.length === 0) undos.push({ what: 'the leases', undo: () => checkReleased(server, macs) });
      undos.push({ what: `container ${r.name}`, undo: () => removeContainer(r.name) });
      await docker(['run', '-d', '--name', r.name, '--net', NETWORK, ...r.extra, TEST_IMAGE, 'sleep', '3600']);
      const info = await containerOn(r.name, NETWORK);
      macs.push(info.mac);
      rows.push({ name: r.name, ip: info.ip, mac: info.mac, ...(r.note === undefined ? {} : { note: r.note }) });
    }
    const leases = await serverLeasesFor(server, rows);
    for (const line of leaseTable(rows, leases, { kind, now: Date.now(), fixedMacs: new Set([RESERVED_MAC]) })) console.log(`     ${line}`);
    checkStop();

    const bin = findBinary('oam-docker-ipam') === null ? 'node dist/main.js' : 'oam-docker-ipam';
    const hasLeases = /^ {2}leases\b/m.test(USAGE);
    const hints: Array<[string, string]> = [
      [`docker exec ${PREFIX}web ping -c1 ${lab.serverIp}`, 'a container on the "LAN" reaches the server'],
      ...(hasLeases ? [[`${bin} --driver-name ${DRIVER} leases`, "the daemon's leases"] as [string, string]] : []),
      [`${bin} --driver-name ${DRIVER} reconcile --dry-run`, "its leases beside Docker's endpoints"],
      [`${bin} --dhcp-server ${lab.serverIp} probe`, 'lease one more address, print it, give it back'],
      [`tail -f ${DAEMON_LOG}`, "the daemon's log: a JSON line per lease event"],
    ];
    const width = Math.max(...hints.map(([c]) => c.length));
    console.log('\nIt runs. Meanwhile, as root in another terminal of this directory, try:');
    for (const [command, what] of hints) console.log(`  ${command.padEnd(width)}   # ${what}`);
    console.log(`Leases last ${LEASE_SECONDS} s and renew every ${LEASE_SECONDS / 2} s or so: watch them in the log.`);
    console.log('Press Enter or Ctrl-C to remove everything.');
    await stop.requested;
  } catch (error) {
    if (!(error instanceof StopRequested)) {
      failed = true;
      console.log(`\nThe demo failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  console.log('\nRemoving what the demo started, last first:');
  let undoFailures = 0;
  for (const u of undos.reverse()) {
    try {
      console.log(`  ${await u.undo()}`);
    } catch (error) {
      undoFailures += 1;
      console.log(`  FAILED: ${u.what}: ${(error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''}`);
    }
  }
  rmSync(STATE_DIR, { recursive: true, force: true });
  if (undoFailures === 0) {
    removeRecord();
    console.log(`Everything the demo started is gone. The daemon's log stays in ${DAEMON_LOG}.`);
  } else {
    console.log(`${undoFailures} step(s) failed: see above, then run: npx tsx scripts/docker-demo.ts down`);
  }
  return failed || undoFailures > 0 ? 1 : 0;
}

async function startDockerd(): Promise<ChildProcess> {
  const log = openSync(DOCKERD_LOG, 'w');
  const proc = spawn('dockerd', ['--log-level', 'warn'], { stdio: ['ignore', log, log] });
  closeSync(log);
  const deadline = Date.now() + 60_000;
  while (
    !(await docker(['info', '--format', '{{.ServerVersion}}'], 10_000).then(
      () => true,
      () => false,
    ))
  ) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`dockerd did not start; the end of ${DOCKERD_LOG}:\n${readFileSync(DOCKERD_LOG, 'utf8').slice(-2000)}`);
    }
    await sleep(250);
  }
  return proc;
}

async function startDaemon(serverIp: string): Promise<ChildProcess> {
  const log = openSync(DAEMON_LOG, 'w');
  const argv = [
    BUILT_MAIN,
    '--config',
    '/dev/null',
    '--dhcp-server',
    serverIp,
    '--driver-name',
    DRIVER,
    '--state-dir',
    STATE_DIR,
    '--plugin-dir',
    PLUGIN_DIR,
    'server',
  ];
  const proc = spawn(process.execPath, argv, { stdio: ['ignore', log, log] });
  closeSync(log);
  const deadline = Date.now() + 15_000;
  while (
    !(await callPlugin(SOCKET, 'Plugin.Activate').then(
      () => true,
      () => false,
    ))
  ) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`oam-docker-ipam server did not come up; its log ${DAEMON_LOG}:\n${readFileSync(DAEMON_LOG, 'utf8').slice(-2000)}`);
    }
    await sleep(50);
  }
  return proc;
}

/** The server's leases, once it has recorded one for every row's MAC that it records at all. */
async function serverLeasesFor(server: DhcpServerFixture, rows: readonly TableRow[]): Promise<ServerLease[]> {
  const deadline = Date.now() + 2_000;
  for (;;) {
    const leases = await server.leases();
    const missing = rows.filter((r) => r.mac !== RESERVED_MAC || server.kind !== 'isc').some((r) => !leases.some((l) => l.active && l.mac === r.mac));
    if (!missing || Date.now() > deadline) return leases;
    await sleep(50);
  }
}

async function removeContainer(name: string): Promise<string> {
  await docker(['rm', '-f', name]);
  const left = await docker(['ps', '-a', '--filter', `name=^/${name}$`, '--format', '{{.Names}}']);
  if (left.stdout.trim() !== '') throw new Error(`still listed by docker ps -a after docker rm -f`);
  return `removed container ${name}`;
}

/** Docker's ReleaseAddress went through the daemon to the server: no lease of theirs is active. */
async function checkReleased(server: DhcpServerFixture, macs: readonly string[]): Promise<string> {
  const deadline = Date.now() + 3_000;
  for (;;) {
    const active = (await server.leases()).filter((l) => l.active && l.mac !== null && macs.includes(l.mac));
    if (active.length === 0) return `${server.kind} holds no active lease for the containers' MACs any more: their addresses were released`;
    if (Date.now() > deadline) throw new Error(`${server.kind} still shows active leases for ${active.map((l) => `${l.mac ?? '?'} (${l.ip})`).join(', ')}`);
    await sleep(100);
  }
}

async function removeNetwork(name: string): Promise<string> {
  await docker(['network', 'rm', name]);
  const left = await docker(['network', 'ls', '--filter', `name=^${name}$`, '--format', '{{.Name}}']);
  if (left.stdout.trim() !== '') throw new Error('still listed by docker network ls after docker network rm');
  return `removed network ${name}`;
}

async function stopDaemon(proc: ChildProcess): Promise<string> {
  const line = await stopChild(proc, 'oam-docker-ipam server', 15_000);
  if (existsSync(SOCKET)) throw new Error(`it stopped but left ${SOCKET} behind`);
  return line;
}

/** SIGTERM a child the demo started, SIGKILL after `graceMs`; says how it ended. */
async function stopChild(proc: ChildProcess, what: string, graceMs: number): Promise<string> {
  if (proc.pid === undefined) return `${what} had not started`;
  const exited =
    proc.exitCode !== null || proc.signalCode !== null
      ? Promise.resolve<[number | null, NodeJS.Signals | null]>([proc.exitCode, proc.signalCode])
      : new Promise<[number | null, NodeJS.Signals | null]>((resolve) => proc.once('exit', (code, signal) => resolve([code, signal])));
  const how = await stopProcess({ pid: proc.pid, startTime: refOf(proc.pid).startTime }, graceMs).catch(async (error: unknown) => {
    // refOf throws when the process is already gone: then only its exit status is left to say.
    if (proc.exitCode !== null || proc.signalCode !== null) return 'was gone' as const;
    throw error;
  });
  const [code, signal] = await exited;
  const status = signal === null ? `exit status ${String(code)}` : `killed by ${signal}`;
  if (how === 'was gone') return `${what} (pid ${proc.pid}) had already exited (${status})`;
  return `stopped ${what} (pid ${proc.pid}, ${status}${how === 'killed' ? ' after SIGKILL' : ''})`;
}

async function stopServer(server: DhcpServerFixture): Promise<string> {
  await server.stop();
  return `stopped ${server.kind === 'kea' ? 'kea-dhcp4' : 'dhcpd'}`;
}

async function destroyLab(lab: Lab): Promise<string> {
  await lab.destroy();
  const left = (await listNetns()).filter((ns) => ns === lab.serverNs || ns.startsWith(`${lab.name}-ctr`));
  if (left.length > 0) throw new Error(`namespaces still there: ${left.join(', ')}`);
  return `removed network namespace ${lab.serverNs} and the veth ${lab.hostIf}`;
}
