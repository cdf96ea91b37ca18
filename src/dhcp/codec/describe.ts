/** Human-readable renderings of a packet for logs: one line for info, several for debug. */
import { OptionCode, messageTypeName } from './option-codes.js';
import { chaddrText, type DhcpPacket } from './packet.js';
import { formatHex } from './ipv4.js';
import { getIPv4, getUint8 } from './options.js';

/** One line: `OFFER xid=0x1234abcd chaddr=… yiaddr=… server=…`. Never throws. */
export function summarizePacket(p: DhcpPacket): string {
  const type = safe(() => messageTypeName(getUint8(p.options, OptionCode.MessageType)));
  const server = safe(() => getIPv4(p.options, OptionCode.ServerIdentifier) ?? '-');
  return `${type} xid=0x${p.xid.toString(16).padStart(8, '0')} chaddr=${chaddrText(p)} ciaddr=${p.ciaddr} yiaddr=${p.yiaddr} server=${server}`;
}

/** Several lines: the summary, then every option as code and hex value. */
export function describePacket(p: DhcpPacket): string {
  const lines = [
    summarizePacket(p),
    `  op=${p.op} htype=${p.htype} hlen=${p.hlen} hops=${p.hops} secs=${p.secs} flags=0x${p.flags.toString(16)} siaddr=${p.siaddr} giaddr=${p.giaddr}`,
  ];
  for (const [code, value] of p.options) lines.push(`  option ${code} (${value.length}): ${formatHex(value)}`);
  return lines.join('\n');
}

function safe(f: () => string): string {
  try {
    return f();
  } catch {
    return 'malformed';
  }
}
