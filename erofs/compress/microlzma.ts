import { ErofsCorruptError, type ErofsLocation } from '../errors.js';

/**
 * MicroLZMA, the LZMA flavour of EROFS pclusters (xz_dec_microlzma in Linux lib/xz): a raw LZMA
 * stream without header or end marker. Its first byte, which the range coder reads and then shifts
 * out unused, holds the bitwise NOT of the lc/lp/pb properties byte. Decoding stops once the output
 * is full. A pcluster decodes whole into the output buffer, so the bytes written so far are the
 * dictionary (no window to wrap around).
 *
 * The decoder takes the kernel's accept/reject decisions: a read past the end of the input, a match
 * distance beyond the bytes decoded or the dictionary size, and, for an exact decode, input left
 * over, a match running past the output or an unfinished range coder, are all corruption.
 * Memory is the output and one fixed probability table; every loop is bounded by the output length.
 */

export interface MicroLzmaOptions {
  /** The image's LZMA dictionary size: no match may reach further back. */
  dictSize: number;
  /**
   * The output is the pcluster's whole decoded length, so the stream must end with it (the
   * kernel's uncomp_size_is_exact). Otherwise only a prefix is wanted and the stream goes on.
   */
  exact: boolean;
  /** Where errors are reported. */
  where: ErofsLocation;
}

/** The range coder starts with five bytes (the first is the inverted properties byte). */
const RC_INIT_BYTES = 5;
/** lc <= 8, lp <= 4, pb <= 4, stored as (pb * 5 + lp) * 9 + lc; lc + lp must not exceed 4. */
const PROPS_LIMIT = 9 * 5 * 5;

/** Probabilities are 11-bit fractions (kNumBitModelTotalBits), adapting by 1/32 (kNumMoveBits). */
const PROB_BITS = 11;
const PROB_TOTAL = 1 << PROB_BITS;
const PROB_INIT = PROB_TOTAL / 2;
const MOVE_BITS = 5;
/** `range` below kTopValue (1 << 24), i.e. its top byte clear: shift in an input byte. */
const TOP_BYTE = 0xff000000 | 0;
/** XOR-ing both sides with the sign bit turns an int32 comparison into an unsigned one. */
const SIGN = 0x80000000 | 0;

/** The 12 states: literal states are those below LIT_STATES (the last symbol was a literal). */
const STATES = 12;
const LIT_STATES = 7;
/** Up to 1 << pb position states; states and position states index as (state << 4) + posState. */
const POS_STATES = 16;
/** Distance slots (6-bit trees), one tree per length 2, 3, 4 and 5+. */
const DIST_SLOTS = 64;
/** Slots from DIST_MODEL_START code extra bits; below DIST_MODEL_END they are probability-coded. */
const DIST_MODEL_START = 4;
const DIST_MODEL_END = 14;
/** Distances below this take all their bits from the dist-special trees. */
const FULL_DISTANCES = 128;
const ALIGN_BITS = 4;
const MATCH_LEN_MIN = 2;

/** A length coder: two choice bits, then 3-bit trees per position state (2..9, 10..17), 8 bits (18..273). */
const LENGTH_CHOICE = 0;
const LENGTH_CHOICE2 = 1;
const LENGTH_LOW = 2;
const LENGTH_MID = LENGTH_LOW + POS_STATES * 8;
const LENGTH_HIGH = LENGTH_MID + POS_STATES * 8;
const LENGTH_CODER_SIZE = LENGTH_HIGH + 256;
/** A literal coder: 8-bit tree, plus the trees used right after a match (matched literals). */
const LITERAL_CODER_SIZE = 0x300;

/** All probabilities in one table, at these offsets. */
const IS_MATCH = 0;
const IS_REP = IS_MATCH + STATES * POS_STATES;
const IS_REP0 = IS_REP + STATES;
const IS_REP1 = IS_REP0 + STATES;
const IS_REP2 = IS_REP1 + STATES;
const IS_REP0_LONG = IS_REP2 + STATES;
const DIST_SLOT = IS_REP0_LONG + STATES * POS_STATES;
const DIST_SPECIAL = DIST_SLOT + 4 * DIST_SLOTS;
const DIST_ALIGN = DIST_SPECIAL + FULL_DISTANCES - DIST_MODEL_END;
const MATCH_LENGTH = DIST_ALIGN + (1 << ALIGN_BITS);
const REP_LENGTH = MATCH_LENGTH + LENGTH_CODER_SIZE;
const LITERAL = REP_LENGTH + LENGTH_CODER_SIZE;
/** lc + lp <= 4: at most 16 literal coders. */
const PROBABILITY_COUNT = LITERAL + (LITERAL_CODER_SIZE << 4);

/** Reset before every stream; decoding is synchronous, so one table serves every call. */
const probabilities = new Uint16Array(PROBABILITY_COUNT);

function corrupt(what: string, where: ErofsLocation): ErofsCorruptError {
  return new ErofsCorruptError(`MicroLZMA ${what}`, where);
}

/**
 * The range decoder (rc_* in xz_dec_lzma2.c) over one stream. Every byte it shifts in is
 * bounds-checked: running out of input is corruption, as in the kernel.
 */
class RangeDecoder {
  /** 0xffffffff, kept in int32 bits like `code`. */
  range = -1;
  code: number;
  inPos = RC_INIT_BYTES;
  /** Output bytes decoded so far, for the message when the input runs out. */
  produced = 0;

  constructor(
    private readonly stream: Uint8Array,
    private readonly where: ErofsLocation,
  ) {
    this.code = (stream[1]! << 24) | (stream[2]! << 16) | (stream[3]! << 8) | stream[4]!;
  }

  /** Shifts in the next input byte once range drops below 1 << 24 (rc_normalize). */
  normalize(): void {
    if ((this.range & TOP_BYTE) !== 0) return;
    if (this.inPos === this.stream.length) {
      throw corrupt(
        `stream of ${this.stream.length} bytes ends after ${this.produced} decoded bytes`,
        this.where,
      );
    }
    this.range <<= 8;
    this.code = (this.code << 8) | this.stream[this.inPos++]!;
  }

  /** One bit coded with probability probs[at], which then adapts (rc_bit). */
  bit(probs: Uint16Array, at: number): number {
    this.normalize();
    const prob = probs[at]!;
    const bound = Math.imul(this.range >>> PROB_BITS, prob);
    if ((this.code ^ SIGN) < (bound ^ SIGN)) {
      this.range = bound;
      probs[at] = prob + ((PROB_TOTAL - prob) >>> MOVE_BITS);
      return 0;
    }
    this.range = (this.range - bound) | 0;
    this.code = (this.code - bound) | 0;
    probs[at] = prob - (prob >>> MOVE_BITS);
    return 1;
  }

  /** A symbol below `limit` (a power of two) from the bit tree at `base`, high bit first (rc_bittree). */
  tree(probs: Uint16Array, base: number, limit: number): number {
    let symbol = 1;
    do symbol = (symbol << 1) | this.bit(probs, base + symbol);
    while (symbol < limit);
    return symbol - limit;
  }

  /** `count` bits from the bit tree at `base`, low bit first (rc_bittree_reverse). */
  reverseTree(probs: Uint16Array, base: number, count: number): number {
    let symbol = 1;
    let value = 0;
    for (let index = 0; index < count; index++) {
      const bit = this.bit(probs, base + symbol);
      symbol = (symbol << 1) | bit;
      value |= bit << index;
    }
    return value;
  }

  /** `value` followed by `count` bits of fixed probability one half (rc_direct), branch-free as in the kernel. */
  direct(value: number, count: number): number {
    let result = value;
    for (let index = 0; index < count; index++) {
      this.normalize();
      this.range >>>= 1;
      this.code = (this.code - this.range) | 0;
      const mask = this.code >> 31;
      this.code = (this.code + (this.range & mask)) | 0;
      result = ((result << 1) + mask + 1) | 0;
    }
    return result;
  }
}

/**
 * Decodes `stream` (a pcluster without its zero padding) until `out` is full; throws
 * ErofsCorruptError (message starting "MicroLZMA") on anything the kernel would reject.
 */
export function decodeMicroLzmaStream(
  stream: Uint8Array,
  out: Uint8Array,
  { dictSize, exact, where }: MicroLzmaOptions,
): void {
  const inEnd = stream.length;
  if (inEnd < RC_INIT_BYTES) {
    throw corrupt(`stream of ${inEnd} bytes is shorter than the range coder's first ${RC_INIT_BYTES}`, where);
  }
  const props = ~stream[0]! & 0xff;
  const lc = props % 9;
  const lp = Math.floor(props / 9) % 5;
  const pb = Math.floor(props / 45);
  if (props >= PROPS_LIMIT || lc + lp > 4) {
    throw corrupt(`properties 0x${props.toString(16)} (lc ${lc}, lp ${lp}, pb ${pb}) are invalid`, where);
  }
  const probs = probabilities;
  probs.fill(PROB_INIT, 0, LITERAL + (LITERAL_CODER_SIZE << (lc + lp)));
  const literalPosMask = (1 << lp) - 1;
  const posMask = (1 << pb) - 1;
  const literalShift = 8 - lc;
  const outEnd = out.length;
  const rc = new RangeDecoder(stream, where);

  let pos = 0;
  let state = 0;
  let rep0 = 0;
  let rep1 = 0;
  let rep2 = 0;
  let rep3 = 0;
  /** Bytes of the last match that did not fit in the output. */
  let overrun = 0;

  while (pos < outEnd) {
    rc.produced = pos;
    const posState = pos & posMask;
    if (rc.bit(probs, IS_MATCH + (state << 4) + posState) === 0) {
      // A literal, coded by the previous byte's top lc bits and the position's low lp bits.
      const previous = pos > 0 ? out[pos - 1]! : 0;
      const coder =
        LITERAL + LITERAL_CODER_SIZE * (((pos & literalPosMask) << lc) + (previous >> literalShift));
      if (state < LIT_STATES) {
        out[pos++] = rc.tree(probs, coder, 0x100);
      } else {
        // After a match: the byte at rep0 steers the trees until the first bit that differs.
        let matchByte = out[pos - rep0 - 1]! << 1;
        let offset = 0x100;
        let symbol = 1;
        do {
          const matchBit = matchByte & offset;
          matchByte <<= 1;
          const bit = rc.bit(probs, coder + offset + matchBit + symbol);
          symbol = (symbol << 1) | bit;
          offset &= bit ? matchBit : ~matchBit;
        } while (symbol < 0x100);
        out[pos++] = symbol - 0x100;
      }
      state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
      continue;
    }

    // A match: a new distance, or one of the last four (rep0..rep3), or one byte at rep0 (short rep).
    let lengthCoder = REP_LENGTH;
    let length = 1;
    if (rc.bit(probs, IS_REP + state) === 0) {
      lengthCoder = MATCH_LENGTH;
      rep3 = rep2;
      rep2 = rep1;
      rep1 = rep0;
      state = state < LIT_STATES ? 7 : 10;
    } else {
      if (rc.bit(probs, IS_REP0 + state) === 0) {
        if (rc.bit(probs, IS_REP0_LONG + (state << 4) + posState) === 0) lengthCoder = -1;
      } else {
        let distance: number;
        if (rc.bit(probs, IS_REP1 + state) === 0) {
          distance = rep1;
        } else {
          if (rc.bit(probs, IS_REP2 + state) === 0) {
            distance = rep2;
          } else {
            distance = rep3;
            rep3 = rep2;
          }
          rep2 = rep1;
        }
        rep1 = rep0;
        rep0 = distance;
      }
      state = lengthCoder < 0 ? (state < LIT_STATES ? 9 : 11) : state < LIT_STATES ? 8 : 11;
    }

    if (lengthCoder >= 0) {
      // Length: choice bits pick the 2..9, 10..17 or 18..273 tree.
      if (rc.bit(probs, lengthCoder + LENGTH_CHOICE) === 0) {
        length = MATCH_LEN_MIN + rc.tree(probs, lengthCoder + LENGTH_LOW + (posState << 3), 8);
      } else if (rc.bit(probs, lengthCoder + LENGTH_CHOICE2) === 0) {
        length = MATCH_LEN_MIN + 8 + rc.tree(probs, lengthCoder + LENGTH_MID + (posState << 3), 8);
      } else {
        length = MATCH_LEN_MIN + 16 + rc.tree(probs, lengthCoder + LENGTH_HIGH, 256);
      }

      if (lengthCoder === MATCH_LENGTH) {
        // Distance: a 6-bit slot (tree chosen by the length), then the slot's extra bits.
        const slotTree = DIST_SLOT + ((length < MATCH_LEN_MIN + 4 ? length - MATCH_LEN_MIN : 3) << 6);
        const slot = rc.tree(probs, slotTree, DIST_SLOTS);
        if (slot < DIST_MODEL_START) {
          rep0 = slot;
        } else {
          // Distances are uint32 in int32 bits, as in C: one of 2^31 or more is negative here.
          const extraBits = (slot >> 1) - 1;
          const high = 2 | (slot & 1);
          if (slot < DIST_MODEL_END) {
            const base = high << extraBits;
            rep0 = base + rc.reverseTree(probs, DIST_SPECIAL + base - slot - 1, extraBits);
          } else {
            const base = rc.direct(high, extraBits - ALIGN_BITS) << ALIGN_BITS;
            rep0 = base + rc.reverseTree(probs, DIST_ALIGN, ALIGN_BITS);
          }
        }
      }
    }

    // rep0 is 0-based; it must point into the bytes decoded so far and into the dictionary.
    if (rep0 < 0 || rep0 >= pos || rep0 >= dictSize) {
      throw corrupt(
        `match distance ${(rep0 >>> 0) + 1} at output ${pos} reaches before the data or beyond the ${dictSize}-byte dictionary`,
        where,
      );
    }
    let end = pos + length;
    if (end > outEnd) {
      overrun = end - outEnd;
      end = outEnd;
    }
    let from = pos - rep0 - 1;
    while (pos < end) out[pos++] = out[from++]!;
  }

  // The kernel normalizes once more after the last symbol; the byte it needs must be there.
  rc.produced = pos;
  rc.normalize();
  if (!exact) return;
  if (overrun > 0) throw corrupt(`match runs ${overrun} bytes past the ${outEnd}-byte output`, where);
  if (rc.inPos !== inEnd) {
    throw corrupt(
      `stream goes on: ${inEnd - rc.inPos} of its ${inEnd} bytes remain after ${outEnd} decoded`,
      where,
    );
  }
  if (rc.code !== 0)
    throw corrupt(`stream does not end its range coder after ${outEnd} decoded bytes`, where);
}
