import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultCacheDir } from '../datasets/dataset.js';
import { resultFileSchema } from '../results/schema.js';
import { fusebench } from './helpers/cli.js';

/**
 * `--dataset debian-minbase`: a real Debian root filesystem (debootstrap minbase of this
 * machine's release, from its apt mirror), built once into the default cache (FUSEBENCH_CACHE,
 * /var/cache/fusebench) so later runs reuse it: a cold build and this run took 94 s on the 2-core dev VM (4-5 minutes when
 * it is loaded). One
 * workload runs on it through the kernel, our FUSE reader and the tree itself.
 */

describe('the debootstrap dataset', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-debian-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is built or taken from its cache, and stat-all runs on it in every setup', async () => {
    const output = join(dir, 'debian.json');
    const run = await fusebench([
      'run',
      '--dataset',
      'debian-minbase',
      '-s',
      'kernel-erofs,fuse-erofs-ts,native',
      '-w',
      'stat-all',
      '-r',
      '1',
      '--warmup',
      '0',
      '--cache',
      'warm',
      '--no-floor',
      '--cache-dir',
      defaultCacheDir,
      '-o',
      output,
      '--wait',
      '-q',
    ]);
    assert.equal(run.exitCode, 0, String(run.stderr).slice(-2000));
    const result = resultFileSchema.parse(JSON.parse(readFileSync(output, 'utf8')));
    assert.equal(result.status, 'complete');
    assert.match(result.dataset.name, /^debian-minbase-/);
    assert.deepEqual(result.request?.dataset, { kind: 'rootfs', name: 'debian-minbase' });
    // A minbase root filesystem: thousands of entries, a few hundred MiB, symlink farms.
    assert.ok(result.dataset.files > 2000, `${result.dataset.files} files`);
    assert.ok(result.dataset.symlinks > 100, `${result.dataset.symlinks} symlinks`);
    assert.ok(result.dataset.bytes > 100 * 2 ** 20, `${result.dataset.bytes} bytes`);
    assert.equal(result.measurements.length, 3);
    for (const cell of result.measurements) assert.equal(cell.status, 'ok', `${cell.setup}: ${cell.reason}`);
    // Every setup stat-ed the same entries of the same tree.
    const counts = new Set(result.measurements.map((cell) => cell.repetitions[0]!.opCount));
    assert.equal(counts.size, 1);
  });

  it('a root filesystem half-built by a killed run is removed by fusebench cleanup; a finished one is kept', async () => {
    const cacheDir = join(dir, 'cleanup-cache');
    // No process 4194304 exists (above pid_max's limit): the build that named it is gone.
    const stale = join(cacheDir, 'trees', 'debian-minbase-bookworm.partial-4194304-1', 'tree', 'etc');
    const finished = join(cacheDir, 'trees', 'debian-minbase-bookworm', 'tree', 'etc');
    mkdirSync(stale, { recursive: true });
    mkdirSync(finished, { recursive: true });
    const cleaned = await fusebench(['cleanup', '--cache-dir', cacheDir]);
    assert.equal(cleaned.exitCode, 0, String(cleaned.stderr));
    assert.match(
      String(cleaned.stdout),
      /removed .*debian-minbase-bookworm\.partial-4194304-1 \(a build killed before it finished\)/,
    );
    assert.ok(!existsSync(join(stale, '..', '..')));
    assert.ok(existsSync(finished));
  });
});
