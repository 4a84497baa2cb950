import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCompressionConfig } from '../erofs/compress/config.js';
import { mapContextOf } from '../erofs/compress/index.js';
import { mapCompressed, readZInfo } from '../erofs/compress/map.js';
import { decodeMicroLzmaStream } from '../erofs/compress/microlzma.js';
import { ErofsCorruptError } from '../erofs/errors.js';
import { CompressionAlgorithm } from '../erofs/format.js';
import { ErofsImage } from '../erofs/image.js';
import { SeededRandom, seededBytes } from '../lib/random.js';
import { fixtureTruth, unpackFixture } from './helpers/erofs-fixtures.js';

/**
 * The MicroLZMA decoder on its own, with real pclusters of the erofs-utils lzma fixtures: whole and
 * prefix decodes against the kernel's bytes, and the streams the kernel rejects (truncated, longer
 * than the output, bad properties, distances beyond the dictionary), plus damaged streams, which
 * must end in output or an ErofsCorruptError, never anything else.
 */

const work = mkdtempSync(join(tmpdir(), 'fusebench-microlzma-'));
after(() => rmSync(work, { recursive: true, force: true }));

const FILE = '/data/big_text';
const WHERE = { nid: 1, offset: 0 };

interface Pcluster {
  /** The MicroLZMA stream: the pcluster without its leading zero padding. */
  stream: Buffer;
  /** Bytes of the file this pcluster decodes to, in order. */
  length: number;
  /** The pcluster decodes to more than `length` (the kernel decodes a prefix). */
  partial: boolean;
}

interface LzmaFile {
  pclusters: Pcluster[];
  dictSize: number;
  sha256: string;
}

/** The pclusters of FILE in fixture `name`, in file order. */
function loadFile(name: string): LzmaFile {
  const image = ErofsImage.open(unpackFixture(name, work));
  try {
    const inode = image.resolve(FILE);
    const context = mapContextOf(image, inode);
    const info = readZInfo(context);
    const pclusters: Pcluster[] = [];
    for (let position = 0; position < inode.size; ) {
      const extent = mapCompressed(context, info, position);
      position = extent.logical + extent.length;
      assert.ok(extent.kind === 'device' || extent.kind === 'inline', `${name}: ${extent.kind} extent`);
      assert.equal(extent.format, CompressionAlgorithm.LZMA, `${name}: extent at ${extent.logical}`);
      const raw =
        extent.kind === 'device'
          ? image.readDevice(0, extent.physical, extent.encodedLength, 'test')
          : image.readInodeMeta(inode, extent.physical, extent.encodedLength, 'test');
      let start = 0;
      while (raw[start] === 0) start++;
      pclusters.push({ stream: raw.subarray(start), length: extent.length, partial: extent.partial });
    }
    const { lzmaDictSize } = readCompressionConfig(image.sb, (offset, count, what) =>
      image.readDevice(0, offset, count, what),
    );
    const sha256 = fixtureTruth(name).find((record) => record.path === FILE)?.sha256;
    assert.ok(sha256, `${name}: the truth lists ${FILE}`);
    return { pclusters, dictSize: lzmaDictSize, sha256 };
  } finally {
    image.close();
  }
}

function decode(stream: Uint8Array, length: number, exact: boolean, dictSize: number): Buffer {
  const out = Buffer.alloc(length);
  decodeMicroLzmaStream(stream, out, { dictSize, exact, where: WHERE });
  return out;
}

function assertCorrupt(run: () => unknown, pattern: RegExp, label: string): void {
  assert.throws(
    run,
    (error: unknown) => error instanceof ErofsCorruptError && pattern.test(error.message),
    label,
  );
}

for (const name of ['lzma', 'lzma-bigpcluster']) {
  describe(`MicroLZMA: ${FILE} of the ${name} fixture`, () => {
    let file: LzmaFile;
    /** Each pcluster decoded whole (its extent's length). */
    let decoded: Buffer[];
    before(() => {
      file = loadFile(name);
      decoded = file.pclusters.map(({ stream, length, partial }) =>
        decode(stream, length, !partial, file.dictSize),
      );
    });

    it('whole-extent decodes give the kernel bytes, ending each stream exactly', () => {
      assert.ok(file.pclusters.filter(({ partial }) => !partial).length >= 1, 'exact decodes are checked');
      const sha256 = createHash('sha256').update(Buffer.concat(decoded)).digest('hex');
      assert.equal(sha256, file.sha256);
    });

    it('prefix decodes give the prefix, without needing the stream to end', () => {
      for (const [index, { stream, length }] of file.pclusters.entries()) {
        for (const prefix of [1, 2, 100, length >> 1, length - 1]) {
          if (prefix < 1 || prefix >= length) continue;
          assert.deepEqual(
            decode(stream, prefix, false, file.dictSize),
            decoded[index]!.subarray(0, prefix),
            `pcluster ${index}, ${prefix} of ${length} bytes`,
          );
        }
      }
    });

    it('an exact decode of fewer bytes than the stream holds is corrupt (the kernel says EIO)', () => {
      for (const [index, { stream, length }] of file.pclusters.entries()) {
        assertCorrupt(
          () => decode(stream, length - 1, true, file.dictSize),
          /MicroLZMA/,
          `pcluster ${index}`,
        );
      }
    });

    it('a truncated stream is corrupt, whether or not it must end there', () => {
      for (const [index, { stream, length, partial }] of file.pclusters.entries()) {
        for (const cut of [1, 3, 16]) {
          const short = stream.subarray(0, stream.length - cut);
          for (const exact of partial ? [false] : [true, false]) {
            assertCorrupt(
              () => decode(short, length, exact, file.dictSize),
              /MicroLZMA/,
              `pcluster ${index} cut by ${cut}, exact ${exact}`,
            );
          }
        }
      }
    });

    it('bytes after the stream: corrupt for a whole-extent decode, ignored for a prefix', () => {
      for (const [index, { stream, length, partial }] of file.pclusters.entries()) {
        if (partial) continue;
        const longer = Buffer.concat([stream, Buffer.from([0, 0x5a])]);
        assertCorrupt(() => decode(longer, length, true, file.dictSize), /goes on/, `pcluster ${index}`);
        assert.deepEqual(decode(longer, length, false, file.dictSize), decoded[index]);
      }
    });

    it('a changed last byte leaves the range coder unfinished: corrupt for a whole-extent decode', () => {
      for (const [index, { stream, length, partial }] of file.pclusters.entries()) {
        if (partial) continue;
        const changed = Buffer.from(stream);
        changed[changed.length - 1]! ^= 1;
        assertCorrupt(() => decode(changed, length, true, file.dictSize), /range coder/, `pcluster ${index}`);
      }
    });

    it('a match reaching beyond the dictionary size is corrupt', () => {
      let rejected = 0;
      for (const { stream, length, partial } of file.pclusters) {
        try {
          decode(stream, length, !partial, 4096);
        } catch (error) {
          assert.ok(error instanceof ErofsCorruptError && /dictionary/.test(error.message), String(error));
          rejected++;
        }
      }
      assert.ok(rejected > 0, 'some match reaches back more than 4 KiB');
    });

    it('damaged streams give output or ErofsCorruptError, quickly', () => {
      const random = new SeededRandom(`microlzma-damage/${name}`);
      const started = Date.now();
      let failures = 0;
      let trials = 0;
      for (const [index, { stream, length }] of file.pclusters.entries()) {
        for (let trial = 0; trial < 40; trial++) {
          const damaged = Buffer.from(stream);
          const flips = random.int(1, 4);
          for (let flip = 0; flip < flips; flip++) {
            damaged[random.int(1, damaged.length - 1)]! ^= 1 << random.int(0, 7);
          }
          const garbage = trial % 10 === 9;
          const input = garbage ? seededBytes(`garbage/${name}/${index}/${trial}`, stream.length) : damaged;
          for (const exact of [true, false]) {
            trials++;
            try {
              decode(input, length, exact, file.dictSize);
            } catch (error) {
              assert.ok(error instanceof ErofsCorruptError, `pcluster ${index} trial ${trial}: ${error}`);
              assert.match(error.message, /MicroLZMA/);
              failures++;
            }
          }
        }
      }
      assert.ok(failures > 0, `${failures} of ${trials} damaged decodes failed`);
      assert.ok(Date.now() - started < 60_000, 'no decode hangs');
    });
  });
}

describe('MicroLZMA: malformed stream headers', () => {
  it('rejects properties the kernel rejects (lc + lp > 4, or beyond pb 4)', () => {
    const out = Buffer.alloc(16);
    // props = (pb * 5 + lp) * 9 + lc; the stream stores its bitwise NOT.
    for (const props of [(0 * 5 + 1) * 9 + 4, (0 * 5 + 4) * 9 + 1, 225, 255]) {
      const stream = Buffer.from([~props & 0xff, 0, 0, 0, 0, 0, 0, 0]);
      assertCorrupt(
        () => decodeMicroLzmaStream(stream, out, { dictSize: 4096, exact: false, where: WHERE }),
        /MicroLZMA properties/,
        `props ${props}`,
      );
    }
  });

  it('rejects a stream shorter than the range coder needs to start', () => {
    for (const length of [0, 1, 4]) {
      const stream = Buffer.alloc(length, 0xa2); // props 0x5d: lc 3, lp 0, pb 2
      assertCorrupt(
        () => decodeMicroLzmaStream(stream, Buffer.alloc(8), { dictSize: 4096, exact: false, where: WHERE }),
        /MicroLZMA stream of \d+ bytes is shorter/,
        `${length} bytes`,
      );
    }
  });

  it('reports where the stream came from', () => {
    assert.throws(
      () =>
        decodeMicroLzmaStream(Buffer.from([0xa2, 0, 0, 0]), Buffer.alloc(8), {
          dictSize: 4096,
          exact: true,
          where: { nid: 42, offset: 0x3000 },
        }),
      (error: unknown) => error instanceof ErofsCorruptError && error.nid === 42 && error.offset === 0x3000,
    );
  });
});
