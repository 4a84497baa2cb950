import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { rerunOptions } from '../cli/rerun.js';
import { prepareDataset } from '../datasets/dataset.js';
import { type ResultFile, resultFileSchema } from '../results/schema.js';
import { findWorkload } from '../workloads/catalog.js';
import { fusebench } from './helpers/cli.js';

/**
 * `fusebench run --rerun RESULT.json`, for real: the rerun asks for what the result asked for,
 * its op streams are the original's (same dataset, same seed), every cell issues the same
 * operations, and a dataset that changed since is refused in one line before anything mounts.
 */

const read = (path: string): ResultFile => resultFileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));

/** What each cell's clients did, repetition by repetition: operations and bytes, per kind. */
function issued(result: ResultFile): string[] {
  return result.measurements.flatMap((cell) =>
    cell.repetitions.map(
      (repetition) =>
        `${cell.workload} ${cell.cache} ${cell.setup} ${repetition.index}${repetition.traced ? 't' : ''}: ${repetition.opCount} ops ${repetition.bytes} B ${Object.entries(
          repetition.ops,
        )
          .map(([kind, latency]) => `${kind}=${latency.count}`)
          .join(',')}`,
    ),
  );
}

describe('fusebench run --rerun', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-rerun-'));
  const cacheDir = join(dir, 'cache');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('repeats a result: the same request, dataset hash and op streams, the same operations in every cell', async () => {
    const first = join(dir, 'first.json');
    const run = await fusebench([
      'run',
      '--profile',
      'tiny',
      '-s',
      'kernel-erofs,fuse-erofs-ts,native',
      '-w',
      'stat-all,read-small,lookup-miss',
      '-r',
      '2',
      '--seed',
      '7',
      '--max-read',
      '64k',
      '--cache-dir',
      cacheDir,
      '-o',
      first,
      '--wait',
      '-q',
    ]);
    assert.equal(run.exitCode, 0, String(run.stderr).slice(-2000));
    const second = join(dir, 'second.json');
    const rerun = await fusebench([
      'run',
      '--rerun',
      first,
      '--cache-dir',
      cacheDir,
      '-o',
      second,
      '--wait',
      '-q',
    ]);
    assert.equal(rerun.exitCode, 0, String(rerun.stderr).slice(-2000));
    const [a, b] = [read(first), read(second)];
    assert.deepEqual(b.request, a.request);
    assert.equal(b.request?.fuse.maxRead, 65536);
    assert.equal(b.dataset.contentHash, a.dataset.contentHash);
    assert.deepEqual(issued(b), issued(a));
    // The op streams themselves, rebuilt from each result's request.
    const options = rerunOptions(second, join(dir, 'unused.json'), cacheDir);
    const dataset = await prepareDataset(options.dataset, options.image, cacheDir);
    const original = await prepareDataset(a.request!.dataset, a.request!.image, cacheDir);
    for (const name of a.config.workloads) {
      const workload = findWorkload(name)!;
      assert.deepEqual(
        workload.plan(dataset.manifest, options.seed),
        workload.plan(original.manifest, a.request!.seed),
        name,
      );
    }
  });

  it('refuses in one line when the dataset now hashes differently', async () => {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    writeFileSync(join(tree, 'sub', 'a.txt'), 'original\n');
    const first = join(dir, 'dir.json');
    const run = await fusebench([
      'run',
      '--dataset-dir',
      tree,
      '-s',
      'native',
      '-w',
      'stat-all',
      '-r',
      '1',
      '--warmup',
      '0',
      '--cache',
      'warm',
      '--no-floor',
      '--no-trace',
      '--cache-dir',
      cacheDir,
      '-o',
      first,
      '--wait',
      '-q',
    ]);
    assert.equal(run.exitCode, 0, String(run.stderr).slice(-2000));
    writeFileSync(join(tree, 'sub', 'a.txt'), 'changed\n');
    const rerun = await fusebench([
      'run',
      '--rerun',
      first,
      '--cache-dir',
      cacheDir,
      '-o',
      join(dir, 'x.json'),
      '--wait',
      '-q',
    ]);
    assert.equal(rerun.exitCode, 1);
    const stderr = String(rerun.stderr).trim();
    assert.match(stderr, /now hashes to [0-9a-f]+, the result measured [0-9a-f]+: not the same data/);
    assert.equal(stderr.split('\n').length, 1, stderr);
  });

  it('refuses a flag that would change what is measured', async () => {
    const rerun = await fusebench(['run', '--rerun', join(dir, 'first.json'), '-r', '3']);
    assert.equal(rerun.exitCode, 2);
    assert.match(String(rerun.stderr), /--repetitions and --rerun exclude each other/);
  });
});
