import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testLog } from '../../test/support/silent-log.js';
import { clientIdForMac } from '../dhcp/messages.js';
import { leaseFromBinding, type Lease } from './lease.js';
import { decodeLeaseTable, encodeLeaseTable, JsonFileLeaseStore, nodeStoreFs, StoreError, type StoreFs } from './store.js';

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'd4d-store-'));
  path = join(dir, 'state', 'leases.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function lease(i: number, extra: Partial<Lease> = {}): Lease {
  const mac = `02:00:00:00:00:${i.toString(16).padStart(2, '0')}`;
  const l = leaseFromBinding(
    `ep${i}`,
    { mac, clientId: clientIdForMac(mac), hostname: `c${i}` },
    { ip: `10.0.0.${i}`, serverId: '10.0.0.1', requestedAt: 1_700_000_000_000, leaseTimeSeconds: 600, xid: 7, routers: ['10.0.0.1'], subnetMask: '255.255.255.0' },
    () => 0.5,
  );
  return { ...l, ...extra };
}

const store = (fs?: StoreFs): JsonFileLeaseStore => new JsonFileLeaseStore({ path, log: testLog(), now: () => Date.UTC(2026, 10, 23), ...(fs ? { fs } : {}) });

describe('JsonFileLeaseStore', () => {
  it('starts empty without a file', async () => {
    expect(await store().load()).toEqual({ leases: [], pools: [], problems: [] });
  });

  it('keeps pool reservations with the leases', async () => {
    const s = store();
    s.setPools([{ id: 'd4d/local/10.0.0.0/24/id=0a0b0c0d', reserved: ['10.0.0.1', '10.0.0.2'] }]);
    await s.save([lease(5)]);
    const loaded = await store().load();
    expect(loaded.pools).toEqual([{ id: 'd4d/local/10.0.0.0/24/id=0a0b0c0d', reserved: ['10.0.0.1', '10.0.0.2'] }]);
    expect(loaded.leases.map((l) => l.id)).toEqual(['ep5']);
  });

  it('saves and loads leases unchanged (xid aside), in a root-only file', async () => {
    const leases = [lease(5), lease(6, { state: 'EXPIRED', retryAt: null })];
    await store().save(leases);
    const { leases: loaded, problems } = await store().load();
    expect(problems).toEqual([]);
    expect(loaded).toEqual(leases.map((l) => ({ ...l, binding: { ...l.binding, xid: 0 } })));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dir, 'state'))).toEqual(['leases.json']);
  });

  it('resumes a lease saved mid-renewal as BOUND, so its times decide the next step', async () => {
    await store().save([lease(5, { state: 'RENEWING', retryAt: 123 })]);
    expect((await store().load()).leases[0]).toMatchObject({ state: 'BOUND', retryAt: null });
  });

  it.each([
    { desc: 'not JSON', text: '{"format":"d4d-leases",', want: /not JSON/ },
    { desc: 'another file', text: '{"hello":1}', want: /not a d4d-leases file/ },
    { desc: 'a future version', text: '{"format":"d4d-leases","version":9,"leases":[]}', want: /unsupported version 9, want 1/ },
  ])('refuses an unreadable table ($desc) and changes nothing', async ({ text, want }) => {
    await store().save([]);
    await writeFile(path, text);
    const err = await store().load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(String(err)).toMatch(want);
    expect(String(err)).toMatch(/nothing was changed/);
    expect(await readdir(join(dir, 'state'))).toEqual(['leases.json']);
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('drops damaged entries, keeps a copy of the original and writes the rest back', async () => {
    const good = JSON.parse(encodeLeaseTable([lease(5), lease(6)], 0)) as { leases: Array<Record<string, unknown>> };
    const text = JSON.stringify({ format: 'd4d-leases', version: 1, leases: [good.leases[0], { id: 'broken' }] });
    await store().save([]);
    await writeFile(path, text);
    const { leases, problems } = await store().load();
    expect(leases.map((l) => l.id)).toEqual(['ep5']);
    expect(problems).toEqual(['lease 1: broken: bad mac']);
    const aside = (await readdir(join(dir, 'state'))).find((f) => f.startsWith('leases.json.corrupt-'));
    expect(await readFile(join(dir, 'state', aside as string), 'utf8')).toBe(text);
    expect(await store().load()).toEqual({ leases, pools: [], problems: [] });
  });

  it('keeps the damaged original in place when the cleaned table cannot be written', async () => {
    const good = JSON.parse(encodeLeaseTable([lease(5)], 0)) as { leases: Array<Record<string, unknown>> };
    const text = JSON.stringify({ format: 'd4d-leases', version: 1, leases: [good.leases[0], 'junk'] });
    await store().save([]);
    await writeFile(path, text);
    const full: StoreFs = { ...nodeStoreFs, writeDurably: async () => Promise.reject(new Error('ENOSPC: no space left on device')) };
    await expect(store(full).load()).rejects.toThrow(StoreError);
    expect(await readFile(path, 'utf8')).toBe(text);
    expect((await store().load()).leases.map((l) => l.id)).toEqual(['ep5']);
  });

  it('drops malformed entries and duplicate addresses, keeps the rest', async () => {
    const good = JSON.parse(encodeLeaseTable([lease(5), lease(6)], 0)) as { leases: Array<Record<string, unknown>> };
    const entries = [good.leases[0], { ...good.leases[1], ip: '10.0.0.999' }, { ...good.leases[1], id: 'dup', ip: '10.0.0.5' }, 'junk', good.leases[1]];
    const { leases, problems, unreadable } = decodeLeaseTable(JSON.stringify({ format: 'd4d-leases', version: 1, leases: entries }));
    expect(unreadable).toBe(false);
    expect(leases.map((l) => l.id)).toEqual(['ep5', 'ep6']);
    expect(problems).toEqual(['lease 1: ep6: bad ip', 'lease 2: 10.0.0.5 is also held by ep5', 'lease 3: not an object']);
  });

  it('a failed save reports StoreError and leaves the previous table intact', async () => {
    await store().save([lease(5)]);
    const failing: StoreFs = { ...nodeStoreFs, rename: async () => Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })) };
    const err = await store(failing).save([lease(5), lease(6)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(String(err)).toContain(`cannot save lease table ${path}: ENOSPC`);
    expect((await store().load()).leases.map((l) => l.id)).toEqual(['ep5']);
    expect(await readdir(join(dir, 'state'))).toEqual(['leases.json']);
  });

  it('coalesces saves requested while one is being written', async () => {
    let writes = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: StoreFs = {
      ...nodeStoreFs,
      writeDurably: async (p, data) => {
        writes++;
        if (writes === 1) await gate;
        await nodeStoreFs.writeDurably(p, data);
      },
    };
    const s = store(slow);
    const first = s.save([lease(1)]);
    const later = [s.save([lease(1), lease(2)]), s.save([lease(1), lease(2), lease(3)])];
    release();
    await Promise.all([first, ...later]);
    expect(writes).toBe(2);
    expect((await store().load()).leases.map((l) => l.id)).toEqual(['ep1', 'ep2', 'ep3']);
  });
});
