import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { resultFileSchema } from '../results/schema.js';
import { fusebench } from './helpers/cli.js';

/**
 * A job's sweep run for real: `max_read: [32k, 128k]` makes two runs, two result files, each
 * recording its point, and the point reaches the kernel: the traced cold sequential read of the
 * same 8 MiB takes four times as many FUSE READ requests at 32k as at 128k.
 */

describe('fusebench run --job, a max_read sweep', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-job-run-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes one result per point, each with its job and point, the point in effect', async () => {
    const job = join(dir, 'sweep.yaml');
    writeFileSync(
      job,
      [
        'name: sweep',
        'profile: tiny',
        'setups: [fuse-erofs-ts]',
        'workloads: [seqread-128k]',
        'cache: [cold]',
        'repetitions: 1',
        'warmup: 0',
        'floor: false',
        'fuse:',
        '  max_read: [32k, 128k]',
        '',
      ].join('\n'),
    );
    const out = join(dir, 'out');
    const run = await fusebench([
      'run',
      '--job',
      job,
      '-o',
      out,
      '--cache-dir',
      join(dir, 'cache'),
      '--wait',
      '-q',
    ]);
    assert.equal(run.exitCode, 0, String(run.stderr).slice(-2000));
    const reads = new Map<string, number>();
    for (const [size, bytes] of [
      ['32k', 32768],
      ['128k', 131072],
    ] as const) {
      const path = join(out, `sweep-max_read-${size}.json`);
      assert.match(String(run.stdout), new RegExp(`result: ${path}`));
      const result = resultFileSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
      assert.equal(result.status, 'complete');
      assert.deepEqual(result.job?.point, { max_read: size });
      assert.equal(result.job?.points, 2);
      assert.equal(result.request?.fuse.maxRead, bytes);
      const traced = result.measurements[0]!.repetitions.find((repetition) => repetition.traced);
      reads.set(size, traced?.fuse?.READ?.count ?? 0);
    }
    assert.ok((reads.get('128k') ?? 0) > 0, 'READ requests traced');
    assert.equal(reads.get('32k'), 4 * reads.get('128k')!, JSON.stringify([...reads]));
  });
});
