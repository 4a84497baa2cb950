import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { ErofsUnsupportedError } from '../erofs/errors.js';
import { ErofsImage } from '../erofs/image.js';
import { walkImage } from '../erofs/walk.js';
import { mountErofs, unmount } from '../lib/mounts.js';
import { SeededRandom } from '../lib/random.js';
import { formatWalkRecord, type WalkRecord, walkMountedTree } from '../lib/tree-walk.js';
import { fusebench } from './helpers/cli.js';
import { buildEdgeTree } from './helpers/edge-tree.js';
import { fixtureNames, fixtureTruth, unpackFixture } from './helpers/erofs-fixtures.js';

/**
 * The reader against the kernel: every field of every path of images built by Debian's
 * mkfs.erofs from a tree of edge cases, and of the committed erofs-utils 1.9.3 fixtures.
 */

function assertSameWalk(actual: WalkRecord[], expected: WalkRecord[], label: string): void {
  const actualLines = actual.map(formatWalkRecord);
  const expectedLines = expected.map(formatWalkRecord);
  for (let index = 0; index < Math.max(actualLines.length, expectedLines.length); index++) {
    assert.equal(actualLines[index], expectedLines[index], `${label}: line ${index + 1} differs`);
  }
}

const work = mkdtempSync(join(tmpdir(), 'fusebench-reader-'));
const tree = join(work, 'tree');
const mountpoint = join(work, 'mnt');

async function mkfs(name: string, args: string[]): Promise<string> {
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
  return image;
}

async function kernelWalk(image: string, options: string[] = []): Promise<WalkRecord[]> {
  mountErofs(image, mountpoint, options);
  try {
    return walkMountedTree(mountpoint);
  } finally {
    await unmount(mountpoint);
  }
}

describe('EROFS reader: images from mkfs.erofs (Debian) against the kernel mount', () => {
  before(async () => {
    mkdirSync(tree);
    mkdirSync(mountpoint);
    await buildEdgeTree(tree, 11);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const variants: Array<[string, string[]]> = [
    ['default', []],
    ['compact', ['-Eforce-inode-compact', '--all-root']],
    ['extended', ['-Eforce-inode-extended']],
    ['noinline', ['-Enoinline_data']],
    ['preserve-mtime', ['--preserve-mtime']],
    ['chunk-4k-blockmap', ['--chunksize=4096', '-Eforce-inode-blockmap']],
    ['chunk-8k-indexes', ['--chunksize=8192', '-Eforce-chunk-indexes']],
    ['chunk-1m', ['--chunksize=1048576']],
    ['all-root', ['--all-root', '-x-1']],
  ];
  for (const [name, args] of variants) {
    it(`${name} (${args.join(' ') || 'no options'}): erofs walk equals the kernel's walk, every field`, async () => {
      const image = await mkfs(name, args);
      const expected = await kernelWalk(image);
      const reader = ErofsImage.open(image);
      try {
        assert.ok(expected.length > 1600, 'the edge tree is all there');
        assertSameWalk(walkImage(reader), expected, name);
      } finally {
        reader.close();
      }
    });
  }

  it('a multi-device image (--blobdev) reads chunks from the extra device, and refuses to open without it', async () => {
    const blob = join(work, 'blob.dev');
    const image = await mkfs('blobdev', [`--blobdev=${blob}`, '--chunksize=4096']);
    assert.throws(() => ErofsImage.open(image), ErofsUnsupportedError);
    const result = await fusebench(['erofs', 'walk', image, '--json']);
    assert.equal(result.exitCode, 1);
    assert.match(String(result.stderr), /needs 1 extra device/);
    const expected = await kernelWalk(image, [`device=${blob}`]);
    const reader = ErofsImage.open(image, { devices: [blob] });
    try {
      assertSameWalk(walkImage(reader), expected, 'blobdev');
    } finally {
      reader.close();
    }
  });

  it('lookup finds every path by binary search and misses names between existing ones', async () => {
    const image = await mkfs('lookup', []);
    const reader = ErofsImage.open(image);
    try {
      const records = walkImage(reader);
      for (const record of records) assert.equal(reader.resolve(record.path).ino, record.ino, record.path);
      const wide = reader.resolve('/wide');
      const names = [...reader.entries(wide)]
        .map((entry) => entry.name.toString())
        .filter((name) => name.length > 2);
      for (const name of names.slice(0, 200)) {
        assert.equal(reader.lookup(wide, Buffer.from(`${name}\u0001`)), null);
        assert.equal(
          reader.lookup(wide, Buffer.from(name.slice(0, -1))) === null || names.includes(name.slice(0, -1)),
          true,
        );
      }
      assert.equal(reader.lookup(wide, Buffer.from('')), null);
      assert.equal(reader.lookup(wide, Buffer.from('~~~~')), null);
    } finally {
      reader.close();
    }
  });

  it('reads of any range equal the bytes the kernel returns, and cat --offset/--length prints them', async () => {
    const image = await mkfs('ranges', ['--chunksize=8192']);
    const reader = ErofsImage.open(image);
    mountErofs(image, mountpoint);
    try {
      const random = new SeededRandom('ranges');
      for (const path of ['/sizes/large', '/sizes/sparse', '/sizes/text-4097', '/sizes/random-65543']) {
        const whole = readFileSync(join(mountpoint, path));
        const inode = reader.resolve(path);
        for (let trial = 0; trial < 40; trial++) {
          const offset = random.int(0, whole.length + 10);
          const length = random.int(0, 200_000);
          assert.deepEqual(
            reader.read(inode, offset, length),
            whole.subarray(offset, offset + length),
            `${path} ${offset}+${length}`,
          );
        }
      }
      const cat = await fusebench(
        ['erofs', 'cat', image, '/sizes/large', '--offset', '1000', '--length', '5000'],
        {
          encoding: 'buffer',
        },
      );
      assert.equal(cat.exitCode, 0);
      assert.deepEqual(
        Buffer.from(cat.stdout as Uint8Array),
        readFileSync(join(mountpoint, 'sizes/large')).subarray(1000, 6000),
      );
    } finally {
      await unmount(mountpoint);
      reader.close();
    }
  });
});

describe('EROFS reader: erofs-utils 1.9.3 fixtures against their kernel walks', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-fixtures-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of fixtureNames()) {
    it(`${name}: walk equals the kernel's walk`, () => {
      const reader = ErofsImage.open(unpackFixture(name, dir));
      try {
        assertSameWalk(walkImage(reader), fixtureTruth(name), name);
      } finally {
        reader.close();
      }
    });
  }

  it('erofs info names the features; errors are one line with a non-zero exit', async () => {
    const image = unpackFixture('plain-48bit', dir);
    const info = await fusebench(['erofs', 'info', image]);
    assert.equal(info.exitCode, 0);
    assert.match(String(info.stdout), /block size:\s+4096/);
    assert.match(String(info.stdout), /48bit/);
    const missing = await fusebench(['erofs', 'info', join(dir, 'nope.erofs')]);
    assert.equal(missing.exitCode, 1);
    assert.match(String(missing.stderr), /^fusebench: [^\n]*no such file$/);
    const notErofs = join(dir, 'zeros.img');
    writeFileSync(notErofs, Buffer.alloc(8192));
    const wrong = await fusebench(['erofs', 'walk', notErofs, '--json']);
    assert.equal(wrong.exitCode, 1);
    assert.match(
      String(wrong.stderr),
      /^fusebench: [^\n]*not an EROFS image: magic 0x0 at offset 1024[^\n]*$/,
    );
    const absent = await fusebench(['erofs', 'stat', image, '/no/such/path']);
    assert.equal(absent.exitCode, 1);
    assert.match(String(absent.stderr), /no such file or directory in the image/);
    const badFlag = await fusebench(['erofs', 'walk', image, '--bogus']);
    assert.equal(badFlag.exitCode, 2);
    assert.equal(String(badFlag.stderr).trim().split('\n').length, 1);
  });
});
