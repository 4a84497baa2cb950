import { ErofsCorruptError, type ErofsLocation } from './errors.js';

/**
 * The one bounds-checked little-endian decoder every on-disk record goes through.
 * A view covers `buffer`, whose first byte sits at `imageOffset` in the image, so any
 * out-of-range field is reported with the image offset and nid where it was found.
 */
export class ByteView {
  constructor(
    readonly buffer: Buffer,
    readonly imageOffset: number,
    readonly nid?: number,
  ) {}

  get length(): number {
    return this.buffer.length;
  }

  /** Throws unless [offset, offset + length) lies inside the view. */
  check(offset: number, length: number, what: string): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw this.corrupt(`${what}: invalid range ${offset}+${length}`, offset);
    }
    if (offset + length > this.buffer.length) {
      throw this.corrupt(
        `${what}: ${length} bytes at +${offset} run past the ${this.buffer.length}-byte record`,
        offset,
      );
    }
  }

  u8(offset: number, what = 'u8'): number {
    this.check(offset, 1, what);
    return this.buffer[offset]!;
  }

  u16(offset: number, what = 'le16'): number {
    this.check(offset, 2, what);
    return this.buffer.readUInt16LE(offset);
  }

  u32(offset: number, what = 'le32'): number {
    this.check(offset, 4, what);
    return this.buffer.readUInt32LE(offset);
  }

  u64(offset: number, what = 'le64'): bigint {
    this.check(offset, 8, what);
    return this.buffer.readBigUInt64LE(offset);
  }

  /** A le64 that must fit a JS number (offsets, sizes, nids); larger values are corruption. */
  u64Safe(offset: number, what: string): number {
    const value = this.u64(offset, what);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw this.corrupt(`${what} ${value} exceeds 2^53`, offset);
    }
    return Number(value);
  }

  /** A sub-range without copying; the result is checked like every other read. */
  bytes(offset: number, length: number, what = 'bytes'): Buffer {
    this.check(offset, length, what);
    return this.buffer.subarray(offset, offset + length);
  }

  /** A narrower view over [offset, offset + length), keeping image offsets right. */
  slice(offset: number, length: number, what = 'record'): ByteView {
    return new ByteView(this.bytes(offset, length, what), this.imageOffset + offset, this.nid);
  }

  corrupt(what: string, offset: number): ErofsCorruptError {
    const where: ErofsLocation = { offset: this.imageOffset + offset };
    if (this.nid !== undefined) where.nid = this.nid;
    return new ErofsCorruptError(what, where);
  }
}
