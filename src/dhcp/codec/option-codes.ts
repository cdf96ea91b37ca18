/**
 * DHCPv4 option codes used by d4d (RFC 2132 unless noted). Any other code is still carried
 * as raw bytes; this table only names the ones we read or write.
 */
export const OptionCode = {
  Pad: 0,
  SubnetMask: 1,
  Router: 3,
  DomainNameServer: 6,
  HostName: 12,
  DomainName: 15,
  BroadcastAddress: 28,
  RequestedIpAddress: 50,
  LeaseTime: 51,
  Overload: 52,
  MessageType: 53,
  ServerIdentifier: 54,
  ParameterRequestList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  ClientIdentifier: 61,
  ClientFqdn: 81,
  RelayAgentInformation: 82,
  ClasslessStaticRoute: 121,
  End: 255,
} as const;
export type OptionCode = (typeof OptionCode)[keyof typeof OptionCode];

/** DHCP message types, option 53 (RFC 2132 §9.6). */
export const MessageType = {
  Discover: 1,
  Offer: 2,
  Request: 3,
  Decline: 4,
  Ack: 5,
  Nak: 6,
  Release: 7,
  Inform: 8,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const messageTypeNames: Readonly<Record<number, string>> = {
  1: 'DISCOVER',
  2: 'OFFER',
  3: 'REQUEST',
  4: 'DECLINE',
  5: 'ACK',
  6: 'NAK',
  7: 'RELEASE',
  8: 'INFORM',
};

/** Human name of a message type, `unknown (N)` for values outside RFC 2132. */
export function messageTypeName(type: number | undefined): string {
  if (type === undefined) return 'BOOTP (no type)';
  return messageTypeNames[type] ?? `unknown (${type})`;
}

/** BOOTP op codes (RFC 2131 §2). */
export const BootOp = { Request: 1, Reply: 2 } as const;

/** The only defined flag bit: ask the server to broadcast its reply (RFC 2131 §2, Figure 2). */
export const FLAG_BROADCAST = 0x8000;

/** Lease time value meaning "infinite" (RFC 2131 §3.3). */
export const INFINITE_LEASE_SECONDS = 0xffff_ffff;
