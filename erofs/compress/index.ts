import { ErofsUnsupportedError } from '../errors.js';

/**
 * Entry point of compressed-data reading (COMPRESSED_FULL and COMPRESSED_COMPACT layouts).
 * Placeholder until the compression work lands: the uncompressed reader calls this for layouts 1 and 3.
 */
export function readCompressed(
  _image: unknown,
  inode: { nid: number; dataLayout: number },
  _position: number,
  _length: number,
): Buffer {
  throw new ErofsUnsupportedError(`compressed data layout ${inode.dataLayout} is not supported yet`, {
    nid: inode.nid,
  });
}
