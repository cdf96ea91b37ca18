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
    super(`${message} (at byte ${offset})`);
    this.offset = offset;
  }
}
