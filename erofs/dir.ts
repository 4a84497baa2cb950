import { ByteView } from './bytes.js';
import { Dirent, EROFS_NAME_LEN } from './format.js';

/** One on-disk directory entry. */
export interface DirEntryRecord {
  name: Buffer;
  /** The raw le64 nid (bit 63: in the metabox). */
  nid: bigint;
  fileType: number;
}

/**
 * Decodes one directory block (erofs_fill_dentries): the first nameoff gives the entry count;
 * each name runs to the next entry's nameoff, the last to the first NUL or the block's end.
 * `blockOffset` is the block's position in the directory, for error messages.
 */
export function decodeDirBlock(block: Buffer, ino: number, blockOffset: number): DirEntryRecord[] {
  const view = new ByteView(block, blockOffset, ino);
  const firstNameoff = view.u16(Dirent.nameoff, 'first dirent nameoff');
  if (firstNameoff < Dirent.SIZE || firstNameoff >= block.length || firstNameoff % Dirent.SIZE !== 0) {
    throw view.corrupt(`bogus first dirent nameoff ${firstNameoff} in a ${block.length}-byte block`, 8);
  }
  const count = firstNameoff / Dirent.SIZE;
  const entries: DirEntryRecord[] = [];
  let expectedNameoff = firstNameoff;
  for (let index = 0; index < count; index++) {
    const at = index * Dirent.SIZE;
    const nameoff = view.u16(at + Dirent.nameoff, 'dirent nameoff');
    if (nameoff !== expectedNameoff) {
      throw view.corrupt(
        `dirent ${index} nameoff ${nameoff}, expected ${expectedNameoff}`,
        at + Dirent.nameoff,
      );
    }
    let nameLength: number;
    if (index + 1 < count) {
      nameLength = view.u16(at + Dirent.SIZE + Dirent.nameoff, 'dirent nameoff') - nameoff;
    } else {
      const nul = block.indexOf(0, nameoff);
      nameLength = (nul < 0 ? block.length : nul) - nameoff;
    }
    if (nameLength < 1 || nameLength > EROFS_NAME_LEN || nameoff + nameLength > block.length) {
      throw view.corrupt(`dirent ${index} has a bogus name length ${nameLength}`, at);
    }
    entries.push({
      name: view.bytes(nameoff, nameLength, 'dirent name'),
      nid: view.u64(at + Dirent.nid, 'dirent nid'),
      fileType: view.u8(at + Dirent.fileType, 'dirent file_type'),
    });
    expectedNameoff = nameoff + nameLength;
  }
  return entries;
}

/** Byte-wise name order, as mkfs.erofs sorts and the kernel's erofs_dirnamecmp compares. */
export function compareNames(a: Buffer, b: Buffer): number {
  return Buffer.compare(a, b);
}

/**
 * The kernel's lookup: binary search over blocks by each block's first name, then over the
 * chosen block's entries. `blockAt` decodes block i of `blockCount`; the search reads O(log n) blocks.
 */
export function lookupInBlocks(
  blockCount: number,
  blockAt: (index: number) => DirEntryRecord[],
  name: Buffer,
): DirEntryRecord | null {
  let low = 0;
  let high = blockCount - 1;
  let candidate = -1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const first = blockAt(middle)[0];
    if (!first) return null;
    const order = compareNames(name, first.name);
    if (order === 0) return first;
    if (order > 0) {
      candidate = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  if (candidate < 0) return null;
  const entries = blockAt(candidate);
  let left = 0;
  let right = entries.length - 1;
  while (left <= right) {
    const middle = (left + right) >>> 1;
    const entry = entries[middle]!;
    const order = compareNames(name, entry.name);
    if (order === 0) return entry;
    if (order > 0) left = middle + 1;
    else right = middle - 1;
  }
  return null;
}
