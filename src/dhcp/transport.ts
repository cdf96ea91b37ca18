/**
 * The UDP side of the client: the only module that imports `node:dgram`.
 *
 * Direct mode (below) and relay mode differ only in where the socket is bound: in relay mode it is
 * the relay address (giaddr) on port 67, not shared, because servers answer a relay by unicast
 * to giaddr:67 and the kernel would hand each reply to one sharer only.
 *
 * One socket on 0.0.0.0:68 serves every container. It must be the wildcard address: a socket
 * bound to a unicast address does not receive limited broadcasts (255.255.255.255), which is
 * how servers answer a request with the BROADCAST flag. `reuseAddr` lets it share the port
 * with a host DHCP client (dhclient, systemd-networkd); broadcasts reach every sharer and each
 * filters on xid and chaddr.
 */
import { createSocket, type Socket } from 'node:dgram';
import { TransportError } from './errors.js';

export interface RemoteInfo {
  address: string;
  port: number;
}

/** Sends and receives raw DHCP datagrams. */
export interface DhcpTransport {
  send(data: Uint8Array, address: string, port: number): Promise<void>;
  /** Registers the single receive handler. */
  onMessage(handler: (data: Uint8Array, from: RemoteInfo) => void): void;
  close(): Promise<void>;
}

export interface UdpTransportOptions {
  /** Local address to bind; the wildcard unless a test needs otherwise. */
  address?: string;
  /** Local port; 68 is the DHCP client port (RFC 2131 §4.1). */
  port?: number;
  /** Share the port with other SO_REUSEADDR sockets (default true). */
  reuseAddr?: boolean;
  /** Called for socket errors after binding (e.g. ENETUNREACH on send is reported per send instead). */
  onError?: (err: Error) => void;
  /** Receive buffer asked for (SO_RCVBUF), default `DEFAULT_RECEIVE_BUFFER_BYTES`. */
  receiveBufferBytes?: number;
}

/**
 * Receive buffer asked of the kernel. Replies to a window of transactions arrive together, while
 * the event loop may be busy sending the next ones: with the default 208 KiB (about 90 datagrams
 * at their in-kernel size) and 128 acquisitions in flight against Kea, our own socket dropped
 * replies (RcvbufErrors) and each loss cost a 4 s retransmission; under a flood of forged replies
 * it dropped ~10 % at 9,000/s. 4 MiB holds a few thousand. Linux caps it at
 * net.core.rmem_max (208 KiB on many hosts, 4 MiB on others), so this is best effort.
 */
export const DEFAULT_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

/** A `DhcpTransport` over a real UDP socket. Create with `UdpTransport.open()`. */
export class UdpTransport implements DhcpTransport {
  readonly #socket: Socket;
  #handler: ((data: Uint8Array, from: RemoteInfo) => void) | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (msg, rinfo) =>
      this.#handler?.(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), { address: rinfo.address, port: rinfo.port }),
    );
  }

  /** Binds the socket; rejects with a `TransportError` that names the likely culprit. */
  static open(options: UdpTransportOptions = {}): Promise<UdpTransport> {
    const address = options.address ?? '0.0.0.0';
    const port = options.port ?? 68;
    const socket = createSocket({ type: 'udp4', reuseAddr: options.reuseAddr ?? true });
    return new Promise((resolve, reject) => {
      const onBindError = (err: NodeJS.ErrnoException): void => {
        socket.close();
        reject(bindError(err, address, port, options.reuseAddr ?? true));
      };
      socket.once('error', onBindError);
      socket.bind({ address, port }, () => {
        socket.off('error', onBindError);
        socket.setBroadcast(true);
        try {
          socket.setRecvBufferSize(options.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER_BYTES);
        } catch {
          // Refused outright (never seen on Linux, which caps instead): the default buffer works, only smaller.
        }
        socket.on('error', (err) => options.onError?.(err));
        resolve(new UdpTransport(socket));
      });
    });
  }

  send(data: Uint8Array, address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.send(data, port, address, (err) => (err ? reject(err) : resolve()));
    });
  }

  onMessage(handler: (data: Uint8Array, from: RemoteInfo) => void): void {
    this.#handler = handler;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }

  /** The socket's receive buffer as the kernel reports it (Linux: twice what it granted). */
  receiveBufferBytes(): number {
    return this.#socket.getRecvBufferSize();
  }

  /** The bound address and port (useful when binding port 0 in tests). */
  localAddress(): RemoteInfo {
    const a = this.#socket.address();
    return { address: a.address, port: a.port };
  }
}

function bindError(err: NodeJS.ErrnoException, address: string, port: number, reuseAddr: boolean): TransportError {
  const where = `${address}:${port}/udp`;
  if (err.code === 'EADDRINUSE' && port === 67) {
    // Relay mode: giaddr's port. Deliberately not shared: a server's unicast reply would reach
    // only one of the sharers.
    return new TransportError(
      `cannot bind ${where}: the DHCP server port is in use on this address. A DHCP server or relay agent on this host ` +
        '(dnsmasq of libvirt or NetworkManager, dhcrelay, another oam-docker-ipam in relay mode) holds it; find it with ' +
        '`ss -ulpn sport = :67`, stop it, or give d4d another RELAY_ADDR (an address of this host the DHCP server can reach)',
      { cause: err },
    );
  }
  if (err.code === 'EADDRINUSE') {
    return new TransportError(
      `cannot bind ${where}: the port is in use by a process that does not share it` +
        (reuseAddr ? '' : ' (address reuse is disabled in our settings)') +
        '. A host DHCP client usually holds it: dhclient, NetworkManager or systemd-networkd. ' +
        'Find it with `ss -ulpn sport = :68`; enable address reuse or stop that client on this host, or run d4d as a DHCP ' +
        'relay agent (DHCP_MODE=relay, --relay), which does not use port 68',
      { cause: err },
    );
  }
  if (err.code === 'EACCES') {
    return new TransportError(`cannot bind ${where}: permission denied; run as root or grant CAP_NET_BIND_SERVICE`, {
      cause: err,
    });
  }
  return new TransportError(`cannot bind ${where}: ${err.message}`, { cause: err });
}
