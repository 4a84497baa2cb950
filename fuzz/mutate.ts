import { crc32c } from '../erofs/crc32c.js';
import { EROFS_SUPER_OFFSET, Superblock } from '../erofs/format.js';
import type { SeededRandom } from '../lib/random.js';
import type { Field, StructureMap } from './structures.js';

/**
 * Mutations of a valid image, as plain JSON so a case can be saved, replayed and shrunk: `set`
 * overwrites bytes (bit flips, byte runs, splices and structure-aware field values all become
 * sets), `truncate` cuts the image, `recrc` recomputes the superblock checksum so mutations
 * behind it reach the code they aim at. They apply in order; generation puts `recrc` last.
 */
export type Mutation =
  | { op: 'set'; offset: number; hex: string; what: string; path?: string }
  | { op: 'truncate'; length: number; what: string }
  | { op: 'recrc'; what: string };

export function applyMutations(base: Buffer, mutations: readonly Mutation[]): Buffer {
  let image = Buffer.from(base);
  for (const mutation of mutations) {
    switch (mutation.op) {
      case 'set': {
        const bytes = Buffer.from(mutation.hex, 'hex');
        if (mutation.offset < image.length)
          bytes.copy(image, mutation.offset, 0, image.length - mutation.offset);
        break;
      }
      case 'truncate':
        if (mutation.length < image.length) image = image.subarray(0, mutation.length);
        break;
      case 'recrc':
        recomputeChecksum(image);
        break;
    }
  }
  return image;
}

/** The kernel's superblock checksum over the block holding it (erofs_superblock_csum_verify). */
export function recomputeChecksum(image: Buffer): void {
  if (image.length < EROFS_SUPER_OFFSET + Superblock.SIZE_BASE) return;
  const bits = image[EROFS_SUPER_OFFSET + Superblock.blkszbits]!;
  if (bits < 9 || bits > 16) return;
  const blockSize = 2 ** bits;
  const length = blockSize > EROFS_SUPER_OFFSET ? blockSize - EROFS_SUPER_OFFSET : blockSize;
  if (EROFS_SUPER_OFFSET + length > image.length) return;
  const copy = Buffer.from(image.subarray(EROFS_SUPER_OFFSET, EROFS_SUPER_OFFSET + length));
  copy.writeUInt32LE(0, Superblock.checksum);
  image.writeUInt32LE(crc32c(0xffffffff, copy), EROFS_SUPER_OFFSET + Superblock.checksum);
}

const MAX_MUTATIONS = 8;

/** One case: 1 to 8 mutations, mostly one or two, aimed mostly at known structures. */
export function generateMutations(map: StructureMap, base: Buffer, random: SeededRandom): Mutation[] {
  const count = random.next() < 0.5 ? 1 : random.next() < 0.5 ? 2 : random.int(3, MAX_MUTATIONS);
  const mutations: Mutation[] = [];
  for (let index = 0; index < count; index++) mutations.push(oneMutation(map, random));
  if (map.sbChecksum && random.next() < 0.9 && mutations.some((m) => touchesChecksumRange(map, m))) {
    mutations.push({ op: 'recrc', what: 'recompute the superblock checksum' });
  }
  return resolveMutations(base, mutations);
}

function touchesChecksumRange(map: StructureMap, mutation: Mutation): boolean {
  const [start, end] = map.checksumRange;
  if (mutation.op === 'set')
    return mutation.offset < end && mutation.offset + mutation.hex.length / 2 > start;
  if (mutation.op === 'truncate') return mutation.length < end;
  return false;
}

function oneMutation(map: StructureMap, random: SeededRandom): Mutation {
  const roll = random.next();
  if (roll < 0.55 && map.fields.length > 0) return fieldMutation(map, random);
  if (roll < 0.7) return bitFlip(map, random, true);
  if (roll < 0.78) return bitFlip(map, random, false);
  if (roll < 0.88) return byteRun(map, random);
  if (roll < 0.94) return splice(map, random);
  return truncation(map, random);
}

/** An offset near a known structure (or anywhere, when `near` is false). */
function pickOffset(
  map: StructureMap,
  random: SeededRandom,
  near: boolean,
): { offset: number; path?: string } {
  if (near && (map.regions.length > 0 || map.fields.length > 0)) {
    if (map.regions.length > 0 && random.next() < 0.5) {
      const region = random.pick(map.regions);
      return withPath(region.offset + random.int(0, region.length - 1), region.path);
    }
    const field = random.pick(map.fields);
    return withPath(Math.max(0, Math.min(map.size - 1, field.offset + random.int(-8, 15))), field.path);
  }
  return { offset: random.int(0, map.size - 1) };
}

function withPath(offset: number, path: string | undefined): { offset: number; path?: string } {
  return path === undefined ? { offset } : { offset, path };
}

function bitFlip(map: StructureMap, random: SeededRandom, near: boolean): Mutation {
  const { offset, path } = pickOffset(map, random, near);
  const bit = random.int(0, 7);
  return setMutation(offset, Buffer.alloc(0), `bit flip ${bit}`, path, { flip: 1 << bit });
}

function byteRun(map: StructureMap, random: SeededRandom): Mutation {
  const { offset, path } = pickOffset(map, random, random.next() < 0.8);
  const length = random.pick([1, 2, 3, 4, 8, 16, 32, 64, 256]);
  const kind = random.pick(['zeros', 'ones', 'random', 'byte'] as const);
  const bytes = Buffer.alloc(length, kind === 'zeros' ? 0 : kind === 'ones' ? 0xff : random.int(0, 255));
  if (kind === 'random') for (let index = 0; index < length; index++) bytes[index] = random.int(0, 255);
  return setMutation(offset, bytes, `${length}-byte run of ${kind}`, path);
}

/** Copies bytes from one place over another: an inode over an inode, a dirent block over another. */
function splice(map: StructureMap, random: SeededRandom): Mutation {
  const from = pickOffset(map, random, true).offset;
  const to = pickOffset(map, random, true);
  const length = random.pick([8, 12, 32, 64, 128]);
  return {
    op: 'set',
    offset: to.offset,
    hex: `splice:${from}:${length}`,
    what: `copy ${length} bytes from 0x${from.toString(16)}`,
    ...(to.path ? { path: to.path } : {}),
  };
}

function truncation(map: StructureMap, random: SeededRandom): Mutation {
  const length =
    random.next() < 0.5
      ? random.int(0, map.size - 1)
      : Math.max(0, Math.min(map.size - 1, pickOffset(map, random, true).offset + random.int(-4, 4)));
  return { op: 'truncate', length, what: `truncate to ${length} bytes` };
}

function setMutation(
  offset: number,
  bytes: Buffer,
  what: string,
  path: string | undefined,
  marker?: { flip: number },
): Mutation {
  const hex = marker ? `flip:${marker.flip}` : bytes.toString('hex');
  return { op: 'set', offset, hex, what, ...(path ? { path } : {}) };
}

/**
 * Bit flips and splices depend on the bytes underneath, so generation records them symbolically
 * (`flip:MASK`, `splice:FROM:LENGTH`) and `resolveMutations` turns them into plain bytes against
 * the base image once; saved and shrunk cases hold only plain sets.
 */
export function resolveMutations(base: Buffer, mutations: readonly Mutation[]): Mutation[] {
  return mutations.map((mutation) => {
    if (mutation.op !== 'set') return mutation;
    if (mutation.hex.startsWith('flip:')) {
      const mask = Number(mutation.hex.slice(5));
      const byte = mutation.offset < base.length ? base[mutation.offset]! : 0;
      return { ...mutation, hex: Buffer.from([byte ^ mask]).toString('hex') };
    }
    if (mutation.hex.startsWith('splice:')) {
      const [, from, length] = mutation.hex.split(':').map(Number) as [number, number, number];
      return { ...mutation, hex: base.subarray(from, Math.min(base.length, from + length)).toString('hex') };
    }
    return mutation;
  });
}

const MAX_BY_WIDTH = { 1: 0xffn, 2: 0xffffn, 4: 0xffffffffn, 8: 0xffffffffffffffffn } as const;

/** Fields grouped by kind, then name: a case picks a kind, a field name, then one instance. */
const groupsCache = new WeakMap<StructureMap, Field[][][]>();

function groupsOf(map: StructureMap): Field[][][] {
  let groups = groupsCache.get(map);
  if (!groups) {
    const byKind = new Map<string, Map<string, Field[]>>();
    for (const field of map.fields) {
      const byName = byKind.get(field.kind) ?? new Map<string, Field[]>();
      byKind.set(field.kind, byName);
      const list = byName.get(field.name) ?? [];
      byName.set(field.name, list);
      list.push(field);
    }
    groups = [...byKind.values()].map((byName) => [...byName.values()]);
    groupsCache.set(map, groups);
  }
  return groups;
}

function fieldMutation(map: StructureMap, random: SeededRandom): Mutation {
  const groups = groupsOf(map);
  // The superblock steers everything else: a quarter of field mutations go there.
  const kind =
    random.next() < 0.25
      ? (groups.find((group) => group[0]![0]!.kind === 'sb') ?? random.pick(groups))
      : random.pick(groups);
  const field = random.pick(random.pick(kind));
  const value = interestingValue(map, field, random) & MAX_BY_WIDTH[field.width];
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(value);
  return setMutation(
    field.offset,
    bytes.subarray(0, field.width),
    `${field.kind} ${field.name} = 0x${value.toString(16)}`,
    field.path,
  );
}

/** Values worth trying in a field: boundaries, off-by-ones, and values that mean something here. */
function interestingValue(map: StructureMap, field: Field, random: SeededRandom): bigint {
  const max = MAX_BY_WIDTH[field.width];
  const blocks = BigInt(Math.ceil(map.size / map.blockSize));
  const common = (): bigint =>
    random.pick([
      0n,
      1n,
      2n,
      max,
      max - 1n,
      max >> 1n,
      (max >> 1n) + 1n,
      BigInt(random.int(0, 64)),
      BigInt(random.nextUint32()),
      BigInt(random.nextUint32()) * 2n ** 32n + BigInt(random.nextUint32()),
      1n << BigInt(random.int(0, field.width * 8 - 1)),
      BigInt(map.size),
      BigInt(map.size + random.int(-64, 64)),
      blocks,
      blocks + 1n,
      BigInt(map.blockSize),
    ]);
  const nidOf = (): bigint => {
    const facts = random.pick(map.inodes);
    return facts.nid;
  };
  if (random.next() < 0.35 || map.inodes.length === 0) return common();
  switch (field.name) {
    case 'blkszbits':
      return BigInt(random.pick([0, 8, 9, 10, 11, 12, 13, 16, 17, 20, 31, 32, 64, 255]));
    case 'feature_incompat':
      return BigInt(random.pick([0x200, 0x400, 0x1000, 0x80000000, 0x1ff, 0x80, 0x100, 0x8, 0x4, 0x2]));
    case 'feature_compat':
      return BigInt(random.pick([0, 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x3f, 0xffffffff]));
    case 'sb_extslots':
    case 'xattr_prefix_count':
    case 'dirblkbits':
      return BigInt(random.pick([0, 1, 2, 3, 16, 127, 128, 255]));
    case 'rootnid_2b':
    case 'rootnid_8b':
    case 'packed_nid':
    case 'metabox_nid':
    case 'nid':
      return nidValue(map, field, random, nidOf);
    case 'meta_blkaddr':
    case 'xattr_blkaddr':
    case 'blocks_lo':
    case 'startblk_lo':
    case 'blockmap_entry':
    case 'di_blkaddr':
    case 'uniaddr_lo':
      return random.pick([0n, 1n, blocks - 1n, blocks, blocks + 1n, 0xfffffffen, 0xffffffffn, 0x80000000n]);
    case 'startblk_hi':
    case 'device_id':
    case 'extra_devices':
    case 'devt_slotoff':
      return BigInt(random.pick([0, 1, 2, 3, 0x7fff, 0x8000, 0xffff]));
    case 'i_format':
      return BigInt(
        random.int(0, 1) |
          (random.int(0, 7) << 1) |
          (random.next() < 0.3 ? 1 << 4 : 0) |
          (random.next() < 0.1 ? 1 << random.int(5, 15) : 0),
      );
    case 'i_mode':
      return BigInt(
        random.pick([
          0o100644, 0o040755, 0o120777, 0o020644, 0o060644, 0o010644, 0o140644, 0, 0o170000, 0o070000,
        ]),
      );
    case 'i_size':
      return random.pick([
        0n,
        1n,
        BigInt(map.blockSize - 1),
        BigInt(map.blockSize),
        BigInt(map.blockSize + 1),
        BigInt(map.size),
        4096n * 4096n,
        0xffffffffn,
        1n << 40n,
        1n << 53n,
        (1n << 53n) - 1n,
        1n << 63n,
        max,
      ]);
    case 'i_xattr_icount':
      return BigInt(random.pick([0, 1, 2, 3, 4, 5, 16, 255, 0x7fff, 0x8000, 0xffff]));
    case 'i_nlink':
    case 'i_nb':
      return BigInt(random.pick([0, 1, 2, 0xffff, 0x7fffffff, 0xffffffff]));
    case 'i_u':
      return random.pick([
        0n,
        1n,
        blocks,
        blocks + 1n,
        0xffffffffn,
        0x1fn,
        0x20n,
        0x40n,
        0x7fn,
        0x80n,
        0xffffn,
      ]);
    case 'nameoff':
      return BigInt(
        random.pick([0, 1, 11, 12, 13, 24, map.blockSize - 1, map.blockSize, map.blockSize + 1, 0xffff]),
      );
    case 'file_type':
      return BigInt(random.int(0, 9));
    case 'h_shared_count':
      return BigInt(random.pick([0, 1, 2, 16, 255]));
    case 'shared_xattr_id':
      return random.pick([
        0n,
        1n,
        0xffffffffn,
        0x3fffffffn,
        BigInt(map.size / 4),
        BigInt(random.int(0, 4096)),
      ]);
    case 'e_name_len':
      return BigInt(random.pick([0, 1, 250, 251, 255]));
    case 'e_name_index':
      return BigInt(random.pick([0, 1, 2, 3, 4, 5, 6, 7, 0x80, 0x81, 0x85, 0xff]));
    case 'e_value_size':
      return BigInt(random.pick([0, 1, 0xff, 0x100, 0xfff, 0x7fff, 0xffff]));
    case 'h_clusterbits':
    case 'h_algorithmtype':
      return BigInt(random.int(0, 255));
    case 'di_advise':
      return BigInt(random.pick([0, 1, 2, 3, 4, 0x8000, 0xffff]));
    case 'di_delta0':
    case 'di_delta1':
      // NONHEAD distances, or CBLKCNT (bit 11) with a block count.
      return BigInt(random.pick([0, 1, 2, 0x7ff, 0x800, 0x801, 0x8ff, 0xfff, 0xffff]));
    case 'compacted_word':
      return BigInt(random.nextUint32());
    case 'di_clusterofs':
    case 'h_idata_size':
      return BigInt(random.pick([0, 1, map.blockSize - 1, map.blockSize, map.blockSize + 1, 0xffff]));
    default:
      return common();
  }
}

/** A nid: another inode's (wrong type), an ancestor's (a loop), past the end, or in the metabox. */
function nidValue(map: StructureMap, field: Field, random: SeededRandom, nidOf: () => bigint): bigint {
  const dir = map.inodes.find((facts) => facts.path === field.path);
  const roll = random.next();
  if (roll < 0.3 && dir) {
    const loop = [...dir.ancestors, dir.nid];
    return random.pick(loop);
  }
  if (roll < (dir ? 0.6 : 0.3)) return nidOf();
  return random.pick([
    0n,
    1n,
    BigInt(Math.floor(map.size / 32)),
    BigInt(Math.floor(map.size / 32) + 1),
    (1n << 63n) | nidOf(),
    1n << 63n,
    (1n << 53n) + 1n,
    nidOf() + 1n,
    nidOf() - 1n,
    0xffffffffn,
    // High bits that change how nids map to inode numbers (bit 31 moves with a metabox).
    nidOf() | (1n << BigInt(random.int(20, 52))),
    BigInt(random.nextUint32()),
  ]);
}
