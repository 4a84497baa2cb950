import { ErofsCorruptError } from '../errors.js';
import {
  CompressionAlgorithm,
  EROFS_SUPER_OFFSET,
  Z_EROFS_COMPRESSION_MAX,
  Z_EROFS_PCLUSTER_MAX_SIZE,
} from '../format.js';
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

/** Decoded pclusters kept per image: the small ones in the slab ring, larger ones in buffers of their own. */
export const DECODED_CACHE_BYTES = 32 * 1024 * 1024;
/** Reads nest (metabox data, the packed inode); anything deeper than this is a loop in the image. */
const MAX_NESTING = 4;
/** Raw pcluster bytes are read in windows up to this large (one pread for many small pclusters). */
const RAW_WINDOW_BYTES = 256 * 1024;
/**
 * Reads in a row whose raw bytes each continue where the read before ended, before the window
 * reads ahead of what a read needs: a small read at a random offset often spans two adjacent
 * pclusters, and that is no stream (reading ahead there cost a cold 4 KiB random read 256 KiB of
 * disk, 2 reads in 3, measured).
 */
const READ_AHEAD_AFTER_RUN = 2;
/** Map headers kept (one per compressed inode read), as many as the image keeps inodes. */
const ZINFO_ENTRIES = 65_536;
/**
 * Decoded extents for the cache are carved from slabs this large (as Buffer's own pool does for
 * small buffers): one fresh buffer per extent cost 290 ms of 5 s serving cold 4 KiB random reads
 * (profiled), its allocation and the collections that external memory triggers. The slabs are a
 * ring, reused in turn (what the reused slab still held leaves the cache), never left to the
 * collector: every first touch of a fresh page is a page fault, and a decode into a fresh slab
 * took 13 µs here against 0.9 µs into reused memory (a 5.9 KiB lz4 pcluster, measured).
 */
const SLAB_BYTES = 1024 * 1024;
/**
 * The ring's size: what small extents the cache holds. Enough for the extents at the edges of the
 * reads of many streams; more only costs a fresh daemon page faults (2 MiB against 8 MiB: a fresh
 * daemon's first 2,000 cold 4 KiB random reads on lz4 took 216–232 µs each against 237–269).
 */
export const SLAB_RING_BYTES = 2 * SLAB_BYTES;
const SLAB_COUNT = SLAB_RING_BYTES / SLAB_BYTES;
/** Extents larger than this get their own buffer. */
const SLAB_EXTENT_MAX = 64 * 1024;
/**
 * An LZ4 extent larger than this that a random read wants part of (the read starts inside it) is
 * decoded just up to the read's last byte, as erofsfuse and the kernel do
 * (LZ4_decompress_safe_partial): a 4 KiB read in a 2.7 MiB extent then decodes half of it on
 * average, not all of it. A later read that wants more of it decodes it whole.
 */
const PREFIX_DECODE_MIN = SLAB_EXTENT_MAX;

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
    nid?: number,
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
  /** The last raw window read of the primary device, in a buffer reused for every window. */
  private window: { start: number; bytes: Buffer } | null = null;
  private windowBuffer: Buffer | null = null;
  /** Where the last raw read ended: a read whose raw bytes start there is sequential. */
  private rawEnd = -1;
  /** How many reads in a row were sequential. */
  private sequentialRun = 0;
  /** Raw pclusters read outside a window, in a buffer reused for every one (grown as needed). */
  private rawBuffer: Buffer | null = null;
  /** The slab ring, each slab with the cache keys of the extents carved from it. */
  private readonly slabs: { memory: Buffer; keys: number[] }[] = [];
  /** The slab being carved (an index into `slabs`; -1 before the first), and how far. */
  private slab = -1;
  private slabUsed = 0;
  /** Per compressed inode read: its map header and the mapping context (made once, not per read). */
  private readonly mappings = new Map<number, { context: MapContext; info: ZInfo }>();

  constructor(private readonly image: CompressedImage) {}

  close(): void {
    this.decodedCache.clear();
    this.mappings.clear();
    this.window = null;
    this.windowBuffer = null;
    this.rawBuffer = null;
    this.slabs.length = 0;
    this.slab = -1;
  }

  /**
   * `out.length` bytes (already clipped to i_size by the caller) from `position` of a compressed
   * inode, into `out` (a reused reply buffer: no fresh pages per read).
   */
  read(inode: ErofsInode, position: number, out: Buffer): void {
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
      this.readRange(inode, position, out);
    } finally {
      this.nesting--;
    }
  }

  private mapping(inode: ErofsInode): { context: MapContext; info: ZInfo } {
    let mapping = this.mappings.get(inode.ino);
    if (!mapping) {
      const context = mapContextOf(this.image, inode);
      mapping = { context, info: readZInfo(context) };
      if (this.mappings.size >= ZINFO_ENTRIES) this.mappings.clear();
      this.mappings.set(inode.ino, mapping);
    }
    return mapping;
  }

  private readRange(inode: ErofsInode, position: number, out: Buffer): void {
    const { context, info } = this.mapping(inode);
    const end = position + out.length;
    // Every extent holds the byte at `done` (mapCompressed checks), so each pass makes progress:
    // at most one extent per lcluster the read touches, plus one.
    const extents: CompressedExtent[] = [];
    for (let done = position; done < end; ) {
      const extent = mapCompressed(context, info, done);
      extents.push(extent);
      done = Math.min(end, extent.logical + extent.length);
    }
    let done = position;
    // An index loop: entries() would allocate an [index, extent] pair per extent of every read.
    for (let index = 0; index < extents.length; index++) {
      const extent = extents[index]!;
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
          // A read that starts inside an extent is a random one: it wants the extent only up to its
          // last byte. One that starts at the extent's start is a stream's next read: the next
          // read will want the rest.
          const wanted = skip > 0 ? skip + take : extent.length;
          const decoded = this.decodedExtent(inode, extent, wanted, target, extents, index);
          if (decoded !== target) decoded.copy(out, at, skip, skip + take);
        }
      }
      done += take;
    }
  }

  /**
   * The decoded bytes of an extent, at least its first `needed`: decoded into `target` when given
   * (the read covers the extent whole), else from the cache or decoded into a new buffer that is
   * then cached (whole, or only its first `needed` bytes: PREFIX_DECODE_MIN).
   */
  private decodedExtent(
    inode: ErofsInode,
    extent: EncodedExtent,
    needed: number,
    target: Buffer | null,
    extents: readonly CompressedExtent[],
    index: number,
  ): Buffer {
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
    const key = target ? 0 : cacheKey(inode, extent);
    const shape = target ? null : cacheShape(extent, sb.blockSize);
    // A cached buffer holds the first bytes of the pcluster's data, decoded the same way (key and
    // shape): whichever extent of that pcluster decoded it, it serves a read wanting no more.
    let cachedShort = false;
    if (shape !== null) {
      const cached = this.decodedCache.get(key, shape);
      if (cached && cached.length >= needed) return cached;
      cachedShort = cached !== undefined;
    }
    const input =
      extent.kind === 'inline'
        ? this.image.readInodeMeta(inode, extent.physical, extent.encodedLength, 'inline pcluster')
        : this.readRaw(extents, index, inode.ino);
    const lz4 = extent.format === CompressionAlgorithm.LZ4;
    const prefixOnly =
      shape !== null &&
      !cachedShort &&
      lz4 &&
      config.lz4ZeroPadding &&
      extent.length > PREFIX_DECODE_MIN &&
      needed < extent.length;
    const outputLength = prefixOnly ? needed : extent.length;
    const decoded = decodePcluster({
      format: extent.format,
      input,
      outputLength,
      // Legacy LZ4 (no 0padding) streams may run on past the extent: decode only the prefix.
      partial: prefixOnly || extent.partial || (lz4 && !config.lz4ZeroPadding),
      zeroPadding: !lz4 || config.lz4ZeroPadding,
      paddingLimit: sb.blockSize - (extent.physical % sb.blockSize),
      blockSize: sb.blockSize,
      logical: extent.logical,
      lzmaDictSize: config.lzmaDictSize,
      where: { nid: inode.ino, offset: extent.physical },
      output: target ?? this.cacheBuffer(outputLength),
    });
    if (shape !== null) {
      const slab = this.slabs[this.slab];
      if (slab !== undefined && decoded.buffer === slab.memory.buffer) slab.keys.push(key);
      this.decodedCache.set(key, shape, decoded);
    }
    return decoded;
  }

  /** A buffer of `length` bytes from the current slab, or undefined (the decoder allocates). */
  private cacheBuffer(length: number): Buffer | undefined {
    // Lengths are checked by the decoder before it allocates: nothing is carved for a bad one.
    if (!Number.isSafeInteger(length) || length <= 0 || length > SLAB_EXTENT_MAX) return undefined;
    if (this.slab < 0 || this.slabUsed + length > SLAB_BYTES) {
      this.slab = (this.slab + 1) % SLAB_COUNT;
      this.slabUsed = 0;
      const slab = this.slabs[this.slab];
      if (slab === undefined) {
        this.slabs.push({ memory: Buffer.allocUnsafeSlow(SLAB_BYTES), keys: [] });
      } else {
        for (const key of slab.keys) this.decodedCache.dropIn(key, slab.memory.buffer);
        slab.keys.length = 0;
      }
    }
    const buffer = this.slabs[this.slab]!.memory.subarray(this.slabUsed, this.slabUsed + length);
    // 8-byte aligned starts keep the decoders' word-wise loops on their fast path.
    this.slabUsed += Math.ceil(length / 8) * 8;
    return buffer;
  }

  /**
   * Reads into the window, by one pread(2), the pcluster of `extents[from]` and those after it in
   * the same read that lie one after another on a single-device image: a small read at a random
   * offset often spans two adjacent pclusters, and two preads are two trips to a cold disk (the
   * second of which the image's page-cache readahead takes for a stream). Once reads go
   * sequentially, the window reads ahead to RAW_WINDOW_BYTES: pclusters of a file are usually laid
   * out one after another. A lone pcluster of a random read is left to readRaw (exactly its
   * bytes), as is a window that cannot be read (past the end of a short image): readRaw then reads
   * the exact range, which reports the problem.
   */
  private readWindow(extents: readonly CompressedExtent[], from: number, nid: number): void {
    const { sb } = this.image;
    const first = extents[from];
    if (sb.extraDevices.length > 0 || first?.kind !== 'device') return;
    const start = first.physical;
    let end = start + first.encodedLength;
    let count = 1;
    for (let index = from + 1; index < extents.length; index++) {
      const extent = extents[index]!;
      if (extent.kind !== 'device' || extent.physical !== end) break;
      if (end + extent.encodedLength - start > RAW_WINDOW_BYTES) break;
      end += extent.encodedLength;
      count++;
    }
    // Sequential: where the last read ended, or inside the window the last read was (a pcluster
    // across the window's end).
    const window = this.window;
    const lastWasWindow = window !== null && this.rawEnd === window.start + window.bytes.length;
    const sequential =
      start === this.rawEnd || (lastWasWindow && start > window.start && start < this.rawEnd);
    this.sequentialRun = sequential ? this.sequentialRun + 1 : 0;
    this.rawEnd = end;
    const span = end - start;
    const deviceEnd = sb.blocks * sb.blockSize;
    const length = Math.min(
      this.sequentialRun >= READ_AHEAD_AFTER_RUN ? RAW_WINDOW_BYTES : span,
      deviceEnd - start,
    );
    // A pcluster larger than the window, one running past the device, or a lone pcluster with
    // nothing to read ahead: readRaw reads exactly its bytes.
    if (span > RAW_WINDOW_BYTES || length < span || (count < 2 && length === span)) return;
    // Decoders consume their input before the next window is read, so one buffer serves all.
    this.windowBuffer ??= Buffer.allocUnsafeSlow(RAW_WINDOW_BYTES);
    const bytes = this.windowBuffer.subarray(0, length);
    this.window = null;
    try {
      this.image.readDeviceInto(0, start, length, bytes, 0, 'pclusters', nid);
    } catch {
      return;
    }
    this.window = { start, bytes };
    this.rawEnd = start + length;
  }

  private inWindow(physical: number, length: number): boolean {
    const window = this.window;
    return (
      window !== null && physical >= window.start && physical + length <= window.start + window.bytes.length
    );
  }

  /**
   * The raw bytes of the pcluster of `extents[index]` (a device extent): from the window, read
   * first (readWindow) when they are not in it, or else by one pread(2) into one reused buffer,
   * not through the image's page cache: data pages would evict metadata there, and each would be
   * a fresh buffer.
   */
  private readRaw(extents: readonly CompressedExtent[], index: number, nid: number): Buffer {
    const { physical, encodedLength: length } = extents[index] as EncodedExtent;
    // A constant: a message built per read would be an allocation per FUSE READ (errors carry the nid).
    const what = 'pcluster';
    if (!this.inWindow(physical, length)) this.readWindow(extents, index, nid);
    const window = this.window;
    if (window && this.inWindow(physical, length)) {
      return window.bytes.subarray(physical - window.start, physical - window.start + length);
    }
    if (!Number.isSafeInteger(length) || length <= 0 || length > Z_EROFS_PCLUSTER_MAX_SIZE) {
      return this.image.readDevice(0, physical, length, what);
    }
    if (!this.rawBuffer || this.rawBuffer.length < length) {
      this.rawBuffer = Buffer.allocUnsafeSlow(Math.max(length, RAW_WINDOW_BYTES));
    }
    const raw = this.rawBuffer.subarray(0, length);
    this.image.readDeviceInto(0, physical, length, raw, 0, what, nid);
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

/**
 * Where a decoded extent's bytes come from, as a cache key: device pclusters by their byte address,
 * inline ones (negative) by their offset in the inode's metadata space, the metabox's apart.
 */
function cacheKey(inode: ErofsInode, extent: EncodedExtent): number {
  if (extent.kind === 'device') return extent.physical;
  return -1 - (extent.physical * 2 + (inode.address.inMetabox ? 1 : 0));
}

/** Shape fields are exact below these bounds; an extent beyond them is not cached. */
const SHAPE_ENCODED_MAX = 2 ** 30;
const SHAPE_FORMATS = 8;
const SHAPE_SHIFT_MAX = 2 ** 16;

/**
 * How an extent decodes its pcluster, as one exact number (all fields bounded: < 2^50), or null
 * when a field is out of bounds. The decoded length is the cached buffer's own length.
 */
function cacheShape(extent: EncodedExtent, blockSize: number): number | null {
  const interlacedShift = extent.logical % blockSize;
  if (
    extent.encodedLength >= SHAPE_ENCODED_MAX ||
    extent.format >= SHAPE_FORMATS ||
    interlacedShift >= SHAPE_SHIFT_MAX
  ) {
    return null;
  }
  return (
    ((extent.encodedLength * SHAPE_FORMATS + extent.format) * 2 + (extent.partial ? 1 : 0)) *
      SHAPE_SHIFT_MAX +
    interlacedShift
  );
}
