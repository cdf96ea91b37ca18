/**
 * Networks without `--subnet`: what the driver says when it cannot learn a usable subnet. Docker
 * re-asks while the learned pool overlaps a host route; and a host with no address on the
 * server's segment gets no answer at all. Either way the error must give what to do: the exact
 * `--subnet`/`--gateway` where the host is on that LAN, and relay mode where the macvlan parent
 * has no host address (a VLAN sub-interface). Real lease manager and DHCP client over a scripted
 * server, on a fake clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { MemoryStore } from '../../test/support/memory-store.js';
import { MemoryTransport } from '../../test/support/memory-transport.js';
import { dora, ScriptedServer } from '../../test/support/scripted-server.js';
import { testLog } from '../../test/support/silent-log.js';
import { DhcpClient } from '../dhcp/client.js';
import { LeaseManager } from '../lease/manager.js';
import { IpamDriver, IpamError } from './driver.js';

const SERVER = '192.0.2.1';
const AUTO = { AddressSpace: 'local', Pool: '', SubPool: '', Options: {}, V6: false };
let manager: LeaseManager | undefined;

afterEach(async () => {
  await manager?.stop();
  manager = undefined;
});

function setup() {
  const clock = new FakeClock();
  const transport = new MemoryTransport();
  const server = new ScriptedServer(transport, SERVER);
  const log = testLog();
  const client = new DhcpClient({ transport, clock, server: SERVER, log, random: () => 0.5 });
  manager = new LeaseManager({ client, clock, log });
  const driver = new IpamDriver({ manager, client, store: new MemoryStore(), log, clientIdMode: 'mac', driverName: 'd4d', hostName: 'h1', clock });
  /** Runs `p` while the fake clock moves on (the DHCP client paces what it sends on it). */
  const settle = async <T>(p: Promise<T>): Promise<T | unknown> => {
    let done = false;
    const result = p
      .then(
        (v) => v,
        (e: unknown) => e,
      )
      .finally(() => (done = true));
    while (!done) await clock.advance(100);
    return result;
  };
  return { clock, server, driver, settle };
}

describe('a network without --subnet', () => {
  it('Docker asks again (the learned subnet is on-link): the exact --subnet/--gateway, and relay mode for a parent with no host address', async () => {
    const { server, driver, settle } = setup();
    server.handler = dora(() => '192.0.2.100');
    const first = await settle(driver.requestPool(AUTO));
    expect(first).toMatchObject({ Pool: '192.0.2.0/24', Data: { 'com.docker.network.gateway': '192.0.2.1/24' } });
    const again = await settle(driver.requestPool(AUTO));
    expect(again).toBeInstanceOf(IpamError);
    const message = (again as IpamError).message;
    expect(message).toContain('create the network with --subnet 192.0.2.0/24 --gateway 192.0.2.1');
    expect(message).toContain(
      'if the macvlan parent is on another segment where this host has no address (a VLAN sub-interface), this host has no address to reach the DHCP server from on that segment',
    );
    expect(message).toContain('use relay mode, which names the subnet to the server');
  });

  it('no answer to the probe: the error says the host may have no address to reach the server from, and points to relay mode', async () => {
    const { server, driver, settle } = setup();
    server.handler = () => undefined;
    const err = await settle(driver.requestPool(AUTO));
    expect(err).toBeInstanceOf(IpamError);
    const message = (err as IpamError).message;
    expect(message).toMatch(/^no OFFER reply from DHCP server 192\.0\.2\.1 for 02:d4:/);
    expect(message).toContain('this host has no address to reach the DHCP server from on that segment');
    expect(message).toContain('use relay mode, which names the subnet to the server');
  });
});
