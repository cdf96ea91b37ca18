/**
 * A rogue DHCP server on the segment, with its own identifier, answering every request faster
 * than the real one (ISC dhcpd with its 1 s ping check before each OFFER): it offers its own
 * addresses, ACKs whatever is asked and NAKs it too. Nothing from it is accepted: every lease
 * comes from the real server, and the client's drop counters account for the rogue's replies.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createHostileSegment, type HostileSegment } from '../support/hostile/segment.js';
import { startNetnsChild, type Message, type NetnsChild } from '../support/hostile/netns-child.js';
import { startSniffer, type Sniffer } from '../support/hostile/sniffer.js';
import { describeLab } from '../support/lab/prereqs.js';
import { createServer, type DhcpServerFixture } from '../support/lab/servers.js';

const OCTET = 174;
const ACQUISITIONS = 20;

/** Asks again every 200 ms until `done` holds or 10 s have passed; the last answer either way. */
async function until(ask: () => Promise<Message>, done: (m: Message) => boolean): Promise<Message> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const m = await ask();
    if (done(m) || Date.now() > deadline) return m;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describeLab(
  'a rogue DHCP server on the segment',
  () => {
    let seg: HostileSegment;
    let server: DhcpServerFixture;
    let rogue: NetnsChild | undefined;
    let client: NetnsChild | undefined;
    let sniffer: Sniffer | undefined;

    beforeAll(async () => {
      seg = await createHostileSegment({ name: 'hrog', octet: OCTET });
      server = createServer('isc', seg.lab, { leaseTimeSeconds: 600, rangeFirst: 20, rangeLast: 239, pingCheck: true });
      await server.start();
      rogue = startNetnsChild(seg.rogueNs, 'test/support/hostile/rogue-server.ts', {
        rogueIp: seg.rogueIp,
        offerPrefix: seg.lab.network(0).replace(/0$/, ''),
        offerFirst: 241,
        offerCount: 9,
      });
      await rogue.next((m) => m.event === 'ready', 20_000);
      const r = rogue;
      sniffer = await startSniffer(seg.lab.hostIf, 'udp dst port 67', (payload) => r.send({ cmd: 'packet', hex: payload.toString('hex') }));
      // 4 s before a retransmission (the RFC's value): ISC's OFFER comes after its 1 s ping
      // check, and a retransmitted DISCOVER would only add replies to count.
      client = startNetnsChild(seg.clientNs, 'test/support/hostile/acquirer.ts', { server: seg.lab.serverIp, macOctet: OCTET, initialRetransmitMs: 4_000 });
      await client.next((m) => m.event === 'ready', 20_000);
    });

    afterAll(async () => {
      await sniffer?.stop();
      await client?.stop();
      await rogue?.stop();
      await server?.stop();
      await seg?.destroy();
    });

    it('accepts nothing from it: every lease comes from the real server, the rogue replies are counted drops', async () => {
      const c = client as NetnsChild;
      c.send({ cmd: 'run', phase: 'rogue', count: ACQUISITIONS, concurrency: 10, release: false });
      const phase = await c.next((m) => m.event === 'phase', 120_000);
      expect(phase.errors).toEqual([]);
      expect(phase.acquired).toBe(ACQUISITIONS);
      const leases = phase.leases as Array<{ mac: string; ip: string; serverId: string }>;
      for (const l of leases) {
        expect(l.serverId).toBe(seg.lab.serverIp);
        const host = Number(l.ip.split('.')[3]);
        expect(l.ip.startsWith(seg.lab.network(0).replace(/0$/, '')) && host >= 20 && host <= 239, l.ip).toBe(true);
      }
      // The real server's own database agrees, lease by lease.
      const onServer = new Map((await server.leases()).filter((l) => l.active).map((l) => [l.mac, l.ip]));
      for (const l of leases) expect(onServer.get(l.mac), l.mac).toBe(l.ip);

      // The rogue is fed from a capture, which can trail the exchanges it watches on a busy
      // machine: its answers to the last REQUESTs may still be on their way when the phase ends.
      // Ask until it has answered as many REQUESTs as there were leases (or 10 s have passed),
      // then until the client has counted every reply it sent.
      const sent = await until(
        async () => {
          (rogue as NetnsChild).send({ cmd: 'report' });
          return (rogue as NetnsChild).next((m) => m.event === 'report');
        },
        (m) => Number(m.acks) >= ACQUISITIONS && Number(m.naks) >= ACQUISITIONS,
      );
      const rogueReplies = Number(sent.offers) + Number(sent.acks) + Number(sent.naks);
      const { stats } = (await until(
        async () => {
          c.send({ cmd: 'stats' });
          return c.next((m) => m.event === 'stats');
        },
        (m) => {
          const st = (m as Message & { stats: Record<string, number> }).stats;
          return (st.received ?? 0) - (st.accepted ?? 0) >= rogueReplies;
        },
      )) as Message & { stats: Record<string, number> };
      console.info(
        `[hostile-rogue] ${ACQUISITIONS} leases from the real server in ${Number(phase.elapsedMs)} ms (p50 ${Number((phase.latencyMs as Message).p50).toFixed(0)} ms); rogue sent ${sent.offers} OFFERs, ${sent.acks} ACKs, ${sent.naks} NAKs, median ${Number(sent.medianDelayMs).toFixed(1)} ms after seeing the request; client stats ${JSON.stringify(stats)}`,
      );
      expect(Number(sent.errors)).toBe(0);
      // One OFFER per DISCOVER and an ACK and a NAK per REQUEST, each before the real answer.
      expect(Number(sent.offers)).toBeGreaterThanOrEqual(ACQUISITIONS);
      expect(Number(sent.acks)).toBeGreaterThanOrEqual(ACQUISITIONS);
      // Exactly one OFFER and one ACK accepted per lease: none of the rogue's.
      expect(stats.accepted).toBe(2 * ACQUISITIONS);
      // Every rogue OFFER was seen while its DISCOVER was waiting (the rogue was first) and dropped
      // for its identifier; its ACKs and NAKs either met their REQUEST still waiting (foreign
      // server) or arrived after the real ACK (unknown xid). All of them are counted.
      expect(stats['foreign-server']).toBeGreaterThanOrEqual(Number(sent.offers));
      expect((stats['foreign-server'] ?? 0) + (stats['unknown-xid'] ?? 0) + (stats['unexpected-type'] ?? 0)).toBeGreaterThanOrEqual(rogueReplies);
      // Alone in its netns, the client received the real server's replies and the rogue's, nothing else.
      expect((stats.received ?? 0) - (stats.accepted ?? 0)).toBe(rogueReplies);
      expect(stats.malformed).toBe(0);
    });
  },
  { requires: ['tcpdump'] },
);
