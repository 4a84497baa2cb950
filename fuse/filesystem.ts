/**
 * The inode-based filesystem interface every FUSE transport serves and every backend implements.
 * It mirrors the FUSE low-level protocol closely enough that a transport adds no semantics of its own:
 * the backend decides attributes, names and errors; the transport only moves them.
 *
 * Node ids are the backend's own (for EROFS: the nid; for the passthrough: the host inode number).
 * A transport maps FUSE_ROOT_ID (1) to `rootId` and every other id to a FUSE node id of its choosing.
 * All methods are synchronous: backends read through caches and positioned reads, and a transport
 * may call them from several worker threads, each with its own backend instance.
 */

/** Seconds and nanoseconds, as struct timespec. */
export interface Timespec {
  sec: number;
  nsec: number;
}

/** What stat(2) shows for one inode. */
export interface Attr {
  /** st_ino as the kernel should show it (use_ino). */
  ino: number;
  /** Full st_mode (type bits and permissions). */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** Device number for chr/blk, encoded as the kernel's new_encode_dev (major/minor); 0 otherwise. */
  rdev: number;
  size: number;
  /** st_blocks in 512-byte units. */
  blocks: number;
  /** Preferred I/O size (st_blksize). */
  blksize: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
}

/** One directory entry. `offset` is the cookie that resumes the listing after this entry. */
export interface DirEntry {
  name: Buffer;
  id: number;
  /** st_mode type bits (S_IFREG, S_IFDIR, ...); 0 when unknown. */
  type: number;
  offset: number;
}

export interface StatFs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  frsize: number;
  namelen: number;
}

/** The result of a successful lookup: the child's id and attributes. */
export interface Entry {
  id: number;
  attr: Attr;
}

/** What the backend asks the transport to tell the kernel when a file is opened. */
export interface OpenResult {
  /** Meaningful only together with the id it was opened for: backends may give every open the same fh. */
  fh: number;
  /** The file's pages may stay cached across opens (FOPEN_KEEP_CACHE); the data never changes. */
  keepCache?: boolean;
  /** A host file descriptor the kernel may read directly (FOPEN_PASSTHROUGH), when the transport supports it. */
  backingFd?: number;
}

export interface Filesystem {
  readonly rootId: number;
  lookup(parent: number, name: Buffer): Entry;
  /** The kernel dropped `count` references to `id` (FORGET); backends that keep per-id state release it here. */
  forget(id: number, count: number): void;
  getattr(id: number): Attr;
  readlink(id: number): Buffer;
  /** `flags` are the open(2) flags; any write access must throw FsError(EROFS). */
  open(id: number, flags: number): OpenResult;
  /**
   * At most `size` bytes at `offset`, written into `target` from `at` (the transport guarantees
   * room for `size` bytes there: its reply buffer, so the data is copied once, from the backend's
   * source to the reply); returns how many were written, fewer only at the end of the file.
   */
  read(id: number, fh: number, offset: number, size: number, target: Buffer, at: number): number;
  release(id: number, fh: number): void;
  opendir(id: number): number;
  /**
   * Entries after the cookie `offset` (0 = from the start, including `.` and `..`), at most `limit` of them.
   * An empty array means the end of the directory.
   */
  readdir(id: number, fh: number, offset: number, limit: number): DirEntry[];
  /**
   * The lookup of `entry`, which `readdir` of `parent` just listed (READDIRPLUS answers one per
   * entry): what lookup(parent, entry.name) gives. A backend whose listing ids are its node ids
   * answers from `entry.id`, without searching the directory for the name again.
   */
  lookupListed(parent: number, entry: DirEntry): Entry;
  releasedir(id: number, fh: number): void;
  statfs(): StatFs;
  /** The value of one extended attribute; throws FsError(ENODATA) when absent. Names are raw bytes. */
  getxattr(id: number, name: Buffer): Buffer;
  /** All extended attribute names, each without a trailing NUL. */
  listxattr(id: number): Buffer[];
  /** Closes files and caches; called once when the filesystem is unmounted. */
  destroy(): void;
}

/** A failure to return to the kernel as -errno. Backends throw only this; anything else becomes EIO. */
export class FsError extends Error {
  override readonly name = 'FsError';
  constructor(
    readonly errno: number,
    message?: string,
  ) {
    super(message ?? `errno ${errno}`);
  }
}

/** Linux errno values the backends use. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EACCES: 13,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EFBIG: 27,
  EROFS: 30,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENODATA: 61,
  EOPNOTSUPP: 95,
} as const;

/** How a transport turns anything a backend threw into the errno it answers with. */
export function errnoOf(error: unknown): number {
  return error instanceof FsError ? error.errno : Errno.EIO;
}
