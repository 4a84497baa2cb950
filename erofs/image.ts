import type { ByteBoundedLru } from './compress/cache.js';
import { CompressedReader } from './compress/index.js';
import { type Extent, type ExtentContext, mapExtent } from './data.js';
import { type DirEntryRecord, decodeDirBlock, lookupInBlocks } from './dir.js';
import { ErofsCorruptError, ErofsUnsupportedError } from './errors.js';
import { DataLayout, FeatureCompat, FeatureIncompat } from './format.js';
import {
  addressOf,
  addressOfNid,
  decodeInode,
  type ErofsInode,
  type InodeAddress,
  inodeOffset,
  inoOf,
  isDirectory,
  S_IFLNK,
  S_IFMT,
} from './inode.js';
import { ImageSource } from './source.js';
import { has, readSuperblock, type SuperblockInfo } from './superblock.js';
import { type LongPrefix, readLongPrefixes, readXattrs, type Xattr } from './xattr.js';

export interface OpenOptions {
  /** Extra devices of a multi-device image, in device-table order. */
  devices?: string[];
  /** Bytes of image pages to cache (per device). */
  cacheBytes?: number;
}

/** A directory entry as callers see it: the child's inode number instead of the raw nid. */
export interface ErofsDirEntry {
  name: Buffer;
  ino: number;
  fileType: number;
}

/** Symlink targets are at most PATH_MAX - 1 bytes; anything longer is refused before reading. */
const SYMLINK_MAX = 4095;
/**
 * Directories larger than this are refused: at ~30 bytes an entry that is millions of names
 * (mkfs.erofs writes ~30 MiB for a million), and it bounds a walk of a directory whose chunk
 * indexes all point at one valid block.
 */
export const DIR_SIZE_MAX = 256 * 1024 * 1024;
/** The most one read() returns: it is one allocation. */
export const READ_MAX = 256 * 1024 * 1024;
const INODE_CACHE_ENTRIES = 65_536;
const DIR_BLOCK_CACHE_ENTRIES = 4_096;
/** Bytes of decoded xattr names and values kept (a FUSE GETXATTR decodes none when cached). */
const XATTR_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * A read-only EROFS image: superblock, inodes, data, directories and xattrs, all read through
 * bounds-checked positioned reads. Inodes are named by the inode number the kernel shows.
 * Every failure caused by the image is an ErofsCorruptError or ErofsUnsupportedError.
 */
export class ErofsImage {
  readonly sb: SuperblockInfo;
  readonly rootIno: number;
  readonly hasMetabox: boolean;
  private readonly sources: ImageSource[];
  private readonly inodes = new Map<number, ErofsInode>();
  /** Decoded directory blocks by directory inode number, then block index (no string key per lookup). */
  private readonly dirBlocks = new Map<number, Map<number, DirEntryRecord[]>>();
  private dirBlocksCached = 0;
  /** Decoded xattrs by inode number (the image never changes), up to XATTR_CACHE_BYTES. */
  private readonly xattrLists = new Map<number, Xattr[]>();
  private xattrBytesCached = 0;
  private prefixes: LongPrefix[] | null = null;
  private readonly extentContext: ExtentContext;
  /** Compression state, from the first compressed read until close(). */
  private compressed: CompressedReader | null = null;

  private constructor(sources: ImageSource[], sb: SuperblockInfo) {
    this.sources = sources;
    this.sb = sb;
    this.hasMetabox = has(sb.featureIncompat, FeatureIncompat.METABOX);
    this.rootIno = inoOf(addressOfNid(sb.rootNid, { offset: 1024 }), this.hasMetabox);
    const extra = sb.extraDevices.length;
    // roundup_pow_of_two(extra + 1) - 1, as the kernel masks chunk device ids.
    const deviceIdMask = extra === 0 ? 0 : 2 ** Math.ceil(Math.log2(extra + 1)) - 1;
    this.extentContext = {
      sb,
      deviceIdMask,
      readMeta: (inode, offset, length, what) => this.readInodeMeta(inode, offset, length, what),
    };
  }

  static open(path: string, options: OpenOptions = {}): ErofsImage {
    const primary = new ImageSource(path, options.cacheBytes);
    const sources = [primary];
    try {
      const sb = readSuperblock(primary);
      const given = options.devices ?? [];
      if (sb.extraDevices.length !== given.length) {
        throw new ErofsUnsupportedError(
          `the image needs ${sb.extraDevices.length} extra device(s) (${sb.extraDevices.map((device) => device.tag || '?').join(', ')}); ${given.length} given`,
        );
      }
      for (const device of given) sources.push(new ImageSource(device, options.cacheBytes));
      const image = new ErofsImage(sources, sb);
      const root = image.inode(image.rootIno);
      // The kernel refuses to mount such an image (erofs_fc_fill_super: "rootino is not a directory").
      if (!isDirectory(root)) {
        throw new ErofsCorruptError(`root inode is not a directory (mode 0${root.mode.toString(8)})`, {
          nid: root.ino,
        });
      }
      return image;
    } catch (error) {
      for (const source of sources) source.close();
      throw error;
    }
  }

  close(): void {
    this.compressed?.close();
    this.compressed = null;
    for (const source of this.sources) source.close();
    this.inodes.clear();
    this.dirBlocks.clear();
    this.xattrLists.clear();
  }

  /** The decoded-pcluster cache (for tests and the benchmark); null before any compressed read. */
  get decodedPclusters(): ByteBoundedLru | null {
    return this.compressed?.decodedCache ?? null;
  }

  /** pread(2) calls made so far on every device. */
  get preads(): number {
    return this.sources.reduce((sum, source) => sum + source.preads, 0);
  }

  /** Bytes those pread(2) calls read. */
  get bytesRead(): number {
    return this.sources.reduce((sum, source) => sum + source.bytesRead, 0);
  }

  inode(ino: number): ErofsInode {
    const cached = this.inodes.get(ino);
    if (cached) return cached;
    if (!Number.isSafeInteger(ino) || ino < 0) throw new ErofsCorruptError(`inode number ${ino}`);
    const address = addressOf(ino, this.hasMetabox);
    const offset = inodeOffset(this.sb, address);
    const inode = decodeInode(this.sb, ino, address, offset, (at, length, what) =>
      this.readMetaSpace(address, at, length, what, ino),
    );
    if (this.inodes.size >= INODE_CACHE_ENTRIES) this.inodes.clear();
    this.inodes.set(ino, inode);
    return inode;
  }

  /** The inode number a raw on-disk nid names. */
  inoOfNid(nid: bigint): number {
    return inoOf(addressOfNid(nid, {}), this.hasMetabox);
  }

  /** Up to `length` bytes of the inode's data from `position` (fewer at the end of the file). */
  read(inode: ErofsInode, position: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(this.readableBytes(inode, position, length));
    this.readInto(inode, position, out.length, out, 0);
    return out;
  }

  /**
   * Like read(), into `target` from `at`, which must have room for `length` bytes; returns how
   * many were written. Uncompressed data goes from pread(2) straight into it, and nothing is
   * allocated per call: a FUSE READ hands its reply buffer here.
   */
  readInto(inode: ErofsInode, position: number, length: number, target: Buffer, at: number): number {
    const count = this.readableBytes(inode, position, length);
    if (at < 0 || count > target.length - at) {
      throw new RangeError(`${count} bytes do not fit a buffer of ${target.length} from ${at}`);
    }
    if (count === 0) return 0;
    if (
      inode.dataLayout === DataLayout.COMPRESSED_FULL ||
      inode.dataLayout === DataLayout.COMPRESSED_COMPACT
    ) {
      this.compressed ??= new CompressedReader(this);
      this.compressed.read(inode, position, target.subarray(at, at + count));
      return count;
    }
    const end = position + count;
    let done = position;
    // Every extent covers at least the byte at `done`, so this loop ends after ≤ length passes.
    while (done < end) {
      const extent = mapExtent(this.extentContext, inode, done);
      const skip = done - extent.logical;
      const take = Math.min(end, extent.logical + extent.length) - done;
      if (take <= 0) throw new ErofsCorruptError('empty extent', { nid: inode.ino });
      this.copyExtent(inode, extent, skip, take, target, at + done - position);
      done += take;
    }
    return count;
  }

  /** How many of `length` bytes from `position` the inode has; refuses reads past READ_MAX. */
  private readableBytes(inode: ErofsInode, position: number, length: number): number {
    const count = Math.max(0, Math.min(inode.size, position + length) - position);
    // Callers read in pieces (FUSE: ≤ max_read, the CLI: 1 MiB); a length derived from the image
    // must never become one giant allocation.
    if (count > READ_MAX) {
      throw new ErofsUnsupportedError(`read of ${count} bytes at once (this reader's limit: ${READ_MAX})`, {
        nid: inode.ino,
      });
    }
    return count;
  }

  /** The raw bytes of an extent, for readers of data layouts (the compression code reuses this). */
  readDevice(deviceId: number, physical: number, length: number, what: string): Buffer {
    const { source, offset } = this.deviceRange(deviceId, physical, what);
    return source.read(offset, length, what);
  }

  /**
   * Like readDevice(), straight into `target` at `at` by one pread(2). `nid`: whose data it is, for
   * the error's location (a message built per read would be an allocation per FUSE READ).
   */
  readDeviceInto(
    deviceId: number,
    physical: number,
    length: number,
    target: Buffer,
    at: number,
    what: string,
    nid?: number,
  ): void {
    const { source, offset } = this.deviceRange(deviceId, physical, what);
    source.readInto(target, at, offset, length, what, nid);
  }

  /** The device holding `physical` of device `deviceId`, and the offset there. */
  private deviceRange(
    deviceId: number,
    physical: number,
    what: string,
  ): { source: ImageSource; offset: number } {
    if (deviceId > 0) {
      const source = this.sources[deviceId];
      if (!source)
        throw new ErofsCorruptError(`${what}: device ${deviceId} does not exist`, { offset: physical });
      return { source, offset: physical };
    }
    // Unified addressing: a block past the primary device may belong to an extra device.
    const block = Math.floor(physical / this.sb.blockSize);
    for (const [index, device] of this.sb.extraDevices.entries()) {
      if (device.uniaddr > 0 && block >= device.uniaddr && block < device.uniaddr + device.blocks) {
        return { source: this.sources[index + 1]!, offset: physical - device.uniaddr * this.sb.blockSize };
      }
    }
    return { source: this.sources[0]!, offset: physical };
  }

  /** Bytes of the metadata space an inode lives in: the primary device or the metabox inode's data. */
  readInodeMeta(inode: ErofsInode, offset: number, length: number, what: string): Buffer {
    return this.readMetaSpace(inode.address, offset, length, what, inode.ino);
  }

  private readMetaSpace(
    address: InodeAddress,
    offset: number,
    length: number,
    what: string,
    ino: number,
  ): Buffer {
    if (!address.inMetabox) return this.sources[0]!.read(offset, length, what);
    if (!this.hasMetabox)
      throw new ErofsCorruptError(`${what}: nid in a metabox the image does not have`, { nid: ino });
    // metabox_nid is a raw nid (never in the metabox itself): map it to its inode number first,
    // or a nid with bit 31 set would name a metabox inode and recurse here forever.
    const metabox = this.inode(this.inoOfNid(BigInt(this.sb.metaboxNid)));
    if (offset + length > metabox.size) {
      throw new ErofsCorruptError(`${what}: ${length} bytes at ${offset} run past the metabox`, {
        nid: ino,
        offset,
      });
    }
    return this.read(metabox, offset, length);
  }

  /** Copies `take` bytes of an extent, from `skip` bytes into it, to `out` at `at`. */
  private copyExtent(
    inode: ErofsInode,
    extent: Extent,
    skip: number,
    take: number,
    out: Buffer,
    at: number,
  ): void {
    switch (extent.kind) {
      case 'hole':
        out.fill(0, at, at + take);
        return;
      case 'device':
        this.readDeviceInto(extent.deviceId, extent.physical + skip, take, out, at, 'file data', inode.ino);
        return;
      case 'inline':
        this.readInodeMeta(inode, extent.metaOffset + skip, take, 'inline data').copy(out, at);
        return;
    }
  }

  /** Number of directory blocks (the last one may be short). */
  dirBlockCount(dir: ErofsInode): number {
    if (dir.size > DIR_SIZE_MAX) {
      throw new ErofsUnsupportedError(
        `directory of ${dir.size} bytes (this reader's limit: ${DIR_SIZE_MAX})`,
        {
          nid: dir.ino,
        },
      );
    }
    return Math.ceil(dir.size / this.sb.blockSize);
  }

  /** The decoded entries of directory block `index`. */
  dirBlock(dir: ErofsInode, index: number): DirEntryRecord[] {
    const blocks = this.dirBlocks.get(dir.ino);
    const cached = blocks?.get(index);
    if (cached) return cached;
    const start = index * this.sb.blockSize;
    const block = this.read(dir, start, Math.min(this.sb.blockSize, dir.size - start));
    const entries = decodeDirBlock(block, dir.ino, start);
    if (this.dirBlocksCached >= DIR_BLOCK_CACHE_ENTRIES) {
      this.dirBlocks.clear();
      this.dirBlocksCached = 0;
    }
    let own = this.dirBlocks.get(dir.ino);
    if (!own) {
      own = new Map();
      this.dirBlocks.set(dir.ino, own);
    }
    own.set(index, entries);
    this.dirBlocksCached++;
    return entries;
  }

  /** Every entry of a directory in on-disk order (including `.` and `..` where stored). */
  *entries(dir: ErofsInode): Generator<ErofsDirEntry> {
    this.requireDirectory(dir);
    const count = this.dirBlockCount(dir);
    for (let index = 0; index < count; index++) {
      for (const entry of this.dirBlock(dir, index)) {
        yield { name: entry.name, ino: this.inoOfNid(entry.nid), fileType: entry.fileType };
      }
    }
  }

  /** The child's inode number, or null when the name is absent (binary search, as the kernel does). */
  lookup(dir: ErofsInode, name: Buffer): number | null {
    this.requireDirectory(dir);
    const found = lookupInBlocks(this.dirBlockCount(dir), (index) => this.dirBlock(dir, index), name);
    return found ? this.inoOfNid(found.nid) : null;
  }

  readlink(inode: ErofsInode): Buffer {
    if ((inode.mode & S_IFMT) !== S_IFLNK)
      throw new ErofsCorruptError('readlink of a non-symlink', { nid: inode.ino });
    if (inode.size === 0 || inode.size > SYMLINK_MAX) {
      throw new ErofsCorruptError(`symlink target of ${inode.size} bytes`, { nid: inode.ino });
    }
    return this.read(inode, 0, inode.size);
  }

  /** The inode's xattrs, inline first, then shared (the same array on every call: do not change it). */
  xattrs(inode: ErofsInode): readonly Xattr[] {
    const cached = this.xattrLists.get(inode.ino);
    if (cached) return cached;
    const xattrs = readXattrs(this.xattrContext, inode);
    const bytes = xattrs.reduce((sum, xattr) => sum + xattr.name.length + xattr.value.length, 0);
    if (this.xattrBytesCached + bytes > XATTR_CACHE_BYTES) {
      this.xattrLists.clear();
      this.xattrBytesCached = 0;
    }
    this.xattrLists.set(inode.ino, xattrs);
    this.xattrBytesCached += bytes;
    return xattrs;
  }

  /** The inode at an absolute path inside the image ("/" is the root); symlinks are not followed. */
  resolve(path: string): ErofsInode {
    let inode = this.inode(this.rootIno);
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      const child = this.lookup(inode, Buffer.from(part));
      if (child === null) throw new ErofsLookupError(path);
      inode = this.inode(child);
    }
    return inode;
  }

  private requireDirectory(inode: ErofsInode): void {
    if (!isDirectory(inode)) throw new ErofsNotDirectoryError(inode.ino);
  }

  private readonly xattrContext = {
    readInodeMeta: (inode: ErofsInode, offset: number, length: number, what: string) =>
      this.readInodeMeta(inode, offset, length, what),
    readShared: (offset: number, length: number, what: string) => {
      const base = this.sb.xattrBlkaddr * this.sb.blockSize;
      if (has(this.sb.featureCompat, FeatureCompat.SHARED_EA_IN_METABOX)) {
        return this.readMetaSpace(
          { slot: 0, inMetabox: true },
          base + offset,
          length,
          what,
          this.sb.metaboxNid,
        );
      }
      return this.sources[0]!.read(base + offset, length, what);
    },
    longPrefixes: () => this.longPrefixes(),
  };

  private longPrefixes(): LongPrefix[] {
    if (this.prefixes) return this.prefixes;
    const { sb } = this;
    const start = sb.xattrPrefixStart * 4;
    let read: (offset: number, length: number, what: string) => Buffer;
    const plain = has(sb.featureCompat, FeatureCompat.PLAIN_XATTR_PFX);
    const holderNid = plain ? 0 : this.hasMetabox ? sb.metaboxNid : sb.packedNid;
    if (holderNid === 0) {
      read = (offset, length, what) => this.sources[0]!.read(offset, length, what);
    } else {
      const holder = this.inode(this.inoOfNid(BigInt(holderNid)));
      read = (offset, length, what) => {
        if (offset + length > holder.size) {
          throw new ErofsCorruptError(`${what} runs past the end of nid ${holderNid}`, { offset });
        }
        return this.read(holder, offset, length);
      };
    }
    this.prefixes = readLongPrefixes(sb.xattrPrefixCount, start, read);
    return this.prefixes;
  }

  /** st_blocks-free statfs facts: total blocks (all devices) and inode count. */
  get totalBlocks(): number {
    return this.sb.blocks + this.sb.extraDevices.reduce((sum, device) => sum + device.blocks, 0);
  }
}

/** A path that does not exist in the image (for the CLI; the FUSE backend uses lookup directly). */
export class ErofsLookupError extends Error {
  override readonly name = 'ErofsLookupError';
  constructor(readonly path: string) {
    super(`${path}: no such file or directory in the image`);
  }
}

export class ErofsNotDirectoryError extends Error {
  override readonly name = 'ErofsNotDirectoryError';
  constructor(readonly ino: number) {
    super(`inode ${ino} is not a directory`);
  }
}
