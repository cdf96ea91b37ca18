import { describe, expect, it } from 'vitest';
import { clientIdForMac } from '../dhcp/messages.js';
import { decodeJournal, encodeDelete, encodeHeader, encodePools, encodePut, JournalReader, LeaseMap } from './journal.js';
import type { Lease } from './lease.js';
import { LeaseManager } from './manager.js';
import { DhcpClient } from '../dhcp/client.js';
import { FakeClock } from '../../test/support/fake-clock.js';
import { MemoryTransport } from '../../test/support/memory-transport.js';
import { testLog } from '../../test/support/silent-log.js';

function lease(n: number, ip = `192.0.2.${n}`): Lease {
  const mac = `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
  return {
    id: `pool#${mac}`,
    identity: { mac, clientId: clientIdForMac(mac) },
    ip,
    serverId: '192.0.2.1',
    state: 'BOUND',
    binding: { ip, serverId: '192.0.2.1', requestedAt: 1_000, leaseTimeSeconds: 600, xid: 0 },
    requestedAt: 1_000,
    renewAt: 301_000,
    rebindAt: 526_000,
    expiresAt: 601_000,
    retryAt: null,
    recoveryAttempts: 0,
  };
}

const lines = (...parts: Array<{ data: Buffer } | string>): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p.data)));

/** A damaged copy of a record line: one byte of its JSON changed, its newline kept. */
function damaged(line: { data: Buffer }): Buffer {
  const copy = Buffer.from(line.data);
  copy[12] = (copy[12] as number) ^ 1;
  return copy;
}

const header = encodeHeader(0);
const journals: Record<string, Buffer> = {
  empty: Buffer.alloc(0),
  'header only': lines(header),
  'header not terminated': header.data.subarray(0, header.bytes - 1),
  'not ours': lines('00000000 {"format":"other"}\n', encodePut(lease(1))),
  'puts, a delete, pools': lines(
    header,
    encodePools([{ id: 'pool', reserved: ['192.0.2.254'] }]),
    encodePut(lease(1)),
    encodePut(lease(2)),
    encodeDelete(lease(1).id),
    encodePut(lease(3)),
  ),
  'a put replaced': lines(header, encodePut(lease(1)), encodePut({ ...lease(1), expiresAt: 602_000 })),
  'torn: the last append incomplete': lines(header, encodePut(lease(1)), { data: encodePut(lease(2)).data.subarray(0, 40) }),
  'torn: the last line damaged': lines(header, encodePut(lease(1)), { data: damaged(encodePut(lease(2))) }),
  'damage before the end': lines(header, encodePut(lease(1)), { data: damaged(encodePut(lease(2))) }, encodePut(lease(3))),
  'damage, then a torn end': lines(header, { data: damaged(encodePut(lease(2))) }, { data: encodePut(lease(3)).data.subarray(0, 30) }),
  'two holders of one address': lines(header, encodePut(lease(1)), encodePut(lease(2, '192.0.2.1'))),
  // The order of the latest records decides: lease 1's last record comes after lease 2's.
  'two holders, the first recorded again': lines(header, encodePut(lease(1)), encodePut(lease(2, '192.0.2.1')), encodePut({ ...lease(1), expiresAt: 602_000 })),
  'two holders, the first gone to another address': lines(header, encodePut(lease(1)), encodePut(lease(2, '192.0.2.1')), encodePut(lease(1, '192.0.2.9'))),
  // The kill -9 soak's case: an offer recorded while its REQUEST was out, then the lease the
  // server acknowledged to another client for the same address.
  'an offer, then the acknowledged holder': lines(header, encodePut({ ...lease(1), state: 'REBOOTING' }), encodePut(lease(2, '192.0.2.1'))),
  'the acknowledged holder, then an offer': lines(header, encodePut(lease(1)), encodePut({ ...lease(2, '192.0.2.1'), state: 'REBOOTING' })),
  'two offers': lines(header, encodePut({ ...lease(1), state: 'REBOOTING' }), encodePut({ ...lease(2, '192.0.2.1'), state: 'REBOOTING' })),
  'deleted and put again': lines(header, encodePut(lease(1)), encodePut(lease(2)), encodeDelete(lease(1).id), encodePut(lease(3)), encodePut(lease(1))),
};

describe('JournalReader', () => {
  it('replays a journal given in pieces of any size exactly as given whole', () => {
    for (const [name, buf] of Object.entries(journals)) {
      const whole = decodeJournal(buf);
      for (const size of [1, 2, 3, 7, 10, 11, 64, 200, buf.length + 1]) {
        const table = new LeaseMap();
        const reader = new JournalReader(table);
        // One buffer reused for every piece, as a start-up reads the file.
        const piece = Buffer.alloc(size);
        for (let at = 0; at < buf.length; at += size) {
          const n = buf.copy(piece, 0, at, at + size);
          reader.push(piece.subarray(0, n));
          piece.fill(0x7b);
        }
        expect({ ...reader.finish(), leases: table.list() }, `${name}, pieces of ${size}`).toEqual(whole);
      }
    }
  });

  it('tells each case apart: the table, the torn end, damage and the good bytes', () => {
    const all = Object.fromEntries(Object.entries(journals).map(([k, v]) => [k, decodeJournal(v)]));
    expect(all.empty?.unreadable).toBe('empty file');
    expect(all['header only']).toMatchObject({ unreadable: undefined, leases: [], goodBytes: header.bytes });
    expect(all['header not terminated']?.unreadable).toBe('header line not terminated');
    expect(all['not ours']?.unreadable).toMatch(/^not a d4d-leases journal/);
    expect(all['puts, a delete, pools']?.leases.map((l) => l.id)).toEqual([lease(2).id, lease(3).id]);
    expect(all['puts, a delete, pools']?.pools).toEqual([{ id: 'pool', reserved: ['192.0.2.254'] }]);
    expect(all['a put replaced']?.leases.map((l) => l.expiresAt)).toEqual([602_000]);
    const torn = all['torn: the last append incomplete'];
    expect(torn).toMatchObject({ tornTail: 'last record (line 3, 40 bytes) incomplete', problems: [], goodBytes: header.bytes + encodePut(lease(1)).bytes });
    expect(torn?.leases.map((l) => l.id)).toEqual([lease(1).id]);
    expect(all['torn: the last line damaged']).toMatchObject({
      tornTail: expect.stringMatching(/^last record \(line 3, \d+ bytes\) checksum mismatch$/),
      problems: [],
    });
    const damage = all['damage before the end'];
    expect(damage).toMatchObject({ tornTail: undefined, problems: ['record 3: checksum mismatch'] });
    expect(damage?.leases.map((l) => l.id)).toEqual([lease(1).id, lease(3).id]);
    expect(all['damage, then a torn end']).toMatchObject({ tornTail: 'last record (line 3, 30 bytes) incomplete', problems: ['record 2: checksum mismatch'] });
    // Both acknowledged: the later record keeps the address (the server gave it again).
    expect(all['two holders of one address']).toMatchObject({
      problems: [`lease ${lease(1).id}: 192.0.2.1 is also held by ${lease(2).id}`],
      leases: [lease(2, '192.0.2.1')],
    });
    expect(all['two holders, the first recorded again']).toMatchObject({
      problems: [`lease ${lease(2).id}: 192.0.2.1 is also held by ${lease(1).id}`],
      leases: [{ ...lease(1), expiresAt: 602_000 }],
    });
    // An acknowledged lease beats an offer, whichever came first; of two offers, the first.
    expect(all['an offer, then the acknowledged holder']).toMatchObject({
      problems: [`lease ${lease(1).id}: 192.0.2.1 is also held by ${lease(2).id}`],
      leases: [lease(2, '192.0.2.1')],
    });
    expect(all['the acknowledged holder, then an offer']).toMatchObject({
      problems: [`lease ${lease(2).id}: 192.0.2.1 is also held by ${lease(1).id}`],
      leases: [lease(1)],
    });
    expect(all['two offers']).toMatchObject({
      problems: [`lease ${lease(2).id}: 192.0.2.1 is also held by ${lease(1).id}`],
      leases: [{ ...lease(1), state: 'REBOOTING' }],
    });
    expect(all['two holders, the first gone to another address']).toMatchObject({ problems: [], leases: [lease(2, '192.0.2.1'), lease(1, '192.0.2.9')] });
    expect(all['deleted and put again']?.leases.map((l) => l.id)).toEqual([lease(2).id, lease(3).id, lease(1).id]);
  });

  it("replays every journal into the lease manager's own table exactly as into a map", async () => {
    for (const [name, buf] of Object.entries(journals)) {
      const want = decodeJournal(buf);
      // Before the leases' T1: resumed, they wait.
      const clock = new FakeClock(2_000);
      const log = testLog();
      const manager = new LeaseManager({ client: new DhcpClient({ transport: new MemoryTransport(), clock, server: '192.0.2.1', log }), clock, log });
      const table = manager.restoring();
      const reader = new JournalReader(table);
      reader.push(buf);
      const got = reader.finish();
      expect({ ...got, leases: [...table.values()] }, name).toEqual(want);
      expect(table.start(), name).toBe(want.leases.length);
      expect(
        want.leases.map((l) => manager.get(l.id)),
        name,
      ).toEqual(want.leases);
      await manager.stop();
    }
  });
});
