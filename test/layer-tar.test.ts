import assert from 'node:assert/strict';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execa } from 'execa';
import { resultFileSchema } from '../results/schema.js';
import { fusebench } from './helpers/cli.js';

/**
 * `--dataset-tar FILE`: a container layer tar (owners, an xattr, a symlink) measured for real:
 * the image mkfs.erofs --tar=f builds and the tree GNU tar extracts serve the same bytes (the
 * run verifies every read against the tree's manifest), owners and xattrs kept in the tree.
 */

describe('a container layer tar as the dataset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-layer-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is built into an image with mkfs.erofs --tar=f, extracted with owners and xattrs, and measured', async () => {
    const layer = join(dir, 'layer');
    mkdirSync(join(layer, 'usr', 'lib'), { recursive: true });
    for (let index = 0; index < 40; index++)
      writeFileSync(join(layer, 'usr', 'lib', `lib${index}.so`), Buffer.alloc(1000 + index * 997, index));
    writeFileSync(join(layer, 'usr', 'owned'), 'owned by 1234:5678\n');
    chownSync(join(layer, 'usr', 'owned'), 1234, 5678);
    symlinkSync('lib/lib1.so', join(layer, 'usr', 'link'));
    await execa('setfattr', ['-n', 'user.layer', '-v', 'yes', join(layer, 'usr', 'owned')]);
    const tar = join(dir, 'layer.tar');
    await execa('tar', [
      '--create',
      '--file',
      tar,
      '--xattrs',
      '--xattrs-include=*',
      '--directory',
      layer,
      'usr',
    ]);
    const cacheDir = join(dir, 'cache');
    const output = join(dir, 'layer.json');
    const run = await fusebench([
      'run',
      '--dataset-tar',
      tar,
      '-s',
      'kernel-erofs,fuse-erofs-ts,native',
      '-w',
      'stat-all,read-small',
      '-r',
      '1',
      '--warmup',
      '0',
      '--no-floor',
      '--cache-dir',
      cacheDir,
      '-o',
      output,
      '--wait',
      '-q',
    ]);
    assert.equal(run.exitCode, 0, String(run.stderr).slice(-2000));
    const result = resultFileSchema.parse(JSON.parse(readFileSync(output, 'utf8')));
    assert.equal(result.status, 'complete');
    assert.deepEqual(result.request?.dataset, { kind: 'tar', path: tar });
    assert.deepEqual(result.dataset.image.mkfsArgs.slice(0, 1), ['--tar=f']);
    assert.equal(result.dataset.files, 41);
    assert.equal(result.dataset.symlinks, 1);
    for (const cell of result.measurements)
      assert.equal(cell.status, 'ok', `${cell.workload} ${cell.cache} ${cell.setup}: ${cell.reason}`);
    const owned = join(result.dataset.sourceDir, 'usr', 'owned');
    const stat = await execa('stat', ['-c', '%u:%g', owned]);
    assert.equal(stat.stdout, '1234:5678');
    const xattr = await execa('getfattr', ['--only-values', '-n', 'user.layer', owned]);
    assert.equal(xattr.stdout, 'yes');
  });
});
