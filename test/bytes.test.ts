import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ByteView } from '../erofs/bytes.js';
import { ErofsCorruptError } from '../erofs/errors.js';

describe('ByteView', () => {
  const view = new ByteView(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), 0x400, 36);

  it('decodes little-endian fields', () => {
    assert.equal(view.u8(0), 1);
    assert.equal(view.u16(0), 0x0201);
    assert.equal(view.u32(1), 0x05040302);
    assert.equal(view.u64(1), 0x0908070605040302n);
  });

  it('reports a field past the record with the image offset and nid', () => {
    assert.throws(
      () => view.u32(6, 'i_size'),
      (error: unknown) =>
        error instanceof ErofsCorruptError &&
        error.offset === 0x406 &&
        error.nid === 36 &&
        /i_size: 4 bytes at \+6 run past the 9-byte record @ nid 36, offset 0x406/.test(error.message),
    );
  });

  it('refuses negative and fractional offsets', () => {
    assert.throws(() => view.bytes(-1, 2), ErofsCorruptError);
    assert.throws(() => view.bytes(0.5, 2), ErofsCorruptError);
  });

  it('keeps image offsets in slices', () => {
    const slice = view.slice(4, 4);
    assert.equal(slice.imageOffset, 0x404);
    assert.throws(
      () => slice.u8(4),
      (error: unknown) => error instanceof ErofsCorruptError && error.offset === 0x408,
    );
  });

  it('refuses a 64-bit value beyond 2^53 where a number is needed', () => {
    const big = new ByteView(Buffer.from('ffffffffffffffff', 'hex'), 0);
    assert.throws(() => big.u64Safe(0, 'nid'), /nid 18446744073709551615 exceeds 2\^53/);
  });
});
