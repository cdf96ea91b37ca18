/**
 * A scripted DHCP server for unit tests: decodes what the client sends, records it, and
 * answers through a handler the test supplies (or stays silent).
 */
import { BootOp, MessageType, OptionCode } from '../../src/dhcp/codec/option-codes.js';
import { decodePacket, encodePacket, type DhcpPacket } from '../../src/dhcp/codec/packet.js';
import { getUint8, ipv4Value, stringValue, uint32Value, uint8Value } from '../../src/dhcp/codec/options.js';
import type { MemoryTransport } from './memory-transport.js';

export type Handler = (request: DhcpPacket) => DhcpPacket | DhcpPacket[] | undefined;

export class ScriptedServer {
  readonly decodedRequests: DhcpPacket[] = [];
  handler: Handler | undefined;

  constructor(
    readonly transport: MemoryTransport,
    readonly address = '192.0.2.1',
  ) {
    transport.onSend = (sent) => {
      const request = decodePacket(sent.data);
      this.decodedRequests.push(request);
      const out = this.handler?.(request);
      for (const reply of out === undefined ? [] : Array.isArray(out) ? out : [out]) {
        transport.inject(encodePacket(reply), { address: this.address, port: 67 });
      }
    };
  }

  /** Requests of one message type, in order. */
  requestsOfType(type: number): DhcpPacket[] {
    return this.decodedRequests.filter((p) => getUint8(p.options, OptionCode.MessageType) === type);
  }
}

export interface ReplyFields {
  yiaddr?: string;
  serverId?: string;
  leaseTimeSeconds?: number;
  t1?: number;
  t2?: number;
  message?: string;
}

/** A server reply to `request`: same xid and chaddr, the given type and options. */
export function buildReply(request: DhcpPacket, type: number, f: ReplyFields = {}): DhcpPacket {
  const options = new Map<number, Uint8Array>();
  options.set(OptionCode.MessageType, uint8Value(type));
  options.set(OptionCode.ServerIdentifier, ipv4Value(f.serverId ?? '192.0.2.1'));
  if (type !== MessageType.Nak) {
    options.set(OptionCode.LeaseTime, uint32Value(f.leaseTimeSeconds ?? 600));
    options.set(OptionCode.SubnetMask, ipv4Value('255.255.255.0'));
    options.set(OptionCode.Router, ipv4Value('192.0.2.1'));
  }
  if (f.t1 !== undefined) options.set(OptionCode.RenewalTime, uint32Value(f.t1));
  if (f.t2 !== undefined) options.set(OptionCode.RebindingTime, uint32Value(f.t2));
  if (f.message !== undefined) options.set(OptionCode.Message, stringValue(f.message));
  return {
    op: BootOp.Reply,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid: request.xid,
    secs: 0,
    flags: request.flags,
    ciaddr: '0.0.0.0',
    yiaddr: type === MessageType.Nak ? '0.0.0.0' : (f.yiaddr ?? '192.0.2.100'),
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: request.chaddr.slice(),
    sname: new Uint8Array(64),
    file: new Uint8Array(128),
    options,
  };
}

/** A well-behaved server: OFFER for DISCOVER, ACK for REQUEST (address from option 50 or `pick`). */
export function dora(pick: (request: DhcpPacket) => string, fields: ReplyFields = {}): Handler {
  return (request) => {
    const type = getUint8(request.options, OptionCode.MessageType);
    if (type === MessageType.Discover) return buildReply(request, MessageType.Offer, { yiaddr: pick(request), ...fields });
    if (type === MessageType.Request) {
      const asked = request.options.get(OptionCode.RequestedIpAddress);
      const ip = asked ? Array.from(asked).join('.') : pick(request);
      return buildReply(request, MessageType.Ack, { yiaddr: ip, ...fields });
    }
    return undefined;
  };
}
