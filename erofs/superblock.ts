import { ByteView } from './bytes.js';
import { crc32c } from './crc32c.js';
import { ErofsCorruptError, ErofsUnsupportedError } from './errors.js';
import {
  ALL_FEATURE_INCOMPAT,
  compatFeatureNames,
  DeviceSlot,
  EROFS_SUPER_MAGIC_V1,
  EROFS_SUPER_OFFSET,
  FeatureCompat,
  FeatureIncompat,
  Superblock as Field,
  incompatFeatureNames,
  MAX_BLKSZBITS,
  MIN_BLKSZBITS,
} from './format.js';
import type { ImageSource } from './source.js';

/** One extra device of a multi-device image (struct erofs_deviceslot). */
export interface DeviceSlotInfo {
  tag: string;
  blocks: number;
  /** First block of this device in the unified address space (0: addressed by device id only). */
  uniaddr: number;
}

/** The superblock, decoded and checked. Nids are raw on-disk values (metabox bit included). */
export interface SuperblockInfo {
  blockSizeBits: number;
  blockSize: number;
  featureCompat: number;
  featureIncompat: number;
  checksum: number;
  superblockSize: number;
  rootNid: bigint;
  inodeCount: number;
  /** Base seconds and fixed nanoseconds of compact inodes' mtime. */
  epoch: number;
  fixedNsec: number;
  buildTime: number;
  blocks: number;
  metaBlkaddr: number;
  xattrBlkaddr: number;
  uuid: string;
  volumeName: string;
  availableComprAlgs: number;
  extraDevices: DeviceSlotInfo[];
  xattrPrefixCount: number;
  xattrPrefixStart: number;
  packedNid: number;
  metaboxNid: number;
}

const METABOX_BIT = 1n << 63n;

export function has(flags: number, bit: number): boolean {
  return (flags & bit) !== 0;
}

/** Reads and checks the superblock at 1024; refuses unknown incompat bits by name. */
export function readSuperblock(source: ImageSource): SuperblockInfo {
  if (source.size < EROFS_SUPER_OFFSET + Field.SIZE_BASE) {
    throw new ErofsCorruptError(`not an EROFS image: ${source.size} bytes is too small for a superblock`);
  }
  const view = new ByteView(
    source.read(EROFS_SUPER_OFFSET, Field.SIZE_BASE, 'superblock'),
    EROFS_SUPER_OFFSET,
  );
  const magic = view.u32(Field.magic);
  if (magic !== EROFS_SUPER_MAGIC_V1) {
    throw new ErofsCorruptError(`not an EROFS image: magic 0x${magic.toString(16)} at offset 1024`, {
      offset: EROFS_SUPER_OFFSET,
    });
  }
  const blockSizeBits = view.u8(Field.blkszbits);
  if (blockSizeBits < MIN_BLKSZBITS || blockSizeBits > MAX_BLKSZBITS) {
    throw new ErofsCorruptError(`block size 2^${blockSizeBits} is outside 512..64K`, {
      offset: EROFS_SUPER_OFFSET + Field.blkszbits,
    });
  }
  const blockSize = 2 ** blockSizeBits;
  const featureCompat = view.u32(Field.featureCompat);
  const featureIncompat = view.u32(Field.featureIncompat);
  // >>> 0: bit 31 would otherwise make the bitwise result negative and print as "0x-80000000".
  const unknown = (featureIncompat & ~ALL_FEATURE_INCOMPAT) >>> 0;
  if (unknown !== 0) {
    throw new ErofsUnsupportedError(
      `unknown incompatible feature bit(s) 0x${unknown.toString(16)} (known: 0x${ALL_FEATURE_INCOMPAT.toString(16)})`,
      { offset: EROFS_SUPER_OFFSET + Field.featureIncompat },
    );
  }
  const superblockSize = Field.SIZE_BASE + view.u8(Field.sbExtslots) * Field.EXTSLOT_SIZE;
  const fullBlockEnd = Math.max(EROFS_SUPER_OFFSET + superblockSize, blockSize);
  if (fullBlockEnd > source.size) {
    throw new ErofsCorruptError(`superblock (${superblockSize} bytes) runs past the image end`, {
      offset: EROFS_SUPER_OFFSET,
    });
  }
  const sb = new ByteView(source.read(EROFS_SUPER_OFFSET, superblockSize, 'superblock'), EROFS_SUPER_OFFSET);
  const checksum = sb.u32(Field.checksum);
  if (has(featureCompat, FeatureCompat.SB_CHKSUM)) verifyChecksum(source, blockSize, checksum);

  if (view.u8(Field.dirblkbits) !== 0) {
    throw new ErofsUnsupportedError(`dirblkbits ${view.u8(Field.dirblkbits)} (directory blocks ≠ blocks)`, {
      offset: EROFS_SUPER_OFFSET + Field.dirblkbits,
    });
  }
  const is48bit = has(featureIncompat, FeatureIncompat.BIT48);
  const rootnid8b = is48bit ? sb.u64(Field.rootnid8b, 'rootnid_8b') : 0n;
  let blocks = sb.u32(Field.blocksLo);
  let rootNid = BigInt(sb.u16(Field.rootnid2b));
  if (rootnid8b !== 0n) {
    rootNid = rootnid8b;
    blocks += sb.u16(Field.rootnid2b) * 2 ** 32;
  }
  const packedNid = sb.u64(Field.packedNid, 'packed_nid');
  if (packedNid & METABOX_BIT) throw sb.corrupt('packed_nid points into the metabox', Field.packedNid);
  let metaboxNid = 0n;
  if (has(featureIncompat, FeatureIncompat.METABOX)) {
    if (superblockSize <= Field.metaboxNid) throw sb.corrupt('metabox feature without metabox_nid', 0);
    metaboxNid = sb.u64(Field.metaboxNid, 'metabox_nid');
    if (metaboxNid & METABOX_BIT) throw sb.corrupt('metabox_nid points into the metabox', Field.metaboxNid);
  }
  const safe = (value: bigint, what: string, offset: number) => {
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw sb.corrupt(`${what} ${value} exceeds 2^53`, offset);
    return Number(value);
  };
  return {
    blockSizeBits,
    blockSize,
    featureCompat,
    featureIncompat,
    checksum,
    superblockSize,
    rootNid,
    inodeCount: safe(sb.u64(Field.inos), 'inos', Field.inos),
    epoch: safe(sb.u64(Field.epoch), 'epoch', Field.epoch),
    fixedNsec: sb.u32(Field.fixedNsec),
    buildTime: sb.u32(Field.buildTime),
    blocks,
    metaBlkaddr: sb.u32(Field.metaBlkaddr),
    xattrBlkaddr: sb.u32(Field.xattrBlkaddr),
    uuid: formatUuid(sb.bytes(Field.uuid, 16)),
    volumeName: cString(sb.bytes(Field.volumeName, 16)),
    availableComprAlgs: sb.u16(Field.availableComprAlgs),
    extraDevices: readDeviceTable(source, sb, featureIncompat, is48bit),
    xattrPrefixCount: sb.u8(Field.xattrPrefixCount),
    xattrPrefixStart: sb.u32(Field.xattrPrefixStart),
    packedNid: safe(packedNid, 'packed_nid', Field.packedNid),
    metaboxNid: safe(metaboxNid, 'metabox_nid', Field.metaboxNid),
  };
}

/** The kernel's check: crc32c(~0) over the superblock's block from offset 1024, checksum field zeroed. */
function verifyChecksum(source: ImageSource, blockSize: number, expected: number): void {
  const length = blockSize > EROFS_SUPER_OFFSET ? blockSize - EROFS_SUPER_OFFSET : blockSize;
  const bytes = Buffer.from(source.read(EROFS_SUPER_OFFSET, length, 'superblock checksum range'));
  bytes.writeUInt32LE(0, Field.checksum);
  const actual = crc32c(0xffffffff, bytes);
  if (actual !== expected) {
    throw new ErofsCorruptError(
      `superblock checksum 0x${expected.toString(16)} does not match the computed 0x${actual.toString(16)}`,
      { offset: EROFS_SUPER_OFFSET + Field.checksum },
    );
  }
}

/** At most 64 Ki slots exist (extra_devices is 16 bits), so the loop is bounded by the field's width. */
function readDeviceTable(
  source: ImageSource,
  sb: ByteView,
  featureIncompat: number,
  is48bit: boolean,
): DeviceSlotInfo[] {
  // Compressed images reuse this bit as COMPR_HEAD2; only the device count tells them apart.
  const count = has(featureIncompat, FeatureIncompat.DEVICE_TABLE) ? sb.u16(Field.extraDevices) : 0;
  const devices: DeviceSlotInfo[] = [];
  const start = sb.u16(Field.devtSlotoff) * DeviceSlot.SIZE;
  for (let index = 0; index < count; index++) {
    const offset = start + index * DeviceSlot.SIZE;
    const slot = new ByteView(source.read(offset, DeviceSlot.SIZE, `device slot ${index}`), offset);
    const high = (field: number) => (is48bit ? slot.u16(field) * 2 ** 32 : 0);
    devices.push({
      tag: cString(slot.bytes(DeviceSlot.tag, 64)),
      blocks: slot.u32(DeviceSlot.blocksLo) + high(DeviceSlot.blocksHi),
      uniaddr: slot.u32(DeviceSlot.uniaddrLo) + high(DeviceSlot.uniaddrHi),
    });
  }
  return devices;
}

export function featureNames(sb: SuperblockInfo): string[] {
  const names = (flags: number, table: Record<number, string>) =>
    Object.entries(table)
      .filter(([bit]) => has(flags, Number(bit)))
      .map(([, name]) => name);
  return [...names(sb.featureCompat, compatFeatureNames), ...names(sb.featureIncompat, incompatFeatureNames)];
}

function formatUuid(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('latin1');
}
