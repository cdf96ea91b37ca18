/**
 * The DHCP engine alone against a real DHCP server on this machine, without Docker: starts the
 * server in a network namespace (veth to the host), leases addresses for a few container MACs
 * from one UDP/68 socket, shows them beside the server's lease for each MAC, waits for a
 * renewal, releases everything and tears the lab down.
 *
 *   sudo npx tsx scripts/demo.ts [isc|kea|dnsmasq] [--keep]
 *
 * --keep leaves the leases renewing until Enter or Ctrl-C (then releases them and cleans up).
 * As in the Docker demo, the work runs in a process of its own session (scripts/demo/session.ts):
 * Ctrl-C never reaches the DHCP server before the leases are released.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { systemClock } from '../src/clock.js';
import { clientIdForMac } from '../src/dhcp/messages.js';
import { UdpTransport } from '../src/dhcp/transport.js';
import { openEngine } from '../src/engine.js';
import { createLab } from '../test/support/lab/netns.js';
import { labPrerequisites } from '../test/support/lab/prereqs.js';
import { createServer, type ServerKind, type ServerLease } from '../test/support/lab/servers.js';
import { leaseTable, type TableRow } from './demo/lease-table.js';
import { DEMO_DIR } from './demo/run-file.js';
import { demoArgs, isWorker, runFront, stopRequests } from './demo/session.js';

const args = demoArgs();
const kind = (args.find((a) => !a.startsWith('-')) ?? 'kea') as ServerKind;
const keep = args.includes('--keep');
if (!['isc', 'kea', 'dnsmasq'].includes(kind)) {
  console.error(`unknown server ${kind}; use isc, kea or dnsmasq`);
  process.exit(2);
}
const prereqs = labPrerequisites();
if (!prereqs.ok) {
  console.error(`cannot run the demo: ${prereqs.reason} (run bash scripts/setup.sh as root first)`);
  process.exit(1);
}
if (!isWorker()) process.exit(await runFront(fileURLToPath(import.meta.url), args));

const stop = stopRequests();
const LOG = join(DEMO_DIR, 'engine-demo.log');
mkdirSync(DEMO_DIR, { recursive: true, mode: 0o700 });
const leaseTimeSeconds = kind === 'dnsmasq' ? 120 : 20;
const macs = ['02:d4:d0:00:00:01', '02:d4:d0:00:00:02', '02:d4:d0:00:00:03', '02:d4:d0:00:00:04'];
const reservedMac = macs[3] as string;
const lab = await createLab({ name: 'edemo', octet: 141 });
const server = createServer(kind, lab, { leaseTimeSeconds, rangeFirst: 100, rangeLast: 199, reservations: [{ mac: reservedMac, ip: lab.network(50) }] });
// The engine's log goes to a file: JSON lines would drown the steps.
const log = pino({ level: 'debug' }, pino.destination({ dest: LOG, sync: true }));
let status = 0;
let cleanup = async (): Promise<void> => {
  await server.stop().catch(() => undefined);
  await lab.destroy();
};

try {
  await server.start();
  console.log(`${kind} serves ${lab.subnet}/24 from ${lab.serverIp} in netns ${lab.serverNs}; host side ${lab.hostIf} ${lab.hostIp}`);
  console.log(`the engine's log (every packet, JSON lines): ${LOG}`);
  const engine = await openEngine({ socket: { transport: await UdpTransport.open(), server: lab.serverIp }, clock: systemClock, log });
  const { manager } = engine;
  manager.on((e) => console.log(`  event ${e.type.padEnd(11)} ${e.lease.identity.mac} ${e.lease.ip}`));
  const inner = cleanup;
  cleanup = async () => {
    await Promise.all(manager.list().map((l) => manager.release(l.id)));
    await engine.close();
    await inner();
  };
  const table = async (title: string): Promise<void> => {
    const rows: TableRow[] = manager
      .list()
      .map((l) => ({ name: l.id, ip: l.ip, mac: l.identity.mac, ...(l.identity.mac === reservedMac ? { note: 'reserved for its MAC' } : {}) }));
    const theirs: ServerLease[] = await server.leases();
    console.log(title);
    for (const line of leaseTable(rows, theirs, { kind, now: Date.now(), fixedMacs: new Set([reservedMac]) })) console.log(`  ${line}`);
  };

  const started = Date.now();
  const leases = await Promise.all(macs.map((mac, i) => manager.acquire(`ctr${i}`, { identity: { mac, clientId: clientIdForMac(mac) } })));
  await table(`\nleased ${leases.length} addresses in ${Date.now() - started} ms; each beside the server's lease for its MAC:`);

  if (!stop.isRequested()) {
    const renewAt = Math.max(...leases.map((l) => l.renewAt ?? 0));
    console.log(`\nwaiting for the renewals at T1 (${Math.ceil((renewAt - Date.now()) / 1000)} s) …`);
    await Promise.race([stop.requested, new Promise((r) => setTimeout(r, Math.max(0, renewAt - Date.now()) + 1500))]);
    if (!stop.isRequested()) await table('after the renewals:');
  }
  if (keep && !stop.isRequested()) {
    console.log('\nleases keep renewing; press Enter or Ctrl-C to release them and tear the lab down');
    await stop.requested;
  }
  console.log('\nreleasing …');
  await Promise.all(manager.list().map((l) => manager.release(l.id)));
  await new Promise((r) => setTimeout(r, 500));
  const left = (await server.leases()).filter((l) => l.active && l.mac !== null && macs.includes(l.mac));
  console.log(
    left.length === 0
      ? `${kind} holds no active lease for these MACs any more`
      : `${kind} still shows ${left.length} active lease(s): ${left.map((l) => l.ip).join(', ')}`,
  );
} catch (error) {
  status = 1;
  console.log(`the demo failed: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  try {
    await cleanup();
    console.log('lab removed');
  } catch (error) {
    status = 1;
    console.log(`FAILED to remove the lab: ${error instanceof Error ? error.message : String(error)}`);
  }
}
process.exit(status);
