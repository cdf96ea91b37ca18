/**
 * Child process (run in the forger netns of `segment.ts`, which holds the real server's address
 * too): floods the client's UDP/68 with forged and mutated replies built from the captured ones.
 * It is fed the client's requests from the wire (`{"cmd":"packet","hex"}`), so most forgeries
 * carry the xid of a transaction really in flight, with one thing wrong: the chaddr, the client
 * identifier, the server identifier (sent from the second address), the source port (6767), the
 * lease time, the op; or they are truncated, decoder mutants, or random bytes. Spoofed xids come
 * from the real server's address and port.
 *
 * A forgery with the right xid, chaddr and server identifier from port 67 would be accepted, and
 * nothing in DHCPv4 can tell it from the server's own reply; that is not what this measures. So
 * each packet sent from port 67 is first run through the client's own `mismatch()` as if it
 * answered the transaction it targets, and withheld (counted) if it would be accepted.
 *
 * `{"cmd":"flood","count":N,"ratePerSecond":R,"seed":S}` sends N packets at about R per second
 * to the client (unicast, and one in eight to the subnet broadcast), then replies
 * `{"event":"flood-done",…}` with counts by category.
 */
import { createSocket, type Socket } from 'node:dgram';
import { capturePath, readDhcpPayloads } from '../captures.js';
import { DecodeError } from '../../../src/dhcp/codec/decode-error.js';
import { MessageType, OptionCode } from '../../../src/dhcp/codec/option-codes.js';
import { getUint8, ipv4Value, uint32Value } from '../../../src/dhcp/codec/options.js';
import { chaddrText, decodePacket, encodePacket, type DhcpPacket } from '../../../src/dhcp/codec/packet.js';
import { mismatch } from '../../../src/dhcp/match.js';
import { below, mutate, MUTATION_KINDS, prng, type MutationKind, type Random } from './mutate.js';
import { emit, onCommands } from './netns-child.js';

interface Args {
  serverIp: string;
  altIp: string;
  clientIp: string;
  broadcastIp: string;
  /** First host part of the addresses the forgeries offer (outside the real pool). */
  fakePrefix: string;
}

export const NOISE_CATEGORIES = [
  'spoofed-xid',
  'wrong-chaddr',
  'wrong-client-id',
  'foreign-server',
  'wrong-port',
  'zero-lease',
  'bootrequest',
  'truncated',
  'mutant',
  'random-bytes',
] as const;
type Category = (typeof NOISE_CATEGORIES)[number];

const args = JSON.parse(process.argv[2] ?? '{}') as Args;

async function bound(address: string, port: number): Promise<Socket> {
  const s = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((resolve) => s.bind({ address, port }, resolve));
  s.setBroadcast(true);
  // Replies of the client (none expected) and stray broadcasts are of no interest here.
  s.on('message', () => undefined);
  return s;
}

const fromServer = await bound(args.serverIp, 67);
const fromWrongPort = await bound(args.serverIp, 6767);
const fromAltAddress = await bound(args.altIp, 67);

/** The replies of the captures (OFFER, ACK, NAK from three servers), as templates. */
const templates: DhcpPacket[] = [];
for (const server of ['isc', 'kea', 'dnsmasq']) {
  for (const name of ['dora', 'nak']) {
    for (const bytes of readDhcpPayloads(capturePath(server, name))) {
      const p = decodePacket(bytes);
      if (p.op === 2) templates.push(p);
    }
  }
}

interface Live {
  xid: number;
  chaddr: Uint8Array;
  clientId: Uint8Array | undefined;
}
/** The client's most recent transactions, newest last. */
const live: Live[] = [];

function targetOf(random: Random): Live | undefined {
  if (live.length === 0) return undefined;
  // Mostly among the newest, which are likely still waiting for a reply.
  return live[Math.max(0, live.length - 1 - below(random, Math.min(live.length, 16)))];
}

function forge(random: Random, t: Live, overrides: Partial<DhcpPacket> = {}): DhcpPacket {
  const template = templates[below(random, templates.length)] as DhcpPacket;
  const options = new Map(template.options);
  options.set(OptionCode.ServerIdentifier, ipv4Value(args.serverIp));
  if (t.clientId !== undefined && options.has(OptionCode.ClientIdentifier)) options.set(OptionCode.ClientIdentifier, t.clientId);
  const type = getUint8(options, OptionCode.MessageType);
  return {
    ...template,
    xid: t.xid,
    chaddr: t.chaddr,
    yiaddr: type === MessageType.Nak ? '0.0.0.0' : `${args.fakePrefix}${240 + below(random, 10)}`,
    options,
    ...overrides,
  };
}

function otherMac(random: Random): Uint8Array {
  const c = new Uint8Array(16);
  c.set([0x02, 0x66, below(random, 256), below(random, 256), below(random, 256), below(random, 256)]);
  return c;
}

/** Whether the client would accept `bytes` as the answer to `t` (see the module comment). */
function wouldBeAccepted(bytes: Uint8Array, t: Live): boolean {
  let p: DhcpPacket;
  try {
    p = decodePacket(bytes);
  } catch {
    return false;
  }
  try {
    const reason = mismatch(p, {
      xid: t.xid,
      mac: chaddrText({ ...p, chaddr: t.chaddr, hlen: 6 }),
      clientId: t.clientId ?? new Uint8Array(0),
      types: [MessageType.Offer, MessageType.Ack, MessageType.Nak],
      servers: new Set([args.serverIp]),
    });
    return reason === undefined;
  } catch (err) {
    if (err instanceof DecodeError) return false;
    throw err;
  }
}

/** One noise datagram of `category` and the socket it goes out on. */
function build(random: Random, category: Category): { bytes: Uint8Array; socket: Socket; target?: Live } {
  const t = targetOf(random) ?? { xid: (random() * 2 ** 32) >>> 0, chaddr: otherMac(random), clientId: undefined };
  switch (category) {
    case 'spoofed-xid':
      return { bytes: encodePacket(forge(random, { ...t, xid: (random() * 2 ** 32) >>> 0 })), socket: fromServer };
    case 'wrong-chaddr':
      return { bytes: encodePacket(forge(random, t, { chaddr: otherMac(random) })), socket: fromServer, target: t };
    case 'wrong-client-id': {
      const p = forge(random, t);
      p.options.set(OptionCode.ClientIdentifier, Uint8Array.of(1, ...otherMac(random).subarray(0, 6)));
      return { bytes: encodePacket(p), socket: fromServer, target: t };
    }
    case 'foreign-server': {
      const p = forge(random, t);
      p.options.set(OptionCode.ServerIdentifier, ipv4Value(args.altIp));
      return { bytes: encodePacket(p), socket: fromAltAddress, target: t };
    }
    case 'wrong-port':
      return { bytes: encodePacket(forge(random, t)), socket: fromWrongPort };
    case 'zero-lease': {
      const p = forge(random, t);
      p.options.set(OptionCode.LeaseTime, uint32Value(0));
      return { bytes: encodePacket(p), socket: fromServer, target: t };
    }
    case 'bootrequest':
      return { bytes: encodePacket(forge(random, t, { op: 1 })), socket: fromServer, target: t };
    case 'truncated': {
      const bytes = encodePacket(forge(random, t));
      return { bytes: bytes.subarray(0, below(random, bytes.length)), socket: fromServer, target: t };
    }
    case 'mutant': {
      const kind = MUTATION_KINDS[below(random, MUTATION_KINDS.length)] as MutationKind;
      return { bytes: mutate(kind, encodePacket(forge(random, t)), random).bytes, socket: fromServer, target: t };
    }
    case 'random-bytes':
      return { bytes: Uint8Array.from({ length: below(random, 600) }, () => below(random, 256)), socket: fromServer };
  }
}

async function flood(count: number, ratePerSecond: number, seed: number): Promise<void> {
  const random = prng(seed);
  const byCategory = Object.fromEntries(NOISE_CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  let sent = 0;
  let withheld = 0;
  let sendErrors = 0;
  let inFlight = 0;
  const startedAt = performance.now();
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((ratePerSecond * tickMs) / 1000));
  for (let i = 0; i < count; ) {
    for (let n = 0; n < perTick && i < count; n++, i++) {
      const category = NOISE_CATEGORIES[i % NOISE_CATEGORIES.length] as Category;
      const { bytes, socket, target } = build(random, category);
      if (socket !== fromWrongPort && target !== undefined && wouldBeAccepted(bytes, target)) {
        withheld++;
        continue;
      }
      const to = i % 8 === 7 ? args.broadcastIp : args.clientIp;
      inFlight++;
      socket.send(bytes, 68, to, (err) => {
        inFlight--;
        if (err) sendErrors++;
      });
      sent++;
      byCategory[category]++;
    }
    // Pace: wait for the schedule (and for the socket to drain what is queued).
    const due = startedAt + (i / perTick) * tickMs;
    const wait = due - performance.now();
    if (wait > 0 || inFlight > 1000) await new Promise((r) => setTimeout(r, Math.max(1, wait)));
  }
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 5));
  const elapsedMs = performance.now() - startedAt;
  emit({ event: 'flood-done', sent, withheld, sendErrors, byCategory, elapsedMs, ratePerSecond: sent / (elapsedMs / 1000) });
}

onCommands((cmd) => {
  if (cmd.cmd === 'packet') {
    let p: DhcpPacket;
    try {
      p = decodePacket(Buffer.from(String(cmd.hex), 'hex'));
    } catch {
      return;
    }
    if (p.op !== 1) return;
    live.push({ xid: p.xid, chaddr: p.chaddr, clientId: p.options.get(OptionCode.ClientIdentifier) });
    if (live.length > 256) live.splice(0, live.length - 256);
  } else if (cmd.cmd === 'flood') {
    void flood(Number(cmd.count), Number(cmd.ratePerSecond), Number(cmd.seed ?? 1)).catch((err: unknown) => emit({ event: 'error', message: String(err) }));
  }
});
emit({ event: 'ready' });
