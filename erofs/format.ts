/**
 * The EROFS on-disk format, declared once: each record's size and field offsets as named constants
 * beside the kernel's field names (include/erofs_fs.h of erofs-utils 1.9.3, fs/erofs/erofs_fs.h).
 * Everything else decodes through ByteView with these offsets; no other module knows a raw offset.
 */

/** Superblock position and magic. */
export const EROFS_SUPER_OFFSET = 1024;
export const EROFS_SUPER_MAGIC_V1 = 0xe0f5e1e2;

/** struct erofs_super_block: 128 bytes plus sb_extslots × 16. */
export const Superblock = {
  SIZE_BASE: 128,
  EXTSLOT_SIZE: 16,
  magic: 0, // __le32 magic
  checksum: 4, // __le32 checksum (crc32c of the superblock block with this field zeroed)
  featureCompat: 8, // __le32 feature_compat
  blkszbits: 12, // __u8 blkszbits
  sbExtslots: 13, // __u8 sb_extslots
  rootnid2b: 14, // __le16 rb.rootnid_2b (or rb.blocks_hi with 48BIT and a rootnid_8b)
  inos: 16, // __le64 inos
  epoch: 24, // __le64 epoch (older images: build_time, the base of compact inodes' mtime)
  fixedNsec: 32, // __le32 fixed_nsec (older images: build_time_nsec)
  blocksLo: 36, // __le32 blocks_lo
  metaBlkaddr: 40, // __le32 meta_blkaddr
  xattrBlkaddr: 44, // __le32 xattr_blkaddr
  uuid: 48, // __u8 uuid[16]
  volumeName: 64, // __u8 volume_name[16]
  featureIncompat: 80, // __le32 feature_incompat
  availableComprAlgs: 84, // __le16 u1.available_compr_algs / lz4_max_distance
  extraDevices: 86, // __le16 extra_devices
  devtSlotoff: 88, // __le16 devt_slotoff
  dirblkbits: 90, // __u8 dirblkbits
  xattrPrefixCount: 91, // __u8 xattr_prefix_count
  xattrPrefixStart: 92, // __le32 xattr_prefix_start (in units of 4 bytes)
  packedNid: 96, // __le64 packed_nid
  xattrFilterReserved: 104, // __u8 xattr_filter_reserved
  ishareXattrPrefixId: 105, // __u8 ishare_xattr_prefix_id
  buildTime: 108, // __le32 build_time (seconds added to epoch)
  rootnid8b: 112, // __le64 rootnid_8b (48BIT)
  metaboxNid: 128, // __le64 metabox_nid (METABOX; needs sb_extslots >= 1)
} as const;

export const FeatureCompat = {
  SB_CHKSUM: 0x1,
  MTIME: 0x2,
  XATTR_FILTER: 0x4,
  SHARED_EA_IN_METABOX: 0x8,
  PLAIN_XATTR_PFX: 0x10,
  ISHARE_XATTRS: 0x20,
} as const;

/** Bits with two names share a value: the kernel reuses them for compressed and uncompressed images. */
export const FeatureIncompat = {
  LZ4_0PADDING: 0x1,
  BIG_PCLUSTER: 0x2, // also COMPR_CFGS
  CHUNKED_FILE: 0x4,
  DEVICE_TABLE: 0x8, // also COMPR_HEAD2
  ZTAILPACKING: 0x10,
  FRAGMENTS: 0x20, // also DEDUPE
  XATTR_PREFIXES: 0x40,
  BIT48: 0x80,
  METABOX: 0x100,
} as const;

/** Every incompat bit this reader knows; any other bit makes an image unreadable. */
export const ALL_FEATURE_INCOMPAT = (FeatureIncompat.METABOX << 1) - 1;

export const compatFeatureNames: Record<number, string> = {
  [FeatureCompat.SB_CHKSUM]: 'sb_csum',
  [FeatureCompat.MTIME]: 'mtime',
  [FeatureCompat.XATTR_FILTER]: 'xattr_filter',
  [FeatureCompat.SHARED_EA_IN_METABOX]: 'shared_ea_in_metabox',
  [FeatureCompat.PLAIN_XATTR_PFX]: 'plain_xattr_pfx',
  [FeatureCompat.ISHARE_XATTRS]: 'ishare_xattrs',
};

export const incompatFeatureNames: Record<number, string> = {
  [FeatureIncompat.LZ4_0PADDING]: '0padding',
  [FeatureIncompat.BIG_PCLUSTER]: 'big_pcluster/compr_cfgs',
  [FeatureIncompat.CHUNKED_FILE]: 'chunked_file',
  [FeatureIncompat.DEVICE_TABLE]: 'device_table/compr_head2',
  [FeatureIncompat.ZTAILPACKING]: 'ztailpacking',
  [FeatureIncompat.FRAGMENTS]: 'fragments/dedupe',
  [FeatureIncompat.XATTR_PREFIXES]: 'xattr_prefixes',
  [FeatureIncompat.BIT48]: '48bit',
  [FeatureIncompat.METABOX]: 'metabox',
};

/** struct erofs_deviceslot: 128 bytes each, at devt_slotoff × 128. */
export const DeviceSlot = {
  SIZE: 128,
  tag: 0, // u8 tag[64]
  blocksLo: 64, // __le32 blocks_lo
  uniaddrLo: 68, // __le32 uniaddr_lo
  blocksHi: 72, // __le16 blocks_hi (48BIT)
  uniaddrHi: 74, // __le16 uniaddr_hi (48BIT)
} as const;

/** Inode slots are 32 bytes: nid × 32 is the inode's offset in the metadata area. */
export const EROFS_ISLOTBITS = 5;

/** i_format bits. */
export const InodeFormat = {
  VERSION_MASK: 0x1, // EROFS_I_VERSION_MASK at EROFS_I_VERSION_BIT 0
  DATALAYOUT_BIT: 1,
  DATALAYOUT_MASK: 0x7,
  NLINK_1_BIT: 4, // non-directory compact inodes: nlink is 1 and i_nb holds startblk_hi
  DOT_OMITTED_BIT: 4, // directories: no `.` dirent
  ALL: (1 << 5) - 1,
} as const;

export const InodeVersion = { COMPACT: 0, EXTENDED: 1 } as const;

export const DataLayout = {
  FLAT_PLAIN: 0,
  COMPRESSED_FULL: 1,
  FLAT_INLINE: 2,
  COMPRESSED_COMPACT: 3,
  CHUNK_BASED: 4,
} as const;
export const DATALAYOUT_MAX = 5;

/** struct erofs_inode_compact: 32 bytes. */
export const InodeCompact = {
  SIZE: 32,
  format: 0, // __le16 i_format
  xattrIcount: 2, // __le16 i_xattr_icount
  mode: 4, // __le16 i_mode
  nb: 6, // __le16 i_nb (nlink / blocks_hi / startblk_hi)
  size: 8, // __le32 i_size
  mtime: 12, // __le32 i_mtime (seconds relative to the superblock's epoch)
  u: 16, // __le32 i_u (startblk_lo / blocks_lo / rdev / chunk format)
  ino: 20, // __le32 i_ino (32-bit stat compatibility only)
  uid: 24, // __le16 i_uid
  gid: 26, // __le16 i_gid
} as const;

/** struct erofs_inode_extended: 64 bytes. */
export const InodeExtended = {
  SIZE: 64,
  format: 0, // __le16 i_format
  xattrIcount: 2, // __le16 i_xattr_icount
  mode: 4, // __le16 i_mode
  nb: 6, // __le16 i_nb
  size: 8, // __le64 i_size
  u: 16, // __le32 i_u
  ino: 20, // __le32 i_ino
  uid: 24, // __le32 i_uid
  gid: 28, // __le32 i_gid
  mtime: 32, // __le64 i_mtime
  mtimeNsec: 40, // __le32 i_mtime_nsec
  nlink: 44, // __le32 i_nlink
} as const;

/** i_u.c.format of chunk-based inodes. */
export const ChunkFormat = {
  BLKBITS_MASK: 0x1f,
  INDEXES: 0x20,
  BIT48: 0x40,
  ALL: (0x40 << 1) - 1,
} as const;

/** A chunk or block address meaning "hole" (EROFS_NULL_ADDR, -1 in the field's width). */
export const EROFS_NULL_ADDR_32 = 0xffffffff;

/** 4-byte block map entry of chunk-based inodes without indexes. */
export const BLOCK_MAP_ENTRY_SIZE = 4;

/** struct erofs_inode_chunk_index: 8 bytes. */
export const ChunkIndex = {
  SIZE: 8,
  startblkHi: 0, // __le16 startblk_hi
  deviceId: 2, // __le16 device_id
  startblkLo: 4, // __le32 startblk_lo
} as const;

/** struct erofs_dirent: 12 bytes; a block's first nameoff / 12 is its entry count. */
export const Dirent = {
  SIZE: 12,
  nid: 0, // __le64 nid (bit 63: the inode lives in the metabox)
  nameoff: 8, // __le16 nameoff
  fileType: 10, // __u8 file_type
} as const;

export const EROFS_DIRENT_NID_METABOX_BIT = 63n;
export const EROFS_NAME_LEN = 255;

/** EROFS_FT_* file types of dirents. */
export const FileType = {
  UNKNOWN: 0,
  REG_FILE: 1,
  DIR: 2,
  CHRDEV: 3,
  BLKDEV: 4,
  FIFO: 5,
  SOCK: 6,
  SYMLINK: 7,
} as const;

/** struct erofs_xattr_ibody_header: 12 bytes, then h_shared_count le32 shared xattr ids. */
export const XattrIbodyHeader = {
  SIZE: 12,
  nameFilter: 0, // __le32 h_name_filter
  sharedCount: 4, // __u8 h_shared_count
} as const;

/** struct erofs_xattr_entry: 4 bytes, then e_name and e_value; entries are 4-byte aligned. */
export const XattrEntry = {
  SIZE: 4,
  nameLen: 0, // __u8 e_name_len
  nameIndex: 1, // __u8 e_name_index
  valueSize: 2, // __le16 e_value_size
} as const;

/** e_name_index bit 7: the low bits index the long name prefix table. */
export const EROFS_XATTR_LONG_PREFIX = 0x80;
export const EROFS_XATTR_LONG_PREFIX_MASK = 0x7f;

/** The short name prefixes by index (EROFS_XATTR_INDEX_*). */
export const xattrIndexPrefixes: Record<number, string> = {
  1: 'user.',
  2: 'system.posix_acl_access',
  3: 'system.posix_acl_default',
  4: 'trusted.',
  5: 'lustre.',
  6: 'security.',
};

/** Size of the inline xattr body of an inode, from i_xattr_icount (erofs_xattr_ibody_size). */
export function xattrIbodySize(icount: number): number {
  return icount === 0 ? 0 : XattrIbodyHeader.SIZE + 4 * (icount - 1);
}

/** Block sizes the kernel accepts: 512 bytes to 64 KiB. */
export const MIN_BLKSZBITS = 9;
export const MAX_BLKSZBITS = 16;

/*
 * Compressed data (COMPRESSED_FULL / COMPRESSED_COMPACT layouts): include/erofs_fs.h of
 * erofs-utils 1.9.3 and fs/erofs/erofs_fs.h.
 */

/** Z_EROFS_PCLUSTER_MAX_SIZE / Z_EROFS_PCLUSTER_MAX_DSIZE: encoded and decoded pcluster limits. */
export const Z_EROFS_PCLUSTER_MAX_SIZE = 1024 * 1024;
export const Z_EROFS_PCLUSTER_MAX_DSIZE = 12 * 1024 * 1024;

/** h_algorithmtype values (Z_EROFS_COMPRESSION_*), and the bitmap of all of them. */
export const CompressionAlgorithm = {
  LZ4: 0,
  LZMA: 1,
  DEFLATE: 2,
  ZSTD: 3,
} as const;
export const Z_EROFS_COMPRESSION_MAX = 4;
export const Z_EROFS_ALL_COMPR_ALGS = (1 << Z_EROFS_COMPRESSION_MAX) - 1;

/** struct z_erofs_map_header: 8 bytes at round_up(inode end incl. xattrs, 8). */
export const ZMapHeader = {
  SIZE: 8,
  /** Full (non-compact) indexes start after the header plus 8 reserved bytes (Z_EROFS_FULL_INDEX_START). */
  LEGACY_SIZE: 16,
  fragmentOff: 0, // __le32 h_fragmentoff (with FRAGMENT_PCLUSTER), or h_extents_lo (with EXTENTS)
  idataSize: 2, // __le16 h_idata_size (with INLINE_PCLUSTER)
  advise: 4, // __le16 h_advise
  algorithmType: 6, // __u8 h_algorithmtype (bits 0-3: HEAD1, bits 4-7: HEAD2); or h_extents_hi le16
  clusterBits: 7, // __u8 h_clusterbits (bits 0-3: lclusterbits - blkszbits; bit 7: whole file is a fragment)
  extentsHi: 6, // __le16 h_extents_hi (with EXTENTS)
} as const;

/** h_clusterbits bit 7 (Z_EROFS_FRAGMENT_INODE_BIT): the other 63 header bits are the fragment offset. */
export const Z_EROFS_FRAGMENT_INODE_BIT = 7;

/** h_advise bits (Z_EROFS_ADVISE_*). COMPACTED_2B and EXTENTS share bit 0 (compact vs full layout). */
export const ZAdvise = {
  COMPACTED_2B: 0x0001,
  EXTENTS: 0x0001,
  BIG_PCLUSTER_1: 0x0002,
  BIG_PCLUSTER_2: 0x0004,
  INLINE_PCLUSTER: 0x0008,
  INTERLACED_PCLUSTER: 0x0010,
  FRAGMENT_PCLUSTER: 0x0020,
  EXTRECSZ_BIT: 1,
  EXTRECSZ_MASK: 0x3,
} as const;

/** Z_EROFS_LCLUSTER_TYPE_*: the low two bits of di_advise (or of a compact pack entry). */
export const LclusterType = {
  PLAIN: 0,
  HEAD1: 1,
  NONHEAD: 2,
  HEAD2: 3,
} as const;
export const Z_EROFS_LI_LCLUSTER_TYPE_MASK = 0x3;
/** di_advise bit 15: this HEAD refers to partially decoded data (full indexes only). */
export const Z_EROFS_LI_PARTIAL_REF = 1 << 15;
/** delta[0] bit 11 on the first NONHEAD lcluster: the low bits are the pcluster's block count. */
export const Z_EROFS_LI_D0_CBLKCNT = 1 << 11;

/** struct z_erofs_lcluster_index: the 8-byte full index of one lcluster. */
export const LclusterIndex = {
  SIZE: 8,
  advise: 0, // __le16 di_advise
  clusterOfs: 2, // __le16 di_clusterofs
  blkaddr: 4, // __le32 di_u.blkaddr (HEAD lclusters)
  delta0: 4, // __le16 di_u.delta[0] (NONHEAD: distance back to the HEAD, or CBLKCNT)
  delta1: 6, // __le16 di_u.delta[1] (NONHEAD: distance on to the next HEAD)
} as const;

/**
 * Compact index packs (COMPRESSED_COMPACT): a pack of `count` entries, each `bits` wide
 * (lclusterbits-wide low part + 2-bit type), then a le32 base block address in its last 4 bytes.
 */
export const CompactPack = {
  /** compacted_4b: 2 entries in 8 bytes; usable with lclusterbits <= 14. */
  FOUR_BYTE: { entries: 2, bytes: 8, maxLclusterBits: 14 },
  /** compacted_2b: 16 entries in 32 bytes; usable with lclusterbits <= 12. */
  TWO_BYTE: { entries: 16, bytes: 32, maxLclusterBits: 12 },
  /** Compact indexes start 32-byte aligned: leading 4-byte entries fill up to the alignment. */
  ALIGNMENT: 32,
  BLKADDR_SIZE: 4,
} as const;

/** struct z_erofs_extent: encoded extents (full layout with EXTENTS); records are 4, 8, 16 or 32 bytes. */
export const ZExtent = {
  plen: 0, // __le32 plen (bits 0-20: encoded length, bit 27: partial, bits 28-31: format + 1)
  pstartLo: 4, // __le32 pstart_lo (byte address)
  pstartHi: 8, // __le32 pstart_hi
  lstartLo: 12, // __le32 lstart_lo
  lstartHi: 16, // __le32 lstart_hi
  PLEN_PARTIAL: 1 << 27,
  PLEN_FMT_BIT: 28,
  PLEN_MASK: Z_EROFS_PCLUSTER_MAX_SIZE * 2 - 1,
} as const;

/** Compressor configurations after the superblock (COMPR_CFGS): each a le16 length then the record, 4-byte aligned. */
export const COMPR_CFG_ALIGN = 4;
export const Lz4Cfgs = { SIZE: 14, maxDistance: 0, maxPclusterBlocks: 2 } as const; // z_erofs_lz4_cfgs
export const LzmaCfgs = { SIZE: 14, dictSize: 0, format: 4 } as const; // z_erofs_lzma_cfgs
export const DeflateCfgs = { SIZE: 6, windowBits: 0 } as const; // z_erofs_deflate_cfgs
export const ZstdCfgs = { SIZE: 6, format: 0, windowLog: 1 } as const; // z_erofs_zstd_cfgs (windowLog - 10)
export const Z_EROFS_LZMA_MAX_DICT_SIZE = 8 * Z_EROFS_PCLUSTER_MAX_SIZE;
export const Z_EROFS_ZSTD_MAX_DICT_SIZE = Z_EROFS_PCLUSTER_MAX_SIZE;
