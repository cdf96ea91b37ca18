/**
 * Forged and mutated replies on a live client's UDP/68 (spoofed xids; the right xid with the
 * wrong chaddr, client identifier or server identifier; from the wrong port or address; zero
 * lease time; truncated; decoder mutants; random bytes) while it acquires and releases leases
 * from Kea. Acquisitions keep completing (their rate and latency are measured beside a run
 * without the noise), the client never accepts a forgery, and every datagram the kernel delivered
 * is counted as accepted or as a drop with a reason. `bench/fuzz.ts live` runs the same with a
 * million datagrams.
 */
import { expect, it } from 'vitest';
import { describeLiveNoise, runLiveNoise, type Phase } from '../support/hostile/live-noise.js';
import { describeLab } from '../support/lab/prereqs.js';

const PACKETS = Number(process.env.D4D_HOSTILE_NOISE_PACKETS ?? 20_000);

describeLab(
  'forged replies on the live DHCP socket',
  () => {
    it(`keeps acquiring through ${PACKETS} forged and mutated replies, and counts every one`, async () => {
      const r = await runLiveNoise({
        name: 'hnoi',
        octet: 175,
        kind: 'kea',
        packets: PACKETS,
        ratePerSecond: 5_000,
        quietMs: 4_000,
        concurrency: 8,
        seed: 0xd4d,
      });
      for (const line of describeLiveNoise(r)) console.info(`[hostile-noise] ${line}`);
      expect(r.clientAlive).toBe(true);
      expect(r.noise.sendErrors).toBe(0);
      expect(r.noise.sent).toBeGreaterThan(PACKETS * 0.9);
      const fromRealServer = (p: Phase): void => {
        expect(p.errors).toEqual([]);
        expect(p.failed).toBe(0);
        expect(p.acquired).toBeGreaterThan(0);
        expect(Object.keys(p.servers)).toEqual([r.serverIp]);
        // The forgeries offer .240-.249; the real pool is .20-.239.
        for (const ip of p.ips) expect(Number(ip.split('.')[3]), ip).toBeLessThan(240);
      };
      fromRealServer(r.quiet);
      fromRealServer(r.noisy);
      // Exactly one OFFER and one ACK accepted per acquisition: no forgery got through.
      expect(r.client.accepted).toBe(2 * r.noisy.acquired);
      // Every datagram read was accepted or dropped with a reason, and every one the kernel
      // queued was read.
      expect(r.uncounted).toBe(0);
      expect(r.unread).toBe(0);
      // The noise reached the client (less what the kernel may drop on a full buffer), and was
      // counted as drops of the reasons it was built for.
      expect((r.client.received ?? 0) + (r.kernel.RcvbufErrors ?? 0)).toBeGreaterThanOrEqual(r.noise.sent);
      for (const reason of ['malformed', 'wrong-port', 'unknown-xid', 'not-a-reply']) {
        expect(r.client[reason], reason).toBeGreaterThan(0);
      }
      // Forgeries that met their transaction still waiting (how many depends on timing: the
      // sniffed xid must arrive before Kea's answer) were caught by the later checks.
      const inFlight = ['wrong-chaddr', 'wrong-client-id', 'foreign-server', 'unexpected-type', 'incomplete'].reduce((n, k) => n + (r.client[k] ?? 0), 0);
      expect(inFlight).toBeGreaterThan(0);
      // No stall: acquisitions went on, at a fraction of the quiet rate that allows for the
      // forger taking one of the machine's cores.
      expect(r.noisy.ratePerSecond).toBeGreaterThan(r.quiet.ratePerSecond * 0.1);
    });
  },
  { requires: ['tcpdump'] },
);
