/**
 * Acceptance scenarios for server outages: the server is stopped while a container holds its
 * address (a macvlan child with the container's MAC), and started again later. Each server's
 * outage file runs in its own lab, beside its steady-state file.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MessageType, OptionCode } from '../../src/dhcp/codec/option-codes.js';
import { getIPv4 } from '../../src/dhcp/codec/options.js';
import { describeLab } from '../support/lab/prereqs.js';
import { waitForLease, type ServerKind } from '../support/lab/servers.js';
import { startEngineLab, testMac, type EngineLab, type EngineLabOptions } from './engine-lab.js';

export interface OutageSuiteOptions {
  kind: ServerKind;
  name: string;
  octet: number;
  leaseTimeSeconds: number;
  /** Relay mode (see `EngineLabOptions.relay`); direct mode without it. */
  relay?: EngineLabOptions['relay'];
}

export function describeOutageSuite(o: OutageSuiteOptions): void {
  describeLab(`DHCP engine through ${o.kind} outages${o.relay ? ', as a relay agent through a router' : ''}`, () => {
    let t: EngineLab;
    const leaseMs = o.leaseTimeSeconds * 1000;

    beforeAll(async () => {
      t = await startEngineLab({
        kind: o.kind,
        name: o.name,
        octet: o.octet,
        ...(o.relay === undefined ? {} : { relay: o.relay }),
        server: { leaseTimeSeconds: o.leaseTimeSeconds, rangeFirst: 20, rangeLast: 239 },
      });
    });

    afterAll(async () => {
      await t?.close();
    });

    it('server stopped mid-lease: renewal fails, rebinding succeeds once it is back, same address, no new DISCOVER', async () => {
      const mac = testMac(o.octet, 1);
      const { lease, done } = await t.holdAddress('mid', mac);
      try {
        await t.server.stop();
        const stoppedAt = Date.now();
        await t.waitForEvent((e) => e.type === 'rebinding' && e.lease.id === 'mid', leaseMs);
        // Renewal was tried (REQUEST with option 54) and got nothing.
        const renewals = t.transport.sentFor(mac, stoppedAt).filter((s) => s.packet.options.has(OptionCode.ServerIdentifier));
        expect(renewals.length).toBeGreaterThan(0);
        await t.server.start();
        await t.waitForEvent((e) => e.type === 'renewed' && e.lease.id === 'mid', leaseMs);
        expect(t.manager.get('mid')).toMatchObject({ state: 'BOUND', ip: lease.ip });
        expect(t.events.some((e) => e.lease.id === 'mid' && (e.type === 'expired' || e.type === 'address-lost'))).toBe(false);
        expect(t.transport.sentOfType(MessageType.Discover, mac)).toHaveLength(1);
        await waitForLease(t.server, (l) => l.active && l.mac === mac && l.ip === lease.ip, 5_000);
      } finally {
        await done();
      }
    });

    it('server stopped past expiry: expired event, then the same address again (INIT-REBOOT first) when it returns', async () => {
      const mac = testMac(o.octet, 2);
      const { lease, done } = await t.holdAddress('past', mac);
      try {
        await t.server.stop();
        const expired = await t.waitForEvent((e) => e.type === 'expired' && e.lease.id === 'past', leaseMs + 5_000);
        expect(expired.lease.ip).toBe(lease.ip);
        await new Promise((r) => setTimeout(r, 1_000));
        const restartedAt = Date.now();
        await t.server.start();
        const back = await t.waitForEvent((e) => e.type === 'reacquired' && e.lease.id === 'past', 30_000);
        expect(back.lease.ip).toBe(lease.ip);
        expect(t.manager.get('past')).toMatchObject({ state: 'BOUND', ip: lease.ip });
        // Winning it back starts with INIT-REBOOT: a REQUEST for the address, without option 54.
        const recovery = t.transport.sentFor(mac, (expired.lease.retryAt ?? restartedAt) - 1);
        const first = recovery[0]?.packet;
        expect(first?.options.get(OptionCode.MessageType)?.[0]).toBe(MessageType.Request);
        expect(first?.options.has(OptionCode.ServerIdentifier)).toBe(false);
        expect(getIPv4(first!.options, OptionCode.RequestedIpAddress)).toBe(lease.ip);
        await waitForLease(t.server, (l) => l.active && l.mac === mac && l.ip === lease.ip, 5_000);
      } finally {
        await done();
      }
    });
  });
}
