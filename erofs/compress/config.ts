import { ByteView } from '../bytes.js';
import { ErofsCorruptError, ErofsUnsupportedError } from '../errors.js';
import {
  COMPR_CFG_ALIGN,
  CompressionAlgorithm,
  DeflateCfgs,
  EROFS_SUPER_OFFSET,
  FeatureIncompat,
  Lz4Cfgs,
  LzmaCfgs,
  Z_EROFS_ALL_COMPR_ALGS,
  Z_EROFS_LZMA_MAX_DICT_SIZE,
  Z_EROFS_ZSTD_MAX_DICT_SIZE,
  ZstdCfgs,
} from '../format.js';
import { has, type SuperblockInfo } from '../superblock.js';

/** What the superblock says about compression: which algorithms exist and their parameters. */
export interface CompressionConfig {
  /** Bitmap of Z_EROFS_COMPRESSION_* algorithms extents may use. */
  algorithms: number;
  /** LZ4 streams start after zero padding (and end at the pcluster's end). */
  lz4ZeroPadding: boolean;
  lzmaDictSize: number;
  /** zstd window log (10 + cfg windowlog), 0 when the image does not say. */
  zstdWindowLog: number;
  deflateWindowBits: number;
}

/** ZSTD_WINDOWLOG_ABSOLUTEMIN: the cfg stores windowLog minus this. */
const ZSTD_WINDOWLOG_MIN = 10;
/** The smallest lzma dict_size the kernel mounts. */
const LZMA_MIN_DICT_SIZE = 4096;

/** Bitmap of the algorithms the superblock declares: without COMPR_CFGS, LZ4 only. */
export function declaredAlgorithms(sb: SuperblockInfo): number {
  // COMPR_CFGS shares its bit with BIG_PCLUSTER.
  return has(sb.featureIncompat, FeatureIncompat.BIG_PCLUSTER)
    ? sb.availableComprAlgs
    : 1 << CompressionAlgorithm.LZ4;
}

/**
 * Reads the compressor configurations that follow the superblock (z_erofs_parse_cfgs): without
 * COMPR_CFGS the image is LZ4-only. The kernel refuses to mount images whose records are bad;
 * here the first compressed read of such an image fails the same way.
 */
export function readCompressionConfig(
  sb: SuperblockInfo,
  readPrimary: (offset: number, length: number, what: string) => Buffer,
): CompressionConfig {
  const config: CompressionConfig = {
    algorithms: 1 << CompressionAlgorithm.LZ4,
    lz4ZeroPadding: has(sb.featureIncompat, FeatureIncompat.LZ4_0PADDING),
    lzmaDictSize: Z_EROFS_LZMA_MAX_DICT_SIZE,
    zstdWindowLog: 0,
    deflateWindowBits: 15,
  };
  if (!has(sb.featureIncompat, FeatureIncompat.BIG_PCLUSTER)) return config;
  const algorithms = declaredAlgorithms(sb);
  if (algorithms & ~Z_EROFS_ALL_COMPR_ALGS) {
    throw new ErofsUnsupportedError(
      `unknown compression algorithms 0x${(algorithms & ~Z_EROFS_ALL_COMPR_ALGS).toString(16)}`,
      { offset: EROFS_SUPER_OFFSET },
    );
  }
  config.algorithms = algorithms;
  let offset = EROFS_SUPER_OFFSET + sb.superblockSize;
  for (let algorithm = 0; algorithm < 16; algorithm++) {
    if (!(algorithms & (1 << algorithm))) continue;
    offset = Math.ceil(offset / COMPR_CFG_ALIGN) * COMPR_CFG_ALIGN;
    const length = readPrimary(offset, 2, 'compression config length').readUInt16LE(0);
    if (length === 0) throw new ErofsCorruptError('empty compression config', { offset });
    const record = new ByteView(readPrimary(offset + 2, length, 'compression config'), offset + 2);
    offset += 2 + length;
    switch (algorithm) {
      case CompressionAlgorithm.LZ4:
        record.check(0, Lz4Cfgs.SIZE, 'z_erofs_lz4_cfgs');
        break;
      case CompressionAlgorithm.LZMA: {
        record.check(0, LzmaCfgs.SIZE, 'z_erofs_lzma_cfgs');
        const dictSize = record.u32(LzmaCfgs.dictSize, 'lzma dict_size');
        if (record.u16(LzmaCfgs.format, 'lzma format') !== 0) {
          throw new ErofsUnsupportedError('unknown MicroLZMA format', { offset: record.imageOffset });
        }
        // The kernel refuses to mount outside these bounds (z_erofs_load_lzma_config).
        if (dictSize > Z_EROFS_LZMA_MAX_DICT_SIZE || dictSize < LZMA_MIN_DICT_SIZE) {
          throw record.corrupt(
            `lzma dict_size ${dictSize} is outside ${LZMA_MIN_DICT_SIZE} B–8 MiB`,
            LzmaCfgs.dictSize,
          );
        }
        config.lzmaDictSize = dictSize;
        break;
      }
      case CompressionAlgorithm.DEFLATE: {
        record.check(0, DeflateCfgs.SIZE, 'z_erofs_deflate_cfgs');
        const windowBits = record.u8(DeflateCfgs.windowBits, 'deflate windowbits');
        if (windowBits > 15) throw record.corrupt(`deflate windowbits ${windowBits}`, DeflateCfgs.windowBits);
        break;
      }
      case CompressionAlgorithm.ZSTD: {
        record.check(0, ZstdCfgs.SIZE, 'z_erofs_zstd_cfgs');
        if (record.u8(ZstdCfgs.format, 'zstd format') !== 0) {
          throw new ErofsUnsupportedError('unknown zstd format', { offset: record.imageOffset });
        }
        const windowLog = record.u8(ZstdCfgs.windowLog, 'zstd windowlog') + ZSTD_WINDOWLOG_MIN;
        if (2 ** windowLog > Z_EROFS_ZSTD_MAX_DICT_SIZE) {
          throw record.corrupt(`zstd window 2^${windowLog} exceeds 1 MiB`, ZstdCfgs.windowLog);
        }
        config.zstdWindowLog = windowLog;
        break;
      }
    }
  }
  return config;
}
