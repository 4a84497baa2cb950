import { createRequire } from 'node:module';
import { ErofsCorruptError, type ErofsLocation, ErofsUnsupportedError } from '../errors.js';
import { CompressionAlgorithm, Z_EROFS_LZMA_MAX_DICT_SIZE, Z_EROFS_PCLUSTER_MAX_DSIZE } from '../format.js';
import { lz4DecodePartial } from './lz4.js';
import { PlainFormat } from './map.js';
import { decodeMicroLzmaStream } from './microlzma.js';

/**
 * One decoder per pcluster format. Each produces exactly `outputLength` bytes or throws
 * ErofsCorruptError: output never grows past what the extent needs (plus, for partial deflate,
 * the 12 MiB decoded-pcluster limit), and a stream that decodes short or long is corruption.
 *
 * Decoders: LZ4 — the system's liblz4 through native/lz4.c (LZ4_decompress_safe, or
 * LZ4_decompress_safe_partial when only a prefix is wanted), and the bounded JavaScript decoder
 * in lz4.ts for legacy streams without 0padding, which may run on past the pcluster's data;
 * MicroLZMA — the bounded JavaScript decoder in microlzma.ts, straight into the output buffer;
 * DEFLATE — node:zlib raw inflate; zstd — zstd-napi's streaming DCtx into a fixed-size buffer.
 */

export interface DecodeRequest {
  /** CompressionAlgorithm value or PlainFormat value. */
  format: number;
  /** The whole pcluster as stored. */
  input: Buffer;
  outputLength: number;
  /** Only a prefix of the pcluster's data is wanted (the stream may go on). */
  partial: boolean;
  /** Compressed data is right-aligned in the pcluster after zero bytes (0padding). */
  zeroPadding: boolean;
  /** How far into the pcluster the leading zeros may reach (to the end of its first block). */
  paddingLimit: number;
  blockSize: number;
  /** The extent's logical start (interlaced plain pclusters rotate by its offset in the block). */
  logical: number;
  lzmaDictSize: number;
  /** Where errors are reported: the inode and the pcluster's address. */
  where: ErofsLocation;
  /** Decode into this buffer (exactly `outputLength` bytes) instead of a new one. */
  output?: Buffer | undefined;
}

/** Decodes a pcluster into `request.output` (or a new buffer), which it returns. */
export function decodePcluster(request: DecodeRequest): Buffer {
  const { format, outputLength } = request;
  if (!Number.isSafeInteger(outputLength) || outputLength <= 0 || outputLength > Z_EROFS_PCLUSTER_MAX_DSIZE) {
    throw new ErofsCorruptError(`decoded pcluster length ${outputLength}`, request.where);
  }
  const out = request.output ?? Buffer.allocUnsafe(outputLength);
  if (out.length !== outputLength) throw new RangeError('decode target has the wrong length');
  switch (format) {
    case PlainFormat.SHIFTED:
    case PlainFormat.INTERLACED:
      copyPlain(request, out);
      break;
    case CompressionAlgorithm.LZ4:
      decodeLz4(request, out);
      break;
    case CompressionAlgorithm.LZMA:
      decodeMicroLzma(request, out);
      break;
    case CompressionAlgorithm.DEFLATE:
      decodeDeflate(request).copy(out);
      break;
    case CompressionAlgorithm.ZSTD:
      decodeZstd(request, out);
      break;
    default:
      throw new ErofsUnsupportedError(`unknown compression format ${format}`, request.where);
  }
  return out;
}

/**
 * Uncompressed pclusters. Shifted: the data starts at the pcluster's start. Interlaced: the part up
 * to the end of the extent's first block comes from the end of the pcluster, the rest from its
 * start (z_erofs_transform_plain).
 */
function copyPlain(
  { format, input, outputLength, blockSize, logical, where }: DecodeRequest,
  out: Buffer,
): void {
  if (outputLength > input.length) {
    throw new ErofsCorruptError(`plain pcluster of ${input.length} bytes cannot hold ${outputLength}`, where);
  }
  if (format === PlainFormat.SHIFTED) {
    input.copy(out, 0, 0, outputLength);
    return;
  }
  const toBlockEnd = blockSize - (logical % blockSize);
  const headStart = input.length - toBlockEnd;
  const head = Math.min(toBlockEnd, outputLength);
  if (headStart < 0) {
    throw new ErofsCorruptError(
      `interlaced pcluster of ${input.length} bytes is shorter than its rotation`,
      where,
    );
  }
  input.copy(out, 0, headStart, headStart + head);
  input.copy(out, head, 0, outputLength - head);
}

/** Skips the leading zeros of a 0padding pcluster; they must end inside its first block. */
function stripPadding(request: DecodeRequest): Buffer {
  const { input } = request;
  if (!request.zeroPadding) return input;
  const limit = Math.min(input.length, request.paddingLimit);
  const start = leadingZeros(input, limit);
  if (start >= limit) {
    throw new ErofsCorruptError(`pcluster is all padding (${limit} zero bytes)`, request.where);
  }
  return input.subarray(start);
}

/**
 * The number of zero bytes `input` starts with, counting up to `limit`. Padding is most of a
 * small pcluster and is scanned for every one a sequential read decodes: four bytes per step
 * where the buffer is aligned for it.
 */
function leadingZeros(input: Buffer, limit: number): number {
  let at = 0;
  if (input.byteOffset % 4 === 0) {
    const words = new Uint32Array(input.buffer, input.byteOffset, limit >>> 2);
    while (at < words.length && words[at] === 0) at++;
    at *= 4;
  }
  while (at < limit && input[at] === 0) at++;
  return at;
}

function lengthMismatch(request: DecodeRequest, what: string, got: number): ErofsCorruptError {
  return new ErofsCorruptError(
    `${what} decoded ${got} bytes of a pcluster that should give ${request.outputLength}`,
    request.where,
  );
}

const require = createRequire(import.meta.url);

/**
 * LZ4 from the system's liblz4, through fusebench's own addon (native/lz4.c): the lz4 package's
 * binding has no decode that stops at the bytes wanted.
 */
interface Lz4Decoder {
  /** LZ4_decompress_safe: the block `input` (exactly the stream) into `output`: bytes written, or negative when the stream is malformed or holds more than `output`. */
  decode(input: Buffer, output: Buffer): number;
  /** LZ4_decompress_safe_partial: the block's first `target` bytes into `output`, stopping there: bytes written (at most `target`), or negative. */
  decodePrefix(input: Buffer, output: Buffer, target: number): number;
}
let lz4: Lz4Decoder | null = null;

const loadLz4 = (): Lz4Decoder => require('../../../build/Release/fusebench_lz4.node') as Lz4Decoder;

function decodeLz4(request: DecodeRequest, out: Buffer): void {
  const stream = stripPadding(request);
  if (request.zeroPadding) {
    // 0padding streams end exactly at the pcluster's end: the native decoder takes the stream as
    // it is, and decodes it whole or, when only a prefix is wanted, up to that prefix's end.
    lz4 ??= loadLz4();
    const written = request.partial ? lz4.decodePrefix(stream, out, out.length) : lz4.decode(stream, out);
    if (written === out.length) return;
    if (written < 0) throw new ErofsCorruptError(`malformed LZ4 stream (error ${written})`, request.where);
    throw lengthMismatch(request, 'LZ4', written);
  }
  // Legacy streams (no 0padding) may run on past the pcluster's data: the bounded TypeScript
  // decoder stops at the output's end.
  let written: number;
  try {
    written = lz4DecodePartial(stream, out);
  } catch (error) {
    throw new ErofsCorruptError(`malformed LZ4 stream: ${(error as Error).message}`, request.where);
  }
  if (written !== out.length) throw lengthMismatch(request, 'LZ4', written);
}

/** MicroLZMA: into the output buffer, which also serves as the dictionary. */
function decodeMicroLzma(request: DecodeRequest, out: Buffer): void {
  decodeMicroLzmaStream(stripPadding(request), out, {
    dictSize: Math.min(request.lzmaDictSize, Z_EROFS_LZMA_MAX_DICT_SIZE),
    exact: !request.partial,
    where: request.where,
  });
}

/**
 * Raw DEFLATE. A whole-extent decode must end the stream at exactly the extent's length (the output
 * cap makes a longer stream fail). A prefix decode tolerates an unfinished stream and keeps the
 * prefix; its output is capped by the decoded-pcluster limit.
 */
function decodeDeflate(request: DecodeRequest): Buffer {
  // Loaded on the first DEFLATE pcluster: node:zlib costs a daemon's start 2-3 ms, and most
  // images have none.
  const { inflateRawSync, constants: zlibConstants } = require('node:zlib') as typeof import('node:zlib');
  const stream = stripPadding(request);
  let out: Buffer;
  try {
    out = request.partial
      ? inflateRawSync(stream, {
          finishFlush: zlibConstants.Z_SYNC_FLUSH,
          maxOutputLength: Z_EROFS_PCLUSTER_MAX_DSIZE,
        })
      : inflateRawSync(stream, { maxOutputLength: request.outputLength });
  } catch (error) {
    throw new ErofsCorruptError(`malformed DEFLATE stream: ${(error as Error).message}`, request.where);
  }
  if (request.partial && out.length >= request.outputLength) return out.subarray(0, request.outputLength);
  if (out.length !== request.outputLength) throw lengthMismatch(request, 'DEFLATE', out.length);
  return out;
}

interface ZstdDctx {
  decompressStream(dst: Uint8Array, src: Uint8Array): [remaining: number, produced: number, consumed: number];
  setParameter(parameter: number, value: number): void;
  reset(directive: number): void;
}
interface ZstdBinding {
  DCtx: new () => ZstdDctx;
  DParameter: { windowLogMax: number };
  ResetDirective: { sessionOnly: number };
}
let zstd: { binding: ZstdBinding; context: ZstdDctx } | null = null;

function loadZstd(): { binding: ZstdBinding; context: ZstdDctx } {
  const binding = require('zstd-napi/binding') as ZstdBinding;
  const context = new binding.DCtx();
  context.setParameter(binding.DParameter.windowLogMax, ZSTD_WINDOW_LOG_MAX);
  return { binding, context };
}

/**
 * Loads the native decoders of the algorithms in `algorithms` (a Z_EROFS_COMPRESSION_* bitmap) now
 * instead of at their first use, for a process that is about to lose the right to read its own
 * modules (a FUSE daemon dropping root). Others are not loaded: the image cannot use them.
 */
export function loadNativeDecoders(algorithms: number): void {
  if (algorithms & (1 << CompressionAlgorithm.LZ4)) lz4 ??= loadLz4();
  if (algorithms & (1 << CompressionAlgorithm.ZSTD)) zstd ??= loadZstd();
}

/** Window limit for zstd frames: covers the largest decoded pcluster (12 MiB) and bounds memory. */
const ZSTD_WINDOW_LOG_MAX = 24;
/** A stream call that neither consumes nor produces ends the loop; this bounds it regardless. */
const ZSTD_MAX_CALLS = 1024;

function decodeZstd(request: DecodeRequest, out: Buffer): void {
  const stream = stripPadding(request);
  if (!zstd) {
    zstd = loadZstd();
  }
  const { context, binding } = zstd;
  let produced = 0;
  let consumed = 0;
  let remaining = 1;
  try {
    context.reset(binding.ResetDirective.sessionOnly);
    for (let calls = 0; calls < ZSTD_MAX_CALLS; calls++) {
      const [hint, wrote, read] = context.decompressStream(out.subarray(produced), stream.subarray(consumed));
      produced += wrote;
      consumed += read;
      remaining = hint;
      if (remaining === 0 || (request.partial && produced === out.length)) break;
      if (wrote === 0 && read === 0) break;
    }
  } catch (error) {
    context.reset(binding.ResetDirective.sessionOnly);
    throw new ErofsCorruptError(`malformed zstd stream: ${(error as Error).message}`, request.where);
  }
  if (produced !== out.length) throw lengthMismatch(request, 'zstd', produced);
  if (!request.partial && remaining !== 0) {
    throw new ErofsCorruptError(`zstd frame goes on past ${out.length} bytes`, request.where);
  }
}
