import { createHash } from 'node:crypto';
import { comparePaths, type WalkRecord, walkTypeOf, xattrRecord } from '../lib/tree-walk.js';
import { ErofsCorruptError } from './errors.js';
import type { ErofsImage } from './image.js';
import { type ErofsInode, isDirectory } from './inode.js';

/** File content is hashed in pieces of this size, so a huge file never becomes one buffer. */
const HASH_PIECE = 1 << 20;

/** The walk record of one inode: what lstat, listxattr/getxattr, readlink and a content hash show. */
export function walkRecordOf(image: ErofsImage, path: string, inode: ErofsInode): WalkRecord {
  const type = walkTypeOf(inode.mode);
  const record: WalkRecord = {
    path,
    type,
    mode: inode.mode,
    size: inode.size,
    uid: inode.uid,
    gid: inode.gid,
    mtime: inode.mtime,
    mtimeNs: inode.mtimeNsec,
    nlink: inode.nlink,
    ino: inode.ino,
    xattrs: xattrRecord(image.xattrs(inode).map((xattr) => [xattr.name.toString(), xattr.value])),
  };
  if (type === 'chr' || type === 'blk') record.rdev = [inode.rdevMajor, inode.rdevMinor];
  if (type === 'symlink') record.target = image.readlink(inode).toString();
  if (type === 'file') record.sha256 = hashContent(image, inode);
  return record;
}

export function hashContent(image: ErofsImage, inode: ErofsInode): string {
  const hash = createHash('sha256');
  for (let position = 0; position < inode.size; position += HASH_PIECE) {
    hash.update(image.read(inode, position, HASH_PIECE));
  }
  return hash.digest('hex');
}

/**
 * Every path of the image, sorted by UTF-8 bytes, root first. A directory reached twice (a nid
 * loop or a directory hard link) is corruption, so the walk always ends.
 */
export function walkImage(image: ErofsImage): WalkRecord[] {
  const records: WalkRecord[] = [];
  const seenDirectories = new Set<number>();
  const pending: Array<{ path: string; ino: number }> = [{ path: '/', ino: image.rootIno }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const inode = image.inode(next.ino);
    records.push(walkRecordOf(image, next.path, inode));
    if (!isDirectory(inode)) continue;
    if (seenDirectories.has(inode.ino)) {
      throw new ErofsCorruptError(`directory ${next.path} is reachable twice (a directory loop)`, {
        nid: inode.ino,
      });
    }
    seenDirectories.add(inode.ino);
    for (const entry of image.entries(inode)) {
      const name = entry.name.toString();
      if (name === '.' || name === '..') continue;
      pending.push({ path: next.path === '/' ? `/${name}` : `${next.path}/${name}`, ino: entry.ino });
    }
  }
  return records.sort((a, b) => comparePaths(a.path, b.path));
}
