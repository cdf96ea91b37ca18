/**
 * Small byte strings that live as long as a lease (client identifiers), packed into slabs of
 * their own.
 *
 * Node's pool of small buffers (`Buffer.allocUnsafe`) is shared with every short-lived
 * allocation: packets, journal records, HTTP bodies. A 7-byte client id cut from it keeps the
 * pool's whole 8 KiB slab alive for as long as its lease lives, and a burst of acquisitions
 * spreads its client ids over hundreds of slabs: about 600 bytes of memory held per lease,
 * measured at 50,000 leases. A slab that holds only long-lived values is nearly all in use.
 * An ArrayBuffer of its own per value would cost about 100 bytes more than the value.
 */
const SLAB_BYTES = 16 * 1024;
/** Larger values are rare (a long client id): they get a buffer of their own. */
const MAX_PACKED_BYTES = 256;

let slab = new ArrayBuffer(SLAB_BYTES);
let used = 0;

/** Zero-filled bytes meant to be kept as long as a lease. */
export function longLivedBytes(length: number): Uint8Array {
  if (length > MAX_PACKED_BYTES) return new Uint8Array(length);
  if (used + length > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    used = 0;
  }
  const out = new Uint8Array(slab, used, length);
  used += length;
  return out;
}
