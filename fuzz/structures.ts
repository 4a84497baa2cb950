import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ExtentContext, mapExtent, roundUp } from '../erofs/data.js';
import { ErofsError } from '../erofs/errors.js';
import {
  BLOCK_MAP_ENTRY_SIZE,
  ChunkFormat,
  ChunkIndex,
  DataLayout,
  DeviceSlot,
  Dirent,
  EROFS_SUPER_OFFSET,
  FeatureCompat,
  InodeCompact,
  InodeExtended,
  InodeVersion,
  LclusterIndex,
  Superblock,
  XattrEntry,
  XattrIbodyHeader,
  ZMapHeader,
} from '../erofs/format.js';
import { ErofsImage } from '../erofs/image.js';
import { type ErofsInode, isDirectory, S_IFLNK, S_IFMT, S_IFREG } from '../erofs/inode.js';
import { has } from '../erofs/superblock.js';

/**
 * Where the on-disk structures of a valid image sit, found by reading the image with the reader
 * itself and the format constants of erofs/format.ts: every superblock field, inode field, xattr
 * entry, dirent, chunk index and compressed-layout header, as absolute byte offsets. The mutator
 * aims its structure-aware mutations at these fields.
 */

export type FieldKind =
  | 'sb'
  | 'devslot'
  | 'inode'
  | 'xattr'
  | 'shared-xattr'
  | 'dirent'
  | 'chunk'
  | 'zheader'
  | 'lcluster';

export interface Field {
  kind: FieldKind;
  /** Kernel-style field name, e.g. i_format, nameoff, startblk_lo. */
  name: string;
  offset: number;
  width: 1 | 2 | 4 | 8;
  /** The inode the field belongs to (or the directory holding the dirent). */
  ino?: number;
  /** Path of that inode inside the image, so a case can exercise it directly. */
  path?: string;
  /** Dirents: the entry's name. */
  entry?: string;
}

export interface Region {
  name: string;
  offset: number;
  length: number;
  path?: string;
}

export interface InodeFacts {
  ino: number;
  /** Raw nid as dirents store it. */
  nid: bigint;
  path: string;
  isDir: boolean;
  /** Raw nids of the directories above this path, root first. */
  ancestors: bigint[];
}

export interface StructureMap {
  fixture: string;
  size: number;
  blockSize: number;
  /** The superblock checksum is on: mutations inside its range need the checksum redone. */
  sbChecksum: boolean;
  /** [start, end) of the bytes the superblock checksum covers. */
  checksumRange: [number, number];
  fields: Field[];
  regions: Region[];
  inodes: InodeFacts[];
}

const superblockFields: Array<[string, number, 1 | 2 | 4 | 8]> = [
  ['magic', Superblock.magic, 4],
  ['checksum', Superblock.checksum, 4],
  ['feature_compat', Superblock.featureCompat, 4],
  ['blkszbits', Superblock.blkszbits, 1],
  ['sb_extslots', Superblock.sbExtslots, 1],
  ['rootnid_2b', Superblock.rootnid2b, 2],
  ['inos', Superblock.inos, 8],
  ['epoch', Superblock.epoch, 8],
  ['fixed_nsec', Superblock.fixedNsec, 4],
  ['blocks_lo', Superblock.blocksLo, 4],
  ['meta_blkaddr', Superblock.metaBlkaddr, 4],
  ['xattr_blkaddr', Superblock.xattrBlkaddr, 4],
  ['feature_incompat', Superblock.featureIncompat, 4],
  ['available_compr_algs', Superblock.availableComprAlgs, 2],
  ['extra_devices', Superblock.extraDevices, 2],
  ['devt_slotoff', Superblock.devtSlotoff, 2],
  ['dirblkbits', Superblock.dirblkbits, 1],
  ['xattr_prefix_count', Superblock.xattrPrefixCount, 1],
  ['xattr_prefix_start', Superblock.xattrPrefixStart, 4],
  ['packed_nid', Superblock.packedNid, 8],
  ['xattr_filter_reserved', Superblock.xattrFilterReserved, 1],
  ['build_time', Superblock.buildTime, 4],
  ['rootnid_8b', Superblock.rootnid8b, 8],
];

/** Caps so a large image's map stays small: enough targets, bounded memory per worker. */
const MAX_INODES = 4000;
const MAX_FIELDS = 60_000;

/** Maps a valid image held in memory (written to a scratch file for the reader). */
export function mapStructuresOf(fixture: string, bytes: Buffer): StructureMap {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-fuzz-map-'));
  try {
    const path = join(dir, 'image.erofs');
    writeFileSync(path, bytes);
    return mapStructures(fixture, path, bytes.length, bytes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function mapStructures(fixture: string, path: string, size: number, bytes: Buffer): StructureMap {
  let image: ErofsImage;
  try {
    image = ErofsImage.open(path);
  } catch (error) {
    if (error instanceof ErofsError) return superblockOnly(fixture, bytes);
    throw error;
  }
  try {
    return new Mapper(fixture, image, size).run();
  } finally {
    image.close();
  }
}

/** A member the reader cannot open (yet): only the superblock's fields are targets. */
function superblockOnly(fixture: string, bytes: Buffer): StructureMap {
  const bits = bytes[EROFS_SUPER_OFFSET + Superblock.blkszbits] ?? 12;
  const blockSize = 2 ** Math.min(16, Math.max(9, bits));
  const compat =
    bytes.length >= EROFS_SUPER_OFFSET + 12
      ? bytes.readUInt32LE(EROFS_SUPER_OFFSET + Superblock.featureCompat)
      : 0;
  const fields: Field[] = superblockFields.map(([name, offset, width]) => ({
    kind: 'sb',
    name,
    offset: EROFS_SUPER_OFFSET + offset,
    width,
  }));
  return {
    fixture,
    size: bytes.length,
    blockSize,
    sbChecksum: has(compat, FeatureCompat.SB_CHKSUM),
    checksumRange: [
      EROFS_SUPER_OFFSET,
      EROFS_SUPER_OFFSET + (blockSize > EROFS_SUPER_OFFSET ? blockSize - EROFS_SUPER_OFFSET : blockSize),
    ],
    fields: fields.filter((field) => field.offset + field.width <= bytes.length),
    regions: [],
    inodes: [],
  };
}

class Mapper {
  private readonly fields: Field[] = [];
  private readonly regions: Region[] = [];
  private readonly inodes: InodeFacts[] = [];
  private readonly context: ExtentContext;

  constructor(
    private readonly fixture: string,
    private readonly image: ErofsImage,
    private readonly size: number,
  ) {
    this.context = {
      sb: image.sb,
      deviceIdMask: 0,
      readMeta: (inode, offset, length, what) => image.readInodeMeta(inode, offset, length, what),
    };
  }

  run(): StructureMap {
    const { sb } = this.image;
    for (const [name, offset, width] of superblockFields) {
      this.field({ kind: 'sb', name, offset: EROFS_SUPER_OFFSET + offset, width });
    }
    if (sb.superblockSize > Superblock.metaboxNid) {
      this.field({
        kind: 'sb',
        name: 'metabox_nid',
        offset: EROFS_SUPER_OFFSET + Superblock.metaboxNid,
        width: 8,
      });
    }
    this.deviceSlots();
    // Compression configs, device table and long prefixes live between the superblock and the inodes.
    const sbEnd = EROFS_SUPER_OFFSET + sb.superblockSize;
    const metaStart = sb.metaBlkaddr * sb.blockSize;
    if (metaStart > sbEnd) this.region('after superblock', sbEnd, Math.min(metaStart - sbEnd, 4096));
    if (sb.xattrBlkaddr > 0) this.region('shared xattr area', sb.xattrBlkaddr * sb.blockSize, sb.blockSize);
    this.walk();
    const checksumLength =
      sb.blockSize > EROFS_SUPER_OFFSET ? sb.blockSize - EROFS_SUPER_OFFSET : sb.blockSize;
    return {
      fixture: this.fixture,
      size: this.size,
      blockSize: sb.blockSize,
      sbChecksum: has(sb.featureCompat, FeatureCompat.SB_CHKSUM),
      checksumRange: [EROFS_SUPER_OFFSET, EROFS_SUPER_OFFSET + checksumLength],
      fields: this.fields,
      regions: this.regions,
      inodes: this.inodes,
    };
  }

  private field(field: Field): void {
    if (this.fields.length >= MAX_FIELDS) return;
    if (field.offset < 0 || field.offset + field.width > this.size) return;
    this.fields.push(field);
  }

  private region(name: string, offset: number, length: number, path?: string): void {
    const end = Math.min(this.size, offset + length);
    if (offset < 0 || end <= offset) return;
    this.regions.push({ name, offset, length: end - offset, ...(path ? { path } : {}) });
  }

  private deviceSlots(): void {
    const raw = this.image.sb.extraDevices.length;
    const start = this.readU16(EROFS_SUPER_OFFSET + Superblock.devtSlotoff) * DeviceSlot.SIZE;
    for (let index = 0; index < raw; index++) {
      const slot = start + index * DeviceSlot.SIZE;
      this.field({ kind: 'devslot', name: 'blocks_lo', offset: slot + DeviceSlot.blocksLo, width: 4 });
      this.field({ kind: 'devslot', name: 'uniaddr_lo', offset: slot + DeviceSlot.uniaddrLo, width: 4 });
    }
  }

  private readU16(offset: number): number {
    return this.image.readDevice(0, offset, 2, 'u16').readUInt16LE(0);
  }

  /** The absolute image offset of byte `offset` of an inode's metadata space, or null (compressed metabox). */
  private physical(inode: ErofsInode, offset: number): number | null {
    if (!inode.address.inMetabox) return offset;
    try {
      const metabox = this.image.inode(this.image.sb.metaboxNid);
      const extent = mapExtent(this.context, metabox, offset);
      if (extent.kind === 'device' && extent.deviceId === 0)
        return extent.physical + (offset - extent.logical);
      if (extent.kind === 'inline')
        return this.physical(metabox, extent.metaOffset + (offset - extent.logical));
    } catch (error) {
      if (!(error instanceof ErofsError)) throw error;
    }
    return null;
  }

  /** The absolute image offset of byte `position` of an uncompressed inode's data, or null. */
  private dataPhysical(inode: ErofsInode, position: number): number | null {
    try {
      const extent = mapExtent(this.context, inode, position);
      if (extent.kind === 'device') {
        return extent.deviceId === 0 ? extent.physical + (position - extent.logical) : null;
      }
      if (extent.kind === 'inline')
        return this.physical(inode, extent.metaOffset + (position - extent.logical));
    } catch (error) {
      if (!(error instanceof ErofsError)) throw error;
    }
    return null;
  }

  private walk(): void {
    const pending: InodeFacts[] = [
      { ino: this.image.rootIno, nid: this.image.sb.rootNid, path: '/', isDir: true, ancestors: [] },
    ];
    const seen = new Set<number>();
    while (pending.length > 0 && this.inodes.length < MAX_INODES) {
      const facts = pending.shift()!;
      if (seen.has(facts.ino)) continue;
      seen.add(facts.ino);
      let inode: ErofsInode;
      try {
        inode = this.image.inode(facts.ino);
      } catch (error) {
        if (error instanceof ErofsError) continue;
        throw error;
      }
      facts.isDir = isDirectory(inode);
      this.inodes.push(facts);
      this.inodeFields(inode, facts.path);
      this.xattrFields(inode, facts.path);
      if (inode.dataLayout === DataLayout.CHUNK_BASED) this.chunkFields(inode, facts.path);
      if (
        inode.dataLayout === DataLayout.COMPRESSED_FULL ||
        inode.dataLayout === DataLayout.COMPRESSED_COMPACT
      ) {
        this.compressedFields(inode, facts.path);
      }
      const type = inode.mode & S_IFMT;
      if ((type === S_IFREG || type === S_IFLNK) && inode.size > 0) {
        const at = this.dataPhysical(inode, 0);
        if (at !== null)
          this.region('file data', at, Math.min(inode.size, this.image.sb.blockSize), facts.path);
        if (inode.dataLayout === DataLayout.FLAT_INLINE) {
          const tail = Math.floor((inode.size - 1) / this.image.sb.blockSize) * this.image.sb.blockSize;
          const tailAt = this.dataPhysical(inode, tail);
          if (tailAt !== null) this.region('inline tail', tailAt, inode.size - tail, facts.path);
        }
      }
      if (!facts.isDir) continue;
      for (const child of this.dirents(inode, facts)) pending.push(child);
    }
  }

  private inodeFields(inode: ErofsInode, path: string): void {
    const base = this.physical(inode, inode.offset);
    if (base === null) return;
    const add = (name: string, offset: number, width: 1 | 2 | 4 | 8) =>
      this.field({ kind: 'inode', name, offset: base + offset, width, ino: inode.ino, path });
    add('i_format', InodeCompact.format, 2);
    add('i_xattr_icount', InodeCompact.xattrIcount, 2);
    add('i_mode', InodeCompact.mode, 2);
    add('i_nb', InodeCompact.nb, 2);
    add('i_u', InodeCompact.u, 4);
    if (inode.version === InodeVersion.EXTENDED) {
      add('i_size', InodeExtended.size, 8);
      add('i_nlink', InodeExtended.nlink, 4);
      add('i_mtime_nsec', InodeExtended.mtimeNsec, 4);
      add('i_mtime', InodeExtended.mtime, 8);
    } else {
      add('i_size', InodeCompact.size, 4);
      add('i_mtime', InodeCompact.mtime, 4);
    }
    this.region('inode', base, inode.inodeSize, path);
  }

  private xattrFields(inode: ErofsInode, path: string): void {
    if (inode.xattrSize < XattrIbodyHeader.SIZE) return;
    const start = inode.offset + inode.inodeSize;
    const base = this.physical(inode, start);
    if (base === null) return;
    const add = (kind: FieldKind, name: string, offset: number, width: 1 | 2 | 4 | 8) =>
      this.field({ kind, name, offset, width, ino: inode.ino, path });
    let body: Buffer;
    try {
      body = this.image.readInodeMeta(inode, start, inode.xattrSize, 'xattrs');
    } catch (error) {
      if (error instanceof ErofsError) return;
      throw error;
    }
    this.region('xattr body', base, inode.xattrSize, path);
    add('xattr', 'h_name_filter', base + XattrIbodyHeader.nameFilter, 4);
    add('xattr', 'h_shared_count', base + XattrIbodyHeader.sharedCount, 1);
    const shared = body[XattrIbodyHeader.sharedCount]!;
    for (let index = 0; index < shared && XattrIbodyHeader.SIZE + index * 4 + 4 <= body.length; index++) {
      const at = XattrIbodyHeader.SIZE + index * 4;
      add('xattr', 'shared_xattr_id', base + at, 4);
      this.sharedEntry(body.readUInt32LE(at), inode, path);
    }
    let offset = XattrIbodyHeader.SIZE + shared * 4;
    while (offset + XattrEntry.SIZE <= body.length) {
      add('xattr', 'e_name_len', base + offset + XattrEntry.nameLen, 1);
      add('xattr', 'e_name_index', base + offset + XattrEntry.nameIndex, 1);
      add('xattr', 'e_value_size', base + offset + XattrEntry.valueSize, 2);
      const length =
        XattrEntry.SIZE +
        body[offset + XattrEntry.nameLen]! +
        body.readUInt16LE(offset + XattrEntry.valueSize);
      offset += roundUp(length, 4);
    }
  }

  private sharedEntry(id: number, inode: ErofsInode, path: string): void {
    const { sb } = this.image;
    if (has(sb.featureCompat, FeatureCompat.SHARED_EA_IN_METABOX)) return;
    const at = sb.xattrBlkaddr * sb.blockSize + id * 4;
    const add = (name: string, offset: number, width: 1 | 2 | 4 | 8) =>
      this.field({ kind: 'shared-xattr', name, offset: at + offset, width, ino: inode.ino, path });
    add('e_name_len', XattrEntry.nameLen, 1);
    add('e_name_index', XattrEntry.nameIndex, 1);
    add('e_value_size', XattrEntry.valueSize, 2);
  }

  private chunkFields(inode: ErofsInode, path: string): void {
    const withIndexes = (inode.chunkFormat & ChunkFormat.INDEXES) !== 0;
    const unit = withIndexes ? ChunkIndex.SIZE : BLOCK_MAP_ENTRY_SIZE;
    const table = roundUp(inode.offset + inode.inodeSize + inode.xattrSize, unit);
    const count = Math.min(64, Math.ceil(inode.size / 2 ** inode.chunkBits));
    for (let index = 0; index < count; index++) {
      const at = this.physical(inode, table + index * unit);
      if (at === null) return;
      const add = (name: string, offset: number, width: 1 | 2 | 4 | 8) =>
        this.field({ kind: 'chunk', name, offset: at + offset, width, ino: inode.ino, path });
      if (withIndexes) {
        add('startblk_hi', ChunkIndex.startblkHi, 2);
        add('device_id', ChunkIndex.deviceId, 2);
        add('startblk_lo', ChunkIndex.startblkLo, 4);
      } else {
        add('blockmap_entry', 0, 4);
      }
    }
  }

  /** The map header and (for the full layout) the lcluster indexes after the inode and its xattrs. */
  private compressedFields(inode: ErofsInode, path: string): void {
    const header = roundUp(inode.offset + inode.inodeSize + inode.xattrSize, 8);
    const at = this.physical(inode, header);
    if (at === null) return;
    const add = (kind: FieldKind, name: string, offset: number, width: 1 | 2 | 4 | 8) =>
      this.field({ kind, name, offset, width, ino: inode.ino, path });
    add('zheader', 'h_fragmentoff', at + ZMapHeader.fragmentOff, 4);
    add('zheader', 'h_idata_size', at + ZMapHeader.idataSize, 2);
    add('zheader', 'h_advise', at + ZMapHeader.advise, 2);
    add('zheader', 'h_algorithmtype', at + ZMapHeader.algorithmType, 1);
    add('zheader', 'h_clusterbits', at + ZMapHeader.clusterBits, 1);
    const lclusterBits = this.image.sb.blockSizeBits + (this.readByte(at + ZMapHeader.clusterBits) & 0xf);
    const lclusters = Math.min(64, Math.ceil(inode.size / 2 ** Math.min(lclusterBits, 40)));
    if (inode.dataLayout === DataLayout.COMPRESSED_FULL) {
      const indexes = at + ZMapHeader.LEGACY_SIZE;
      for (let index = 0; index < lclusters; index++) {
        const entry = indexes + index * LclusterIndex.SIZE;
        add('lcluster', 'di_advise', entry + LclusterIndex.advise, 2);
        add('lcluster', 'di_clusterofs', entry + LclusterIndex.clusterOfs, 2);
        add('lcluster', 'di_blkaddr', entry + LclusterIndex.blkaddr, 4);
        add('lcluster', 'di_delta0', entry + LclusterIndex.delta0, 2);
        add('lcluster', 'di_delta1', entry + LclusterIndex.delta1, 2);
      }
    } else {
      // Compacted 2B/4B packs: aim at their 16- and 32-bit words without decoding the packing.
      const indexes = at + ZMapHeader.SIZE;
      const bytes = Math.min(512, lclusters * 4 + 8);
      for (let offset = 0; offset < bytes; offset += 2) {
        add('lcluster', 'compacted_word', indexes + offset, offset % 4 === 0 ? 4 : 2);
      }
    }
    this.region('compressed map', at, ZMapHeader.LEGACY_SIZE + lclusters * LclusterIndex.SIZE, path);
  }

  private readByte(offset: number): number {
    try {
      return this.image.readDevice(0, offset, 1, 'byte')[0]!;
    } catch (error) {
      if (error instanceof ErofsError) return 0;
      throw error;
    }
  }

  private dirents(dir: ErofsInode, facts: InodeFacts): InodeFacts[] {
    const children: InodeFacts[] = [];
    const { blockSize } = this.image.sb;
    let count: number;
    try {
      count = this.image.dirBlockCount(dir);
    } catch (error) {
      if (error instanceof ErofsError) return children;
      throw error;
    }
    for (let index = 0; index < count; index++) {
      let records: ReturnType<ErofsImage['dirBlock']>;
      try {
        records = this.image.dirBlock(dir, index);
      } catch (error) {
        if (error instanceof ErofsError) continue;
        throw error;
      }
      const at =
        dir.dataLayout === DataLayout.COMPRESSED_FULL || dir.dataLayout === DataLayout.COMPRESSED_COMPACT
          ? null
          : this.dataPhysical(dir, index * blockSize);
      records.forEach((record, position) => {
        const name = record.name.toString('latin1');
        if (at !== null) {
          const entry = at + position * Dirent.SIZE;
          const add = (field: string, offset: number, width: 1 | 2 | 4 | 8) =>
            this.field({
              kind: 'dirent',
              name: field,
              offset: entry + offset,
              width,
              ino: dir.ino,
              path: facts.path,
              entry: name,
            });
          add('nid', Dirent.nid, 8);
          add('nameoff', Dirent.nameoff, 2);
          add('file_type', Dirent.fileType, 1);
        }
        if (name === '.' || name === '..') return;
        children.push({
          ino: this.image.inoOfNid(record.nid),
          nid: record.nid,
          path: facts.path === '/' ? `/${name}` : `${facts.path}/${name}`,
          isDir: false,
          ancestors: [...facts.ancestors, facts.nid],
        });
      });
      if (at !== null)
        this.region('directory block', at, Math.min(blockSize, dir.size - index * blockSize), facts.path);
    }
    return children;
  }
}
