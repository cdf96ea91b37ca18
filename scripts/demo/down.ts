/**
 * Removes what a Docker demo run left behind, and says only what it did: each removal is
 * checked afterwards (the container no longer listed, the process gone, the namespace gone), and
 * what could not be looked at is said as such.
 */
import { existsSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { docker } from '../../test/support/docker.js';
import { listNetns, netnsPids } from '../../test/support/lab/namespaces.js';
import { removeLabLeftovers } from '../../test/support/lab/netns.js';
import { run } from '../../test/support/lab/shell.js';
import { gone, isRunning, listProcesses, readProcess, stopProcess, type ProcessRef } from './processes.js';
import { readRecord, removeRecord, STATE_DIR } from './run-file.js';

/** Names the Docker demo gives what it creates. */
export interface DemoNames {
  /** Prefix of its containers and networks. */
  readonly prefix: string;
  /** `--driver-name` of its daemon. */
  readonly driver: string;
  /** Its plugin socket. */
  readonly socket: string;
  /** Lab names (namespaces `<lab>-srv`, `<lab>-ctr<n>`, links `<lab>h`, `<lab>c<n>`). */
  readonly labs: readonly string[];
}

/** What a clean-up did: lines already printed, and how many of them were failures. */
export interface CleanupResult {
  readonly actions: number;
  readonly failures: number;
  /** Whether a Docker engine answered, so containers and networks were looked for. */
  readonly dockerChecked: boolean;
}

const msg = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';

/** How {@link removeLeftovers} runs: for `down`, or at the start of a demo run. */
export interface CleanupOptions {
  /** Ask a demo run still going to stop first (`down`); a demo that is starting passes false. */
  readonly stopRunningDemo: boolean;
  /** Say so when no Docker engine answers (so containers could not be looked for). */
  readonly noteUnchecked: boolean;
}

/**
 * Removes the demo's leftovers in the order that lets each part clean up after itself:
 * containers (their addresses are released through the daemon, to the DHCP server), networks,
 * the daemon, a dockerd the demo started, then the namespaces with the DHCP server.
 */
export async function removeLeftovers(names: DemoNames, say: (line: string) => void, o: CleanupOptions): Promise<CleanupResult> {
  let actions = 0;
  let failures = 0;
  const did = (line: string): void => {
    actions += 1;
    say(`  ${line}`);
  };
  const failed = (line: string): void => {
    actions += 1;
    failures += 1;
    say(`  FAILED: ${line}`);
  };
  const record = readRecord();

  if (o.stopRunningDemo && record !== undefined && isRunning(record.worker)) {
    say(`  a demo run is still going (pid ${record.worker.pid}); asking it to stop and waiting for its teardown …`);
    process.kill(record.worker.pid, 'SIGTERM');
    if (await gone(record.worker, 120_000)) did(`the running demo (pid ${record.worker.pid}) stopped; checking what is left`);
    else failed(`the running demo (pid ${record.worker.pid}) did not stop within 2 minutes; kill it (kill ${record.worker.pid}) and run down again`);
  }

  const engineUp = await docker(['info', '--format', '{{.ServerVersion}}'], 10_000).then(
    () => true,
    () => false,
  );
  if (engineUp) {
    const containers = (await docker(['ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n').filter((n) => n.startsWith(names.prefix));
    for (const name of containers) {
      try {
        await docker(['rm', '-f', name]);
        if (await containerExists(name)) failed(`container ${name} is still listed after docker rm -f`);
        else did(`removed container ${name}`);
      } catch (error) {
        failed(`could not remove container ${name}: ${msg(error)}`);
      }
    }
    const networks = (await docker(['network', 'ls', '--format', '{{.Name}}'])).stdout.split('\n').filter((n) => n.startsWith(names.prefix));
    for (const name of networks) {
      try {
        await docker(['network', 'rm', name]);
        if (await networkExists(name)) failed(`network ${name} is still listed after docker network rm`);
        else did(`removed network ${name}`);
      } catch (error) {
        failed(`could not remove network ${name}: ${msg(error)}`);
      }
    }
  } else if (o.noteUnchecked) {
    say(`  (no Docker engine answers here, so ${names.prefix}* containers and networks could not be looked for)`);
  }

  const daemons = new Map<number, ProcessRef>();
  if (record?.daemon !== undefined && isRunning(record.daemon)) daemons.set(record.daemon.pid, record.daemon);
  for (const p of listProcesses()) {
    const i = p.argv.indexOf('--driver-name');
    if (i >= 0 && p.argv[i + 1] === names.driver && p.argv.includes('server')) daemons.set(p.pid, { pid: p.pid, startTime: p.startTime });
  }
  for (const ref of daemons.values()) {
    try {
      const how = await stopProcess(ref, 15_000);
      did(`stopped oam-docker-ipam server (pid ${ref.pid}${how === 'killed' ? ', killed after 15 s' : ''})`);
    } catch (error) {
      failed(`could not stop oam-docker-ipam server (pid ${ref.pid}): ${msg(error)}`);
    }
  }
  if (existsSync(names.socket) && !(await socketAnswers(names.socket))) {
    rmSync(names.socket, { force: true });
    if (existsSync(names.socket)) failed(`could not remove the stale plugin socket ${names.socket}`);
    else did(`removed the stale plugin socket ${names.socket}`);
  }

  if (record?.dockerd !== undefined && isRunning(record.dockerd)) {
    try {
      const how = await stopProcess(record.dockerd, 30_000);
      did(`stopped dockerd (pid ${record.dockerd.pid}), which the demo had started${how === 'killed' ? ' (killed after 30 s)' : ''}`);
    } catch (error) {
      failed(`could not stop dockerd (pid ${record.dockerd.pid}): ${msg(error)}`);
    }
  }

  for (const lab of names.labs) {
    const namespaces = (await listNetns()).filter((ns) => ns === `${lab}-srv` || ns.startsWith(`${lab}-ctr`));
    const processes = (await Promise.all(namespaces.map(netnsPids)))
      .flat()
      .map((pid) => readProcess(pid))
      .filter((p) => p !== undefined);
    const links = await labLinks(lab);
    if (namespaces.length === 0 && links.length === 0) continue;
    try {
      await removeLabLeftovers(lab);
    } catch (error) {
      failed(`could not remove lab ${lab}: ${msg(error)}`);
    }
    for (const p of processes) {
      if (readProcess(p.pid)?.startTime === p.startTime) failed(`${p.comm} (pid ${p.pid}) is still running`);
      else did(`stopped ${p.comm} (pid ${p.pid}), which ran in the lab's namespace`);
    }
    const nsLeft = await listNetns();
    for (const ns of namespaces) {
      if (nsLeft.includes(ns)) failed(`network namespace ${ns} is still there`);
      else did(`removed network namespace ${ns}`);
    }
    const linksLeft = await labLinks(lab);
    for (const link of links) {
      if (linksLeft.includes(link)) failed(`link ${link} is still there`);
      else did(`removed link ${link}`);
    }
  }

  if (existsSync(STATE_DIR)) {
    rmSync(STATE_DIR, { recursive: true, force: true });
    did(`removed the demo daemon's lease table ${STATE_DIR}`);
  }
  if (record !== undefined && !isRunning(record.worker)) removeRecord();
  return { actions, failures, dockerChecked: engineUp };
}

async function containerExists(name: string): Promise<boolean> {
  const out = await docker(['ps', '-a', '--filter', `name=^/${name}$`, '--format', '{{.Names}}']);
  return out.stdout.trim() !== '';
}

async function networkExists(name: string): Promise<boolean> {
  const out = await docker(['network', 'ls', '--filter', `name=^${name}$`, '--format', '{{.Name}}']);
  return out.stdout.trim() !== '';
}

/** The root-namespace links a lab creates: `<lab>h` and the containers' `<lab>c<n>`. */
async function labLinks(lab: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-o', 'link', 'show']);
  const mine = new RegExp(`^${lab}(h|c\\d+)$`);
  return stdout
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? '')
    .filter((name) => mine.test(name));
}

/** Whether something still accepts connections on the unix socket `path`. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
