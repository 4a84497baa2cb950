import { ByteView } from './bytes.js';
import { ErofsCorruptError } from './errors.js';
import {
  EROFS_NAME_LEN,
  EROFS_XATTR_LONG_PREFIX,
  EROFS_XATTR_LONG_PREFIX_MASK,
  XattrEntry,
  XattrIbodyHeader,
  xattrIndexPrefixes,
} from './format.js';
import type { ErofsInode } from './inode.js';

/** One extended attribute with its full name (prefix + suffix) as raw bytes. */
export interface Xattr {
  name: Buffer;
  value: Buffer;
}

/** A long name prefix (struct erofs_xattr_long_prefix): a short prefix index plus an infix. */
export interface LongPrefix {
  baseIndex: number;
  infix: Buffer;
}

export interface XattrContext {
  /** Reads bytes of the inode's own metadata space (inline xattrs follow the inode). */
  readInodeMeta(inode: ErofsInode, offset: number, length: number, what: string): Buffer;
  /** Reads bytes of the shared xattr area at `id` × 4. */
  readShared(id: number, length: number, what: string): Buffer;
  longPrefixes(): LongPrefix[];
}

/** The full name prefix of an entry's e_name_index, or null for an index the kernel ignores. */
function prefixOf(context: XattrContext, index: number, ino: number, offset: number): Buffer | null {
  if (index & EROFS_XATTR_LONG_PREFIX) {
    const prefix = context.longPrefixes()[index & EROFS_XATTR_LONG_PREFIX_MASK];
    if (!prefix) {
      throw new ErofsCorruptError(
        `xattr long prefix ${index & EROFS_XATTR_LONG_PREFIX_MASK} does not exist`,
        {
          nid: ino,
          offset,
        },
      );
    }
    const base = xattrIndexPrefixes[prefix.baseIndex];
    return base === undefined ? null : Buffer.concat([Buffer.from(base), prefix.infix]);
  }
  const base = xattrIndexPrefixes[index];
  return base === undefined ? null : Buffer.from(base);
}

/** Decodes one entry starting in `read` at `offset`; returns it and the aligned offset after it. */
function decodeEntry(
  context: XattrContext,
  read: (offset: number, length: number, what: string) => Buffer,
  offset: number,
  ino: number,
): { xattr: Xattr | null; next: number } {
  const header = new ByteView(read(offset, XattrEntry.SIZE, 'xattr entry'), offset, ino);
  const nameLength = header.u8(XattrEntry.nameLen);
  const index = header.u8(XattrEntry.nameIndex);
  const valueSize = header.u16(XattrEntry.valueSize);
  const body = read(offset + XattrEntry.SIZE, nameLength + valueSize, 'xattr name and value');
  const next = offset + Math.ceil((XattrEntry.SIZE + nameLength + valueSize) / 4) * 4;
  const prefix = prefixOf(context, index, ino, offset);
  if (prefix === null) return { xattr: null, next };
  const name = Buffer.concat([prefix, body.subarray(0, nameLength)]);
  if (name.length > EROFS_NAME_LEN) {
    throw new ErofsCorruptError(`xattr name of ${name.length} bytes`, { nid: ino, offset });
  }
  return { xattr: { name, value: Buffer.from(body.subarray(nameLength)) }, next };
}

/**
 * Every xattr of an inode in the kernel's listxattr order: inline ones, then shared ones.
 * Loops are bounded by the inline area's size (at most 256 KiB) and h_shared_count (≤ 255).
 */
export function readXattrs(context: XattrContext, inode: ErofsInode): Xattr[] {
  if (inode.xattrSize === 0) return [];
  const start = inode.offset + inode.inodeSize;
  const end = start + inode.xattrSize;
  if (inode.xattrSize < XattrIbodyHeader.SIZE) {
    throw new ErofsCorruptError(`xattr body of ${inode.xattrSize} bytes`, { nid: inode.ino, offset: start });
  }
  const read = (offset: number, length: number, what: string) => {
    if (offset + length > end) {
      throw new ErofsCorruptError(`${what} runs past the inode's ${inode.xattrSize}-byte xattr body`, {
        nid: inode.ino,
        offset,
      });
    }
    return context.readInodeMeta(inode, offset, length, what);
  };
  const header = new ByteView(read(start, XattrIbodyHeader.SIZE, 'xattr header'), start, inode.ino);
  const sharedCount = header.u8(XattrIbodyHeader.sharedCount);
  const sharedIds = new ByteView(
    read(start + XattrIbodyHeader.SIZE, sharedCount * 4, 'shared xattr ids'),
    start,
  );
  const shared: Xattr[] = [];
  for (let index = 0; index < sharedCount; index++) {
    const id = sharedIds.u32(index * 4, 'shared xattr id');
    const { xattr } = decodeEntry(
      context,
      (offset, length, what) => context.readShared(offset, length, what),
      id * 4,
      inode.ino,
    );
    if (xattr) shared.push(xattr);
  }
  const xattrs: Xattr[] = [];
  let offset = start + XattrIbodyHeader.SIZE + sharedCount * 4;
  while (offset < end) {
    const { xattr, next } = decodeEntry(context, read, offset, inode.ino);
    if (xattr) xattrs.push(xattr);
    offset = next;
  }
  return xattrs.concat(shared);
}

/**
 * Decodes the long prefix table: `count` records, each a le16 length (4-byte aligned) then
 * base_index and the infix. `read` reads the table's space (plain on disk, packed inode or metabox).
 */
export function readLongPrefixes(
  count: number,
  start: number,
  read: (offset: number, length: number, what: string) => Buffer,
): LongPrefix[] {
  const prefixes: LongPrefix[] = [];
  let offset = start;
  for (let index = 0; index < count; index++) {
    offset = Math.ceil(offset / 4) * 4;
    const length = new ByteView(read(offset, 2, 'xattr prefix length'), offset).u16(0);
    if (length < 1 || length > EROFS_NAME_LEN + 1) {
      throw new ErofsCorruptError(`xattr long prefix ${index} has length ${length}`, { offset });
    }
    const record = read(offset + 2, length, 'xattr long prefix');
    prefixes.push({ baseIndex: record[0]!, infix: Buffer.from(record.subarray(1)) });
    offset += 2 + length;
  }
  return prefixes;
}
