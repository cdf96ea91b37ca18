import { DaemonError } from '../../errors.js';

/**
 * A DHCP message could not be decoded. The decoder throws nothing else, whatever the input:
 * the receive path drops such packets and counts them.
 */
export class DecodeError extends DaemonError {
  override readonly name = 'DecodeError';
  readonly code = 'DHCP_DECODE';
  /** Byte offset in the datagram where decoding failed. */
  readonly offset: number;

  constructor(message: string, offset: number) {
    // No stack trace: the message and offset say what was wrong, the frames would only name the
    // decoder, and capturing them was most of the cost of dropping a forged or garbled datagram.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      super(`${message} (at byte ${offset})`);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.offset = offset;
  }
}
