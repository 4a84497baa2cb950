import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { readCompressionConfig } from '../erofs/compress/config.js';
import { mapContextOf, SLAB_RING_BYTES } from '../erofs/compress/index.js';
import { type CompressedExtent, mapCompressed, readZInfo } from '../erofs/compress/map.js';
import { crc32c } from '../erofs/crc32c.js';
import { ErofsCorruptError, ErofsUnsupportedError } from '../erofs/errors.js';
import {
  CompactPack,
  CompressionAlgorithm,
  DataLayout,
  EROFS_SUPER_OFFSET,
  FeatureCompat,
  LclusterIndex,
  LclusterType,
  LzmaCfgs,
  Superblock,
  Z_EROFS_LI_D0_CBLKCNT,
  ZAdvise,
  ZExtent,
  ZMapHeader,
} from '../erofs/format.js';
import { ErofsImage } from '../erofs/image.js';
import type { ErofsInode } from '../erofs/inode.js';
import { walkImage } from '../erofs/walk.js';
import { mountErofs, unmount } from '../lib/mounts.js';
import { SeededRandom, seededBytes } from '../lib/random.js';
import { formatWalkRecord, type WalkRecord, walkMountedTree } from '../lib/tree-walk.js';
import { buildEdgeTree } from './helpers/edge-tree.js';
import { unpackFixture, withImage } from './helpers/erofs-fixtures.js';

/**
 * Compressed EROFS against the kernel: images from Debian's mkfs.erofs 1.5 walked field by field,
 * reads at random offsets around pcluster boundaries of the erofs-utils 1.9.3 fixtures (lz4, lzma,
 * deflate, zstd), and targeted corruptions that must end in ErofsCorruptError, quickly.
 * (test/erofs-reader.test.ts walks every committed fixture, the compressed ones included.)
 */

const work = mkdtempSync(join(tmpdir(), 'fusebench-compressed-'));
const mountpoint = join(work, 'mnt');
mkdirSync(mountpoint);
after(() => rmSync(work, { recursive: true, force: true }));

function assertSameWalk(actual: WalkRecord[], expected: WalkRecord[], label: string): void {
  const actualLines = actual.map(formatWalkRecord);
  const expectedLines = expected.map(formatWalkRecord);
  for (let index = 0; index < Math.max(actualLines.length, expectedLines.length); index++) {
    assert.equal(actualLines[index], expectedLines[index], `${label}: line ${index + 1} differs`);
  }
}

async function withMount<T>(image: string, body: () => T | Promise<T>): Promise<T> {
  mountErofs(image, mountpoint);
  try {
    return await body();
  } finally {
    await unmount(mountpoint);
  }
}

function isCompressed(inode: ErofsInode): boolean {
  return (
    inode.dataLayout === DataLayout.COMPRESSED_FULL || inode.dataLayout === DataLayout.COMPRESSED_COMPACT
  );
}

/** Every extent of a compressed inode, in order. */
function extentsOf(image: ErofsImage, inode: ErofsInode): CompressedExtent[] {
  const context = mapContextOf(image, inode);
  const info = readZInfo(context);
  const extents: CompressedExtent[] = [];
  for (let position = 0; position < inode.size; ) {
    const extent = mapCompressed(context, info, position);
    extents.push(extent);
    position = extent.logical + extent.length;
  }
  return extents;
}

/** An lz4 image of one text-like file `/text` of about `mib` MiB (300 words of 12 hex digits). */
async function lz4TextImage(
  name: string,
  mib: number,
  random: SeededRandom,
  compression: string[] = ['-zlz4'],
): Promise<{ path: string; text: Buffer }> {
  const tree = join(work, `${name}-tree`);
  mkdirSync(tree, { recursive: true });
  const words = Array.from(
    { length: 300 },
    () => `${seededBytes(`w${random.int(0, 1e9)}`, 6).toString('hex')} `,
  );
  const text = Buffer.from(
    Array.from({ length: (mib * 1024 * 1024) / 13 }, () => words[random.int(0, 299)]).join(''),
  );
  writeFileSync(join(tree, 'text'), text);
  const path = join(work, `${name}.erofs`);
  await execa('mkfs.erofs', ['--quiet', '-T0', ...compression, path, tree]);
  return { path, text };
}

describe('compressed images from mkfs.erofs 1.5 (Debian) against the kernel mount', () => {
  const tree = join(work, 'tree');
  before(async () => {
    mkdirSync(tree);
    await buildEdgeTree(tree, 23, 600);
  });

  const variants: Array<[string, string[]]> = [
    ['lz4', ['-zlz4']],
    ['lz4hc', ['-zlz4hc']],
    ['lz4hc-12-bigpcluster', ['-zlz4hc,12', '-C65536']],
    ['lz4-ztailpacking', ['-zlz4', '-Eztailpacking']],
    ['lz4-legacy', ['-zlz4', '-Elegacy-compress']],
  ];
  for (const [name, args] of variants) {
    it(`${name} (${args.join(' ')}): walk equals the kernel's, every field`, async () => {
      const image = join(work, `${name}.erofs`);
      await execa('mkfs.erofs', [
        '--quiet',
        '-T1700000000',
        '-U',
        '6c2a1f0e-1111-2222-3333-444455556666',
        ...args,
        image,
        tree,
      ]);
      const expected = await withMount(image, () => walkMountedTree(mountpoint));
      assert.ok(expected.length > 700, 'the edge tree is all there');
      withImage(image, (reader) => {
        const compressed = walkImage(reader).filter((record) => record.type === 'file' && record.size > 0);
        assert.ok(
          compressed.some((record) => isCompressed(reader.inode(record.ino))),
          'files use a compressed layout',
        );
        assertSameWalk(walkImage(reader), expected, name);
      });
    });
  }
});

describe('compressed fixtures: reads of any range equal the kernel mount', () => {
  const fixtures = [
    'lz4',
    'lz4-bs1024',
    'lz4-dedupe',
    'lz4-fragments',
    'lz4-ztailpacking',
    'lz4-legacy',
    'lz4hc-bigpcluster',
    'lzma',
    'lzma-bigpcluster',
    'lzma-ztailpacking',
    'deflate',
    'deflate-bigpcluster',
    'zstd',
    'zstd-48bit',
    'zstd-fragments',
    'mixed-algorithms',
  ];
  const sharedPaths = [
    '/data/big_text',
    '/data/mixed',
    '/data/sparse',
    '/data/big_rand',
    '/sizes/text_131079',
  ];
  const mixedPaths = [
    '/lz4/text-150001',
    '/lzma/text-150001',
    '/deflate/mixed',
    '/zstd/text-150001',
    '/zstd/sparse',
  ];
  for (const name of fixtures) {
    it(`${name}: reads straddling pcluster boundaries equal the kernel's bytes`, async () => {
      const path = unpackFixture(name, work);
      const random = new SeededRandom(`straddle/${name}`);
      await withMount(path, () =>
        withImage(path, (image) => {
          let boundaries = 0;
          for (const file of name === 'mixed-algorithms' ? mixedPaths : sharedPaths) {
            const whole = readFileSync(join(mountpoint, file));
            const inode = image.resolve(file);
            assert.equal(inode.size, whole.length);
            // Incompressible files are stored flat; their reads are the plain reader's business.
            const starts = (isCompressed(inode) ? extentsOf(image, inode) : [])
              .map((extent) => extent.logical)
              .filter((start) => start > 0);
            boundaries += starts.length;
            for (let trial = 0; trial < 40; trial++) {
              let offset: number;
              let length: number;
              if (starts.length > 0 && trial % 4 !== 3) {
                const boundary = starts[random.int(0, starts.length - 1)]!;
                offset = Math.max(0, boundary - random.int(1, 5000));
                length = boundary - offset + random.int(1, 9000);
              } else {
                offset = random.int(0, whole.length + 10);
                length = random.int(0, 150_000);
              }
              assert.deepEqual(
                image.read(inode, offset, length),
                whole.subarray(offset, offset + length),
                `${name} ${file} ${offset}+${length}`,
              );
            }
          }
          // Big pclusters (-C) hold these files whole; elsewhere the reads cross many boundaries.
          assert.ok(
            boundaries >= (name.includes('bigpcluster') ? 0 : 4),
            `${name}: ${boundaries} boundaries`,
          );
        }),
      );
    });
  }

  it('cold 4 KiB random reads then 128 KiB sequential reads of a 12 MiB lz4 file equal its bytes (cache entries from many slabs, the slab ring reused, one reused raw buffer)', async () => {
    const random = new SeededRandom('slabs');
    // Larger than the slab ring: it wraps and drops what it held.
    const { path, text } = await lz4TextImage('slabs', 12, random);
    withImage(path, (image) => {
      const inode = image.resolve('/text');
      assert.ok(isCompressed(inode));
      const pages = Array.from({ length: Math.ceil(text.length / 4096) }, (_, page) => page);
      // Slabs are the reader's only 1 MiB allocations: count them.
      const allocate = Buffer.allocUnsafeSlow;
      let slabs = 0;
      Buffer.allocUnsafeSlow = (size: number) => {
        if (size === 1024 * 1024) slabs++;
        return allocate(size);
      };
      try {
        // Twice over every page in random order: the second pass hits entries cached in older
        // slabs, and misses those a reused slab dropped.
        for (const page of [...random.shuffled(pages), ...random.shuffled(pages)]) {
          const offset = page * 4096;
          assert.deepEqual(
            image.read(inode, offset, 4096),
            text.subarray(offset, offset + 4096),
            `page ${page}`,
          );
        }
      } finally {
        Buffer.allocUnsafeSlow = allocate;
      }
      const cache = image.decodedPclusters!;
      assert.ok(cache.bytes > 1024 * 1024, `${cache.bytes} bytes cached: more than one 1 MiB slab`);
      assert.ok(cache.hits > 0, 'the second pass hit cached extents');
      assert.equal(slabs, SLAB_RING_BYTES / (1024 * 1024), 'the slabs are a ring, reused once full');
      for (let offset = 0; offset < text.length; offset += 128 * 1024) {
        assert.deepEqual(
          image.read(inode, offset, 128 * 1024),
          text.subarray(offset, offset + 128 * 1024),
          `sequential ${offset}`,
        );
      }
    });
  });

  it('a 4 KiB read inside a big lz4 extent decodes it only up to the bytes read; a read further in, or a stream, decodes it whole', async () => {
    const { path, text } = await lz4TextImage('prefix', 6, new SeededRandom('prefix'), [
      '-zlz4hc',
      '-C1048576',
    ]);
    withImage(path, (image) => {
      const inode = image.resolve('/text');
      const [big, next] = extentsOf(image, inode).filter(
        (extent) => extent.kind === 'device' && extent.length > 1024 * 1024,
      );
      assert.ok(big && next, 'two extents over 1 MiB');
      const page = (at: number) => Math.ceil(at / 4096) * 4096;
      const read = (offset: number) =>
        assert.deepEqual(image.read(inode, offset, 4096), text.subarray(offset, offset + 4096), `${offset}`);
      const early = page(big.logical + big.length / 4);
      read(early);
      const cache = image.decodedPclusters!;
      assert.equal(cache.bytes, early + 4096 - big.logical, 'only the prefix up to the read is decoded');
      const late = page(big.logical + (big.length * 3) / 4);
      read(late);
      assert.equal(cache.bytes, big.length, 'the whole extent, in place of the prefix');
      const hits = cache.hits;
      read(early);
      read(late);
      assert.equal(cache.hits, hits + 2, 'both served by the whole extent');
      assert.equal(cache.bytes, big.length);
      // A read from an extent's start is a stream's: the next read wants the rest.
      assert.deepEqual(
        image.read(inode, next.logical, 128 * 1024),
        text.subarray(next.logical, next.logical + 128 * 1024),
      );
      assert.equal(cache.bytes, big.length + next.length, 'a stream decodes the extent whole');
    });
  });

  it('reads take from the image what they need: one pread for a 4 KiB read across two adjacent pclusters, exact pclusters for random reads, read-ahead for a stream', async () => {
    const { path, text } = await lz4TextImage('spans', 4, new SeededRandom('spans'));
    withImage(path, (image) => {
      const inode = image.resolve('/text');
      // Maps the whole file first: its index pages are then in the metadata cache, and every
      // pread below is pcluster data.
      const extents = extentsOf(image, inode).filter(
        (extent): extent is Extract<CompressedExtent, { kind: 'device' | 'inline' }> =>
          extent.kind === 'device',
      );
      assert.ok(extents.length > 100, `${extents.length} pclusters`);
      const reads = () => ({ preads: image.preads, bytes: image.bytesRead });
      const since = (before: { preads: number; bytes: number }) => ({
        preads: image.preads - before.preads,
        bytes: image.bytesRead - before.bytes,
      });

      // Random single-pcluster reads in the first half, from its end back (never where the last
      // read ended); reads across two in the second half (none of them cached yet).
      let lone = 0;
      const half = Math.floor(extents.length / 2);
      for (let index = half - 2; index > 0 && lone < 20; index -= 7) {
        const extent = extents[index]!;
        const offset = Math.ceil(extent.logical / 4096) * 4096;
        if (offset + 4096 > extent.logical + extent.length) continue;
        const before = reads();
        assert.deepEqual(image.read(inode, offset, 4096), text.subarray(offset, offset + 4096));
        assert.deepEqual(since(before), { preads: 1, bytes: extent.encodedLength }, `lone pcluster ${index}`);
        lone++;
      }
      assert.ok(lone >= 10, `${lone} reads inside one pcluster`);

      // A read across the end of one pcluster into the next, adjacent on the device.
      let spanning = 0;
      for (let index = extents.length - 3; index > half && spanning < 20; index -= 5) {
        const [first, second] = [extents[index]!, extents[index + 1]!];
        const boundary = first.logical + first.length;
        const offset = Math.floor((boundary - 1) / 4096) * 4096;
        if (
          second.physical !== first.physical + first.encodedLength ||
          offset < first.logical ||
          offset + 4096 > second.logical + second.length ||
          offset + 4096 <= boundary
        ) {
          continue;
        }
        const before = reads();
        assert.deepEqual(image.read(inode, offset, 4096), text.subarray(offset, offset + 4096));
        assert.deepEqual(
          since(before),
          { preads: 1, bytes: first.encodedLength + second.encodedLength },
          `pclusters ${index} and ${index + 1}`,
        );
        spanning++;
      }
      assert.ok(spanning >= 10, `${spanning} reads across two pclusters`);

      // A stream: 128 KiB reads from the start read ahead in windows of many pclusters.
      const before = reads();
      for (let offset = 0; offset < text.length; offset += 128 * 1024) {
        assert.deepEqual(image.read(inode, offset, 128 * 1024), text.subarray(offset, offset + 128 * 1024));
      }
      const stream = since(before);
      const encoded = extents.reduce((sum, extent) => sum + extent.encodedLength, 0);
      assert.ok(
        stream.preads * 16 < extents.length,
        `${stream.preads} preads for ${extents.length} pclusters`,
      );
      assert.ok(stream.bytes < encoded + 256 * 1024, `${stream.bytes} bytes read for ${encoded} encoded`);
    });
  });

  it('sequential small reads decode each pcluster once (the decoded-pcluster cache)', () => {
    const path = unpackFixture('lz4', work);
    withImage(path, (image) => {
      const inode = image.resolve('/data/big_text');
      const encoded = extentsOf(image, inode).filter((extent) => extent.kind === 'device');
      assert.ok(encoded.length > 10);
      const before = image.decodedPclusters;
      assert.equal(before, null, 'no compression state before the first compressed read');
      const pieces: Buffer[] = [];
      for (let position = 0; position < inode.size; position += 4096)
        pieces.push(image.read(inode, position, 4096));
      const cache = image.decodedPclusters;
      assert.ok(cache);
      assert.equal(cache.misses, encoded.length);
      assert.ok(cache.bytes <= 32 * 1024 * 1024);
      assert.deepEqual(Buffer.concat(pieces), image.read(inode, 0, inode.size));
    });
    const image = ErofsImage.open(path);
    image.read(image.resolve('/data/big_text'), 0, 4096);
    assert.ok(image.decodedPclusters);
    image.close();
    assert.equal(image.decodedPclusters, null, 'closing the image drops its compression state');
  });
});

describe('HEAD2 lclusters (no mkfs writes them): crafted from the mixed fixture, read like the kernel', () => {
  it('an lzma file whose HEADs become HEAD2 with lzma as the second algorithm reads the same bytes', async () => {
    const file = '/lzma/text-150001';
    const pristine = unpackFixture('mixed-algorithms', work);
    const bytes = readFileSync(pristine);
    let lclusters = 0;
    withImage(pristine, (image) => {
      const inode = image.resolve(file);
      assert.equal(inode.dataLayout, DataLayout.COMPRESSED_COMPACT);
      const header = readZInfo(mapContextOf(image, inode)).headerOffset;
      assert.equal(bytes[header + ZMapHeader.algorithmType], 1, 'HEAD1 is lzma');
      // HEAD1 becomes lz4 (unused once every HEAD is a HEAD2), HEAD2 lzma.
      bytes[header + ZMapHeader.algorithmType] = 0x10;
      for (let lcn = 0; lcn < Math.ceil(inode.size / image.sb.blockSize); lcn++) {
        const entry = compactEntry(image, inode, lcn);
        const typeBit = entry.bit + entry.lowBits;
        const at = entry.packStart + (typeBit >> 3);
        const word = bytes.readUInt16LE(at);
        const type = (word >> (typeBit & 7)) & 3;
        if (type !== LclusterType.HEAD1) continue;
        bytes.writeUInt16LE(word | (LclusterType.HEAD2 << (typeBit & 7)), at);
        lclusters++;
      }
    });
    assert.ok(lclusters >= 5, `${lclusters} HEAD1 lclusters turned HEAD2`);
    resign(bytes);
    const path = join(work, 'head2.erofs');
    writeFileSync(path, bytes);
    const kernel = await withMount(path, () => readFileSync(join(mountpoint, file)));
    withImage(path, (image) => {
      const inode = image.resolve(file);
      assert.ok(extentsOf(image, inode).every((extent) => extent.kind !== 'device' || extent.format === 1));
      assert.deepEqual(image.read(inode, 0, inode.size), kernel);
      const random = new SeededRandom('head2');
      for (let trial = 0; trial < 30; trial++) {
        const offset = random.int(0, inode.size);
        const length = random.int(1, 20_000);
        assert.deepEqual(image.read(inode, offset, length), kernel.subarray(offset, offset + length));
      }
    });
    withImage(pristine, (image) => {
      assert.deepEqual(kernel, image.read(image.resolve(file), 0, kernel.length), 'the same bytes as before');
    });
  });
});

describe('compressed images: corruption is an ErofsCorruptError, quickly', () => {
  /** A Debian mkfs 1.5 image with full (8-byte) indexes and big pclusters: /text, 270 KB of words. */
  const bigFullIndexes = join(work, 'big-full.erofs');
  before(async () => {
    const source = join(work, 'big-full-tree');
    mkdirSync(source);
    const random = new SeededRandom('words');
    const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'];
    writeFileSync(
      join(source, 'text'),
      Array.from({ length: 45_000 }, () => words[random.int(0, words.length - 1)]).join(' '),
    );
    await execa('mkfs.erofs', ['--quiet', '-zlz4hc', '-C16384', '-Elegacy-compress', bigFullIndexes, source]);
  });

  /** A private copy of fixture `name` (or of the image at path `name`) with `patch` applied. */
  function corrupted(
    name: string,
    file: string,
    patch: (bytes: Buffer, image: ErofsImage, inode: ErofsInode) => void,
  ): string {
    const pristine = name.startsWith('/') ? name : unpackFixture(name, work);
    const bytes = readFileSync(pristine);
    withImage(pristine, (image) => patch(bytes, image, image.resolve(file)));
    resign(bytes);
    const path = join(work, 'corrupt.erofs');
    writeFileSync(path, bytes);
    return path;
  }

  /** Reads `file` block by block (so every lcluster is mapped from itself) and expects corruption. */
  function assertCorruptRead(path: string, file: string, pattern?: RegExp): void {
    const started = performance.now();
    withImage(path, (image) => {
      const inode = image.resolve(file);
      const step = image.sb.blockSize;
      assert.throws(
        () => {
          for (let position = 0; position < inode.size; position += step) image.read(inode, position, step);
        },
        (error: unknown) => {
          assert.ok(error instanceof ErofsCorruptError, `not an ErofsCorruptError: ${String(error)}`);
          if (pattern) assert.match(error.message, pattern);
          return true;
        },
      );
    });
    assert.ok(performance.now() - started < 2000, 'the failure is quick');
  }

  /** Offsets of the full (8-byte) lcluster indexes of a non-compact inode. */
  function fullIndexOffsets(image: ErofsImage, inode: ErofsInode): number[] {
    const info = readZInfo(mapContextOf(image, inode));
    const count = Math.ceil(inode.size / image.sb.blockSize);
    return Array.from(
      { length: count },
      (_, lcn) => info.headerOffset + ZMapHeader.LEGACY_SIZE + lcn * LclusterIndex.SIZE,
    );
  }

  it('a NONHEAD lcluster whose lookback distance is 0', () => {
    const path = corrupted('lz4-legacy', '/data/big_text', (bytes, image, inode) => {
      const nonhead = fullIndexOffsets(image, inode).find(
        (offset) => (bytes.readUInt16LE(offset + LclusterIndex.advise) & 3) === LclusterType.NONHEAD,
      );
      assert.ok(nonhead !== undefined);
      bytes.writeUInt16LE(0, nonhead + LclusterIndex.delta0);
    });
    assertCorruptRead(path, '/data/big_text', /lookback distance 0/);
  });

  it('an lcluster chain with no HEAD at all (every index a NONHEAD pointing back by 1)', () => {
    const path = corrupted('lz4-legacy', '/data/big_text', (bytes, image, inode) => {
      for (const offset of fullIndexOffsets(image, inode)) {
        bytes.writeUInt16LE(LclusterType.NONHEAD, offset + LclusterIndex.advise);
        bytes.writeUInt16LE(1, offset + LclusterIndex.delta0);
        bytes.writeUInt16LE(1, offset + LclusterIndex.delta1);
      }
    });
    assertCorruptRead(path, '/data/big_text', /lookback|pcluster limit/);
  });

  it('a HEAD whose block address points past the end of the image', () => {
    const path = corrupted('lz4-legacy', '/data/big_text', (bytes, image, inode) => {
      const head = fullIndexOffsets(image, inode)[0]!;
      bytes.writeUInt32LE(0xfffff000, head + LclusterIndex.blkaddr);
    });
    assertCorruptRead(path, '/data/big_text', /run past the end/);
  });

  it('a CBLKCNT making the pcluster larger than 1 MiB', () => {
    const path = corrupted(bigFullIndexes, '/text', (bytes, image, inode) => {
      const offsets = fullIndexOffsets(image, inode);
      const cblkcnt = offsets.find(
        (offset) =>
          (bytes.readUInt16LE(offset + LclusterIndex.advise) & 3) === LclusterType.NONHEAD &&
          bytes.readUInt16LE(offset + LclusterIndex.delta0) & Z_EROFS_LI_D0_CBLKCNT,
      );
      assert.ok(cblkcnt !== undefined, 'the image has big pclusters');
      bytes.writeUInt16LE(Z_EROFS_LI_D0_CBLKCNT | 2047, cblkcnt + LclusterIndex.delta0);
    });
    assertCorruptRead(path, '/text', /exceeds 1 MiB/);
  });

  it('full indexes: a HEAD moved, so the pclusters around it decode longer or shorter than their extents', () => {
    const path = corrupted(bigFullIndexes, '/text', (bytes, image, inode) => {
      const head = fullIndexOffsets(image, inode).find(
        (offset, lcn) =>
          lcn > 0 &&
          (bytes.readUInt16LE(offset + LclusterIndex.advise) & 3) === LclusterType.HEAD1 &&
          bytes.readUInt16LE(offset + LclusterIndex.clusterOfs) >= 16,
      );
      assert.ok(head !== undefined);
      bytes.writeUInt16LE(
        bytes.readUInt16LE(head + LclusterIndex.clusterOfs) - 8,
        head + LclusterIndex.clusterOfs,
      );
    });
    assertCorruptRead(path, '/text', /LZ4/);
  });

  for (const [name, pattern] of [
    ['lz4', /LZ4/],
    ['lzma', /MicroLZMA/],
    ['deflate', /DEFLATE/],
    ['zstd', /zstd/],
  ] as const) {
    it(`${name}, compact indexes: a HEAD moved, so the pclusters around it decode longer or shorter`, () => {
      const path = corrupted(name, '/data/big_text', (bytes, image, inode) => {
        const extents = extentsOf(image, inode);
        const index = extents.findIndex(
          (extent, at) =>
            at > 0 &&
            extent.kind === 'device' &&
            extent.format <= 3 &&
            extents[at - 1]!.kind === 'device' &&
            extent.logical % image.sb.blockSize >= 16,
        );
        assert.ok(index > 0, 'two compressed extents meet inside a block');
        const extent = extents[index]!;
        const entry = compactEntry(image, inode, Math.floor(extent.logical / image.sb.blockSize));
        const at = entry.packStart + (entry.bit >> 3);
        const shift = 2 ** (entry.bit & 7);
        const word = bytes.readUInt32LE(at);
        const low = Math.floor(word / shift) % 2 ** entry.lowBits;
        assert.equal(low, extent.logical % image.sb.blockSize, 'the entry holds the HEAD clusterofs');
        bytes.writeUInt32LE(word - 8 * shift, at);
      });
      assertCorruptRead(path, '/data/big_text', pattern);
    });
  }

  it('an lzma dict_size below 4 KiB, which the kernel refuses to mount, fails the first compressed read', () => {
    const path = corrupted('lzma', '/data/big_text', (bytes, image) => {
      // Records follow the superblock in algorithm order; find the lzma one by its position.
      const records: number[] = [];
      readCompressionConfig(image.sb, (offset, length, what) => {
        if (what === 'compression config') records.push(offset);
        return image.readDevice(0, offset, length, what);
      });
      const present = [...Array(16).keys()].filter((bit) => image.sb.availableComprAlgs & (1 << bit));
      const record = records[present.indexOf(CompressionAlgorithm.LZMA)];
      assert.ok(record !== undefined, 'the image has an lzma config record');
      assert.ok(bytes.readUInt32LE(record + LzmaCfgs.dictSize) >= 4096, 'a valid dict_size to begin with');
      bytes.writeUInt32LE(4095, record + LzmaCfgs.dictSize);
    });
    assertCorruptRead(path, '/data/big_text', /lzma dict_size 4095/);
  });

  it('lcluster size inflated so one extent claims the whole file: LZ4 decodes short', () => {
    const path = corrupted('lz4-legacy', '/data/big_text', (bytes, image, inode) => {
      const header = readZInfo(mapContextOf(image, inode)).headerOffset;
      bytes[header + ZMapHeader.clusterBits] = 15;
    });
    assertCorruptRead(path, '/data/big_text', /LZ4 decoded \d+ bytes of a pcluster that should give/);
  });

  for (const name of ['lz4', 'lzma', 'deflate', 'zstd']) {
    it(`${name}: garbage in place of compressed data`, () => {
      const path = corrupted(name, '/data/big_text', (bytes, image, inode) => {
        const extents = extentsOf(image, inode).filter(
          (extent): extent is Extract<CompressedExtent, { kind: 'device' | 'inline' }> =>
            extent.kind === 'device',
        );
        for (const [index, extent] of extents.entries()) {
          if (extent.kind !== 'device' || extent.format > 3) continue;
          seededBytes(`garbage/${name}/${index}`, extent.encodedLength).copy(bytes, extent.physical);
        }
      });
      assertCorruptRead(path, '/data/big_text');
    });
  }

  it('a pcluster of zeros only (0padding with no stream after it)', () => {
    const path = corrupted('lz4', '/data/big_text', (bytes, image, inode) => {
      const first = extentsOf(image, inode)[0]!;
      assert.equal(first.kind, 'device');
      if (first.kind === 'device') bytes.fill(0, first.physical, first.physical + first.encodedLength);
    });
    assertCorruptRead(path, '/data/big_text', /all padding/);
  });

  it('an algorithm the superblock does not list', () => {
    const path = corrupted('lz4', '/data/big_text', (bytes, image, inode) => {
      const header = readZInfo(mapContextOf(image, inode)).headerOffset;
      bytes[header + ZMapHeader.algorithmType] = 0x11;
    });
    assertCorruptRead(path, '/data/big_text', /does not list/);
  });

  it('an inline tail pcluster that crosses its block', () => {
    const path = corrupted('lz4-ztailpacking', '/data/big_text', (bytes, image, inode) => {
      const header = readZInfo(mapContextOf(image, inode)).headerOffset;
      assert.ok(bytes.readUInt16LE(header + ZMapHeader.idataSize) > 0);
      bytes.writeUInt16LE(4000, header + ZMapHeader.idataSize);
    });
    assertCorruptRead(path, '/data/big_text', /crosses a block/);
  });

  it('a fragment offset past the end of the packed inode', () => {
    const path = corrupted('lz4-fragments', '/data/big_text', (bytes, image, inode) => {
      const header = readZInfo(mapContextOf(image, inode)).headerOffset;
      assert.ok(extentsOf(image, inode).some((extent) => extent.kind === 'fragment'));
      bytes.writeUInt32LE(0xfffff000, header + ZMapHeader.fragmentOff);
    });
    assertCorruptRead(path, '/data/big_text', /packed inode/);
  });

  it('a packed inode that is itself all fragment (a loop through the packed inode)', () => {
    const path = corrupted('lz4-all-fragments', '/data/big_text', (bytes, image) => {
      // Make another whole-file fragment the packed inode: its data would come from itself.
      const other = image.resolve('/data/mixed');
      bytes.writeBigUInt64LE(BigInt(other.ino), EROFS_SUPER_OFFSET + Superblock.packedNid);
    });
    assertCorruptRead(path, '/data/big_text', /packed inode/);
  });

  it('48-bit encoded extents: a start past the image and an encoded length over 1 MiB', () => {
    const first = corrupted('zstd-48bit', '/data/big_text', (bytes, image, inode) => {
      const info = readZInfo(mapContextOf(image, inode));
      assert.equal(info.extents?.recordSize, 4);
      bytes.writeBigUInt64LE(1n << 40n, info.extents!.start);
    });
    assertCorruptRead(first, '/data/big_text', /run past the end/);
    const second = corrupted('zstd-48bit', '/data/big_text', (bytes, image, inode) => {
      const info = readZInfo(mapContextOf(image, inode));
      const record = info.extents!.start + 8;
      bytes.writeUInt32LE(
        (bytes.readUInt32LE(record) & ~ZExtent.PLEN_MASK) | 0x1ff000,
        record + ZExtent.plen,
      );
    });
    assertCorruptRead(second, '/data/big_text', /exceeds 1 MiB/);
  });

  it('random damage to compressed indexes gives typed errors only, never a hang', () => {
    const random = new SeededRandom('index-damage');
    const pristine = unpackFixture('lz4hc-bigpcluster', work);
    const original = readFileSync(pristine);
    const target = join(work, 'damaged.erofs');
    const started = performance.now();
    let failures = 0;
    const { start, span } = withImage(pristine, (image) => {
      const inode = image.resolve('/data/big_text');
      const header = readZInfo(mapContextOf(image, inode)).headerOffset;
      return { start: header, span: 8 + Math.ceil(inode.size / image.sb.blockSize) * 2 + 32 };
    });
    for (let trial = 0; trial < 150; trial++) {
      const bytes = Buffer.from(original);
      for (let flips = random.int(1, 4); flips > 0; flips--) {
        bytes[start + random.int(0, span - 1)] = random.int(0, 255);
      }
      writeFileSync(target, bytes);
      try {
        withImage(target, (image) => {
          const inode = image.resolve('/data/big_text');
          image.read(inode, 0, inode.size);
        });
      } catch (error) {
        assert.ok(
          error instanceof ErofsCorruptError || error instanceof ErofsUnsupportedError,
          `trial ${trial}: ${String(error)}`,
        );
        failures++;
      }
    }
    assert.ok(failures > 20, `most damage is noticed (${failures}/150)`);
    assert.ok(performance.now() - started < 20_000, 'bounded time');
  });
});

/**
 * Where lcluster `lcn`'s compact index entry is (the on-disk layout of COMPRESSED_COMPACT):
 * 4-byte entries up to 32-byte alignment, 2-byte packs (COMPACTED_2B), then 4-byte entries.
 */
function compactEntry(
  image: ErofsImage,
  inode: ErofsInode,
  lcn: number,
): { packStart: number; bit: number; lowBits: number } {
  const info = readZInfo(mapContextOf(image, inode));
  const base = info.headerOffset + ZMapHeader.SIZE;
  const total = Math.ceil(inode.size / image.sb.blockSize);
  const initial = ((CompactPack.ALIGNMENT - (base % CompactPack.ALIGNMENT)) / 4) & 7;
  const twoByte =
    info.advise & ZAdvise.COMPACTED_2B && initial < total ? Math.floor((total - initial) / 16) * 16 : 0;
  let position = base;
  let entrySize = 4;
  let index = lcn;
  if (index >= initial) {
    position += initial * 4;
    index -= initial;
    if (index < twoByte) {
      entrySize = 2;
    } else {
      position += twoByte * 2;
      index -= twoByte;
    }
  }
  position += index * entrySize;
  const pack = entrySize === 4 ? CompactPack.FOUR_BYTE : CompactPack.TWO_BYTE;
  const packStart = position - (position % pack.bytes);
  const entryBits = ((pack.bytes - CompactPack.BLKADDR_SIZE) * 8) / pack.entries;
  return {
    packStart,
    bit: entryBits * ((position - packStart) / entrySize),
    lowBits: Math.max(info.lclusterBits, 12),
  };
}

/** Re-signs the superblock of a patched image when it carries a checksum (it covers the first block). */
function resign(bytes: Buffer): void {
  if (bytes.readUInt32LE(EROFS_SUPER_OFFSET + Superblock.featureCompat) & FeatureCompat.SB_CHKSUM) {
    const blockSize = 2 ** bytes[EROFS_SUPER_OFFSET + Superblock.blkszbits]!;
    const length = blockSize > EROFS_SUPER_OFFSET ? blockSize - EROFS_SUPER_OFFSET : blockSize;
    const block = Buffer.from(bytes.subarray(EROFS_SUPER_OFFSET, EROFS_SUPER_OFFSET + length));
    block.writeUInt32LE(0, Superblock.checksum);
    bytes.writeUInt32LE(crc32c(0xffffffff, block), EROFS_SUPER_OFFSET + Superblock.checksum);
  }
}
