/**
 * The reader's two error kinds. Every failure caused by the image's bytes is one of these,
 * so callers (the FUSE backend, the fuzzer) can tell "bad image" from "bug in the reader".
 */

/** Where in the image a problem was found; both parts are optional but at least one should be known. */
export interface ErofsLocation {
  /** nid of the inode being decoded, when there is one. */
  nid?: number | bigint;
  /** Byte offset in the image (or in the named device) of the bad field or record. */
  offset?: number | bigint;
}

export abstract class ErofsError extends Error {
  readonly nid: number | bigint | undefined;
  readonly offset: number | bigint | undefined;

  constructor(what: string, where: ErofsLocation = {}) {
    super(`${what}${formatLocation(where)}`);
    this.nid = where.nid;
    this.offset = where.offset;
  }
}

/** The image contradicts the format or itself: a field out of range, a loop, a truncated record. */
export class ErofsCorruptError extends ErofsError {
  override readonly name = 'ErofsCorruptError';
}

/** The image is valid but uses something this reader does not do (unknown incompat bit, missing device). */
export class ErofsUnsupportedError extends ErofsError {
  override readonly name = 'ErofsUnsupportedError';
}

function formatLocation({ nid, offset }: ErofsLocation): string {
  const parts: string[] = [];
  if (nid !== undefined) parts.push(`nid ${nid}`);
  if (offset !== undefined) parts.push(`offset 0x${offset.toString(16)}`);
  return parts.length > 0 ? ` @ ${parts.join(', ')}` : '';
}
