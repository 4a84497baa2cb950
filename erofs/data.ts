import { ByteView } from './bytes.js';
import { ErofsCorruptError } from './errors.js';
import { BLOCK_MAP_ENTRY_SIZE, ChunkFormat, ChunkIndex, DataLayout, EROFS_NULL_ADDR_32 } from './format.js';
import type { ErofsInode } from './inode.js';
import type { SuperblockInfo } from './superblock.js';

/**
 * Where a run of an uncompressed file's bytes lives (erofs_map_blocks for flat and chunk-based
 * layouts): zeros (a hole), a device range, or the inline tail in the inode's metadata block.
 */
export type Extent =
  | { kind: 'hole'; logical: number; length: number }
  | { kind: 'device'; logical: number; length: number; deviceId: number; physical: number }
  | { kind: 'inline'; logical: number; length: number; metaOffset: number };

export interface ExtentContext {
  sb: SuperblockInfo;
  /** Reads from the inode's own metadata space (device or metabox). */
  readMeta(inode: ErofsInode, offset: number, length: number, what: string): Buffer;
  deviceIdMask: number;
}

/** The extent holding byte `position` (< size) of a flat or chunk-based inode. */
export function mapExtent(context: ExtentContext, inode: ErofsInode, position: number): Extent {
  if (inode.dataLayout === DataLayout.CHUNK_BASED) return mapChunk(context, inode, position);
  return mapFlat(context.sb, inode, position);
}

function mapFlat(sb: SuperblockInfo, inode: ErofsInode, position: number): Extent {
  const inline = inode.dataLayout === DataLayout.FLAT_INLINE;
  if (!inline && inode.startBlock === null) {
    return { kind: 'hole', logical: position, length: inode.size - position };
  }
  const blocks = Math.ceil(inode.size / sb.blockSize);
  const flatEnd = (blocks - (inline ? 1 : 0)) * sb.blockSize;
  if (position < flatEnd) {
    const physical = (inode.startBlock ?? 0) * sb.blockSize + position;
    if (!Number.isSafeInteger(physical + flatEnd)) {
      throw new ErofsCorruptError(`start block ${inode.startBlock} is out of range`, { nid: inode.ino });
    }
    return { kind: 'device', logical: position, length: flatEnd - position, deviceId: 0, physical };
  }
  const tailStart = inode.offset + inode.inodeSize + inode.xattrSize;
  const metaOffset = tailStart + (position % sb.blockSize);
  const length = inode.size - position;
  // The kernel requires the tail to sit in one metadata block with the inode's end.
  if ((metaOffset % sb.blockSize) + length > sb.blockSize) {
    throw new ErofsCorruptError(`inline data of ${length} bytes crosses a block boundary`, {
      nid: inode.ino,
      offset: metaOffset,
    });
  }
  return { kind: 'inline', logical: position, length, metaOffset };
}

function mapChunk(context: ExtentContext, inode: ErofsInode, position: number): Extent {
  const { sb } = context;
  if (inode.chunkBits > 48) {
    throw new ErofsCorruptError(`chunk size 2^${inode.chunkBits} is absurd`, { nid: inode.ino });
  }
  const chunkSize = 2 ** inode.chunkBits;
  const withIndexes = (inode.chunkFormat & ChunkFormat.INDEXES) !== 0;
  const unit = withIndexes ? ChunkIndex.SIZE : BLOCK_MAP_ENTRY_SIZE;
  const chunk = Math.floor(position / chunkSize);
  const logical = chunk * chunkSize;
  const tableStart = roundUp(inode.offset + inode.inodeSize + inode.xattrSize, unit);
  const entryOffset = tableStart + unit * chunk;
  const entry = new ByteView(
    context.readMeta(inode, entryOffset, unit, 'chunk index'),
    entryOffset,
    inode.ino,
  );
  const length = Math.min(chunkSize, inode.size - logical);
  let block: number | null;
  let deviceId = 0;
  if (withIndexes) {
    const wide = (inode.chunkFormat & ChunkFormat.BIT48) !== 0;
    const high = wide ? entry.u16(ChunkIndex.startblkHi) : 0;
    const low = entry.u32(ChunkIndex.startblkLo);
    const allOnes = wide ? high === 0xffff && low === EROFS_NULL_ADDR_32 : low === EROFS_NULL_ADDR_32;
    block = allOnes ? null : high * 2 ** 32 + low;
    deviceId = entry.u16(ChunkIndex.deviceId) & context.deviceIdMask;
  } else {
    const low = entry.u32(0, 'block map entry');
    block = low === EROFS_NULL_ADDR_32 ? null : low;
  }
  if (block === null) return { kind: 'hole', logical, length };
  return { kind: 'device', logical, length, deviceId, physical: block * sb.blockSize };
}

export function roundUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}
