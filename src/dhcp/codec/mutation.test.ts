/**
 * Mutation fuzzing from the real captures (bench/fuzz.ts runs the same loop a million times):
 * bit flips, truncations, length lies, overlong and split options, overload, random options and
 * bytes. The decoder returns a packet or throws DecodeError, nothing on the receive path throws
 * anything else, decoded packets re-encode to themselves, and meaning-preserving mutations
 * (RFC 3396 splits, reordered options with Pad) decode to the original.
 */
import { describe, expect, it } from 'vitest';
import { runDecoderFuzz } from '../../../test/support/hostile/decoder-fuzz.js';
import { MUTATION_KINDS } from '../../../test/support/hostile/mutate.js';
import { DecodeError } from './decode-error.js';
import { decodePacket } from './packet.js';

describe('mutations of captured packets', () => {
  const result = runDecoderFuzz({ packets: 50_000, seed: 0xd4d6 });

  it('end in a packet or a DecodeError, every one', () => {
    expect(result.failures, JSON.stringify(result.failures.slice(0, 3), null, 2)).toEqual([]);
    expect(result.failureCount).toBe(0);
    expect(result.decoded + result.decodeErrors).toBe(50_000);
  });

  it('reach both outcomes for the mutations that can break a packet', () => {
    for (const kind of MUTATION_KINDS) {
      const { decoded, decodeErrors } = result.byKind[kind];
      expect(decoded + decodeErrors, kind).toBeGreaterThan(0);
      if (kind === 'rfc3396-split' || kind === 'reorder-options') continue;
      // Without both outcomes the mutation would not be exercising the error paths (or the success paths).
      if (kind !== 'random-bytes') expect(decoded, kind).toBeGreaterThan(0);
      expect(decodeErrors, kind).toBeGreaterThan(0);
    }
  });

  it('never refuse an RFC 3396 split or a reordering', () => {
    expect(result.byKind['rfc3396-split'].decodeErrors).toBe(0);
    expect(result.byKind['reorder-options'].decodeErrors).toBe(0);
  });
});

describe('found by the fuzzer', () => {
  it('refuses an option overload inside the overloaded file field (RFC 2131 §4.1)', () => {
    // A REQUEST header, cookie, then: 53=3 (REQUEST), 52=1 (file carries options), End. The file
    // field (offset 108) carries 52=2 and End: the overload option may only appear in the
    // options field, and a second one would be kept as option 52 that the encoder never writes,
    // so the packet would not re-encode to itself.
    const bytes = new Uint8Array(300);
    bytes.set([1, 1, 6, 0], 0); // op, htype, hlen, hops
    bytes.set([0x63, 0x82, 0x53, 0x63], 236); // magic cookie
    bytes.set([53, 1, 3, 52, 1, 1, 255], 240);
    bytes.set([52, 1, 2, 255], 108);
    expect(() => decodePacket(bytes)).toThrow(DecodeError);
    expect(() => decodePacket(bytes)).toThrow(/option overload .* file/);
  });
});
