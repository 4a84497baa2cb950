import { ErofsCorruptError } from '../errors.js';
import { EROFS_SUPER_OFFSET, Z_EROFS_COMPRESSION_MAX, Z_EROFS_PCLUSTER_MAX_SIZE } from '../format.js';
import type { ErofsInode } from '../inode.js';
import type { SuperblockInfo } from '../superblock.js';
import { ByteBoundedLru } from './cache.js';
import { type CompressionConfig, readCompressionConfig } from './config.js';
import { decodePcluster } from './decoders.js';
import { type CompressedExtent, type MapContext, mapCompressed, readZInfo, type ZInfo } from './map.js';

/**
 * Reading compressed inodes (COMPRESSED_FULL and COMPRESSED_COMPACT layouts): map each extent the
 * range touches, decode its pcluster once (kept in a byte-bounded LRU), and copy the wanted slice.
 * Fragments come from the packed inode, inline tails from the inode's metadata block.
 * A CompressedReader belongs to one image, which creates it on its first compressed read and
 * closes it with itself; all compression state (decoded pclusters, per-inode map headers, the raw
 * read-ahead window) lives in it.
 */

/** Decoded pclusters kept per image. */
export const DECODED_CACHE_BYTES = 32 * 1024 * 1024;
/** Reads nest (metabox data, the packed inode); anything deeper than this is a loop in the image. */
const MAX_NESTING = 4;
/** Raw pcluster bytes are read ahead in windows this large (one pread for many small pclusters). */
const RAW_WINDOW_BYTES = 256 * 1024;
/** Map headers kept (one per compressed inode read), as many as the image keeps inodes. */
const ZINFO_ENTRIES = 65_536;
/**
 * Decoded extents for the cache are carved from slabs this large (as Buffer's own pool does for
 * small buffers): one fresh buffer per extent cost 290 ms of 5 s serving cold 4 KiB random reads
 * (profiled), its allocation and the collections that external memory triggers. A slab lives until
 * every extent in it is evicted; the LRU evicts in about the order slabs were filled.
 */
const SLAB_BYTES = 1024 * 1024;
/** Extents larger than this get their own buffer. */
const SLAB_EXTENT_MAX = 64 * 1024;

/** What compressed reading needs of the image it belongs to. */
export interface CompressedImage {
  readonly sb: SuperblockInfo;
  inode(ino: number): ErofsInode;
  inoOfNid(nid: bigint): number;
  read(inode: ErofsInode, position: number, length: number): Buffer;
  readDevice(deviceId: number, physical: number, length: number, what: string): Buffer;
  readDeviceInto(
    deviceId: number,
    physical: number,
    length: number,
    target: Buffer,
    at: number,
    what: string,
  ): void;
  readInodeMeta(inode: ErofsInode, offset: number, length: number, what: string): Buffer;
}

/** What the lcluster mapping of `inode` reads through: its own metadata space. */
export function mapContextOf(image: CompressedImage, inode: ErofsInode): MapContext {
  return {
    sb: image.sb,
    inode,
    readMeta: (offset, count, what) => image.readInodeMeta(inode, offset, count, what),
  };
}

type EncodedExtent = Extract<CompressedExtent, { kind: 'device' | 'inline' }>;

export class CompressedReader {
  /** Decoded pclusters (the tests and the benchmark read its hit counts). */
  readonly decodedCache = new ByteBoundedLru(DECODED_CACHE_BYTES);
  private config: CompressionConfig | null = null;
  private nesting = 0;
  /** The last raw read-ahead window of the primary device, in a buffer reused for every window. */
  private window: { start: number; bytes: Buffer } | null = null;
  private windowBuffer: Buffer | null = null;
  /** Where the last raw read ended: a read starting there is sequential. */
  private rawEnd = -1;
  /** Raw pclusters read outside a window, in a buffer reused for every one (grown as needed). */
  private rawBuffer: Buffer | null = null;
  private slab: Buffer | null = null;
  private slabUsed = 0;
  private readonly zinfos = new Map<number, ZInfo>();

  constructor(private readonly image: CompressedImage) {}

  close(): void {
    this.decodedCache.clear();
    this.zinfos.clear();
    this.window = null;
    this.windowBuffer = null;
    this.rawBuffer = null;
    this.slab = null;
  }

  /** `length` bytes (already clipped to i_size by the caller) from `position` of a compressed inode. */
  read(inode: ErofsInode, position: number, length: number, into: Buffer | null = null): Buffer {
    if (this.nesting >= MAX_NESTING) {
      throw new ErofsCorruptError('compressed reads nest too deeply (a packed inode or metabox loop)', {
        nid: inode.ino,
      });
    }
    this.nesting++;
    try {
      this.config ??= readCompressionConfig(this.image.sb, (offset, count, what) =>
        this.image.readDevice(0, offset, count, what),
      );
      return this.readRange(inode, position, length, into);
    } finally {
      this.nesting--;
    }
  }

  private zinfo(context: MapContext, inode: ErofsInode): ZInfo {
    let info = this.zinfos.get(inode.ino);
    if (!info) {
      info = readZInfo(context);
      if (this.zinfos.size >= ZINFO_ENTRIES) this.zinfos.clear();
      this.zinfos.set(inode.ino, info);
    }
    return info;
  }

  /** Into `into` when it is large enough (a reused reply buffer: no fresh pages per read). */
  private readRange(inode: ErofsInode, position: number, length: number, into: Buffer | null): Buffer {
    const context = mapContextOf(this.image, inode);
    const info = this.zinfo(context, inode);
    const end = position + length;
    const out = into && into.length >= length ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    let done = position;
    // Every extent holds the byte at `done` (mapCompressed checks), so each pass makes progress.
    while (done < end) {
      const extent = mapCompressed(context, info, done);
      const take = Math.min(end, extent.logical + extent.length) - done;
      const skip = done - extent.logical;
      const at = done - position;
      switch (extent.kind) {
        case 'hole':
          out.fill(0, at, at + take);
          break;
        case 'fragment':
          readFragment(this.image, inode, extent.packedOffset + skip, take).copy(out, at);
          break;
        default: {
          // An extent the read covers whole decodes straight into the result; only the partly read
          // extents at the edges go through the cache (the next read wants the rest of them).
          const target = skip === 0 && take === extent.length ? out.subarray(at, at + take) : null;
          const decoded = this.decodedExtent(inode, extent, target);
          if (decoded !== target) decoded.copy(out, at, skip, skip + take);
        }
      }
      done += take;
    }
    return out;
  }

  /**
   * The decoded bytes of an extent: decoded into `target` when given (the read covers the extent
   * whole), else from the cache or decoded into a new buffer that is then cached.
   */
  private decodedExtent(inode: ErofsInode, extent: EncodedExtent, target: Buffer | null): Buffer {
    const { sb } = this.image;
    const config = this.config!;
    if (extent.format < Z_EROFS_COMPRESSION_MAX && !(config.algorithms & (1 << extent.format))) {
      throw new ErofsCorruptError(
        `extent uses algorithm ${extent.format}, which the superblock does not list`,
        {
          nid: inode.ino,
          offset: EROFS_SUPER_OFFSET,
        },
      );
    }
    // Whole extents are decoded in place without the cache: a sequential reader reads them once.
    const key = target ? null : cacheKey(inode, extent, sb.blockSize);
    if (key !== null) {
      const cached = this.decodedCache.get(key);
      if (cached) return cached;
    }
    const what = `pcluster of nid ${inode.ino}`;
    const input =
      extent.kind === 'inline'
        ? this.image.readInodeMeta(inode, extent.physical, extent.encodedLength, what)
        : this.readRaw(extent.physical, extent.encodedLength, what);
    const lz4 = extent.format === 0;
    const decoded = decodePcluster({
      format: extent.format,
      input,
      outputLength: extent.length,
      // Legacy LZ4 (no 0padding) streams may run on past the extent: decode only the prefix.
      partial: extent.partial || (lz4 && !config.lz4ZeroPadding),
      zeroPadding: !lz4 || config.lz4ZeroPadding,
      paddingLimit: sb.blockSize - (extent.physical % sb.blockSize),
      blockSize: sb.blockSize,
      logical: extent.logical,
      lzmaDictSize: config.lzmaDictSize,
      where: { nid: inode.ino, offset: extent.physical },
      output: target ?? this.cacheBuffer(extent.length),
    });
    if (key !== null) this.decodedCache.set(key, decoded);
    return decoded;
  }

  /** A buffer of `length` bytes from the current slab, or undefined (the decoder allocates). */
  private cacheBuffer(length: number): Buffer | undefined {
    // Lengths are checked by the decoder before it allocates: nothing is carved for a bad one.
    if (!Number.isSafeInteger(length) || length <= 0 || length > SLAB_EXTENT_MAX) return undefined;
    if (!this.slab || this.slabUsed + length > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.slabUsed = 0;
    }
    const buffer = this.slab.subarray(this.slabUsed, this.slabUsed + length);
    // 8-byte aligned starts keep the decoders' word-wise loops on their fast path.
    this.slabUsed += Math.ceil(length / 8) * 8;
    return buffer;
  }

  /**
   * Raw pcluster bytes, through a read-ahead window on single-device images once reads go
   * sequentially: pclusters of a file are usually laid out one after another, so one large read
   * serves many of them. A random read reads just its pcluster (a window would read 64 times the
   * bytes of a 4 KiB pcluster from a cold disk). A window that cannot be read (past the end of a
   * short image) falls back to the exact range, which reports the problem. Outside a window the
   * bytes go into one reused buffer by one pread(2), not through the image's page cache: data
   * pages would evict metadata there, and each would be a fresh buffer.
   */
  private readRaw(physical: number, length: number, what: string): Buffer {
    const window = this.window;
    if (window && physical >= window.start && physical + length <= window.start + window.bytes.length) {
      this.rawEnd = physical + length;
      return window.bytes.subarray(physical - window.start, physical - window.start + length);
    }
    const sequential = physical === this.rawEnd;
    this.rawEnd = physical + length;
    const { sb } = this.image;
    const deviceEnd = sb.blocks * sb.blockSize;
    if (
      sequential &&
      sb.extraDevices.length === 0 &&
      length < RAW_WINDOW_BYTES &&
      physical + length <= deviceEnd
    ) {
      // Decoders consume their input before the next window is read, so one buffer serves all.
      this.windowBuffer ??= Buffer.allocUnsafeSlow(RAW_WINDOW_BYTES);
      const bytes = this.windowBuffer.subarray(0, Math.min(RAW_WINDOW_BYTES, deviceEnd - physical));
      this.window = null;
      try {
        this.image.readDeviceInto(0, physical, bytes.length, bytes, 0, what);
        this.window = { start: physical, bytes };
        return bytes.subarray(0, length);
      } catch {
        // Falls through to the exact range.
      }
    }
    if (!Number.isSafeInteger(length) || length <= 0 || length > Z_EROFS_PCLUSTER_MAX_SIZE) {
      return this.image.readDevice(0, physical, length, what);
    }
    if (!this.rawBuffer || this.rawBuffer.length < length) {
      this.rawBuffer = Buffer.allocUnsafeSlow(Math.max(length, RAW_WINDOW_BYTES));
    }
    const raw = this.rawBuffer.subarray(0, length);
    this.image.readDeviceInto(0, physical, length, raw, 0, what);
    return raw;
  }
}

function readFragment(image: CompressedImage, inode: ErofsInode, offset: number, length: number): Buffer {
  const { packedNid } = image.sb;
  const packedIno = packedNid === 0 ? null : image.inoOfNid(BigInt(packedNid));
  if (packedIno === null || packedIno === inode.ino) {
    throw new ErofsCorruptError(
      packedIno === null ? 'fragment in an image without a packed inode' : 'fragment inside the packed inode',
      { nid: inode.ino },
    );
  }
  const packed = image.inode(packedIno);
  if (!Number.isSafeInteger(offset + length) || offset + length > packed.size) {
    throw new ErofsCorruptError(
      `fragment of ${length} bytes at ${offset} runs past the ${packed.size}-byte packed inode`,
      { nid: inode.ino },
    );
  }
  return image.read(packed, offset, length);
}

/** What makes two extents decode to the same bytes: where the pcluster is, and how it is decoded. */
function cacheKey(inode: ErofsInode, extent: EncodedExtent, blockSize: number): string {
  const place =
    extent.kind === 'inline'
      ? `i${inode.address.inMetabox ? 'm' : ''}${extent.physical}`
      : `d${extent.physical}`;
  const interlacedShift = extent.logical % blockSize;
  return `${place}:${extent.encodedLength}:${extent.format}:${extent.length}:${extent.partial ? 'p' : ''}${interlacedShift}`;
}
