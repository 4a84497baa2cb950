import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { Lz4FormatError, lz4DecodePartial } from '../erofs/compress/lz4.js';
import { SeededRandom, seededBytes } from '../lib/random.js';

/**
 * The JavaScript LZ4 prefix decoder on its own: hand-built sequences for the copies it treats
 * apart (overlapping matches at every short offset, long literal and match runs, an output that
 * fills in the middle of a sequence), streams of the native LZ4 encoder decoded whole and as
 * every kind of prefix, and hostile streams (truncated anywhere, offsets before the output), which
 * must end in Lz4FormatError, never in another error or in bytes outside the output.
 */

const require = createRequire(import.meta.url);
const lz4 = require('lz4') as {
  encodeBound(length: number): number;
  encodeBlock(input: Buffer, output: Buffer): number;
};

function nativeEncode(data: Buffer): Buffer {
  const out = Buffer.alloc(lz4.encodeBound(data.length));
  return out.subarray(0, lz4.encodeBlock(data, out));
}

/** LZ4 length bytes after a token nibble of 15: runs of 255, then the rest. */
function lengthBytes(extra: number): number[] {
  const bytes: number[] = [];
  while (extra >= 255) {
    bytes.push(255);
    extra -= 255;
  }
  bytes.push(extra);
  return bytes;
}

/** One sequence: literals, then a match of `matchLength` (≥ 4) at `offset`, or literals only. */
function sequence(literals: number[], match?: { offset: number; length: number }): number[] {
  const literalNibble = Math.min(literals.length, 15);
  const matchExtra = match ? match.length - 4 : 0;
  const matchNibble = Math.min(matchExtra, 15);
  const bytes = [(literalNibble << 4) | matchNibble];
  if (literalNibble === 15) bytes.push(...lengthBytes(literals.length - 15));
  bytes.push(...literals);
  if (!match) return bytes;
  bytes.push(match.offset & 0xff, match.offset >> 8);
  if (matchNibble === 15) bytes.push(...lengthBytes(matchExtra - 15));
  return bytes;
}

/** What a match does, byte by byte (the definition an overlapping copy must equal). */
function expected(literals: number[], offset: number, length: number, tail: number[]): Buffer {
  const out = [...literals];
  for (let index = 0; index < length; index++) out.push(out[out.length - offset]!);
  return Buffer.from([...out, ...tail]);
}

function decodeAll(stream: number[] | Buffer, outputLength: number): Buffer {
  const out = Buffer.alloc(outputLength);
  const written = lz4DecodePartial(Buffer.from(stream), out);
  return out.subarray(0, written);
}

describe('lz4DecodePartial', () => {
  it('repeats an overlapping match at offset 1 (a run of one byte), short and long', () => {
    for (const length of [4, 18, 19, 31, 32, 33, 300, 4096]) {
      const stream = [...sequence([0x61], { offset: 1, length }), ...sequence([0x62])];
      assert.deepEqual(decodeAll(stream, 1 + length + 1), expected([0x61], 1, length, [0x62]));
    }
  });

  it('repeats overlapping matches at every offset shorter than the match', () => {
    const literals = Array.from({ length: 40 }, (_, index) => index + 1);
    for (let offset = 1; offset <= 40; offset++) {
      for (const length of [Math.max(4, offset + 1), 2 * offset + 3, 100, 1000]) {
        const stream = [...sequence(literals, { offset, length }), ...sequence([0xee, 0xff])];
        assert.deepEqual(
          decodeAll(stream, literals.length + length + 2),
          expected(literals, offset, length, [0xee, 0xff]),
          `offset ${offset}, length ${length}`,
        );
      }
    }
  });

  it('copies long literal runs and long non-overlapping matches', () => {
    const literals = [...seededBytes('lz4-literals', 1000)];
    const stream = [
      ...sequence(literals, { offset: 1000, length: 600 }),
      ...sequence(literals.slice(0, 300)),
    ];
    assert.deepEqual(decodeAll(stream, 1900), expected(literals, 1000, 600, literals.slice(0, 300)));
  });

  it('stops where the output is full: inside a literal run and inside a match', () => {
    const literals = [...seededBytes('lz4-stop', 50)];
    const stream = [...sequence(literals, { offset: 3, length: 200 }), ...sequence([1, 2, 3])];
    const whole = expected(literals, 3, 200, [1, 2, 3]);
    for (const length of [1, 49, 50, 51, 60, 249, 250, 251, 253]) {
      assert.deepEqual(decodeAll(stream, length), whole.subarray(0, length), `prefix of ${length}`);
    }
  });

  it('decodes what the native encoder wrote, whole and as every prefix', () => {
    const random = new SeededRandom('lz4-text');
    const words = ['erofs', 'fuse', 'kernel', 'page', 'cache', 'lcluster', '\n', ' '];
    const text = Buffer.from(Array.from({ length: 20_000 }, () => random.pick(words)).join(''));
    const binary = seededBytes('lz4-binary', 5000);
    const zeros = Buffer.alloc(70_000);
    for (const data of [text, binary, zeros, Buffer.concat([text, zeros, binary])]) {
      const stream = nativeEncode(data);
      assert.deepEqual(decodeAll(stream, data.length), data);
      for (const length of [1, 4095, 4096, 4097, Math.floor(data.length / 3), data.length - 1]) {
        assert.deepEqual(decodeAll(stream, length), data.subarray(0, length), `prefix of ${length}`);
      }
    }
  });

  it('refuses a match before the start of the output (a pcluster decodes without a dictionary)', () => {
    assert.throws(
      () => decodeAll([...sequence([1, 2, 3], { offset: 4, length: 4 }), ...sequence([9])], 100),
      (error: unknown) => error instanceof Lz4FormatError && /offset 4 at output 3/.test(error.message),
    );
    assert.throws(
      () => decodeAll([...sequence([1], { offset: 0, length: 4 }), ...sequence([9])], 100),
      Lz4FormatError,
    );
  });

  it('refuses a stream truncated anywhere with Lz4FormatError', () => {
    const data = Buffer.concat([Buffer.from('x'.repeat(300)), seededBytes('lz4-truncated', 400)]);
    const stream = nativeEncode(Buffer.concat([data, data]));
    for (let length = 0; length < stream.length; length++) {
      try {
        const written = lz4DecodePartial(stream.subarray(0, length), Buffer.alloc(data.length * 2));
        // A cut right after a literal run ends the block early: never more than it could decode.
        assert.ok(written < data.length * 2, `cut at ${length} decoded the whole output`);
      } catch (error) {
        assert.ok(error instanceof Lz4FormatError, `cut at ${length}: ${String(error)}`);
      }
    }
  });

  it('refuses length runs that reach past the input (255 bytes to the end)', () => {
    const literalRun = [0xf0, ...Array.from({ length: 64 }, () => 255)];
    assert.throws(() => decodeAll(literalRun, 1 << 20), Lz4FormatError);
    const matchRun = [0x1f, 7, 1, 0, ...Array.from({ length: 64 }, () => 255)];
    assert.throws(() => decodeAll(matchRun, 1 << 20), Lz4FormatError);
  });
});
