/**
 * Runs the DHCP engine against a real DHCP server on this machine and shows what happens:
 * starts the server in a network namespace (veth to the host), leases addresses for a few
 * container MACs from one UDP/68 socket, prints them beside the server's own lease table,
 * waits for a renewal, releases everything and tears the lab down.
 *
 *   sudo npx tsx scripts/demo.ts [isc|kea|dnsmasq] [--keep]
 *
 * --keep leaves the leases renewing until Ctrl-C (then releases and cleans up).
 */
import { pino } from 'pino';
import { systemClock } from '../src/clock.js';
import { DhcpClient } from '../src/dhcp/client.js';
import { clientIdForMac } from '../src/dhcp/messages.js';
import { UdpTransport } from '../src/dhcp/transport.js';
import { LeaseManager } from '../src/lease/manager.js';
import { createLab } from '../test/support/lab/netns.js';
import { labPrerequisites } from '../test/support/lab/prereqs.js';
import { createServer, formatServerLease, type ServerKind, type ServerLease } from '../test/support/lab/servers.js';

const kind = (process.argv.slice(2).find((a) => !a.startsWith('-')) ?? 'kea') as ServerKind;
const keep = process.argv.includes('--keep');
if (!['isc', 'kea', 'dnsmasq'].includes(kind)) {
  console.error(`unknown server ${kind}; use isc, kea or dnsmasq`);
  process.exit(2);
}
const prereqs = labPrerequisites();
if (!prereqs.ok) {
  console.error(`cannot run the demo: ${prereqs.reason} (run scripts/setup.sh as root first)`);
  process.exit(1);
}

const leaseTimeSeconds = kind === 'dnsmasq' ? 120 : 20;
const macs = ['02:d4:d0:00:00:01', '02:d4:d0:00:00:02', '02:d4:d0:00:00:03', '02:d4:d0:00:00:04'];
const lab = await createLab({ name: 'demo', octet: 200 });
const server = createServer(kind, lab, {
  leaseTimeSeconds,
  rangeFirst: 100,
  rangeLast: 199,
  reservations: [{ mac: macs[3] as string, ip: lab.network(50) }],
});
const log = pino({ level: 'info', transport: { target: 'pino/file', options: { destination: 2 } } });
let cleanup = async (): Promise<void> => {
  await server.stop().catch(() => undefined);
  await lab.destroy();
};

try {
  await server.start();
  console.log(`${kind} serves ${lab.subnet}/24 from ${lab.serverIp} in netns ${lab.serverNs}; host side ${lab.hostIf} ${lab.hostIp}`);
  const transport = await UdpTransport.open();
  const client = new DhcpClient({ transport, clock: systemClock, server: lab.serverIp, log: log.child({ component: 'dhcp' }) });
  const manager = new LeaseManager({ client, clock: systemClock, log: log.child({ component: 'lease' }) });
  manager.on((e) => console.log(`event ${e.type.padEnd(11)} ${e.lease.identity.mac} ${e.lease.ip}`));
  const inner = cleanup;
  cleanup = async () => {
    await Promise.all(manager.list().map((l) => manager.release(l.id)));
    client.close();
    await manager.stop();
    await transport.close();
    await inner();
  };

  const started = Date.now();
  const leases = await Promise.all(macs.map((mac, i) => manager.acquire(`ctr${i}`, { identity: { mac, clientId: clientIdForMac(mac) } })));
  console.log(`\nleased ${leases.length} addresses in ${Date.now() - started} ms (${macs[3]} has a reservation for ${lab.network(50)}):`);
  await printTables(leases.map((l) => ({ mac: l.identity.mac, ip: l.ip, expiresAt: l.expiresAt })), await server.leases());

  const renewAt = Math.max(...leases.map((l) => l.renewAt ?? 0));
  console.log(`\nwaiting for the renewals at T1 (${Math.ceil((renewAt - Date.now()) / 1000)} s) …`);
  await new Promise((r) => setTimeout(r, Math.max(0, renewAt - Date.now()) + 1500));
  await printTables(manager.list().map((l) => ({ mac: l.identity.mac, ip: l.ip, expiresAt: l.expiresAt })), await server.leases());

  if (keep) {
    console.log('\nleases keep renewing; press Ctrl-C to release them and tear the lab down');
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  }
  console.log('\nreleasing …');
  await Promise.all(manager.list().map((l) => manager.release(l.id)));
  await new Promise((r) => setTimeout(r, 500));
  console.log('server lease table after release:');
  printServer(await server.leases());
} finally {
  await cleanup();
  console.log('\nlab removed');
}

async function printTables(ours: Array<{ mac: string; ip: string; expiresAt: number | null }>, theirs: ServerLease[]): Promise<void> {
  console.log('  d4d:');
  for (const l of ours) console.log(`    ${l.mac}  ${l.ip.padEnd(15)} expires ${l.expiresAt === null ? 'never' : new Date(l.expiresAt).toISOString()}`);
  console.log(`  ${kind} lease database:`);
  printServer(theirs);
}

function printServer(theirs: ServerLease[]): void {
  if (theirs.length === 0) console.log('    (empty)');
  for (const l of theirs) {
    console.log(`    ${formatServerLease(l)}`);
  }
}
