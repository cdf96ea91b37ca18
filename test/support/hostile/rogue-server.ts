/**
 * Child process (run in the rogue netns of `segment.ts`): a rogue DHCP server with its own
 * identifier. It is fed the client's requests as they cross the wire (`{"cmd":"packet","hex"}`,
 * from the sniffer) and answers each at once, by broadcast from port 67 as a real server does:
 * a DISCOVER with an OFFER of one of its own addresses, a REQUEST with an ACK of the address asked
 * for and then a NAK. It is faster than the real server, so every answer it sends is one the
 * client sees first. `{"cmd":"report"}` replies with what it sent.
 */
import { createSocket } from 'node:dgram';
import { MessageType, OptionCode } from '../../../src/dhcp/codec/option-codes.js';
import { getUint8 } from '../../../src/dhcp/codec/options.js';
import { decodePacket, encodePacket, type DhcpPacket } from '../../../src/dhcp/codec/packet.js';
import { ipv4Value, uint32Value, uint8Value } from '../../../src/dhcp/codec/options.js';
import { emit, onCommands } from './netns-child.js';

interface Args {
  /** This rogue's address and server identifier. */
  rogueIp: string;
  /** Addresses it offers: `${prefix}${first}`… */
  offerPrefix: string;
  offerFirst: number;
  offerCount: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const socket = createSocket({ type: 'udp4', reuseAddr: true });
await new Promise<void>((resolve) => socket.bind({ address: args.rogueIp, port: 67 }, resolve));
socket.setBroadcast(true);

const sent = { offers: 0, acks: 0, naks: 0, errors: 0 };
const delaysMs: number[] = [];
let next = 0;

function reply(request: DhcpPacket, type: number, yiaddr: string): DhcpPacket {
  const options = new Map<number, Uint8Array>([
    [OptionCode.MessageType, uint8Value(type)],
    [OptionCode.ServerIdentifier, ipv4Value(args.rogueIp)],
  ]);
  if (type !== MessageType.Nak) {
    options.set(OptionCode.LeaseTime, uint32Value(86_400));
    options.set(OptionCode.SubnetMask, ipv4Value('255.255.255.0'));
    options.set(OptionCode.Router, ipv4Value(args.rogueIp));
    options.set(OptionCode.DomainNameServer, ipv4Value(args.rogueIp));
  }
  // Echo the client identifier as Kea does (RFC 6842), so that the only thing wrong is the server.
  const clientId = request.options.get(OptionCode.ClientIdentifier);
  if (clientId !== undefined) options.set(OptionCode.ClientIdentifier, clientId);
  return {
    op: 2,
    htype: request.htype,
    hlen: request.hlen,
    hops: 0,
    xid: request.xid,
    secs: 0,
    flags: request.flags,
    ciaddr: '0.0.0.0',
    yiaddr: type === MessageType.Nak ? '0.0.0.0' : yiaddr,
    siaddr: args.rogueIp,
    giaddr: '0.0.0.0',
    chaddr: request.chaddr,
    sname: new Uint8Array(64),
    file: new Uint8Array(128),
    options,
  };
}

function send(p: DhcpPacket, seenAt: number, counter: 'offers' | 'acks' | 'naks'): void {
  socket.send(encodePacket(p), 68, '255.255.255.255', (err) => {
    if (err) sent.errors++;
    else {
      sent[counter]++;
      delaysMs.push(performance.now() - seenAt);
    }
  });
}

onCommands((cmd) => {
  if (cmd.cmd === 'packet') {
    const seenAt = performance.now();
    let request: DhcpPacket;
    try {
      request = decodePacket(Buffer.from(String(cmd.hex), 'hex'));
    } catch {
      return;
    }
    if (request.op !== 1) return;
    const type = getUint8(request.options, OptionCode.MessageType);
    const mine = `${args.offerPrefix}${args.offerFirst + (next++ % args.offerCount)}`;
    if (type === MessageType.Discover) send(reply(request, MessageType.Offer, mine), seenAt, 'offers');
    if (type === MessageType.Request) {
      const asked = request.options.get(OptionCode.RequestedIpAddress);
      const ip = asked?.length === 4 ? Array.from(asked).join('.') : mine;
      send(reply(request, MessageType.Ack, ip), seenAt, 'acks');
      send(reply(request, MessageType.Nak, ip), seenAt, 'naks');
    }
  } else if (cmd.cmd === 'report') {
    const sorted = [...delaysMs].sort((a, b) => a - b);
    emit({ event: 'report', ...sent, medianDelayMs: sorted[Math.floor(sorted.length / 2)] ?? 0 });
  }
});
emit({ event: 'ready' });
