import { ErofsUnsupportedError } from '../errors.js';
import type { ErofsImage } from '../image.js';
import type { ErofsInode } from '../inode.js';

/**
 * Entry point of compressed-data reading (COMPRESSED_FULL and COMPRESSED_COMPACT layouts).
 * Not implemented yet: the uncompressed reader calls this for layouts 1 and 3, and callers get a
 * typed "unsupported" error (EIO/EOPNOTSUPP over FUSE) instead of wrong bytes.
 */
export function readCompressed(
  _image: ErofsImage,
  inode: ErofsInode,
  _position: number,
  _length: number,
): Buffer {
  throw new ErofsUnsupportedError(`compressed data layout ${inode.dataLayout} is not supported yet`, {
    nid: inode.ino,
  });
}
