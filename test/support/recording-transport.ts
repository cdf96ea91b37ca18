/** Wraps a real transport and records what the client sent, decoded, for assertions. */
import { OptionCode } from '../../src/dhcp/codec/option-codes.js';
import { chaddrText, decodePacket, type DhcpPacket } from '../../src/dhcp/codec/packet.js';
import { getUint8 } from '../../src/dhcp/codec/options.js';
import type { DhcpTransport, RemoteInfo } from '../../src/dhcp/transport.js';

export class RecordingTransport implements DhcpTransport {
  readonly sent: Array<{ at: number; to: string; packet: DhcpPacket }> = [];

  constructor(readonly inner: DhcpTransport) {}

  async send(data: Uint8Array, address: string, port: number): Promise<void> {
    this.sent.push({ at: Date.now(), to: address, packet: decodePacket(data) });
    await this.inner.send(data, address, port);
  }

  onMessage(handler: (data: Uint8Array, from: RemoteInfo) => void): void {
    this.inner.onMessage(handler);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Everything sent to or about `mac` since `since` (epoch ms). */
  sentFor(mac: string, since = 0): Array<{ at: number; to: string; packet: DhcpPacket }> {
    return this.sent.filter((s) => s.at >= since && chaddrText(s.packet) === mac);
  }

  /** Sent messages of `type` for chaddr `mac`. */
  sentOfType(type: number, mac?: string): DhcpPacket[] {
    return this.sent
      .map((s) => s.packet)
      .filter((p) => getUint8(p.options, OptionCode.MessageType) === type)
      .filter((p) => mac === undefined || chaddrText(p) === mac);
  }
}
