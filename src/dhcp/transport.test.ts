import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { TransportError } from './errors.js';
import { DEFAULT_RECEIVE_BUFFER_BYTES, UdpTransport } from './transport.js';

// Loopback and ephemeral ports only: these tests need no privileges and touch no network.
const open: UdpTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

describe('UdpTransport', () => {
  it('sends and receives datagrams', async () => {
    const a = await UdpTransport.open({ address: '127.0.0.1', port: 0 });
    const b = await UdpTransport.open({ address: '127.0.0.1', port: 0 });
    open.push(a, b);
    const got = new Promise<Uint8Array>((resolve) => b.onMessage((data) => resolve(data)));
    await a.send(Uint8Array.of(1, 2, 3), '127.0.0.1', b.localAddress().port);
    expect(await got).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('asks for a receive buffer larger than the default, within what the kernel allows', async () => {
    const t = await UdpTransport.open({ address: '127.0.0.1', port: 0 });
    open.push(t);
    // Linux grants min(asked, net.core.rmem_max) and reports twice that.
    const max = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8'));
    expect(t.receiveBufferBytes()).toBe(2 * Math.min(max, DEFAULT_RECEIVE_BUFFER_BYTES));
  });

  it('explains a port held by a socket that does not share it', async () => {
    const holder = await UdpTransport.open({ address: '127.0.0.1', port: 0, reuseAddr: false });
    open.push(holder);
    const err = await UdpTransport.open({ address: '127.0.0.1', port: holder.localAddress().port, reuseAddr: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    expect(String(err)).toMatch(/in use .*dhclient, NetworkManager or systemd-networkd/);
  });

  it('shares the port with another reuseAddr socket', async () => {
    const first = await UdpTransport.open({ address: '127.0.0.1', port: 0 });
    open.push(first);
    const second = await UdpTransport.open({ address: '127.0.0.1', port: first.localAddress().port });
    open.push(second);
    expect(second.localAddress().port).toBe(first.localAddress().port);
  });
});
