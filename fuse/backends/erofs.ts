import { declaredAlgorithms } from '../../erofs/compress/config.js';
import { loadNativeDecoders } from '../../erofs/compress/decoders.js';
import { ErofsError } from '../../erofs/errors.js';
import { ErofsImage } from '../../erofs/image.js';
import { blocksOf, type ErofsInode, isDirectory, S_IFMT } from '../../erofs/inode.js';
import {
  type Attr,
  type DirEntry,
  type Entry,
  Errno,
  type Filesystem,
  FsError,
  type OpenResult,
  type StatFs,
} from '../filesystem.js';
import type { BackendSpec } from '../transport.js';

/**
 * The TypeScript EROFS reader as a FUSE backend. Node ids are the inode numbers the kernel's
 * EROFS driver shows (the nids), so `ls -i` agrees between the two mounts. The reader's own caches
 * (pages, inodes, directory blocks) are all the state there is; opens and opendirs are stateless.
 * A corrupt region fails only the operations that touch it, with EIO; the daemon keeps serving.
 */

const O_ACCMODE = 0o3;
const O_TRUNC = 0o1000;
const NAME_MAX = 255;
/** Directory cookies: 1 is a synthesized `.` (dot-omitted directories); block b, entry i is 2 + b·8192 + i. */
const ENTRIES_PER_BLOCK_SLOT = 8192;
const DOT_COOKIE = 1;
const DOT = Buffer.from('.');
/** Corruption is reported on stderr, but a hostile image must not flood the log. */
const MAX_LOGGED_ERRORS = 20;

/** EROFS_FT_* to S_IF* type bits for directory entries. */
const typeBitsOfFileType = [0, 0o100000, 0o040000, 0o020000, 0o060000, 0o010000, 0o140000, 0o120000];

export function createErofsBackend(spec: BackendSpec): Filesystem {
  let image: ErofsImage;
  try {
    image = ErofsImage.open(spec.source, { devices: spec.devices ?? [] });
  } catch (error) {
    if (error instanceof ErofsError) throw new FsError(Errno.EIO, `${spec.source}: ${error.message}`);
    throw error;
  }
  if (spec.preload) loadNativeDecoders(declaredAlgorithms(image.sb));
  return new ErofsBackend(image);
}

class ErofsBackend implements Filesystem {
  readonly rootId: number;
  private loggedErrors = 0;

  constructor(private readonly image: ErofsImage) {
    this.rootId = image.rootIno;
  }

  /** Runs one operation; image corruption becomes EIO for this operation only. */
  private guard<T>(body: () => T): T {
    try {
      return body();
    } catch (error) {
      throw this.failure(error);
    }
  }

  /** What an operation that threw `error` throws: EIO for image corruption (logged), else `error`. */
  private failure(error: unknown): unknown {
    if (error instanceof FsError || !(error instanceof ErofsError)) return error;
    if (this.loggedErrors < MAX_LOGGED_ERRORS) {
      this.loggedErrors++;
      process.stderr.write(
        `fusebench: ${error.message}${this.loggedErrors === MAX_LOGGED_ERRORS ? ' (further errors not shown)' : ''}\n`,
      );
    }
    return new FsError(Errno.EIO, error.message);
  }

  private inode(id: number): ErofsInode {
    return this.image.inode(id);
  }

  private attrOf(inode: ErofsInode): Attr {
    const time = { sec: inode.mtime, nsec: inode.mtimeNsec };
    return {
      ino: inode.ino,
      mode: inode.mode,
      nlink: inode.nlink,
      uid: inode.uid,
      gid: inode.gid,
      // new_encode_dev: minor's low 8 bits, major, then minor's upper bits.
      rdev: ((inode.rdevMinor & 0xff) | (inode.rdevMajor << 8) | ((inode.rdevMinor & ~0xff) << 12)) >>> 0,
      size: inode.size,
      blocks: blocksOf(this.image.sb, inode),
      blksize: this.image.sb.blockSize,
      atime: time,
      mtime: time,
      ctime: time,
    };
  }

  private directory(id: number): ErofsInode {
    const inode = this.inode(id);
    if (!isDirectory(inode)) throw new FsError(Errno.ENOTDIR);
    return inode;
  }

  lookup(parent: number, name: Buffer): Entry {
    return this.guard(() => {
      if (name.length > NAME_MAX) throw new FsError(Errno.ENAMETOOLONG);
      const child = this.image.lookup(this.directory(parent), name);
      if (child === null) throw new FsError(Errno.ENOENT);
      return { id: child, attr: this.attrOf(this.inode(child)) };
    });
  }

  lookupListed(_parent: number, entry: DirEntry): Entry {
    // Listing ids are inode numbers of the listed nids: the entry's inode, no name search.
    return this.guard(() => ({ id: entry.id, attr: this.attrOf(this.inode(entry.id)) }));
  }

  forget(): void {}

  getattr(id: number): Attr {
    return this.guard(() => this.attrOf(this.inode(id)));
  }

  readlink(id: number): Buffer {
    return this.guard(() => {
      const inode = this.inode(id);
      if ((inode.mode & S_IFMT) !== 0o120000) throw new FsError(Errno.EINVAL);
      return this.image.readlink(inode);
    });
  }

  open(id: number, flags: number): OpenResult {
    return this.guard(() => {
      if ((flags & O_ACCMODE) !== 0 || flags & O_TRUNC) throw new FsError(Errno.EROFS);
      if (isDirectory(this.inode(id))) throw new FsError(Errno.EISDIR);
      // The image never changes: page cache may outlive an open.
      return { fh: 0, keepCache: true };
    });
  }

  read(id: number, _fh: number, offset: number, size: number, target: Buffer, at: number): number {
    // Not through guard(): its closure is an allocation per READ, the most frequent request.
    try {
      return this.image.readInto(this.inode(id), offset, size, target, at);
    } catch (error) {
      throw this.failure(error);
    }
  }

  release(): void {}

  opendir(id: number): number {
    return this.guard(() => {
      this.directory(id);
      return 0;
    });
  }

  readdir(id: number, _fh: number, offset: number, limit: number): DirEntry[] {
    return this.guard(() => {
      const dir = this.directory(id);
      const entries: DirEntry[] = [];
      if (offset === 0 && dir.dotOmitted) {
        entries.push({ name: DOT, id, type: 0o040000, offset: DOT_COOKIE });
      }
      const resume = offset <= DOT_COOKIE ? 0 : offset - 2 + 1;
      let block = Math.floor(resume / ENTRIES_PER_BLOCK_SLOT);
      let index = resume % ENTRIES_PER_BLOCK_SLOT;
      const blocks = this.image.dirBlockCount(dir);
      for (; block < blocks && entries.length < limit; block++, index = 0) {
        const records = this.image.dirBlock(dir, block);
        for (; index < records.length && entries.length < limit; index++) {
          const record = records[index]!;
          entries.push({
            name: record.name,
            id: this.image.inoOfNid(record.nid),
            type: typeBitsOfFileType[record.fileType] ?? 0,
            offset: 2 + block * ENTRIES_PER_BLOCK_SLOT + index,
          });
        }
      }
      return entries;
    });
  }

  releasedir(): void {}

  statfs(): StatFs {
    const { sb } = this.image;
    return {
      blocks: this.image.totalBlocks,
      bfree: 0,
      bavail: 0,
      files: sb.inodeCount,
      ffree: 0,
      bsize: sb.blockSize,
      frsize: sb.blockSize,
      namelen: NAME_MAX,
    };
  }

  getxattr(id: number, name: Buffer): Buffer {
    return this.guard(() => {
      const found = this.image.xattrs(this.inode(id)).find((xattr) => xattr.name.equals(name));
      if (!found) throw new FsError(Errno.ENODATA);
      return found.value;
    });
  }

  listxattr(id: number): Buffer[] {
    return this.guard(() => this.image.xattrs(this.inode(id)).map((xattr) => xattr.name));
  }

  destroy(): void {
    this.image.close();
  }
}
