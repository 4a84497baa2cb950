import type { Attr, StatFs, Timespec } from '../filesystem.js';
import { DIRENTPLUS_NAME_OFFSET, FUSE_ROOT_ID, Size } from './kernel.js';

/**
 * Encoders and decoders for the fixed FUSE structures, writing into caller-owned buffers so a
 * serving loop allocates nothing per request. 64-bit fields are split into two 32-bit halves:
 * JS numbers carry integers exactly up to 2^53, which covers every inode number, size and time
 * a backend produces; negative times are written as two's complement.
 */

const TWO_32 = 2 ** 32;

/** An unsigned 64-bit field as a number (exact below 2^53). */
export function readU64(buffer: Buffer, offset: number): number {
  return buffer.readUInt32LE(offset) + buffer.readUInt32LE(offset + 4) * TWO_32;
}

/** Writes a non-negative integer below 2^64 (exact below 2^53). */
export function writeU64(buffer: Buffer, offset: number, value: number): void {
  buffer.writeUInt32LE(value >>> 0, offset);
  buffer.writeUInt32LE(Math.floor(value / TWO_32) >>> 0, offset + 4);
}

/** Writes a signed 64-bit integer (two's complement), e.g. a time before 1970. */
export function writeI64(buffer: Buffer, offset: number, value: number): void {
  if (value >= 0) {
    writeU64(buffer, offset, value);
    return;
  }
  buffer.writeBigInt64LE(BigInt(value), offset);
}

/** Seconds (possibly fractional) as the (seconds, nanoseconds) pair a *_valid field takes. */
export function splitTimeout(seconds: number): Timespec {
  if (!(seconds > 0)) return { sec: 0, nsec: 0 };
  const sec = Math.floor(seconds);
  const nsec = Math.min(999_999_999, Math.round((seconds - sec) * 1e9));
  return { sec, nsec };
}

/**
 * Backend ids ↔ FUSE node ids. The root is FUSE_ROOT_ID; every other id is its own node id, so
 * node ids stay readable next to inode numbers, except ids 0 and 1, which the protocol reserves
 * (0 = negative entry, 1 = root): those become 2^63 + id, which no backend id reaches.
 */
export class NodeIds {
  constructor(readonly rootId: number) {}

  write(buffer: Buffer, offset: number, id: number): void {
    if (id === this.rootId) {
      buffer.writeUInt32LE(FUSE_ROOT_ID, offset);
      buffer.writeUInt32LE(0, offset + 4);
    } else if (id <= 1) {
      buffer.writeUInt32LE(id, offset);
      buffer.writeUInt32LE(0x8000_0000, offset + 4);
    } else {
      writeU64(buffer, offset, id);
    }
  }

  read(buffer: Buffer, offset: number): number {
    const low = buffer.readUInt32LE(offset);
    const high = buffer.readUInt32LE(offset + 4);
    if (high === 0 && low === FUSE_ROOT_ID) return this.rootId;
    if (high === 0x8000_0000 && low <= 1) return low;
    return low + high * TWO_32;
  }
}

/** struct fuse_attr (88 bytes) at `offset`. */
export function writeAttr(buffer: Buffer, offset: number, attr: Attr): void {
  writeU64(buffer, offset, attr.ino);
  writeU64(buffer, offset + 8, attr.size);
  writeU64(buffer, offset + 16, attr.blocks);
  writeI64(buffer, offset + 24, attr.atime.sec);
  writeI64(buffer, offset + 32, attr.mtime.sec);
  writeI64(buffer, offset + 40, attr.ctime.sec);
  buffer.writeUInt32LE(attr.atime.nsec >>> 0, offset + 48);
  buffer.writeUInt32LE(attr.mtime.nsec >>> 0, offset + 52);
  buffer.writeUInt32LE(attr.ctime.nsec >>> 0, offset + 56);
  buffer.writeUInt32LE(attr.mode >>> 0, offset + 60);
  buffer.writeUInt32LE(Math.min(attr.nlink, 0xffff_ffff) >>> 0, offset + 64);
  buffer.writeUInt32LE(attr.uid >>> 0, offset + 68);
  buffer.writeUInt32LE(attr.gid >>> 0, offset + 72);
  buffer.writeUInt32LE(attr.rdev >>> 0, offset + 76);
  buffer.writeUInt32LE(attr.blksize >>> 0, offset + 80);
  buffer.writeUInt32LE(0, offset + 84);
}

/** struct fuse_entry_out (128 bytes): node id, generation 0, both timeouts, attributes. */
export function writeEntryOut(
  buffer: Buffer,
  offset: number,
  nodeIds: NodeIds,
  id: number,
  attr: Attr,
  entryValid: Timespec,
  attrValid: Timespec,
): void {
  nodeIds.write(buffer, offset, id);
  writeU64(buffer, offset + 8, 0);
  writeU64(buffer, offset + 16, entryValid.sec);
  writeU64(buffer, offset + 24, attrValid.sec);
  buffer.writeUInt32LE(entryValid.nsec, offset + 32);
  buffer.writeUInt32LE(attrValid.nsec, offset + 36);
  writeAttr(buffer, offset + 40, attr);
}

/**
 * struct fuse_entry_out of a negative entry: node id 0 tells the kernel the name does not exist,
 * and entry_valid how long it may remember that.
 */
export function writeNegativeEntryOut(buffer: Buffer, offset: number, entryValid: Timespec): void {
  buffer.fill(0, offset, offset + Size.ENTRY_OUT);
  writeU64(buffer, offset + 16, entryValid.sec);
  buffer.writeUInt32LE(entryValid.nsec, offset + 32);
}

/** struct fuse_attr_out (104 bytes). */
export function writeAttrOut(buffer: Buffer, offset: number, attr: Attr, attrValid: Timespec): void {
  writeU64(buffer, offset, attrValid.sec);
  buffer.writeUInt32LE(attrValid.nsec, offset + 8);
  buffer.writeUInt32LE(0, offset + 12);
  writeAttr(buffer, offset + 16, attr);
}

/** struct fuse_open_out (16 bytes). */
export function writeOpenOut(
  buffer: Buffer,
  offset: number,
  fh: number,
  openFlags: number,
  backingId: number,
): void {
  writeU64(buffer, offset, fh);
  buffer.writeUInt32LE(openFlags >>> 0, offset + 8);
  buffer.writeInt32LE(backingId | 0, offset + 12);
}

function clampU64(value: number): number {
  return Math.max(0, Math.min(value, Number.MAX_SAFE_INTEGER));
}

function clampU32(value: number): number {
  return Math.max(0, Math.min(value, 0xffff_ffff)) >>> 0;
}

/** struct fuse_statfs_out (80 bytes). */
export function writeStatfsOut(buffer: Buffer, offset: number, stats: StatFs): void {
  buffer.fill(0, offset, offset + Size.KSTATFS);
  writeU64(buffer, offset, clampU64(stats.blocks));
  writeU64(buffer, offset + 8, clampU64(stats.bfree));
  writeU64(buffer, offset + 16, clampU64(stats.bavail));
  writeU64(buffer, offset + 24, clampU64(stats.files));
  writeU64(buffer, offset + 32, clampU64(stats.ffree));
  buffer.writeUInt32LE(clampU32(stats.bsize), offset + 40);
  buffer.writeUInt32LE(clampU32(stats.namelen), offset + 44);
  buffer.writeUInt32LE(clampU32(stats.frsize), offset + 48);
}

/**
 * Appends one struct fuse_dirent (ino, the cookie after it, name length, DT_* type, name, padding
 * to 8 bytes) at `offset` if it fits below `end`; returns the offset after it, or -1 if it does not fit.
 */
export function packDirent(
  buffer: Buffer,
  offset: number,
  end: number,
  ino: number,
  cookie: number,
  type: number,
  name: Buffer,
): number {
  const length = (Size.DIRENT_HEADER + name.length + 7) & ~7;
  if (offset + length > end) return -1;
  writeU64(buffer, offset, ino);
  writeU64(buffer, offset + 8, cookie);
  buffer.writeUInt32LE(name.length, offset + 16);
  buffer.writeUInt32LE((type >>> 12) & 0xf, offset + 20);
  name.copy(buffer, offset + Size.DIRENT_HEADER);
  buffer.fill(0, offset + Size.DIRENT_HEADER + name.length, offset + length);
  return offset + length;
}

/**
 * The room one struct fuse_direntplus takes for a name of `nameLength` bytes (FUSE_DIRENTPLUS_SIZE).
 */
export function direntPlusSize(nameLength: number): number {
  return (DIRENTPLUS_NAME_OFFSET + nameLength + 7) & ~7;
}

/** A NUL-terminated string at `offset`, as the bytes before the NUL (a view, not a copy). */
export function cString(buffer: Buffer, offset: number, end: number): Buffer {
  const nul = buffer.indexOf(0, offset);
  return buffer.subarray(offset, nul < 0 || nul > end ? end : nul);
}

/** struct fuse_init_in, as far as this implementation reads it. */
export interface InitIn {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  /** flags2 (only meaningful when flags has FUSE_INIT_EXT). */
  flags2: number;
}

export function readInitIn(buffer: Buffer, offset: number, length: number): InitIn {
  return {
    major: buffer.readUInt32LE(offset),
    minor: buffer.readUInt32LE(offset + 4),
    maxReadahead: length >= 12 ? buffer.readUInt32LE(offset + 8) : 0,
    flags: length >= 16 ? buffer.readUInt32LE(offset + 12) : 0,
    flags2: length >= 20 ? buffer.readUInt32LE(offset + 16) : 0,
  };
}

/** struct fuse_init_out, as this implementation fills it. */
export interface InitOut {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  timeGran: number;
  maxPages: number;
  flags2: number;
  maxStackDepth: number;
}

/** struct fuse_init_out (64 bytes). */
export function writeInitOut(buffer: Buffer, offset: number, init: InitOut): void {
  buffer.fill(0, offset, offset + Size.INIT_OUT);
  buffer.writeUInt32LE(init.major, offset);
  buffer.writeUInt32LE(init.minor, offset + 4);
  buffer.writeUInt32LE(init.maxReadahead >>> 0, offset + 8);
  buffer.writeUInt32LE(init.flags >>> 0, offset + 12);
  buffer.writeUInt16LE(init.maxBackground, offset + 16);
  buffer.writeUInt16LE(init.congestionThreshold, offset + 18);
  buffer.writeUInt32LE(init.maxWrite >>> 0, offset + 20);
  buffer.writeUInt32LE(init.timeGran >>> 0, offset + 24);
  buffer.writeUInt16LE(init.maxPages, offset + 28);
  buffer.writeUInt16LE(0, offset + 30);
  buffer.writeUInt32LE(init.flags2 >>> 0, offset + 32);
  buffer.writeUInt32LE(init.maxStackDepth >>> 0, offset + 36);
}
