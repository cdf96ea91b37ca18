/**
 * What the client tells its observer and its debug log: every accepted reply (the log used to
 * show only what was sent), and each step with its outcome and how long it took.
 */
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.js';
import { MemoryTransport } from '../../test/support/memory-transport.js';
import { buildReply, dora, ScriptedServer } from '../../test/support/scripted-server.js';
import { DhcpClient } from './client.js';
import { MessageType, OptionCode } from './codec/option-codes.js';
import { getUint8 } from './codec/options.js';
import { NakError, NoResponseError } from './errors.js';
import { clientIdForMac } from './messages.js';
import { exchangeOutcome, fanOut, type DhcpObserver, type ExchangeReport } from './observer.js';

const SERVER = '192.0.2.1';
const MAC = '02:42:c0:00:02:08';
const identity = { mac: MAC, clientId: clientIdForMac(MAC) };

let clock: FakeClock;
let transport: MemoryTransport;
let server: ScriptedServer;
let lines: Array<Record<string, unknown>>;
let replies: Array<number | undefined>;
let exchanges: ExchangeReport[];
let client: DhcpClient;

beforeEach(() => {
  clock = new FakeClock();
  transport = new MemoryTransport();
  server = new ScriptedServer(transport, SERVER);
  lines = [];
  replies = [];
  exchanges = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) });
  const observer: DhcpObserver = { onReply: (t) => replies.push(t), onExchange: (r) => exchanges.push(r) };
  let xid = 0x2000;
  client = new DhcpClient({ transport, clock, server: SERVER, log, random: () => 0.5, nextXid: () => xid++, observer });
});

describe('DhcpClient observer and debug log', () => {
  it('logs every reply it accepts at debug, beside what it sent', async () => {
    server.handler = dora(() => '192.0.2.100');
    await client.acquire({ identity });
    const messages = lines.map((l) => String(l.msg));
    expect(messages.filter((m) => m.startsWith('sent '))).toHaveLength(2);
    const received = lines.filter((l) => String(l.msg).startsWith('received '));
    expect(received.map((l) => String(l.msg).split(' ')[1])).toEqual(['OFFER', 'ACK']);
    expect(received[1]).toMatchObject({ mac: MAC, xid: 0x2000, from: `${SERVER}:67` });
    expect(String(received[1]?.msg)).toContain('yiaddr=192.0.2.100');
  });

  it('reports each reply and each step: an acquisition, a refused renewal, an unanswered one', async () => {
    server.handler = dora(() => '192.0.2.100');
    const binding = await client.acquire({ identity });
    const held = { identity, ip: binding.ip, serverId: binding.serverId };
    server.handler = (p) => (getUint8(p.options, OptionCode.MessageType) === MessageType.Request ? buildReply(p, MessageType.Nak) : undefined);
    await expect(client.renew(held, clock.now() + 60_000)).rejects.toThrow(NakError);
    server.handler = undefined;
    const silent = client.renew(held, clock.now() + 10_000);
    const failed = expect(silent).rejects.toThrow(NoResponseError);
    await clock.advance(10_000);
    await failed;
    expect(replies).toEqual([MessageType.Offer, MessageType.Ack, MessageType.Nak]);
    expect(exchanges).toEqual([
      { step: 'acquire', outcome: 'ack', durationMs: 0 },
      { step: 'renew', outcome: 'nak', durationMs: 0 },
      { step: 'renew', outcome: 'timeout', durationMs: 10_000 },
    ]);
  });

  it('tells rebind and reboot apart, and a step that never got a slot from one never answered', async () => {
    server.handler = dora(() => '192.0.2.100');
    await client.rebind({ identity, ip: '192.0.2.100' }, clock.now() + 60_000);
    await client.reboot(identity, '192.0.2.100', 60_000);
    expect(exchanges.map((e) => `${e.step}:${e.outcome}`)).toEqual(['rebind:ack', 'reboot:ack']);
    expect(exchangeOutcome(new NoResponseError('OFFER', SERVER, MAC, 0, 0))).toBe('no-slot');
    expect(exchangeOutcome(new NoResponseError('OFFER', SERVER, MAC, 3, 1))).toBe('timeout');
  });

  it('fans out to every observer given, and is absent when none is', () => {
    const a: number[] = [];
    const b: number[] = [];
    const both = fanOut({ onReply: () => a.push(1), onExchange: () => undefined }, undefined, { onReply: () => b.push(1), onExchange: () => undefined });
    both?.onReply(MessageType.Ack);
    expect([a, b]).toEqual([[1], [1]]);
    expect(fanOut(undefined, undefined)).toBeUndefined();
  });
});
