import {
  type BigIntStats,
  closeSync,
  constants,
  type Dirent,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  statfsSync,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import { syscalls } from '../../lib/syscalls.js';
import {
  type Attr,
  type DirEntry,
  type Entry,
  Errno,
  type Filesystem,
  FsError,
  type OpenResult,
  type StatFs,
  type Timespec,
} from '../filesystem.js';

/**
 * A read-only passthrough of a directory on a native filesystem, the baseline that shows what the
 * FUSE round trip costs without any image decoding. Node ids are the host inode numbers, so the
 * mount shows the same st_ino as the source (one filesystem only: a mount inside the source would
 * collide). Paths are kept as raw bytes so names that are not UTF-8 pass through unchanged.
 */

const EOVERFLOW = 75;
const SLASH = Buffer.from('/');
const DOT = Buffer.from('.');
const DOTDOT = Buffer.from('..');

interface Node {
  path: Buffer;
  /** Lookups the kernel holds on this id (FUSE lookup count); the root is never dropped. */
  lookups: number;
}

interface DirHandle {
  /** The listing as of opendir, without `.` and `..`; cookies index into it. */
  entries: Dirent<Buffer>[];
  parentId: number;
}

/** Any host failure as the FsError the kernel should see (the host's own errno). */
function hostError(error: unknown): FsError {
  if (error instanceof FsError) return error;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const errno = code ? (osConstants.errno as Record<string, number>)[code] : undefined;
  return new FsError(errno ?? Errno.EIO, error instanceof Error ? error.message : String(error));
}

/** Runs `body` and lets only FsError escape. */
function guarded<T>(body: () => T): T {
  try {
    return body();
  } catch (error) {
    throw hostError(error);
  }
}

function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new FsError(EOVERFLOW, `${what} ${value} does not fit a JS number`);
  }
  return Number(value);
}

function timespecOf(ns: bigint): Timespec {
  let sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += 1_000_000_000n;
  }
  return { sec: Number(sec), nsec: Number(nsec) };
}

/** glibc's dev_t (what stat returns) as the kernel's new_encode_dev, which FUSE attributes carry. */
export function newEncodeDev(dev: bigint): number {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return Number((minor & 0xffn) | (major << 8n) | ((minor & ~0xffn) << 12n)) >>> 0;
}

export function attrOf(stats: BigIntStats): Attr {
  return {
    ino: safeNumber(stats.ino, 'inode number'),
    mode: Number(stats.mode),
    nlink: safeNumber(stats.nlink, 'link count'),
    uid: Number(stats.uid),
    gid: Number(stats.gid),
    rdev: newEncodeDev(stats.rdev),
    size: safeNumber(stats.size, 'size'),
    blocks: safeNumber(stats.blocks, 'block count'),
    blksize: Number(stats.blksize),
    atime: timespecOf(stats.atimeNs),
    mtime: timespecOf(stats.mtimeNs),
    ctime: timespecOf(stats.ctimeNs),
  };
}

function direntType(entry: Dirent<Buffer>): number {
  if (entry.isFile()) return constants.S_IFREG;
  if (entry.isDirectory()) return constants.S_IFDIR;
  if (entry.isSymbolicLink()) return constants.S_IFLNK;
  if (entry.isCharacterDevice()) return constants.S_IFCHR;
  if (entry.isBlockDevice()) return constants.S_IFBLK;
  if (entry.isFIFO()) return constants.S_IFIFO;
  if (entry.isSocket()) return constants.S_IFSOCK;
  return 0;
}

const WRITE_FLAGS =
  constants.O_WRONLY | constants.O_RDWR | constants.O_TRUNC | constants.O_APPEND | constants.O_CREAT;

export function createPassthroughBackend(sourceDir: string): Filesystem {
  const rootPath = Buffer.from(sourceDir);
  const rootStats = guarded(() => lstatSync(rootPath, { bigint: true }));
  if (!rootStats.isDirectory()) throw new FsError(Errno.ENOTDIR, `${sourceDir} is not a directory`);
  const rootId = safeNumber(rootStats.ino, 'inode number');
  const nodes = new Map<number, Node>([[rootId, { path: rootPath, lookups: 1 }]]);
  const dirs = new Map<number, DirHandle>();
  const files = new Set<number>();
  let nextDirHandle = 1;
  // O_NOATIME needs ownership or CAP_FOWNER; once refused, later opens do without it.
  let noatime = constants.O_NOATIME;

  function pathOf(id: number): Buffer {
    const node = nodes.get(id);
    if (!node) throw new FsError(Errno.ENOENT, `unknown node ${id}`);
    return node.path;
  }

  function childPath(parent: Buffer, name: Buffer): Buffer {
    return Buffer.concat([parent, SLASH, name]);
  }

  function idOfPath(path: Buffer): number {
    return safeNumber(lstatSync(path, { bigint: true }).ino, 'inode number');
  }

  return {
    rootId,

    lookup(parent, name) {
      return guarded((): Entry => {
        const parentPath = pathOf(parent);
        if (name.length === 0 || name.includes(SLASH)) throw new FsError(Errno.EINVAL, 'bad name');
        const path = name.equals(DOT)
          ? parentPath
          : name.equals(DOTDOT)
            ? parent === rootId
              ? rootPath
              : childPath(parentPath, DOTDOT)
            : childPath(parentPath, name);
        const attr = attrOf(lstatSync(path, { bigint: true }));
        const node = nodes.get(attr.ino);
        if (node) node.lookups += 1;
        else nodes.set(attr.ino, { path, lookups: 1 });
        return { id: attr.ino, attr };
      });
    },

    lookupListed(parent, entry) {
      // A listing's ids are the host's inode numbers, known here only after a lookup by name.
      return this.lookup(parent, entry.name);
    },

    forget(id, count) {
      if (id === rootId) return;
      const node = nodes.get(id);
      if (!node) return;
      node.lookups -= count;
      if (node.lookups <= 0) nodes.delete(id);
    },

    getattr(id) {
      return guarded(() => attrOf(lstatSync(pathOf(id), { bigint: true })));
    },

    readlink(id) {
      return guarded(() => readlinkSync(pathOf(id), { encoding: 'buffer' }));
    },

    open(id, flags) {
      return guarded((): OpenResult => {
        if (flags & WRITE_FLAGS) throw new FsError(Errno.EROFS, 'read-only passthrough');
        const path = pathOf(id);
        const base = constants.O_RDONLY | constants.O_NOFOLLOW;
        let fd: number;
        try {
          fd = openSync(path, base | noatime);
        } catch (error) {
          if (noatime === 0 || (error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
          noatime = 0;
          fd = openSync(path, base);
        }
        files.add(fd);
        // The same descriptor can back the open in the kernel (FOPEN_PASSTHROUGH) when the transport supports it.
        return { fh: fd, keepCache: true, backingFd: fd };
      });
    },

    read(_id, fh, offset, size, target, at) {
      return guarded(() => {
        if (!files.has(fh)) throw new FsError(Errno.EBADF, `unknown file handle ${fh}`);
        return readSync(fh, target, at, size, offset);
      });
    },

    release(_id, fh) {
      if (!files.delete(fh)) return;
      try {
        closeSync(fh);
      } catch {
        // A failed close of a read-only descriptor loses nothing.
      }
    },

    opendir(id) {
      return guarded(() => {
        const path = pathOf(id);
        const entries = readdirSync(path, { encoding: 'buffer', withFileTypes: true });
        const parentId = id === rootId ? rootId : idOfPath(childPath(path, DOTDOT));
        const handle = nextDirHandle++;
        dirs.set(handle, { entries, parentId });
        return handle;
      });
    },

    readdir(id, fh, offset, limit) {
      return guarded((): DirEntry[] => {
        const dir = dirs.get(fh);
        if (!dir) throw new FsError(Errno.EBADF, `unknown directory handle ${fh}`);
        const path = pathOf(id);
        const total = dir.entries.length + 2;
        const result: DirEntry[] = [];
        for (let index = offset; index < total && result.length < limit; index++) {
          if (index === 0) {
            result.push({ name: DOT, id, type: constants.S_IFDIR, offset: 1 });
          } else if (index === 1) {
            result.push({ name: DOTDOT, id: dir.parentId, type: constants.S_IFDIR, offset: 2 });
          } else {
            const entry = dir.entries[index - 2]!;
            let childId: number;
            try {
              childId = idOfPath(childPath(path, entry.name));
            } catch (error) {
              // Removed from the source since opendir: leave it out of the listing.
              if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
              throw error;
            }
            result.push({ name: entry.name, id: childId, type: direntType(entry), offset: index + 1 });
          }
        }
        return result;
      });
    },

    releasedir(_id, fh) {
      dirs.delete(fh);
    },

    statfs() {
      return guarded((): StatFs => {
        const stats = statfsSync(rootPath);
        return {
          blocks: stats.blocks,
          bfree: stats.bfree,
          bavail: stats.bavail,
          files: stats.files,
          ffree: stats.ffree,
          bsize: stats.bsize,
          frsize: stats.bsize,
          namelen: 255,
        };
      });
    },

    getxattr(id, name) {
      return guarded(() => syscalls.lgetxattr(pathOf(id), name));
    },

    listxattr(id) {
      return guarded(() => syscalls.llistxattr(pathOf(id)));
    },

    destroy() {
      for (const fd of files) {
        try {
          closeSync(fd);
        } catch {
          // Closing at unmount: nothing left to report to.
        }
      }
      files.clear();
      dirs.clear();
    },
  };
}
