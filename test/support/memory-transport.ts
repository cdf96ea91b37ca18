/**
 * An in-memory `DhcpTransport`: what the client sends goes to a handler (usually a
 * `ScriptedServer`), and tests inject datagrams as if they came from the network.
 */
import type { DhcpTransport, RemoteInfo } from '../../src/dhcp/transport.js';

export interface Sent {
  data: Uint8Array;
  address: string;
  port: number;
}

export class MemoryTransport implements DhcpTransport {
  readonly sent: Sent[] = [];
  #handler: ((data: Uint8Array, from: RemoteInfo) => void) | undefined;
  onSend: ((sent: Sent) => void) | undefined;
  closed = false;

  async send(data: Uint8Array, address: string, port: number): Promise<void> {
    const sent = { data: data.slice(), address, port };
    this.sent.push(sent);
    // Deliver asynchronously, as a network would.
    queueMicrotask(() => this.onSend?.(sent));
  }

  onMessage(handler: (data: Uint8Array, from: RemoteInfo) => void): void {
    this.#handler = handler;
  }

  /** Delivers a datagram to the client. */
  inject(data: Uint8Array, from: RemoteInfo = { address: '192.0.2.1', port: 67 }): void {
    this.#handler?.(data, from);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
