import { describe, expect, it } from 'vitest';
import { DecodeError } from './dhcp/codec/decode-error.js';
import { AddressUnavailableError, ClientClosedError, NakError, NoResponseError, TransactionAbortedError, TransportError } from './dhcp/errors.js';
import { DaemonError } from './errors.js';

describe('error classes', () => {
  it.each([
    {
      err: new DecodeError('bad magic cookie: got 0x0, want 0x63825363', 236),
      name: 'DecodeError',
      code: 'DHCP_DECODE',
      message: /bad magic cookie.*at byte 236/,
    },
    {
      err: new NoResponseError('OFFER', '10.0.0.1', '02:00:00:00:00:01', 3, 0xabc),
      name: 'NoResponseError',
      code: 'DHCP_NO_RESPONSE',
      message: /no OFFER reply from DHCP server 10\.0\.0\.1 for 02:00:00:00:00:01 after 3 attempt\(s\) \(last xid 0x00000abc\)/,
    },
    {
      err: new NoResponseError('OFFER', '10.0.0.1', '02:00:00:00:00:01', 4, 0xabc, new Map([['10.0.0.2', 3]])),
      name: 'NoResponseError',
      code: 'DHCP_NO_RESPONSE',
      message: /3 replies came from server identifier 10\.0\.0\.2, which is not trusted: add it to DHCP_SERVER_IDS/,
    },
    {
      err: new NoResponseError('OFFER', '10.0.0.1', '02:00:00:00:00:01', 0, 0),
      name: 'NoResponseError',
      code: 'DHCP_NO_RESPONSE',
      message: /nothing was sent: .*DHCP_MAX_CONCURRENT/,
    },
    {
      err: new TransactionAbortedError('renew ACK', '02:00:00:00:00:01'),
      name: 'TransactionAbortedError',
      code: 'DHCP_ABORTED',
      message: /renew ACK exchange for 02:00:00:00:00:01 abandoned/,
    },
    {
      err: new NakError('10.0.0.1', '02:00:00:00:00:01', '10.0.0.5', 'wrong address'),
      name: 'NakError',
      code: 'DHCP_NAK',
      message: /refused 10\.0\.0\.5 for 02:00:00:00:00:01 \(DHCPNAK: wrong address\)/,
    },
    {
      err: new AddressUnavailableError('10.0.0.1', '02:00:00:00:00:01', '10.0.0.5', '10.0.0.6'),
      name: 'AddressUnavailableError',
      code: 'DHCP_ADDRESS_UNAVAILABLE',
      message: /will not lease 10\.0\.0\.5 .* offered 10\.0\.0\.6/,
    },
    { err: new TransportError('cannot bind 0.0.0.0:68/udp'), name: 'TransportError', code: 'DHCP_TRANSPORT', message: /cannot bind/ },
    { err: new ClientClosedError(), name: 'ClientClosedError', code: 'DHCP_CLIENT_CLOSED', message: /stopping: DHCP is closed/ },
  ])('$name', ({ err, name, code, message }) => {
    expect(err).toBeInstanceOf(DaemonError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe(name);
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
  });
});
