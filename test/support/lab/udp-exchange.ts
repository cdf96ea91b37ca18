/**
 * Send one UDP datagram from inside a netns and collect what comes back, for hand-built DHCP
 * packets that no stock client sends (e.g. an INIT-REBOOT REQUEST for a wrong address).
 *
 * Node cannot enter a netns itself, so a tiny Node child is started with `ip netns exec`.
 */
import { runIn } from './shell.js';

/** Parameters of {@link udpExchangeIn}. */
export interface UdpExchangeOptions {
  readonly payload: Uint8Array;
  /** Destination address; 255.255.255.255 works only if the netns has a route for it. */
  readonly to: string;
  /** Destination port; default 67. */
  readonly toPort?: number;
  /** Local port to bind on 0.0.0.0 (so broadcast replies arrive too); default 68. */
  readonly fromPort?: number;
  /** How long to collect replies after sending, in ms; default 1000. */
  readonly listenMs?: number;
}

/** One datagram received by {@link udpExchangeIn}. */
export interface UdpReply {
  readonly from: string;
  readonly payload: Uint8Array;
}

/** Child program: argv = payload hex, to, toPort, fromPort, listenMs; prints the replies as JSON. */
const CHILD = `
const dgram = require('node:dgram');
const [hex, to, toPort, fromPort, listenMs] = process.argv.slice(1);
const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
const replies = [];
socket.on('message', (msg, rinfo) => replies.push({ from: rinfo.address, hex: msg.toString('hex') }));
socket.bind(Number(fromPort), () => {
  socket.setBroadcast(true);
  socket.send(Buffer.from(hex, 'hex'), Number(toPort), to, (err) => {
    if (err) throw err;
    setTimeout(() => { process.stdout.write(JSON.stringify(replies)); socket.close(); }, Number(listenMs));
  });
});
`;

/** Send `payload` from `0.0.0.0:fromPort` in netns `ns` to `to:toPort` and return the replies in arrival order. */
export async function udpExchangeIn(ns: string, opts: UdpExchangeOptions): Promise<UdpReply[]> {
  const listenMs = opts.listenMs ?? 1_000;
  const args = ['-e', CHILD, Buffer.from(opts.payload).toString('hex'), opts.to, String(opts.toPort ?? 67), String(opts.fromPort ?? 68), String(listenMs)];
  const { stdout } = await runIn(ns, process.execPath, args, { timeoutMs: listenMs + 10_000 });
  const parsed = JSON.parse(stdout) as { from: string; hex: string }[];
  return parsed.map((r) => ({ from: r.from, payload: Uint8Array.from(Buffer.from(r.hex, 'hex')) }));
}
