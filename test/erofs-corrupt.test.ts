import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { ErofsCorruptError, ErofsError, ErofsUnsupportedError } from '../erofs/errors.js';
import { EROFS_SUPER_OFFSET, Superblock } from '../erofs/format.js';
import { DIR_SIZE_MAX, ErofsImage } from '../erofs/image.js';
import { walkImage } from '../erofs/walk.js';
import { loadCorpus, planCase, runCampaign, trimSets } from '../fuzz/campaign.js';
import { recomputeChecksum } from '../fuzz/mutate.js';
import { CasePool, type CaseResult } from '../fuzz/pool.js';
import { type Field, mapStructuresOf, type StructureMap } from '../fuzz/structures.js';
import { FIXTURES_DIR, withImage } from './helpers/erofs-fixtures.js';

/**
 * The reader over corrupt images: targeted corruptions of each structure fail with the expected
 * typed error (never another exception, never a hang), every reproducer the fuzzer found stays
 * fixed, and a bounded, seeded fuzz run finds nothing new.
 */

const FINDINGS_DIR = fileURLToPath(new URL('../../test/fixtures/erofs-findings/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'fusebench-corrupt-'));
const bases = new Map<string, { bytes: Buffer; map: StructureMap }>();
let counter = 0;

function fixture(name: string): { bytes: Buffer; map: StructureMap } {
  let entry = bases.get(name);
  if (!entry) {
    const bytes = gunzipSync(readFileSync(join(FIXTURES_DIR, `${name}.erofs.gz`)));
    entry = { bytes, map: mapStructuresOf(name, bytes) };
    bases.set(name, entry);
  }
  return entry;
}

/**
 * A copy of fixture `name` changed by `edit`, written to a scratch file. The superblock checksum
 * is recomputed (metadata may share the superblock's block), unless `staleChecksum`.
 */
function corrupted(
  name: string,
  edit: (bytes: Buffer, map: StructureMap) => unknown,
  { staleChecksum = false } = {},
): string {
  const { bytes, map } = fixture(name);
  const copy = Buffer.from(bytes);
  const edited = edit(copy, map);
  const result = Buffer.isBuffer(edited) ? edited : copy;
  if (map.sbChecksum && !staleChecksum) recomputeChecksum(result);
  const path = join(scratch, `${name}-${++counter}.erofs`);
  writeFileSync(path, result);
  return path;
}

function findField(map: StructureMap, predicate: (field: Field) => boolean, what: string): Field {
  const found = map.fields.find(predicate);
  assert.ok(found, `no ${what} in ${map.fixture}`);
  return found;
}

function put(bytes: Buffer, field: Field, value: bigint): void {
  const wide = Buffer.alloc(8);
  wide.writeBigUInt64LE(value & 0xffffffffffffffffn);
  wide.copy(bytes, field.offset, 0, field.width);
}

function sbField(name: string, map: StructureMap): Field {
  return findField(map, (field) => field.kind === 'sb' && field.name === name, `superblock ${name}`);
}

function inodeField(map: StructureMap, path: string, name: string): Field {
  return findField(
    map,
    (field) => field.kind === 'inode' && field.path === path && field.name === name,
    `${name} of ${path}`,
  );
}

/** Asserts `body` throws `type` with a message matching `pattern`. */
function throwsTyped(
  body: () => unknown,
  type: abstract new (...args: never[]) => ErofsError,
  pattern: RegExp,
): void {
  assert.throws(body, (error: unknown) => {
    assert.ok(
      error instanceof type,
      `expected ${type.name}, got ${error instanceof Error ? error.stack : String(error)}`,
    );
    assert.match((error as Error).message, pattern);
    return true;
  });
}

/** Runs the fuzzer's full case (open, walk, reads, lookups, xattrs, FUSE backend) on images, time-bounded. */
async function exploreBounded(paths: string[], seed = 'corrupt-test'): Promise<CaseResult[]> {
  const pool = new CasePool({ workers: 2, timeoutMs: 20_000, heapMb: 256, rssCapMb: 4096, corpus: {} });
  try {
    return await Promise.all(
      paths.map((imagePath) => pool.run({ imagePath, seed, focus: [], backend: true })),
    );
  } finally {
    await pool.close();
  }
}

function assertNoBug(results: CaseResult[], labels: string[]): void {
  results.forEach((result, index) => {
    assert.equal(result.kind, 'done', `${labels[index]}: ${JSON.stringify(result)}`);
    if (result.kind === 'done') {
      assert.notEqual(
        result.outcome.status,
        'bug',
        `${labels[index]}: ${JSON.stringify(result.outcome.error)}`,
      );
    }
  });
}

after(() => rmSync(scratch, { recursive: true, force: true }));

describe('EROFS reader: targeted corruptions fail with typed errors', () => {
  it('bad magic', () => {
    const path = corrupted('plain-default', (bytes, map) => put(bytes, sbField('magic', map), 0x12345678n));
    throwsTyped(() => ErofsImage.open(path), ErofsCorruptError, /not an EROFS image: magic 0x12345678/);
  });

  it('an unknown incompat bit is named (on an image without a superblock checksum)', () => {
    const path = corrupted('plain-nosbcrc', (bytes) => {
      const at = EROFS_SUPER_OFFSET + Superblock.featureIncompat;
      bytes.writeUInt32LE(bytes.readUInt32LE(at) | 0x400, at);
    });
    throwsTyped(
      () => ErofsImage.open(path),
      ErofsUnsupportedError,
      /unknown incompatible feature bit\(s\) 0x400\b/,
    );
    const high = corrupted('plain-nosbcrc', (bytes) => {
      const at = EROFS_SUPER_OFFSET + Superblock.featureIncompat;
      bytes.writeUInt32LE((bytes.readUInt32LE(at) | 0x80000000) >>> 0, at);
    });
    // Bit 31 once printed as "0x-80000000" (a signed bitwise result).
    throwsTyped(
      () => ErofsImage.open(high),
      ErofsUnsupportedError,
      /unknown incompatible feature bit\(s\) 0x80000000\b/,
    );
  });

  it('a superblock checksum mismatch', () => {
    const path = corrupted(
      'plain-default',
      (bytes, map) => {
        const field = sbField('build_time', map);
        bytes[field.offset]! ^= 0x01;
      },
      { staleChecksum: true },
    );
    throwsTyped(
      () => ErofsImage.open(path),
      ErofsCorruptError,
      /superblock checksum 0x[0-9a-f]+ does not match/,
    );
  });

  it('blkszbits out of range, both ways', () => {
    for (const bits of [0n, 8n, 17n, 255n]) {
      const path = corrupted('plain-nosbcrc', (bytes, map) => put(bytes, sbField('blkszbits', map), bits));
      throwsTyped(
        () => ErofsImage.open(path),
        ErofsCorruptError,
        new RegExp(`block size 2\\^${bits} is outside`),
      );
    }
  });

  it('a root nid past the end of the image', () => {
    const path = corrupted('plain-nosbcrc', (bytes, map) => put(bytes, sbField('rootnid_2b', map), 0xffffn));
    throwsTyped(
      () => ErofsImage.open(path),
      ErofsCorruptError,
      /inode: 32 bytes at 0x[0-9a-f]+ run past the end/,
    );
  });

  it('a root nid naming a regular file', () => {
    const { map } = fixture('plain-nosbcrc');
    const file = map.inodes.find((facts) => facts.path === '/sizes/rand_100')!;
    const path = corrupted('plain-nosbcrc', (bytes) => put(bytes, sbField('rootnid_2b', map), file.nid));
    throwsTyped(() => ErofsImage.open(path), ErofsCorruptError, /root inode is not a directory/);
  });

  it('a dirent pointing back at an ancestor is a loop: an error, not a hang', async () => {
    const { map } = fixture('plain-default');
    const deep = '/deep/level00/level01/level02';
    const loopField = findField(
      map,
      (field) =>
        field.kind === 'dirent' && field.path === deep && field.name === 'nid' && field.entry === 'level03',
      'the level03 dirent',
    );
    const ancestor = map.inodes.find((facts) => facts.path === '/deep/level00')!;
    const path = corrupted('plain-default', (bytes) => put(bytes, loopField, ancestor.nid));
    const [result] = await exploreBounded([path]);
    assertNoBug([result!], ['loop']);
    withImage(path, (image) => {
      throwsTyped(() => walkImage(image), ErofsCorruptError, /is reachable twice \(a directory loop\)/);
      // Lookups through the loop go round it as the kernel would, one step per lookup.
      assert.equal(
        image.resolve(`${deep}/level03/level01/level02/level03`).ino,
        image.resolve('/deep/level00').ino,
      );
    });
  });

  it('garbage nameoffs: the first entry and a later one', () => {
    const { map } = fixture('plain-default');
    const nameoffs = map.fields.filter(
      (field) => field.kind === 'dirent' && field.path === '/sizes' && field.name === 'nameoff',
    );
    assert.ok(nameoffs.length > 4);
    const first = corrupted('plain-default', (bytes) => put(bytes, nameoffs[0]!, 13n));
    withImage(first, (image) => {
      throwsTyped(
        () => [...image.entries(image.resolve('/sizes'))],
        ErofsCorruptError,
        /bogus first dirent nameoff 13/,
      );
    });
    const later = corrupted('plain-default', (bytes) => put(bytes, nameoffs[3]!, 0xffffn));
    withImage(later, (image) => {
      const sizes = image.resolve('/sizes');
      throwsTyped(
        () => [...image.entries(sizes)],
        ErofsCorruptError,
        /dirent \d+ (nameoff 65535, expected|has a bogus name length)/,
      );
      throwsTyped(
        () => image.lookup(sizes, Buffer.from('text_8191')),
        ErofsCorruptError,
        /nameoff|name length/,
      );
    });
  });

  it('a huge i_size: reads past the image fail, a directory past the size cap is refused', () => {
    const file = corrupted('plain-extended', (bytes, map) =>
      put(bytes, inodeField(map, '/data/big_rand', 'i_size'), 1n << 40n),
    );
    withImage(file, (image) => {
      const inode = image.resolve('/data/big_rand');
      assert.equal(inode.size, 2 ** 40);
      throwsTyped(() => image.read(inode, 2 ** 39, 4096), ErofsCorruptError, /run past the end/);
      throwsTyped(
        () => image.read(inode, 0, 2 ** 30),
        ErofsUnsupportedError,
        /read of 1073741824 bytes at once/,
      );
    });
    const dir = corrupted('plain-default', (bytes, map) =>
      put(bytes, inodeField(map, '/sizes', 'i_size'), 0xffffffffn),
    );
    withImage(dir, (image) => {
      const sizes = image.resolve('/sizes');
      assert.ok(sizes.size > DIR_SIZE_MAX);
      throwsTyped(() => [...image.entries(sizes)], ErofsUnsupportedError, /directory of 4294967295 bytes/);
    });
    const symlink = corrupted('plain-default', (bytes, map) =>
      put(bytes, inodeField(map, '/links/short', 'i_size'), 4096n),
    );
    withImage(symlink, (image) => {
      throwsTyped(
        () => image.readlink(image.resolve('/links/short')),
        ErofsCorruptError,
        /symlink target of 4096 bytes/,
      );
    });
  });

  it('inline data that would cross a block boundary', () => {
    const path = corrupted('plain-default', (bytes, map) =>
      put(bytes, inodeField(map, '/sizes/text_100', 'i_size'), 4095n),
    );
    withImage(path, (image) => {
      const inode = image.resolve('/sizes/text_100');
      assert.equal(inode.dataLayout, 2, 'text_100 is FLAT_INLINE');
      throwsTyped(
        () => image.read(inode, 0, 4095),
        ErofsCorruptError,
        /inline data of 4095 bytes crosses a block boundary/,
      );
    });
  });

  it('a huge xattr count, a bogus shared xattr id, a bogus entry length', () => {
    const count = corrupted('plain-default', (bytes, map) =>
      put(bytes, inodeField(map, '/xattrs/many', 'i_xattr_icount'), 0xffffn),
    );
    withImage(count, (image) => {
      throwsTyped(() => image.xattrs(image.resolve('/xattrs/many')), ErofsError, /xattr|run past|prefix/);
    });
    const { map } = fixture('plain-default');
    const shared = findField(
      map,
      (field) => field.name === 'shared_xattr_id' && field.path === '/xattrs/shared/f0',
      'shared id',
    );
    const sharedPath = corrupted('plain-default', (bytes) => put(bytes, shared, 0x3fffffffn));
    withImage(sharedPath, (image) => {
      throwsTyped(
        () => image.xattrs(image.resolve('/xattrs/shared/f0')),
        ErofsCorruptError,
        /xattr entry: 4 bytes at 0x[0-9a-f]+ run past the end/,
      );
    });
    const valueSize = findField(
      map,
      (field) => field.kind === 'xattr' && field.name === 'e_value_size' && field.path === '/xattrs/big',
      'e_value_size',
    );
    const sizePath = corrupted('plain-default', (bytes) => put(bytes, valueSize, 0xffffn));
    withImage(sizePath, (image) => {
      throwsTyped(
        () => image.xattrs(image.resolve('/xattrs/big')),
        ErofsCorruptError,
        /xattr name and value runs past the inode's \d+-byte xattr body/,
      );
    });
  });

  it('a chunk index past the end of the image', () => {
    const { map } = fixture('chunk-indexes');
    const chunk = findField(
      map,
      (field) => field.kind === 'chunk' && field.name === 'startblk_lo' && field.path === '/data/big_text',
      'chunk index',
    );
    const path = corrupted('chunk-indexes', (bytes) => put(bytes, chunk, 0xfffffff0n));
    withImage(path, (image) => {
      throwsTyped(
        () => image.read(image.resolve('/data/big_text'), 0, 4096),
        ErofsCorruptError,
        /file data: \d+ bytes at 0x[0-9a-f]+ run past the end of .* @ nid \d+, offset 0x/,
      );
    });
  });

  it('a metabox nid with bit 31 set (fuzz finding: endless recursion) is corruption', () => {
    const path = corrupted('lz4-metabox', (bytes, map) =>
      put(bytes, sbField('metabox_nid', map), 0x80000027n),
    );
    throwsTyped(() => ErofsImage.open(path), ErofsCorruptError, /run past the end|past the metabox/);
  });

  it('truncation at many points never fails any other way', async () => {
    const paths: string[] = [];
    const labels: string[] = [];
    for (const name of ['plain-default', 'chunk-indexes', 'plain-bs512', 'lz4', 'plain-metazone']) {
      const { bytes, map } = fixture(name);
      const points = new Set([0, 1, 1023, 1024, 1024 + 127, 1024 + 128, 2048, 4095, 4096, 4097, 8192]);
      for (const field of map.fields.filter((_, index) => index % Math.ceil(map.fields.length / 12) === 0))
        points.add(field.offset + 1);
      for (let step = 1; step < 12; step++) points.add(Math.floor((bytes.length * step) / 12));
      for (const length of [...points].filter((point) => point < bytes.length)) {
        paths.push(corrupted(name, (copy) => copy.subarray(0, length)));
        labels.push(`${name} truncated to ${length}`);
      }
    }
    assert.ok(paths.length > 100, `${paths.length} truncations`);
    assertNoBug(await exploreBounded(paths), labels);
    for (const length of [0, 1023, 1024 + 127]) {
      const path = corrupted('plain-default', (copy) => copy.subarray(0, length));
      throwsTyped(() => ErofsImage.open(path), ErofsCorruptError, /too small for a superblock/);
    }
  });
});

describe('EROFS reader: fuzz findings stay fixed', () => {
  const findings = readdirSync(FINDINGS_DIR)
    .filter((name) => name.endsWith('.json'))
    .sort();

  it('the reproducers are committed', () => {
    assert.ok(findings.length > 0);
    for (const name of findings) {
      const image = readFileSync(join(FINDINGS_DIR, name.replace(/\.json$/, '.erofs.gz')));
      assert.ok(image.length < 64 * 1024, `${name}: reproducer of ${image.length} bytes`);
    }
  });

  for (const name of findings) {
    it(`${name.replace(/\.json$/, '')}: the saved case now ends with typed errors only`, async () => {
      const finding = JSON.parse(readFileSync(join(FINDINGS_DIR, name), 'utf8')) as {
        signature: string;
        caseSeed: string;
        focus: string[];
        backend: boolean;
      };
      const imagePath = join(scratch, name.replace(/\.json$/, '.erofs'));
      writeFileSync(
        imagePath,
        gunzipSync(readFileSync(join(FINDINGS_DIR, name.replace(/\.json$/, '.erofs.gz')))),
      );
      const pool = new CasePool({ workers: 1, timeoutMs: 20_000, heapMb: 256, rssCapMb: 4096, corpus: {} });
      try {
        const result = await pool.run({
          imagePath,
          seed: finding.caseSeed,
          focus: finding.focus,
          backend: finding.backend,
        });
        assertNoBug([result], [finding.signature]);
      } finally {
        await pool.close();
      }
    });
  }
});

describe('EROFS reader: the fuzz harness', () => {
  it('plans the same cases from the same seed, and shrinks sets to the bytes they change', () => {
    const corpus = loadCorpus(FIXTURES_DIR, ['plain-default', 'chunk-indexes', 'lz4']);
    for (const index of [0, 1, 77, 4096]) {
      assert.deepEqual(planCase(corpus, 'same', index), planCase(corpus, 'same', index));
    }
    assert.notDeepEqual(planCase(corpus, 'same', 1).mutations, planCase(corpus, 'other', 1).mutations);
    const base = Buffer.from('00112233445566778899', 'hex');
    const trimmed = trimSets(base, [
      { op: 'set', offset: 2, hex: '22ff4455', what: 'one byte changes' },
      { op: 'set', offset: 0, hex: '0011', what: 'no change' },
    ]);
    assert.deepEqual(trimmed, [{ op: 'set', offset: 3, hex: 'ff', what: 'one byte changes' }]);
  });

  it('turns a hang, a heap overrun and memory outside the heap into findings, and keeps going', async () => {
    const rssCapMb = Math.round(process.memoryUsage.rss() / 2 ** 20) + 256;
    const pool = new CasePool({ workers: 1, timeoutMs: 6000, heapMb: 64, rssCapMb, corpus: {} });
    const message = { seed: 'self-test', focus: [], backend: false };
    try {
      assert.equal((await pool.run({ ...message, selfTest: 'hang' })).kind, 'hang');
      assert.equal((await pool.run({ ...message, selfTest: 'heap' })).kind, 'oom');
      assert.equal((await pool.run({ ...message, selfTest: 'buffers' })).kind, 'memory-suspect');
      // A replacement thread serves the next case.
      const path = corrupted('plain-default', () => undefined);
      const result = await pool.run({ ...message, imagePath: path });
      assert.equal(result.kind === 'done' && result.outcome.status, 'clean', JSON.stringify(result));
      assert.equal(pool.started, 4);
    } finally {
      await pool.close();
    }
  });
});

describe('EROFS reader: bounded fuzz run', () => {
  it('3000 seeded cases over the whole fixture corpus find nothing', async () => {
    const findingsDir = join(scratch, 'findings');
    const stats = await runCampaign({
      corpusDir: FIXTURES_DIR,
      findingsDir,
      seed: 'ci-erofs-corrupt',
      seconds: 50,
      cases: 3000,
      workers: 2,
      timeoutMs: 20_000,
      heapMb: 256,
      rssCapMb: 4096,
      log: null,
    });
    assert.deepEqual(
      stats.findings.map((finding) => `${finding.signature} (case ${finding.caseIndex}, ${finding.fixture})`),
      [],
    );
    assert.ok(stats.cases >= 1000, `only ${stats.cases} cases in ${stats.seconds.toFixed(0)} s`);
    assert.ok(stats.rejected > stats.cases / 4, `${stats.rejected} of ${stats.cases} cases hit corruption`);
  });
});
