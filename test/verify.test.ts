import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildManifest } from '../datasets/manifest.js';
import { SeededRandom } from '../lib/random.js';
import { findWorkload } from '../workloads/catalog.js';
import { filesRead, VERIFY_BYTES, verificationSample, verifyFiles } from '../workloads/verify.js';

/**
 * Read verification against the dataset manifest. A copy of the tree stands in for a setup's mount
 * point (verification knows only a path); a setup returning wrong bytes is a copy with one file
 * altered.
 */

function tree(root: string): void {
  const random = new SeededRandom('verify-tree');
  mkdirSync(join(root, 'dir/sub'), { recursive: true });
  for (let index = 0; index < 40; index++) {
    const bytes = Buffer.alloc(1 + Math.floor(random.next() * 200_000));
    for (let offset = 0; offset < bytes.length; offset++) bytes[offset] = Math.floor(random.next() * 256);
    writeFileSync(join(root, index % 2 ? 'dir' : 'dir/sub', `f${index}`), bytes);
  }
  writeFileSync(join(root, 'big'), Buffer.alloc(3 * 1024 * 1024, 7));
}

describe('read verification', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-verify-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const source = join(dir, 'source');
  tree(source);
  const manifest = buildManifest(source);
  const reads = manifest.entries.filter((entry) => entry.type === 'file').map((entry) => entry.path);

  it('accepts a tree with the manifest bytes', () => {
    const copy = join(dir, 'good');
    cpSync(source, copy, { recursive: true });
    const verified = verifyFiles(copy, verificationSample(reads, manifest, 'a'));
    assert.deepEqual(verified.wrong, []);
    assert.ok(verified.files > 0 && verified.bytes > 0);
  });

  it('names every altered, truncated or missing file', () => {
    const copy = join(dir, 'bad');
    cpSync(source, copy, { recursive: true });
    writeFileSync(join(copy, 'dir/f1'), Buffer.from('not the bytes of the dataset'));
    truncateSync(join(copy, 'dir/sub/f2'), 10);
    rmSync(join(copy, 'dir/f3'));
    const all = manifest.entries.filter((entry) =>
      ['dir/f1', 'dir/sub/f2', 'dir/f3', 'big'].includes(entry.path),
    );
    const verified = verifyFiles(copy, all);
    assert.equal(verified.files, 4);
    assert.equal(verified.wrong.length, 3, verified.wrong.join('\n'));
    assert.match(verified.wrong.join('\n'), /dir\/f1: \d+ bytes, expected/);
    assert.match(verified.wrong.join('\n'), /dir\/sub\/f2: 10 bytes, expected/);
    assert.match(verified.wrong.join('\n'), /dir\/f3: ENOENT/);
    // Same size, different bytes: only the checksum can tell.
    const flipped = join(dir, 'flipped');
    cpSync(source, flipped, { recursive: true });
    writeFileSync(join(flipped, 'big'), Buffer.alloc(3 * 1024 * 1024, 8));
    assert.match(
      verifyFiles(
        flipped,
        all.filter((entry) => entry.path === 'big'),
      ).wrong[0] ?? '',
      /^big: sha256 [0-9a-f]{16}…, expected/,
    );
  });

  it('samples at most VERIFY_BYTES beyond the first file, differently per seed, over the whole set', () => {
    const seen = new Set<string>();
    for (let index = 0; index < 30; index++) {
      const sample = verificationSample(reads, manifest, `s${index}`);
      const bytes = sample.reduce((sum, entry) => sum + entry.size, 0);
      assert.ok(sample.length === 1 || bytes <= VERIFY_BYTES);
      for (const entry of sample) seen.add(entry.path);
    }
    assert.equal(seen.size, reads.length, 'repetitions together cover every file');
    assert.throws(() => verificationSample(['nope'], manifest, 'x'), /'nope' is no file of the manifest/);
  });

  it('knows which files a workload reads, and that metadata workloads read none', () => {
    const plan = (name: string) => findWorkload(name)!.plan(manifest, 1);
    assert.deepEqual(filesRead(plan('stat-all')), []);
    assert.deepEqual(filesRead(plan('open-close')), [], 'opened, never read');
    assert.deepEqual(filesRead(plan('seqread-128k')), ['big']);
    assert.deepEqual(filesRead(plan('fio-randread-4k')), ['big']);
    assert.equal(filesRead(plan('read-small')).length, reads.length - 1);
    assert.equal(filesRead(plan('tar-cat')).length, reads.length);
    assert.deepEqual(filesRead(plan('tar-devnull')), []);
  });
});
