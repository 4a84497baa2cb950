import { ByteView } from './bytes.js';
import { ErofsCorruptError, ErofsUnsupportedError } from './errors.js';
import {
  ChunkFormat,
  DATALAYOUT_MAX,
  DataLayout,
  EROFS_ISLOTBITS,
  InodeCompact,
  InodeExtended,
  InodeFormat,
  InodeVersion,
  xattrIbodySize,
} from './format.js';
import type { SuperblockInfo } from './superblock.js';

/** S_IF* type bits of st_mode. */
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** Where an inode lives: its slot (nid without the metabox bit) in the main metadata area or the metabox. */
export interface InodeAddress {
  slot: number;
  inMetabox: boolean;
}

/** A decoded on-disk inode, compact or extended, with everything stat(2) and the data paths need. */
export interface ErofsInode {
  /** The inode number the kernel shows (the nid; with a metabox, the kernel's 64-bit mapping of it). */
  ino: number;
  address: InodeAddress;
  /** Offset of the on-disk inode in its metadata space (device or metabox). */
  offset: number;
  version: number;
  dataLayout: number;
  /** Size of the on-disk inode record (32 or 64). */
  inodeSize: number;
  xattrIcount: number;
  xattrSize: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  mtimeNsec: number;
  rdevMajor: number;
  rdevMinor: number;
  /** First data block of flat layouts; null when the whole file is a hole (EROFS_NULL_ADDR). */
  startBlock: number | null;
  /** Compressed layouts: blocks the compressed data occupies (i_u.blocks_lo + i_nb.blocks_hi). */
  compressedBlocks: number;
  chunkFormat: number;
  chunkBits: number;
  /** Directories without an on-disk `.` entry. */
  dotOmitted: boolean;
  /** Raw i_u word: compressed layouts interpret it further (fragments, ztailpacking). */
  rawU: number;
}

const TWO_32 = 2 ** 32;
const TWO_31 = 2 ** 31;

/**
 * The kernel's st_ino for a nid (erofs_nid_to_ino64): the nid itself, except with a metabox, where
 * the metabox bit moves to bit 31 and nid bits 31.. move up by one, so inode numbers stay small.
 */
export function inoOf(address: InodeAddress, hasMetabox: boolean): number {
  if (!hasMetabox) return address.slot;
  const low31 = address.slot % TWO_31;
  const high = Math.floor(address.slot / TWO_31) * TWO_32;
  return high + (address.inMetabox ? TWO_31 : 0) + low31;
}

/** The inverse of inoOf: which inode slot an inode number names. */
export function addressOf(ino: number, hasMetabox: boolean): InodeAddress {
  if (!hasMetabox) return { slot: ino, inMetabox: false };
  const slot = Math.floor(ino / TWO_32) * TWO_31 + (ino % TWO_31);
  return { slot, inMetabox: Math.floor(ino / TWO_31) % 2 === 1 };
}

/** Splits a raw dirent/superblock nid into its address; nids past 2^53 cannot exist in a real image. */
export function addressOfNid(nid: bigint, where: { nid?: number; offset?: number }): InodeAddress {
  const slot = nid & ((1n << 63n) - 1n);
  if (slot > BigInt(Number.MAX_SAFE_INTEGER)) throw new ErofsCorruptError(`nid ${nid} is beyond 2^53`, where);
  return { slot: Number(slot), inMetabox: nid >> 63n === 1n };
}

export function inodeOffset(sb: SuperblockInfo, address: InodeAddress): number {
  const base = address.inMetabox ? 0 : sb.metaBlkaddr * sb.blockSize;
  const offset = base + address.slot * 2 ** EROFS_ISLOTBITS;
  if (!Number.isSafeInteger(offset)) throw new ErofsCorruptError(`nid ${address.slot} is out of range`);
  return offset;
}

/**
 * Decodes the inode at `offset` from `read` (which checks the range against its metadata space).
 * An extended inode may cross a block boundary; `read` returns contiguous bytes either way.
 */
export function decodeInode(
  sb: SuperblockInfo,
  ino: number,
  address: InodeAddress,
  offset: number,
  read: (offset: number, length: number, what: string) => Buffer,
): ErofsInode {
  const compact = new ByteView(read(offset, InodeCompact.SIZE, 'inode'), offset, ino);
  const format = compact.u16(InodeCompact.format, 'i_format');
  if (format & ~InodeFormat.ALL) {
    throw new ErofsUnsupportedError(`unsupported i_format 0x${format.toString(16)}`, { nid: ino, offset });
  }
  const dataLayout = (format >> InodeFormat.DATALAYOUT_BIT) & InodeFormat.DATALAYOUT_MASK;
  if (dataLayout >= DATALAYOUT_MAX) {
    throw new ErofsUnsupportedError(`unsupported data layout ${dataLayout}`, { nid: ino, offset });
  }
  const version = format & InodeFormat.VERSION_MASK;
  const flagBit4 = ((format >> InodeFormat.NLINK_1_BIT) & 1) === 1;
  let view = compact;
  let inodeSize: number;
  let mode: number;
  let nlink: number;
  let uid: number;
  let gid: number;
  let size: number;
  let mtime: number;
  let mtimeNsec: number;
  let nb: number;
  /** Whether i_nb carries the high bits of a block address (otherwise it is nlink). */
  let nbIsAddressHigh: boolean;
  if (version === InodeVersion.EXTENDED) {
    inodeSize = InodeExtended.SIZE;
    view = new ByteView(read(offset, InodeExtended.SIZE, 'extended inode'), offset, ino);
    mode = view.u16(InodeExtended.mode);
    nb = view.u16(InodeExtended.nb);
    nbIsAddressHigh = true;
    size = view.u64Safe(InodeExtended.size, 'i_size');
    uid = view.u32(InodeExtended.uid);
    gid = view.u32(InodeExtended.gid);
    // i_mtime is a time64_t stored as le64: dates before 1970 are negative.
    mtime = Number(BigInt.asIntN(64, view.u64(InodeExtended.mtime)));
    mtimeNsec = view.u32(InodeExtended.mtimeNsec);
    nlink = view.u32(InodeExtended.nlink);
  } else {
    inodeSize = InodeCompact.SIZE;
    mode = view.u16(InodeCompact.mode);
    nb = view.u16(InodeCompact.nb);
    const isDir = (mode & S_IFMT) === S_IFDIR;
    nbIsAddressHigh = !isDir && flagBit4;
    nlink = nbIsAddressHigh ? 1 : nb;
    size = view.u32(InodeCompact.size);
    uid = view.u16(InodeCompact.uid);
    gid = view.u16(InodeCompact.gid);
    mtime = sb.epoch + view.u32(InodeCompact.mtime);
    mtimeNsec = sb.fixedNsec;
  }
  if (mtimeNsec >= 1e9)
    throw view.corrupt(`i_mtime_nsec ${mtimeNsec} is not below 10^9`, InodeExtended.mtimeNsec);
  const xattrIcount = view.u16(InodeCompact.xattrIcount);
  const u = view.u32(InodeCompact.u);
  const inode: ErofsInode = {
    ino,
    address,
    offset,
    version,
    dataLayout,
    inodeSize,
    xattrIcount,
    xattrSize: xattrIbodySize(xattrIcount),
    mode,
    nlink,
    uid,
    gid,
    size,
    mtime,
    mtimeNsec,
    rdevMajor: 0,
    rdevMinor: 0,
    startBlock: null,
    compressedBlocks: 0,
    chunkFormat: 0,
    chunkBits: 0,
    dotOmitted: false,
    rawU: u,
  };
  const addressHigh = nbIsAddressHigh ? nb : 0;
  switch (mode & S_IFMT) {
    case S_IFDIR:
      inode.dotOmitted = flagBit4;
      setDataAddress(inode, u, addressHigh, nbIsAddressHigh);
      break;
    case S_IFREG:
    case S_IFLNK:
      setDataAddress(inode, u, addressHigh, nbIsAddressHigh);
      break;
    case S_IFCHR:
    case S_IFBLK:
      // new_decode_dev: minor's low 8 bits, then major's 12, then minor's upper 12.
      inode.rdevMajor = (u & 0xfff00) >>> 8;
      inode.rdevMinor = (u & 0xff) | ((u >>> 12) & 0xfff00);
      break;
    case S_IFIFO:
    case S_IFSOCK:
      break;
    default:
      throw view.corrupt(`bogus i_mode 0${mode.toString(8)}`, InodeCompact.mode);
  }
  if (dataLayout === DataLayout.CHUNK_BASED) {
    inode.chunkFormat = u & 0xffff;
    if (inode.chunkFormat & ~ChunkFormat.ALL) {
      throw new ErofsUnsupportedError(`unsupported chunk format 0x${inode.chunkFormat.toString(16)}`, {
        nid: ino,
        offset,
      });
    }
    inode.chunkBits = sb.blockSizeBits + (inode.chunkFormat & ChunkFormat.BLKBITS_MASK);
  }
  if (dataLayout === DataLayout.COMPRESSED_FULL || dataLayout === DataLayout.COMPRESSED_COMPACT) {
    inode.compressedBlocks = u + addressHigh * TWO_32;
  }
  return inode;
}

/** startblk_lo | startblk_hi << 32; all-ones in the field's width means the file is one hole. */
function setDataAddress(inode: ErofsInode, low: number, high: number, wide: boolean): void {
  const block = low + high * TWO_32;
  const allOnes = wide ? 2 ** 48 - 1 : TWO_32 - 1;
  inode.startBlock = inode.dataLayout === DataLayout.FLAT_PLAIN && block === allOnes ? null : block;
}

/** st_blocks as the kernel reports it, in 512-byte units. */
export function blocksOf(sb: SuperblockInfo, inode: ErofsInode): number {
  if (inode.dataLayout === DataLayout.COMPRESSED_FULL || inode.dataLayout === DataLayout.COMPRESSED_COMPACT) {
    return inode.compressedBlocks * (sb.blockSize / 512);
  }
  return Math.ceil(inode.size / sb.blockSize) * (sb.blockSize / 512);
}

export function isDirectory(inode: ErofsInode): boolean {
  return (inode.mode & S_IFMT) === S_IFDIR;
}
