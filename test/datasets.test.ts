import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { datasetRecord, prepareDataset } from '../datasets/dataset.js';
import { defaultImageOptions } from '../datasets/image.js';
import { buildManifest } from '../datasets/manifest.js';
import { mountErofs, unmount } from '../lib/mounts.js';

/** Generated datasets are reproducible, and the image the kernel mounts holds exactly the tree. */

describe('datasets', () => {
  const cacheA = mkdtempSync(join(tmpdir(), 'fusebench-datasets-a-'));
  const cacheB = mkdtempSync(join(tmpdir(), 'fusebench-datasets-b-'));
  after(() => {
    rmSync(cacheA, { recursive: true, force: true });
    rmSync(cacheB, { recursive: true, force: true });
  });

  it('the same profile and seed give the same tree and the same image bytes, in any cache', async () => {
    const first = await prepareDataset(
      { kind: 'profile', profile: 'tiny', seed: 3 },
      defaultImageOptions,
      cacheA,
    );
    const second = await prepareDataset(
      { kind: 'profile', profile: 'tiny', seed: 3 },
      defaultImageOptions,
      cacheB,
    );
    assert.equal(first.manifest.contentHash, second.manifest.contentHash);
    assert.equal(datasetRecord(first).image.bytes, datasetRecord(second).image.bytes);
    const digest = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
    assert.equal(digest(first.image.path), digest(second.image.path));
    const other = await prepareDataset(
      { kind: 'profile', profile: 'tiny', seed: 4 },
      defaultImageOptions,
      cacheA,
    );
    assert.notEqual(other.manifest.contentHash, first.manifest.contentHash);
  });

  it('the kernel mount of the image shows the source tree: same paths, modes, owners, times, xattrs, bytes', async () => {
    const dataset = await prepareDataset(
      { kind: 'profile', profile: 'tiny', seed: 3 },
      defaultImageOptions,
      cacheA,
    );
    assert.ok(dataset.manifest.files > 100 && dataset.manifest.symlinks > 0);
    assert.ok(
      dataset.manifest.entries.some((entry) => entry.xattrNames.length > 0),
      'some files carry xattrs',
    );
    const mountpoint = join(cacheA, 'mnt');
    mkdirSync(mountpoint);
    mountErofs(dataset.image.path, mountpoint);
    try {
      assert.equal(buildManifest(mountpoint).contentHash, dataset.manifest.contentHash);
    } finally {
      await unmount(mountpoint);
    }
  });

  it('a user directory is measured as it is, and a missing one is a one-line error', async () => {
    await assert.rejects(
      prepareDataset({ kind: 'directory', path: '/nonexistent/dir' }, defaultImageOptions, cacheA),
      /dataset directory \/nonexistent\/dir: ENOENT/,
    );
    const tree = join(cacheB, 'user-tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    const dataset = await prepareDataset({ kind: 'directory', path: tree }, defaultImageOptions, cacheB);
    assert.equal(dataset.sourceDir, tree);
    assert.equal(dataset.manifest.dirs, 2);
  });
});
