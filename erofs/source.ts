import { closeSync, fstatSync, openSync } from 'node:fs';
import { constants } from 'node:os';
import { syscallError, syscalls } from '../lib/syscalls.js';
import { ErofsCorruptError } from './errors.js';

/** Cache granularity: one host page, whatever the image's block size. */
const PAGE_SIZE = 4096;
/** Reads at least this long bypass the cache: bulk file data would only evict metadata. */
const BYPASS_BYTES = 64 * 1024;
const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;
const { EINTR } = constants.errno;

/**
 * Positioned reads of one image file (or extra device) through a small LRU page cache, so a
 * metadata walk costs memory copies, not one pread per field. Every read is checked against the
 * file's size: a range past the end is corruption, reported with its offset.
 */
export class ImageSource {
  readonly size: number;
  private readonly fd: number;
  private readonly pages = new Map<number, Buffer>();
  private readonly maxPages: number;
  /** pread(2) calls made and bytes they read, for the walk benchmark and the tests. */
  preads = 0;
  bytesRead = 0;

  constructor(
    readonly path: string,
    cacheBytes = DEFAULT_CACHE_BYTES,
  ) {
    this.fd = openSync(path, 'r');
    try {
      const stat = fstatSync(this.fd);
      if (!stat.isFile() && !stat.isBlockDevice()) throw new Error(`${path}: not a file or block device`);
      this.size = stat.size;
    } catch (error) {
      closeSync(this.fd);
      throw error;
    }
    this.maxPages = Math.max(4, Math.floor(cacheBytes / PAGE_SIZE));
  }

  /** `nid`: the inode whose data this is, for the error's location. */
  private checkRange(offset: number, length: number, what: string, nid?: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new ErofsCorruptError(`${what}: invalid range ${offset}+${length}`, { nid, offset });
    }
    if (offset + length > this.size) {
      throw new ErofsCorruptError(
        `${what}: ${length} bytes at 0x${offset.toString(16)} run past the end of ${this.path} (${this.size} bytes)`,
        { nid, offset },
      );
    }
  }

  /**
   * The `length` bytes at `offset`, by one pread(2) straight into `target` at `at`, bypassing the
   * page cache: file data (the kernel keeps it in its own page cache) would only evict metadata,
   * and a read of several pages would cost one pread (one disk request when cold) per page.
   */
  readInto(target: Buffer, at: number, offset: number, length: number, what: string, nid?: number): void {
    this.checkRange(offset, length, what, nid);
    this.preadInto(target, at, offset, length);
  }

  /** The `length` bytes at `offset`; `what` names the structure in the error if the range is bad. */
  read(offset: number, length: number, what: string): Buffer {
    this.checkRange(offset, length, what);
    if (length >= BYPASS_BYTES) return this.readDirect(offset, length);
    const firstPage = Math.floor(offset / PAGE_SIZE);
    const lastPage = Math.floor((offset + length - 1) / PAGE_SIZE);
    if (length > 0 && firstPage === lastPage) {
      const start = offset - firstPage * PAGE_SIZE;
      return this.page(firstPage).subarray(start, start + length);
    }
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const position = offset + done;
      const index = Math.floor(position / PAGE_SIZE);
      const start = position - index * PAGE_SIZE;
      done += this.page(index).copy(out, done, start, Math.min(PAGE_SIZE, start + length - done));
    }
    return out;
  }

  close(): void {
    this.pages.clear();
    closeSync(this.fd);
  }

  private page(index: number): Buffer {
    const cached = this.pages.get(index);
    if (cached) {
      // Map order is insertion order: re-inserting makes this page the most recent.
      this.pages.delete(index);
      this.pages.set(index, cached);
      return cached;
    }
    const position = index * PAGE_SIZE;
    const page = this.readDirect(position, Math.min(PAGE_SIZE, this.size - position));
    if (this.pages.size >= this.maxPages) {
      const oldest = this.pages.keys().next().value;
      if (oldest !== undefined) this.pages.delete(oldest);
    }
    this.pages.set(index, page);
    return page;
  }

  private readDirect(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    this.preadInto(out, 0, offset, length);
    return out;
  }

  private preadInto(target: Buffer, at: number, offset: number, length: number): void {
    let done = 0;
    while (done < length) {
      this.preads++;
      // The addon's pread(2), not fs.readSync: Node's argument checks and request object cost
      // more than the pread of a cached page, and every FUSE READ makes one.
      const got = syscalls.preadInto(this.fd, target, at + done, offset + done, length - done);
      if (got < 0) {
        if (-got === EINTR) continue;
        throw syscallError('pread', -got, `${this.path} at 0x${(offset + done).toString(16)}`);
      }
      if (got === 0) {
        throw new ErofsCorruptError(`${this.path} ended early (was it truncated while open?)`, {
          offset: offset + done,
        });
      }
      done += got;
      this.bytesRead += got;
    }
  }
}
