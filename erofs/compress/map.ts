import { ByteView } from '../bytes.js';
import { ErofsCorruptError, ErofsUnsupportedError } from '../errors.js';
import {
  CompactPack,
  DataLayout,
  FeatureIncompat,
  LclusterIndex,
  LclusterType,
  Z_EROFS_COMPRESSION_MAX,
  Z_EROFS_FRAGMENT_INODE_BIT,
  Z_EROFS_LI_D0_CBLKCNT,
  Z_EROFS_LI_LCLUSTER_TYPE_MASK,
  Z_EROFS_LI_PARTIAL_REF,
  Z_EROFS_PCLUSTER_MAX_DSIZE,
  Z_EROFS_PCLUSTER_MAX_SIZE,
  ZAdvise,
  ZExtent,
  ZMapHeader,
} from '../format.js';
import type { ErofsInode } from '../inode.js';
import { has, type SuperblockInfo } from '../superblock.js';

/**
 * Extent mapping of compressed inodes (z_erofs_map_blocks_iter): which logical range a byte
 * belongs to, where that range's pcluster lives, how long it is encoded, and how it is encoded.
 * Extents are always returned whole (the kernel's FIEMAP view), so a decoded pcluster can be cached
 * and sliced. Every walk over lclusters is bounded by the 12 MiB decoded-pcluster limit.
 */

/** Plain pclusters as the kernel names them at runtime (after the on-disk algorithms). */
export const PlainFormat = {
  /** Raw data from the start of the pcluster. */
  SHIFTED: Z_EROFS_COMPRESSION_MAX,
  /** Raw data rotated by the extent's offset in its block (interlaced). */
  INTERLACED: Z_EROFS_COMPRESSION_MAX + 1,
} as const;

export type CompressedExtent =
  /** Unmapped (encoded extents with plen 0): reads as zeros. */
  | { kind: 'hole'; logical: number; length: number }
  /** Stored in the packed inode, from byte `packedOffset` on (for `logical`). */
  | { kind: 'fragment'; logical: number; length: number; packedOffset: number }
  /** A pcluster on the device (`physical` is a byte address), or inline after the inode's indexes. */
  | {
      kind: 'device' | 'inline';
      logical: number;
      length: number;
      /** Device byte address (device) or offset in the inode's metadata space (inline). */
      physical: number;
      encodedLength: number;
      /** CompressionAlgorithm value, or a PlainFormat value. */
      format: number;
      /** The pcluster decodes to more than this extent: decode only `length` bytes of it. */
      partial: boolean;
    };

/** The inode's map header, decoded once (z_erofs_fill_inode_lazy). */
export interface ZInfo {
  advise: number;
  lclusterBits: number;
  /** Algorithms of HEAD1 and HEAD2 lclusters. */
  algorithms: [number, number];
  /** Size of the inline (ztailpacking) tail pcluster; 0 without one. */
  inlineSize: number;
  /** Offset of the inline tail pcluster in the inode's metadata space. */
  inlineOffset: number;
  fragment: boolean;
  fragmentOffset: number;
  /** lcn of the HEAD of the tail extent (for inline and fragment tails). */
  tailHeadLcn: number;
  /** Encoded extents (full layout with EXTENTS): count and record size. */
  extents: { count: number; recordSize: number; start: number } | null;
  /** Byte offset of the map header in the metadata space. */
  headerOffset: number;
  /** For 4-byte extent records: the last record visited and its physical start, to avoid rescans. */
  cursor: { index: number; physical: number } | null;
  /** The metadata block the last index came from: neighbouring lclusters share it. */
  indexBlock: { offset: number; bytes: Buffer } | null;
  /**
   * The last lcluster decoded (lcn -1: none), one record every load overwrites, so a read allocates
   * none: callers take what they keep from it before the next load. It doubles as a one-lcluster
   * memo: one extent's walk ends at the HEAD the next one starts from.
   */
  lcluster: Lcluster;
  /** The last compact pack decoded. */
  pack: DecodedPack | null;
}

interface DecodedPack {
  /** Byte offset of the pack in the metadata space. */
  start: number;
  /** Each entry's low bits (clusterofs of a HEAD, delta of a NONHEAD) and its lcluster type. */
  lows: Uint16Array;
  types: Uint8Array;
  /** The block address the pack's HEADs count from. */
  blockAddress: number;
}

export interface MapContext {
  sb: SuperblockInfo;
  inode: ErofsInode;
  /** Bytes of the inode's own metadata space (the device or the metabox). */
  readMeta(offset: number, length: number, what: string): Buffer;
}

/** One decoded lcluster index (struct z_erofs_maprecorder's view of it). */
interface Lcluster {
  lcn: number;
  type: number;
  clusterOfs: number;
  /** HEAD lclusters: the pcluster's first block. */
  blockAddress: number;
  /** NONHEAD: distance back to the HEAD (1 with CBLKCNT) and on to the next HEAD. */
  delta0: number;
  delta1: number;
  /** NONHEAD with CBLKCNT: the pcluster's size in blocks (0 otherwise). */
  compressedBlocks: number;
  partialRef: boolean;
  /** Where the index data after this lcluster's pack begins (the inline tail follows the last). */
  nextPackOffset: number;
}

const TWO_32 = 2 ** 32;

function corrupt(context: MapContext, what: string, offset?: number): ErofsCorruptError {
  const where: { nid: number; offset?: number } = { nid: context.inode.ino };
  if (offset !== undefined) where.offset = offset;
  return new ErofsCorruptError(what, where);
}

/** Decodes the map header and, for inline or fragment tails, finds the tail extent's HEAD. */
export function readZInfo(context: MapContext): ZInfo {
  const { sb, inode } = context;
  if (inode.dataLayout !== DataLayout.COMPRESSED_FULL && inode.dataLayout !== DataLayout.COMPRESSED_COMPACT) {
    throw corrupt(context, `data layout ${inode.dataLayout} is not compressed`);
  }
  const headerOffset = roundUp(inode.offset + inode.inodeSize + inode.xattrSize, 8);
  const header = new ByteView(
    context.readMeta(headerOffset, ZMapHeader.SIZE, 'z_erofs_map_header'),
    headerOffset,
    inode.ino,
  );
  const info: ZInfo = {
    advise: 0,
    lclusterBits: sb.blockSizeBits,
    algorithms: [0, 0],
    inlineSize: 0,
    inlineOffset: 0,
    fragment: false,
    fragmentOffset: 0,
    tailHeadLcn: 0,
    extents: null,
    headerOffset,
    cursor: null,
    indexBlock: null,
    lcluster: {
      lcn: -1,
      type: 0,
      clusterOfs: 0,
      blockAddress: 0,
      delta0: 0,
      delta1: 0,
      compressedBlocks: 0,
      partialRef: false,
      nextPackOffset: 0,
    },
    pack: null,
  };
  const clusterBits = header.u8(ZMapHeader.clusterBits, 'h_clusterbits');
  if (clusterBits >> Z_EROFS_FRAGMENT_INODE_BIT) {
    // The whole file lives in the packed inode; the low 63 bits are its offset there.
    info.advise = ZAdvise.FRAGMENT_PCLUSTER;
    info.fragment = true;
    info.fragmentOffset = header.u32(0) + (header.u32(4) & 0x7fffffff) * TWO_32;
    if (!Number.isSafeInteger(info.fragmentOffset)) throw corrupt(context, 'fragment offset beyond 2^53');
    return info;
  }
  info.advise = header.u16(ZMapHeader.advise, 'h_advise');
  info.lclusterBits = sb.blockSizeBits + (clusterBits & 15);
  if (inode.dataLayout === DataLayout.COMPRESSED_FULL && info.advise & ZAdvise.EXTENTS) {
    const count = header.u32(ZMapHeader.fragmentOff) + header.u16(ZMapHeader.extentsHi) * TWO_32;
    const recordSize = 4 << ((info.advise >> ZAdvise.EXTRECSZ_BIT) & ZAdvise.EXTRECSZ_MASK);
    info.extents = {
      count,
      recordSize,
      start: roundUp(headerOffset + ZMapHeader.SIZE, recordSize),
    };
    info.fragment = (info.advise & ZAdvise.FRAGMENT_PCLUSTER) !== 0;
    if (info.lclusterBits > 48) throw corrupt(context, `lclusterbits ${info.lclusterBits}`, headerOffset);
    return info;
  }
  const algorithmType = header.u8(ZMapHeader.algorithmType, 'h_algorithmtype');
  info.algorithms = [algorithmType & 15, algorithmType >> 4];
  if (info.algorithms[0] >= Z_EROFS_COMPRESSION_MAX) {
    throw new ErofsUnsupportedError(`unknown compression algorithm ${info.algorithms[0]}`, {
      nid: inode.ino,
      offset: headerOffset + ZMapHeader.algorithmType,
    });
  }
  if (info.advise & ZAdvise.FRAGMENT_PCLUSTER) {
    info.fragment = true;
    info.fragmentOffset = header.u32(ZMapHeader.fragmentOff);
  } else if (info.advise & ZAdvise.INLINE_PCLUSTER) {
    info.inlineSize = header.u16(ZMapHeader.idataSize, 'h_idata_size');
  }
  const big = info.advise & (ZAdvise.BIG_PCLUSTER_1 | ZAdvise.BIG_PCLUSTER_2);
  if (big && !has(sb.featureIncompat, FeatureIncompat.BIG_PCLUSTER)) {
    throw corrupt(context, 'big pcluster inode in an image without big pclusters', headerOffset);
  }
  if (
    inode.dataLayout === DataLayout.COMPRESSED_COMPACT &&
    !(info.advise & ZAdvise.BIG_PCLUSTER_1) !== !(info.advise & ZAdvise.BIG_PCLUSTER_2)
  ) {
    throw corrupt(context, 'compact indexes with inconsistent big pcluster HEAD1/HEAD2 flags', headerOffset);
  }
  if (inode.dataLayout === DataLayout.COMPRESSED_COMPACT && info.lclusterBits > 14) {
    throw new ErofsUnsupportedError(`compact indexes with lclusterbits ${info.lclusterBits}`, {
      nid: inode.ino,
      offset: headerOffset,
    });
  }
  if ((info.inlineSize > 0 || info.fragment) && inode.size > 0) findTail(context, info);
  return info;
}

/** EROFS_GET_BLOCKS_FINDTAIL: the HEAD of the last extent, and where the inline tail starts. */
function findTail(context: MapContext, info: ZInfo): void {
  const position = context.inode.size - 1;
  const lcn = Math.floor(position / 2 ** info.lclusterBits);
  const first = loadLcluster(context, info, lcn);
  if (info.inlineSize > 0) info.inlineOffset = first.nextPackOffset;
  const head = headOf(context, info, first, position);
  info.tailHeadLcn = head.lcn;
  // Full indexes keep the high 32 bits of the fragment offset in the tail HEAD's blkaddr.
  if (info.fragment && context.inode.dataLayout === DataLayout.COMPRESSED_FULL) {
    info.fragmentOffset += head.blockAddress * TWO_32;
    if (!Number.isSafeInteger(info.fragmentOffset)) throw corrupt(context, 'fragment offset beyond 2^53');
  }
}

/** The extent holding byte `position` (< i_size), whole. */
export function mapCompressed(context: MapContext, info: ZInfo, position: number): CompressedExtent {
  const size = context.inode.size;
  if (info.fragment && info.extents === null && info.tailHeadLcn === 0) {
    return { kind: 'fragment', logical: 0, length: size, packedOffset: info.fragmentOffset };
  }
  const extent = info.extents
    ? mapEncodedExtent(context, info, position)
    : mapLclusters(context, info, position);
  checkExtent(context, extent, position);
  return extent;
}

function mapLclusters(context: MapContext, info: ZInfo, position: number): CompressedExtent {
  const { sb, inode } = context;
  const lclusterSize = 2 ** info.lclusterBits;
  const first = loadLcluster(context, info, Math.floor(position / lclusterSize));
  const head = headOf(context, info, first, position);
  // The HEAD's fields, before the loads below overwrite the record.
  const headLcn = head.lcn;
  const headType = head.type;
  const headPartialRef = head.partialRef;
  const headBlockAddress = head.blockAddress;
  const logical = headLcn * lclusterSize + head.clusterOfs;
  if (info.fragment && headLcn === info.tailHeadLcn) {
    return { kind: 'fragment', logical, length: inode.size - logical, packedOffset: info.fragmentOffset };
  }
  const inline = info.inlineSize > 0 && headLcn === info.tailHeadLcn;
  // The block count first: decodedLength's last load is then the next HEAD, which the next
  // extent's mapping starts from (and finds in the one-lcluster memo).
  const blocks = inline ? 0 : compressedBlocks(context, info, headLcn, headType);
  const { length, full } = decodedLength(context, info, headLcn, logical);
  // Like the kernel, only an extent that ends at the next HEAD is decoded as a whole stream; the
  // EOF extent ends wherever i_size says, so its pcluster is decoded as a prefix.
  const partial = headPartialRef || !full;
  const format =
    headType === LclusterType.PLAIN
      ? info.advise & ZAdvise.INTERLACED_PCLUSTER
        ? PlainFormat.INTERLACED
        : PlainFormat.SHIFTED
      : headType === LclusterType.HEAD2
        ? info.algorithms[1]
        : info.algorithms[0];
  if (inline) {
    const offsetInBlock = info.inlineOffset % sb.blockSize;
    if (offsetInBlock + info.inlineSize > sb.blockSize) {
      throw corrupt(
        context,
        `inline pcluster of ${info.inlineSize} bytes crosses a block`,
        info.inlineOffset,
      );
    }
    return {
      kind: 'inline',
      logical,
      length,
      physical: info.inlineOffset,
      encodedLength: info.inlineSize,
      format,
      partial,
    };
  }
  return {
    kind: 'device',
    logical,
    length,
    physical: headBlockAddress * sb.blockSize,
    encodedLength: blocks * sb.blockSize,
    format,
    partial,
  };
}

/** The HEAD lcluster of the extent holding `position`, given the lcluster it falls in. */
function headOf(context: MapContext, info: ZInfo, first: Lcluster, position: number): Lcluster {
  if (first.type !== LclusterType.NONHEAD) {
    if (position % 2 ** info.lclusterBits >= first.clusterOfs) return first;
    // The byte precedes this HEAD's start: it belongs to the extent ending here.
    if (first.lcn === 0) throw corrupt(context, 'lcluster 0 starts after its own extent');
    return lookBack(context, info, first.lcn, 1);
  }
  return lookBack(context, info, first.lcn, first.delta0);
}

/** Follows delta[0] distances back to a HEAD; each step moves back, within the pcluster limit. */
function lookBack(context: MapContext, info: ZInfo, fromLcn: number, distance: number): Lcluster {
  const maxDistance = Math.ceil(Z_EROFS_PCLUSTER_MAX_DSIZE / 2 ** info.lclusterBits) + 1;
  let lcn = fromLcn;
  for (;;) {
    if (distance === 0 || distance > lcn) {
      throw corrupt(context, `bogus lookback distance ${distance} at lcn ${lcn}`);
    }
    lcn -= distance;
    if (fromLcn - lcn > maxDistance) {
      throw corrupt(context, `extent reaching back ${fromLcn - lcn} lclusters exceeds the pcluster limit`);
    }
    const lcluster = loadLcluster(context, info, lcn);
    if (lcluster.type !== LclusterType.NONHEAD) return lcluster;
    distance = lcluster.delta0;
  }
}

/** The block count of a HEAD's pcluster: 1, or the CBLKCNT of the next lcluster for big pclusters. */
function compressedBlocks(context: MapContext, info: ZInfo, headLcn: number, headType: number): number {
  const big1 = (info.advise & ZAdvise.BIG_PCLUSTER_1) !== 0;
  const big2 = (info.advise & ZAdvise.BIG_PCLUSTER_2) !== 0;
  const next = headLcn + 1;
  if (
    (headType === LclusterType.HEAD1 && !big1) ||
    ((headType === LclusterType.PLAIN || headType === LclusterType.HEAD2) && !big2) ||
    next * 2 ** info.lclusterBits >= context.inode.size
  ) {
    return 1;
  }
  const lcluster = loadLcluster(context, info, next);
  if (lcluster.type !== LclusterType.NONHEAD) return 1;
  if (lcluster.delta0 !== 1) throw corrupt(context, `bogus CBLKCNT at lcn ${next}`);
  if (lcluster.compressedBlocks === 0) throw corrupt(context, `no CBLKCNT at lcn ${next}`);
  return lcluster.compressedBlocks;
}

/**
 * The whole extent's decoded length: up to the next HEAD's clusterofs (`full`: the pcluster ends
 * there), or to i_size when no HEAD follows.
 */
function decodedLength(
  context: MapContext,
  info: ZInfo,
  headLcn: number,
  logical: number,
): { length: number; full: boolean } {
  const lclusterSize = 2 ** info.lclusterBits;
  const size = context.inode.size;
  const maxDistance = Math.ceil(Z_EROFS_PCLUSTER_MAX_DSIZE / lclusterSize) + 1;
  let lcn = headLcn + 1;
  for (;;) {
    if (lcn * lclusterSize >= size) return { length: size - logical, full: false };
    if (lcn - headLcn > maxDistance) {
      throw corrupt(context, `extent at ${logical} exceeds the decoded pcluster limit`);
    }
    const lcluster = loadLcluster(context, info, lcn);
    if (lcluster.type !== LclusterType.NONHEAD) {
      return { length: lcn * lclusterSize + lcluster.clusterOfs - logical, full: true };
    }
    // Images from pre-1.0 mkfs may store delta[1] = 0; the kernel reads it as 1.
    lcn += lcluster.delta1 || 1;
  }
}

/**
 * Index bytes at `offset`, through a one-block cache: a sequential read maps many extents whose
 * indexes sit in the same metadata block. A block that cannot be read whole (the end of the
 * metadata space) falls back to the exact range, which reports any real problem.
 */
function readIndex(context: MapContext, info: ZInfo, offset: number, length: number, what: string): Buffer {
  const cached = info.indexBlock;
  if (cached && offset >= cached.offset && offset + length <= cached.offset + cached.bytes.length) {
    return cached.bytes.subarray(offset - cached.offset, offset - cached.offset + length);
  }
  const blockSize = context.sb.blockSize;
  const start = offset - (offset % blockSize);
  if (offset + length <= start + blockSize) {
    let bytes: Buffer | null = null;
    try {
      bytes = context.readMeta(start, blockSize, what);
    } catch {
      bytes = null;
    }
    if (bytes && bytes.length === blockSize) {
      info.indexBlock = { offset: start, bytes };
      return bytes.subarray(offset - start, offset - start + length);
    }
  }
  return context.readMeta(offset, length, what);
}

/** Lcluster `lcn`, decoded into `info.lcluster` (which it returns). */
function loadLcluster(context: MapContext, info: ZInfo, lcn: number): Lcluster {
  const lcluster = info.lcluster;
  if (lcluster.lcn === lcn) return lcluster;
  const lclusterSize = 2 ** info.lclusterBits;
  if (lcn < 0 || lcn * lclusterSize >= context.inode.size) {
    throw corrupt(context, `lcluster ${lcn} is past the end of the file`);
  }
  // No memo hit for a record a failed load left half written.
  lcluster.lcn = -1;
  lcluster.clusterOfs = 0;
  lcluster.blockAddress = 0;
  lcluster.delta0 = 0;
  lcluster.delta1 = 0;
  lcluster.compressedBlocks = 0;
  lcluster.partialRef = false;
  if (context.inode.dataLayout === DataLayout.COMPRESSED_COMPACT)
    loadCompactLcluster(context, info, lcn, lcluster);
  else loadFullLcluster(context, info, lcn, lcluster);
  if (lcluster.type !== LclusterType.NONHEAD && lcluster.clusterOfs >= lclusterSize) {
    throw corrupt(context, `clusterofs ${lcluster.clusterOfs} of lcn ${lcn} is past its lcluster`);
  }
  lcluster.lcn = lcn;
  return lcluster;
}

/** Fills `lcluster` (its other fields zeroed by the caller) from full index `lcn`. */
function loadFullLcluster(context: MapContext, info: ZInfo, lcn: number, lcluster: Lcluster): void {
  const offset = info.headerOffset + ZMapHeader.LEGACY_SIZE + lcn * LclusterIndex.SIZE;
  const index = new ByteView(
    readIndex(context, info, offset, LclusterIndex.SIZE, 'lcluster index'),
    offset,
    context.inode.ino,
  );
  const advise = index.u16(LclusterIndex.advise);
  lcluster.type = advise & Z_EROFS_LI_LCLUSTER_TYPE_MASK;
  lcluster.nextPackOffset = offset + LclusterIndex.SIZE;
  if (lcluster.type === LclusterType.NONHEAD) {
    lcluster.clusterOfs = 2 ** info.lclusterBits;
    lcluster.delta0 = index.u16(LclusterIndex.delta0);
    lcluster.delta1 = index.u16(LclusterIndex.delta1);
    if (lcluster.delta0 & Z_EROFS_LI_D0_CBLKCNT) {
      if (!(info.advise & (ZAdvise.BIG_PCLUSTER_1 | ZAdvise.BIG_PCLUSTER_2))) {
        throw corrupt(context, 'CBLKCNT in an inode without big pclusters', offset);
      }
      lcluster.compressedBlocks = lcluster.delta0 & ~Z_EROFS_LI_D0_CBLKCNT;
      lcluster.delta0 = 1;
    }
  } else {
    lcluster.partialRef = (advise & Z_EROFS_LI_PARTIAL_REF) !== 0;
    lcluster.clusterOfs = index.u16(LclusterIndex.clusterOfs);
    lcluster.blockAddress = index.u32(LclusterIndex.blkaddr);
  }
}

/**
 * Compact indexes: leading 4-byte entries up to 32-byte alignment, then (with COMPACTED_2B) packs
 * of 16 two-byte entries, then 4-byte entries again. A pack's entries hold lclusterbits of
 * clusterofs/delta plus a 2-bit type; its last 4 bytes hold the block address the HEADs count from.
 */
function loadCompactLcluster(context: MapContext, info: ZInfo, lcn: number, lcluster: Lcluster): void {
  const { sb, inode } = context;
  const base = info.headerOffset + ZMapHeader.SIZE;
  const totalIndexes = Math.ceil(inode.size / sb.blockSize);
  const initialFour = ((CompactPack.ALIGNMENT - (base % CompactPack.ALIGNMENT)) / 4) & 7;
  let twoByteCount = 0;
  if (info.advise & ZAdvise.COMPACTED_2B && initialFour < totalIndexes) {
    twoByteCount = Math.floor((totalIndexes - initialFour) / 16) * 16;
  }
  let position = base;
  let entryShift = 2;
  let index = lcn;
  if (index >= initialFour) {
    position += initialFour * 4;
    index -= initialFour;
    if (index < twoByteCount) {
      entryShift = 1;
    } else {
      position += twoByteCount * 2;
      index -= twoByteCount;
    }
  }
  position += index * 2 ** entryShift;
  const pack = entryShift === 2 ? CompactPack.FOUR_BYTE : CompactPack.TWO_BYTE;
  if (info.lclusterBits > pack.maxLclusterBits) {
    throw new ErofsUnsupportedError(
      `${pack.bytes}-byte compact packs with lclusterbits ${info.lclusterBits}`,
      {
        nid: inode.ino,
      },
    );
  }
  const packStart = position - (position % pack.bytes);
  const { lows, types, blockAddress } = compactPackAt(context, info, packStart, pack);
  let slot = (position - packStart) >> entryShift;
  lcluster.nextPackOffset = packStart + pack.bytes;
  const low = lows[slot]!;
  lcluster.type = types[slot]!;
  const bigPcluster = (info.advise & ZAdvise.BIG_PCLUSTER_1) !== 0;
  if (lcluster.type === LclusterType.NONHEAD) {
    lcluster.clusterOfs = 2 ** info.lclusterBits;
    lcluster.delta1 = lookaheadDistance(lows, types, slot);
    if (low & Z_EROFS_LI_D0_CBLKCNT) {
      if (!bigPcluster) throw corrupt(context, 'CBLKCNT in an inode without big pclusters', packStart);
      lcluster.compressedBlocks = low & ~Z_EROFS_LI_D0_CBLKCNT;
      lcluster.delta0 = 1;
    } else if (slot + 1 !== pack.entries) {
      lcluster.delta0 = low;
    } else {
      // The last entry of a pack stores delta[1]; delta[0] comes from the entry before it.
      const previous = lows[slot - 1]!;
      const before =
        types[slot - 1] !== LclusterType.NONHEAD ? 0 : previous & Z_EROFS_LI_D0_CBLKCNT ? 1 : previous;
      lcluster.delta0 = before + 1;
    }
    return;
  }
  lcluster.clusterOfs = low;
  // A HEAD's block is the pack's base plus the blocks of the pclusters before it in the pack.
  let blocks = 0;
  if (!bigPcluster) {
    blocks = 1;
    while (slot > 0) {
      slot--;
      if (types[slot] === LclusterType.NONHEAD) slot -= lows[slot]!;
      if (slot >= 0) blocks++;
    }
  } else {
    while (slot > 0) {
      slot--;
      if (types[slot] === LclusterType.NONHEAD) {
        const earlier = lows[slot]!;
        if (earlier & Z_EROFS_LI_D0_CBLKCNT) {
          slot--;
          blocks += earlier & ~Z_EROFS_LI_D0_CBLKCNT;
          continue;
        }
        // Big pclusters never store a plain delta[0] of 1 (that slot holds CBLKCNT).
        if (earlier <= 1) throw corrupt(context, `bogus delta ${earlier} in a compact pack`, packStart);
        slot -= earlier - 2;
        continue;
      }
      blocks++;
    }
  }
  lcluster.blockAddress = blockAddress + blocks;
}

/**
 * A compact pack's entries (clusterofs or delta, and type) and base block address, decoded once
 * and kept: a sequential read maps each pack's lclusters one after another.
 */
function compactPackAt(
  context: MapContext,
  info: ZInfo,
  packStart: number,
  pack: (typeof CompactPack)['FOUR_BYTE' | 'TWO_BYTE'],
): DecodedPack {
  if (info.pack?.start === packStart) return info.pack;
  const bytes = new ByteView(
    readIndex(context, info, packStart, pack.bytes, 'compact index pack'),
    packStart,
    context.inode.ino,
  );
  const lowBits = Math.max(info.lclusterBits, Math.log2(Z_EROFS_LI_D0_CBLKCNT) + 1);
  const entryBits = ((pack.bytes - CompactPack.BLKADDR_SIZE) * 8) / pack.entries;
  // The arrays of the pack decoded before are overwritten: only the last pack is kept.
  const reuse = info.pack !== null && info.pack.lows.length === pack.entries;
  const lows = reuse ? info.pack!.lows : new Uint16Array(pack.entries);
  const types = reuse ? info.pack!.types : new Uint8Array(pack.entries);
  info.pack = null;
  for (let slot = 0; slot < pack.entries; slot++) {
    // An entry spans at most 7 + 14 + 2 = 23 bits from its first byte: three bytes hold it, and
    // every entry has three bytes before the pack's end (the block address follows the entries).
    const bitPosition = entryBits * slot;
    const byte = bitPosition >> 3;
    const word = bytes.buffer[byte]! | (bytes.buffer[byte + 1]! << 8) | (bytes.buffer[byte + 2]! << 16);
    const value = word >>> (bitPosition & 7);
    lows[slot] = value & ((1 << lowBits) - 1);
    types[slot] = (value >>> lowBits) & 3;
  }
  const blockAddress = bytes.u32(pack.bytes - CompactPack.BLKADDR_SIZE, 'compact pack blkaddr');
  info.pack = { start: packStart, lows, types, blockAddress };
  return info.pack;
}

/** delta[1] of a compact NONHEAD entry: NONHEADs to the next HEAD within the pack, then the stored rest. */
function lookaheadDistance(lows: Uint16Array, types: Uint8Array, slot: number): number {
  let distance = 0;
  let low = 0;
  for (let index = slot; index < lows.length; index++) {
    if (types[index] !== LclusterType.NONHEAD) return distance;
    low = lows[index]!;
    distance++;
  }
  // Every later entry in the pack is NONHEAD: the last one stores the remaining distance.
  if (!(low & Z_EROFS_LI_D0_CBLKCNT)) distance += low - 1;
  return distance;
}

/** Encoded extents (48-bit layout): fixed-size lcluster records, or sorted records searched by lstart. */
function mapEncodedExtent(context: MapContext, info: ZInfo, position: number): CompressedExtent {
  const { sb, inode } = context;
  const extents = info.extents!;
  const recordSize = extents.recordSize;
  const lclusterSize = 2 ** info.lclusterBits;
  let logicalEnd = inode.size;
  let logical: number;
  let encoded = 0;
  let physical = 0;
  let last: boolean;
  const record = (at: number) =>
    new ByteView(readIndex(context, info, at, recordSize, 'z_erofs_extent'), at, inode.ino);
  if (recordSize <= ZExtent.pstartHi) {
    const target = Math.floor(position / lclusterSize);
    let index: number;
    let recordsStart = extents.start;
    let nextPhysical: number | null = null;
    if (recordSize <= ZExtent.pstartLo) {
      // 4-byte records hold lengths only: a le64 start precedes them, and starts accumulate.
      recordsStart += 8;
      const cursor = info.cursor;
      if (cursor && cursor.index <= target) {
        index = cursor.index;
        nextPhysical = cursor.physical;
      } else {
        index = 0;
        const start = new ByteView(
          context.readMeta(extents.start, 8, 'extent start'),
          extents.start,
          inode.ino,
        );
        nextPhysical = start.u64Safe(0, 'extent pstart');
      }
    } else {
      index = target;
    }
    for (; index <= target; index++) {
      const view = record(recordsStart + index * recordSize);
      encoded = view.u32(ZExtent.plen);
      if (nextPhysical !== null) {
        if (index === target) info.cursor = { index, physical: nextPhysical };
        physical = nextPhysical;
        nextPhysical += encoded & ZExtent.PLEN_MASK;
      } else {
        physical = view.u32(ZExtent.pstartLo);
      }
    }
    const after = (target + 1) * lclusterSize;
    last = after >= roundUp(inode.size, lclusterSize);
    logicalEnd = Math.min(after, inode.size);
    logical = target * lclusterSize;
  } else {
    logical = -1;
    let low = 0;
    let high = extents.count;
    for (let steps = 0; low < high; steps++) {
      if (steps > 64) throw corrupt(context, 'extent search does not converge');
      const middle = low + Math.floor((high - low) / 2);
      const view = record(extents.start + middle * recordSize);
      let start = view.u32(ZExtent.lstartLo);
      if (recordSize > ZExtent.lstartHi) start += view.u32(ZExtent.lstartHi) * TWO_32;
      if (start > position) {
        high = middle;
        if (start > logicalEnd)
          throw corrupt(context, `extent lstart ${start} is out of order`, view.imageOffset);
        logicalEnd = start;
      } else {
        low = middle + 1;
        if (start === position) high = Math.min(low + 1, high);
        logical = start;
        encoded = view.u32(ZExtent.plen);
        physical = view.u32(ZExtent.pstartLo) + view.u32(ZExtent.pstartHi) * TWO_32;
      }
    }
    if (logical < 0) throw corrupt(context, `no extent covers byte ${position}`);
    last = low >= extents.count;
  }
  if (logical >= logicalEnd) throw corrupt(context, `empty extent at ${logical}`);
  const length = logicalEnd - logical;
  if (last && info.fragment) {
    let packedOffset = encoded;
    if (recordSize > ZExtent.pstartLo) packedOffset += physical * TWO_32;
    if (!Number.isSafeInteger(packedOffset)) throw corrupt(context, 'fragment offset beyond 2^53');
    return { kind: 'fragment', logical, length, packedOffset };
  }
  const encodedLength = encoded & ZExtent.PLEN_MASK;
  if (encodedLength === 0) return { kind: 'hole', logical, length };
  const formatField = encoded >>> ZExtent.PLEN_FMT_BIT;
  const aligned = physical % sb.blockSize === 0 && encodedLength % sb.blockSize === 0;
  const format =
    formatField > 0
      ? formatField - 1
      : info.advise & ZAdvise.INTERLACED_PCLUSTER && aligned
        ? PlainFormat.INTERLACED
        : PlainFormat.SHIFTED;
  return {
    kind: 'device',
    logical,
    length,
    physical,
    encodedLength,
    format,
    partial: (encoded & ZExtent.PLEN_PARTIAL) !== 0,
  };
}

/** z_erofs_map_sanity_check plus the checks that keep decoding bounded. */
function checkExtent(context: MapContext, extent: CompressedExtent, position: number): void {
  if (extent.logical > position || extent.logical + extent.length <= position) {
    throw corrupt(context, `extent ${extent.logical}+${extent.length} does not hold byte ${position}`);
  }
  if (extent.kind !== 'device' && extent.kind !== 'inline') return;
  if (extent.format >= PlainFormat.INTERLACED + 1) {
    throw new ErofsUnsupportedError(`unknown compression format ${extent.format}`, {
      nid: context.inode.ino,
    });
  }
  if (extent.encodedLength > Z_EROFS_PCLUSTER_MAX_SIZE) {
    throw corrupt(
      context,
      `pcluster of ${extent.encodedLength} encoded bytes exceeds 1 MiB`,
      extent.physical,
    );
  }
  if (extent.length > Z_EROFS_PCLUSTER_MAX_DSIZE) {
    throw corrupt(context, `extent of ${extent.length} decoded bytes exceeds 12 MiB`, extent.physical);
  }
  if (extent.format >= PlainFormat.SHIFTED && extent.length > extent.encodedLength) {
    throw corrupt(
      context,
      `plain pcluster of ${extent.encodedLength} bytes cannot hold ${extent.length}`,
      extent.physical,
    );
  }
  if (!Number.isSafeInteger(extent.physical + extent.encodedLength)) {
    throw corrupt(context, `pcluster address ${extent.physical} is out of range`);
  }
}

function roundUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}
