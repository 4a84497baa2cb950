import { createHash } from 'node:crypto';
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { syscalls } from './syscalls.js';

/**
 * The walk format shared by `fusebench erofs walk --json` and walks of mounted trees, so a
 * reader's view and the kernel's can be compared line for line: one record per path, sorted by
 * the path's UTF-8 bytes, root first as `/`.
 */
export type WalkType = 'file' | 'dir' | 'symlink' | 'chr' | 'blk' | 'fifo' | 'sock';

export interface WalkRecord {
  path: string;
  type: WalkType;
  mode: number;
  size: number;
  uid: number;
  gid: number;
  mtime: number;
  mtimeNs: number;
  nlink: number;
  ino: number;
  /** Name → value as lowercase hex, sorted by name. */
  xattrs: Record<string, string>;
  rdev?: [number, number];
  target?: string;
  sha256?: string;
}

const typeByFormat = new Map<number, WalkType>([
  [0o100000, 'file'],
  [0o040000, 'dir'],
  [0o120000, 'symlink'],
  [0o020000, 'chr'],
  [0o060000, 'blk'],
  [0o010000, 'fifo'],
  [0o140000, 'sock'],
]);

export function walkTypeOf(mode: number): WalkType {
  const type = typeByFormat.get(mode & 0o170000);
  if (!type) throw new Error(`unknown file type in mode 0${mode.toString(8)}`);
  return type;
}

export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** One JSON line with keys in a fixed (sorted) order, so equal records print equal lines. */
export function formatWalkRecord(record: WalkRecord): string {
  const sorted = Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return JSON.stringify(sorted);
}

/** Sorted xattrs as the walk shows them. */
export function xattrRecord(entries: Iterable<[string, Buffer]>): Record<string, string> {
  return Object.fromEntries(
    [...entries].sort(([a], [b]) => comparePaths(a, b)).map(([name, value]) => [name, value.toString('hex')]),
  );
}

const HASH_CHUNK = 1 << 20;

/** sha256 of a file's content, read in 1 MiB chunks. */
export function hashFile(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(HASH_CHUNK);
    for (;;) {
      const got = readSync(fd, buffer, 0, HASH_CHUNK, null);
      if (got === 0) break;
      hash.update(buffer.subarray(0, got));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/**
 * Walks a mounted tree the way the kernel shows it: lstat, listxattr/getxattr without following
 * links, readlink, content hash. Paths in the records are relative to `root`, written absolute.
 */
export function walkMountedTree(root: string): WalkRecord[] {
  const records: WalkRecord[] = [];
  const visit = (relative: string) => {
    const full = relative === '/' ? root : join(root, relative);
    const stat = lstatSync(full, { bigint: true });
    const mode = Number(stat.mode);
    const type = walkTypeOf(mode);
    const names = syscalls.llistxattr(full);
    const record: WalkRecord = {
      path: relative,
      type,
      mode,
      size: Number(stat.size),
      uid: Number(stat.uid),
      gid: Number(stat.gid),
      mtime:
        Number(stat.mtimeNs / 1_000_000_000n) -
        (stat.mtimeNs < 0n && stat.mtimeNs % 1_000_000_000n !== 0n ? 1 : 0),
      mtimeNs: Number(((stat.mtimeNs % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n),
      nlink: Number(stat.nlink),
      ino: Number(stat.ino),
      xattrs: xattrRecord(names.map((name) => [name.toString(), syscalls.lgetxattr(full, name)])),
    };
    if (type === 'chr' || type === 'blk') record.rdev = decodeDev(stat.rdev);
    if (type === 'symlink') record.target = readlinkSync(full, { encoding: 'buffer' }).toString();
    if (type === 'file') record.sha256 = hashFile(full);
    records.push(record);
    if (type === 'dir') {
      for (const name of readdirSync(full, { encoding: 'buffer' })) {
        visit(relative === '/' ? `/${name.toString()}` : `${relative}/${name.toString()}`);
      }
    }
  };
  visit('/');
  return records.sort((a, b) => comparePaths(a.path, b.path));
}

/** glibc's major()/minor() of a 64-bit dev_t. */
function decodeDev(dev: bigint): [number, number] {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return [Number(major), Number(minor & 0xffffffffn)];
}
