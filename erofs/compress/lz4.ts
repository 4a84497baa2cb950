/**
 * An LZ4 block decoder that stops once its output buffer is full (LZ4_decompress_safe_partial
 * semantics). The native binding can only decode a whole block, which is not enough for pclusters
 * whose stream holds more than the extent needs: legacy images without 0padding (trailing bytes
 * after the stream), deduplicated extents that reference a prefix of a longer pcluster, and the
 * EOF extent, which the kernel also decodes as a prefix. Every read and write is bounds-checked;
 * a malformed block throws Lz4FormatError.
 */

export class Lz4FormatError extends Error {
  override readonly name = 'Lz4FormatError';
}

/** LZ4 matches are at least this long; the token stores length - 4. */
const MIN_MATCH = 4;
const RUN_MASK = 15;
/** Copies shorter than this are byte loops: cheaper than a subarray and a native call. */
const SHORT_COPY = 32;

/**
 * Decodes sequences of `src` into `dst` until `dst` is full or `src` ends after a literal run.
 * Returns the number of bytes written.
 */
export function lz4DecodePartial(src: Uint8Array, dst: Uint8Array): number {
  const inEnd = src.length;
  const outEnd = dst.length;
  let ip = 0;
  let op = 0;
  while (op < outEnd) {
    if (ip >= inEnd) throw new Lz4FormatError(`input ended at ${ip} before a token`);
    const token = src[ip++]!;
    let literals = token >>> 4;
    if (literals === RUN_MASK) {
      let byte: number;
      do {
        if (ip >= inEnd) throw new Lz4FormatError('input ended inside a literal length');
        byte = src[ip++]!;
        literals += byte;
      } while (byte === 255);
    }
    if (literals > inEnd - ip) {
      throw new Lz4FormatError(`${literals} literals at ${ip} run past the ${inEnd}-byte input`);
    }
    const literalTake = Math.min(literals, outEnd - op);
    if (literalTake < SHORT_COPY) {
      for (let index = 0; index < literalTake; index++) dst[op + index] = src[ip + index]!;
    } else {
      dst.set(src.subarray(ip, ip + literalTake), op);
    }
    op += literalTake;
    ip += literals;
    // The last sequence of a block has literals only.
    if (op >= outEnd || ip >= inEnd) break;
    if (ip + 2 > inEnd) throw new Lz4FormatError('input ended inside a match offset');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) {
      throw new Lz4FormatError(`match offset ${offset} at output ${op} points before the output`);
    }
    let matchLength = token & RUN_MASK;
    if (matchLength === RUN_MASK) {
      let byte: number;
      do {
        if (ip >= inEnd) throw new Lz4FormatError('input ended inside a match length');
        byte = src[ip++]!;
        matchLength += byte;
      } while (byte === 255);
    }
    matchLength += MIN_MATCH;
    const matchTake = Math.min(matchLength, outEnd - op);
    const from = op - offset;
    if (matchTake < SHORT_COPY) {
      // Byte by byte, so an overlapping match repeats what it has just written.
      for (let index = 0; index < matchTake; index++) dst[op + index] = dst[from + index]!;
    } else if (offset >= matchTake) {
      dst.copyWithin(op, from, from + matchTake);
    } else {
      copyRepeating(dst, op, offset, matchTake);
    }
    op += matchTake;
  }
  return op;
}

/**
 * An overlapping match: `length` bytes at `op` repeat the `offset` bytes before it. What is
 * already written has period `offset`, so each copy may take all of it, from its start (a
 * multiple of the period back): the copied span doubles at every step and no copy overlaps.
 */
function copyRepeating(dst: Uint8Array, op: number, offset: number, length: number): void {
  const from = op - offset;
  let copied = 0;
  while (copied < length) {
    const count = Math.min(length - copied, offset + copied);
    dst.copyWithin(op + copied, from, from + count);
    copied += count;
  }
}
