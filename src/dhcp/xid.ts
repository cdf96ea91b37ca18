/**
 * Transaction ids. Hundreds of transactions share one socket, so each xid is random (RFC 2131
 * §4.1: chosen to "minimize the chance of using an 'xid' identical to one used by another
 * client") and unique among the transactions in flight here; replies are demultiplexed on it.
 */
import { randomBytes } from 'node:crypto';

/** Source of candidate xids; tests inject a fixed sequence. */
export type XidSource = () => number;

/** Random bytes drawn from the CSPRNG 4 KiB at a time: one call per xid cost more than the exchange. */
let pool = Buffer.alloc(0);
let poolAt = 0;

/** 32 random bits from the CSPRNG, so an off-path attacker cannot predict the next xid. */
export const randomXid: XidSource = () => {
  if (poolAt + 4 > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  const xid = pool.readUInt32BE(poolAt);
  poolAt += 4;
  return xid;
};

/** Draws xids that are not in use, and frees them when their transaction ends. */
export class XidAllocator {
  readonly #inUse = new Set<number>();
  readonly #source: XidSource;

  constructor(source: XidSource = randomXid) {
    this.#source = source;
  }

  /** A fresh xid not used by any transaction in flight. */
  allocate(): number {
    // A 32-bit collision is rare; an injected source that repeats itself would loop forever,
    // hence the bound.
    for (let attempt = 0; attempt < 1000; attempt++) {
      const xid = this.#source() >>> 0;
      if (!this.#inUse.has(xid)) {
        this.#inUse.add(xid);
        return xid;
      }
    }
    throw new Error('xid source keeps returning ids that are in use');
  }

  release(xid: number): void {
    this.#inUse.delete(xid);
  }

  get inFlight(): number {
    return this.#inUse.size;
  }
}
