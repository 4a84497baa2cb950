import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { syscalls } from '../lib/syscalls.js';

/**
 * The manifest of a dataset: every path of the source tree with what workloads need to build
 * their op streams (type, size, xattr names, link targets), and a content hash that changes when
 * anything a filesystem would show changes. Workloads get the manifest, never the tree, so every
 * setup receives the identical op stream.
 */

export type ManifestType = 'file' | 'dir' | 'symlink' | 'other';

export interface ManifestEntry {
  /** Relative POSIX path; '' is the root. */
  path: string;
  type: ManifestType;
  size: number;
  /** Host inode number, to recognise hard links (several paths, one inode). */
  ino: number;
  nlink: number;
  xattrNames: string[];
  /** sha256 (hex) of a regular file's bytes, what read verification compares with; null otherwise. */
  sha256: string | null;
}

export interface Manifest {
  entries: ManifestEntry[];
  contentHash: string;
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

const HASH_CHUNK = 1024 * 1024;

function typeOf(mode: number): ManifestType {
  switch (mode & 0o170000) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'dir';
    case 0o120000:
      return 'symlink';
    default:
      return 'other';
  }
}

/** Reads a file from start to end through `buffer`, handing each chunk to `use`; returns its size. */
export function readChunks(path: string, buffer: Buffer, use: (chunk: Buffer) => void): number {
  let size = 0;
  const fd = openSync(path, 'r');
  try {
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) break;
      use(buffer.subarray(0, read));
      size += read;
    }
  } finally {
    closeSync(fd);
  }
  return size;
}

/** Feeds the file's bytes to the tree's hash and returns the file's own sha256. */
function hashFile(path: string, hash: ReturnType<typeof createHash>, buffer: Buffer): string {
  const own = createHash('sha256');
  readChunks(path, buffer, (chunk) => {
    hash.update(chunk);
    own.update(chunk);
  });
  return own.digest('hex');
}

/** Manifests cached before files carried their own checksum lack `sha256`: they are rebuilt. */
export function hasFileChecksums(manifest: Manifest): boolean {
  return manifest.entries.every((entry) => entry.type !== 'file' || typeof entry.sha256 === 'string');
}

/** Walks `root` in sorted order (parents first) and hashes every visible attribute and byte. */
export function buildManifest(root: string): Manifest {
  const entries: ManifestEntry[] = [];
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(HASH_CHUNK);
  const totals = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const pending = [''];
  while (pending.length > 0) {
    const relative = pending.pop()!;
    const absolute = relative === '' ? root : join(root, relative);
    const stat = lstatSync(absolute);
    const type = typeOf(stat.mode);
    const xattrNames = syscalls
      .llistxattr(absolute)
      .map((name) => name.toString())
      .sort();
    const entry: ManifestEntry = {
      path: relative,
      type,
      size: type === 'file' ? stat.size : 0,
      ino: stat.ino,
      nlink: stat.nlink,
      xattrNames,
      sha256: null,
    };
    entries.push(entry);
    // A directory's size is the host filesystem's business, not the dataset's: leave it out.
    const size = type === 'dir' ? 0 : stat.size;
    hash.update(
      `${relative}\0${stat.mode}\0${stat.uid}\0${stat.gid}\0${size}\0${stat.mtimeMs}\0${stat.rdev}\0`,
    );
    for (const name of xattrNames)
      hash.update(`${name}=`).update(syscalls.lgetxattr(absolute, name)).update('\0');
    if (type === 'file') {
      totals.files++;
      totals.bytes += stat.size;
      entry.sha256 = hashFile(absolute, hash, buffer);
    } else if (type === 'symlink') {
      totals.symlinks++;
      hash.update(readlinkSync(absolute, { encoding: 'buffer' }));
    } else if (type === 'dir') {
      totals.dirs++;
      const children = readdirSync(absolute).sort().reverse();
      for (const child of children) pending.push(relative === '' ? child : `${relative}/${child}`);
    }
    hash.update('\n');
  }
  return { entries, contentHash: hash.digest('hex'), ...totals };
}
