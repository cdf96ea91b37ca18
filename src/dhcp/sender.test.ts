import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { Priority, QueueDeadlineError, Sender } from './sender.js';

const never = new AbortController().signal;

/** Starts a transaction that holds its slot until `end()` is called. */
function hold(sender: Sender, p: Priority, log: string[], name: string, deadlineAt = Infinity, signal = never): { end: () => void; done: Promise<unknown> } {
  let end!: () => void;
  const released = new Promise<void>((resolve) => (end = resolve));
  const done = sender.transaction(p, signal, deadlineAt, async () => {
    log.push(name);
    await released;
  });
  return { end, done: done.catch((e: unknown) => e) };
}

describe('Sender transaction slots', () => {
  it('keeps a quarter of the slots for Docker and a quarter at most for recovery', async () => {
    const clock = new FakeClock();
    const sender = new Sender({ clock, maxInFlight: 8 });
    const log: string[] = [];
    const recoveries = Array.from({ length: 5 }, (_, i) => hold(sender, Priority.Recovery, log, `r${i}`));
    const upkeep = Array.from({ length: 8 }, (_, i) => hold(sender, Priority.Upkeep, log, `u${i}`));
    await clock.advance(0);
    // Recovery: 2 of 8; upkeep fills the background share (6); Docker's 2 stay free.
    expect(log).toEqual(['r0', 'r1', 'u0', 'u1', 'u2', 'u3']);
    const docker = Array.from({ length: 3 }, (_, i) => hold(sender, Priority.Docker, log, `d${i}`));
    await clock.advance(0);
    expect(log.slice(6)).toEqual(['d0', 'd1']);
    expect(sender.inFlight).toBe(8);
    // A freed slot goes to the most urgent waiter, then upkeep, recovery last.
    recoveries[0]?.end();
    await clock.advance(0);
    expect(log.at(-1)).toBe('d2');
    for (const d of docker) d.end();
    await clock.advance(0);
    // Background work still stops at 6 of 8 (one recovery and four upkeep hold slots).
    expect(log.slice(9)).toEqual(['u4']);
    for (const t of [...recoveries, ...upkeep]) t.end();
    await clock.advance(0);
    await Promise.all([...recoveries, ...upkeep, ...docker].map((t) => t.done));
    expect(log.filter((n) => n.startsWith('r'))).toHaveLength(5);
    expect(sender.inFlight).toBe(0);
  });

  it('gives a waiter up at its deadline or on its signal', async () => {
    const clock = new FakeClock();
    const sender = new Sender({ clock, maxInFlight: 1 });
    const log: string[] = [];
    const first = hold(sender, Priority.Docker, log, 'a');
    const late = hold(sender, Priority.Docker, log, 'b', clock.now() + 1_000);
    const stop = new AbortController();
    const aborted = hold(sender, Priority.Docker, log, 'c', Infinity, stop.signal);
    await clock.advance(1_000);
    expect(await late.done).toBeInstanceOf(QueueDeadlineError);
    stop.abort(new Error('gone'));
    expect(await aborted.done).toMatchObject({ message: 'gone' });
    first.end();
    await first.done;
    expect(log).toEqual(['a']);
    expect(sender.inFlight).toBe(0);
  });
});

describe('Sender datagram rate', () => {
  it('takes a token at once only while one is there and no datagram waits for its turn', async () => {
    const clock = new FakeClock();
    // A burst of 10 ms worth at 1,500/s: 15 tokens; then one every 0.67 ms, granted by a timer
    // armed for whole milliseconds.
    const sender = new Sender({ clock, datagramsPerSecond: 1_500 });
    const taken = Array.from({ length: 15 }, () => sender.takeDatagram());
    expect(taken.every((t) => t)).toBe(true);
    expect(sender.takeDatagram()).toBe(false);
    let granted = false;
    const waiting = sender.datagram(Priority.Upkeep, never).then(() => (granted = true));
    // 0.9 ms later a token is there, before the timer grants it: it is the waiting datagram's.
    await clock.advance(0.9);
    expect(granted).toBe(false);
    expect(sender.takeDatagram()).toBe(false);
    await clock.advance(0.1);
    await waiting;
    expect(granted).toBe(true);
    await clock.advance(1);
    expect(sender.takeDatagram()).toBe(true);
  });

  it('lets a burst of 10 ms worth out at once, then the rate, most urgent first', async () => {
    const clock = new FakeClock();
    const sender = new Sender({ clock, datagramsPerSecond: 1_000 });
    const t0 = clock.now();
    const granted: Array<{ p: Priority; at: number }> = [];
    const all = [
      ...Array.from({ length: 30 }, () => sender.datagram(Priority.Recovery, never).then(() => granted.push({ p: Priority.Recovery, at: clock.now() - t0 }))),
      ...Array.from({ length: 5 }, () => sender.datagram(Priority.Docker, never).then(() => granted.push({ p: Priority.Docker, at: clock.now() - t0 }))),
    ];
    await clock.advance(100);
    await Promise.all(all);
    expect(granted.filter((g) => g.at === 0)).toHaveLength(10);
    // The Docker datagrams queued behind the burst go before the remaining recovery ones.
    expect(granted.slice(10, 15).every((g) => g.p === Priority.Docker)).toBe(true);
    expect(granted.at(-1)?.at).toBe(25);
  });

  it('spaces unanswered datagrams (RELEASE) at their own rate', async () => {
    const clock = new FakeClock();
    const sender = new Sender({ clock, releasesPerSecond: 100 });
    const t0 = clock.now();
    const at: number[] = [];
    const all = Array.from({ length: 5 }, () => sender.unanswered(Priority.Docker, never).then(() => at.push(clock.now() - t0)));
    await clock.advance(100);
    await Promise.all(all);
    expect(at).toEqual([0, 10, 20, 30, 40]);
  });

  it("serves Docker's RELEASEs before a queue of lower-priority ones, within the same RELEASE rate", async () => {
    const clock = new FakeClock();
    const sender = new Sender({ clock, releasesPerSecond: 100 });
    const t0 = clock.now();
    const granted: Array<{ p: Priority; at: number }> = [];
    const send = (p: Priority): Promise<number> => sender.unanswered(p, never).then(() => granted.push({ p, at: clock.now() - t0 }));
    // A pool's worth of background RELEASEs, then a recovery's, then Docker's ReleaseAddress.
    const all = [...Array.from({ length: 50 }, () => send(Priority.Upkeep)), send(Priority.Recovery)];
    await clock.advance(25);
    all.push(send(Priority.Docker), send(Priority.Docker));
    await clock.advance(1_000);
    await Promise.all(all);
    const docker = granted.filter((g) => g.p === Priority.Docker).map((g) => g.at);
    expect(docker).toEqual([30, 40]);
    // Recovery last, and never two grants closer than the interval.
    expect(granted.at(-1)?.p).toBe(Priority.Recovery);
    const at = granted.map((g) => g.at);
    expect(at.every((x, i) => i === 0 || x - (at[i - 1] as number) >= 10)).toBe(true);
    expect(at.at(-1)).toBe(520);
  });

  it('an aborted RELEASE waiting for its turn gives the turn to the next one', async () => {
    const clock = new FakeClock();
    const sender = new Sender({ clock, releasesPerSecond: 100 });
    const t0 = clock.now();
    const stop = new AbortController();
    const at: string[] = [];
    const a = sender.unanswered(Priority.Docker, never).then(() => at.push(`a@${clock.now() - t0}`));
    const b = sender.unanswered(Priority.Docker, stop.signal).catch((e: unknown) => e);
    const c = sender.unanswered(Priority.Upkeep, never).then(() => at.push(`c@${clock.now() - t0}`));
    await clock.advance(5);
    stop.abort(new Error('gone'));
    await clock.advance(100);
    await Promise.all([a, c]);
    expect(await b).toMatchObject({ message: 'gone' });
    expect(at).toEqual(['a@0', 'c@10']);
    expect(clock.pending).toBe(0);
  });
});
