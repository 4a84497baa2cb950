import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseRunRequest } from '../cli/commands/run.js';
import { expandJob, jobRuns, loadJob } from '../cli/job-file.js';
import { jobJsonSchema, jobSchema } from '../cli/job-schema.js';
import { UsageError } from '../lib/errors.js';
import { jobOriginSchema, runRequestSchema } from '../results/schema.js';
import { setupNames } from '../runners/registry.js';
import { fusebench } from './helpers/cli.js';

/** Job files: parsed and checked against the schema, swept into one run per point, nothing else beside them. */

const repo = join(import.meta.dirname, '..', '..');
const example = join(repo, 'jobs', 'example.yaml');

describe('job files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-job-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the committed jobs/job.schema.json is what the schema generates (npm run schema:job)', () => {
    const committed = JSON.parse(readFileSync(join(repo, 'jobs', 'job.schema.json'), 'utf8'));
    assert.deepEqual(committed, JSON.parse(JSON.stringify(jobJsonSchema())));
  });

  it('every job in jobs/ parses against the schema', () => {
    for (const name of ['example.yaml', 'erofsfuse-builds.yaml'])
      assert.doesNotThrow(() => loadJob(join(repo, 'jobs', name)), name);
  });

  it('the example sweeps max_read × threads into four runs, each with its own file and its point', () => {
    const loaded = loadJob(example);
    const runs = jobRuns(loaded, join(dir, 'out'), join(dir, 'cache'));
    assert.deepEqual(
      runs.map((run) => [run.fuse.maxRead, run.fuse.threads]),
      [
        [32768, 1],
        [32768, 2],
        [131072, 1],
        [131072, 2],
      ],
    );
    assert.deepEqual(
      runs.map((run) => run.output),
      [
        'example-max_read-32k_threads-1.json',
        'example-max_read-32k_threads-2.json',
        'example-max_read-128k_threads-1.json',
        'example-max_read-128k_threads-2.json',
      ].map((name) => join(dir, 'out', name)),
    );
    for (const [index, run] of runs.entries()) {
      assert.deepEqual(run.setups, ['kernel-erofs', 'fuse-erofs-ts', 'native']);
      assert.deepEqual(run.workloads, ['read-small', 'stat-all']);
      assert.equal(run.repetitions, 5);
      assert.equal(run.fuseTransport, 'fuse-native');
      assert.deepEqual(run.dataset, { kind: 'profile', profile: 'quick', seed: 1 });
      const origin = jobOriginSchema.parse(run.job);
      assert.equal(origin.pointIndex, index);
      assert.equal(origin.points, 4);
      assert.equal(origin.file, example);
      assert.match(origin.sha256, /^[0-9a-f]{64}$/);
      const { output: _o, cacheDir: _c, job: _j, ...request } = run;
      assert.doesNotThrow(() => runRequestSchema.parse(request));
    }
  });

  it('a JSON job with a list of transports and an external daemon', () => {
    const path = join(dir, 'transports.json');
    writeFileSync(
      path,
      JSON.stringify({
        name: 'transports',
        setups: ['fuse-erofs-ts', 'my-daemon'],
        external: [{ name: 'my-daemon', command: ['/bin/true', '{image}', '{mountpoint}'] }],
        dataset: { dir: 'tree' },
        fuse: { transport: ['devfuse', 'fuse-native'], max_read: '1m' },
      }),
    );
    const runs = jobRuns(loadJob(path), dir, dir);
    assert.deepEqual(
      runs.map((run) => [run.fuseTransport, run.fuse.maxRead]),
      [
        ['devfuse', 1048576],
        ['fuse-native', 1048576],
      ],
    );
    assert.deepEqual(runs[0]!.setups, ['fuse-erofs-ts', 'my-daemon']);
    assert.equal(runs[0]!.setupsNamed, true);
    assert.deepEqual(runs[0]!.externalSetups?.[0]?.command, ['/bin/true', '{image}', '{mountpoint}']);
    // Paths in a job are relative to the job file.
    assert.deepEqual(runs[0]!.dataset, { kind: 'directory', path: join(dir, 'tree') });
    assert.equal(expandJob(jobSchema.parse({ name: 'plain' }))[0]!.label, '');
    // fuse_io_uring adds each named setup's io_uring variant right after it.
    writeFileSync(
      path,
      JSON.stringify({
        name: 'uring',
        setups: ['kernel-erofs', 'erofsfuse', 'my-daemon'],
        external: [{ name: 'my-daemon', command: ['/bin/true', '{mountpoint}'] }],
        fuse: { fuse_io_uring: true },
      }),
    );
    assert.deepEqual(jobRuns(loadJob(path), dir, dir)[0]!.setups, [
      'kernel-erofs',
      'erofsfuse',
      'erofsfuse+uring',
      'my-daemon',
    ]);
  });

  it('a job sweeps threads × clone_fd, each point with its own descriptor setting', () => {
    const path = join(dir, 'threads.json');
    writeFileSync(
      path,
      JSON.stringify({ name: 'threads', fuse: { threads: [1, 4], clone_fd: [false, true] } }),
    );
    const runs = jobRuns(loadJob(path), dir, dir);
    assert.deepEqual(
      runs.map((run) => [run.fuse.threads, run.fuse.cloneFd, run.output]),
      [
        [1, false, join(dir, 'threads-threads-1_clone_fd-false.json')],
        [1, true, join(dir, 'threads-threads-1_clone_fd-true.json')],
        [4, false, join(dir, 'threads-threads-4_clone_fd-false.json')],
        [4, true, join(dir, 'threads-threads-4_clone_fd-true.json')],
      ],
    );
  });

  it('a readers list gives one cell per count in one run, for the workloads that take readers', () => {
    const path = join(dir, 'readers.yaml');
    writeFileSync(path, 'name: scaling\nworkloads: [stat-all, tar-cat]\nreaders: [1, 4, 16]\n');
    const runs = jobRuns(loadJob(path), dir, dir);
    assert.equal(runs.length, 1);
    assert.deepEqual(runs[0]!.workloads, ['stat-all', 'stat-all@4', 'stat-all@16', 'tar-cat']);
    const single = parseRunRequest(['-w', 'parallel-read', '--readers', '2']);
    assert.ok(typeof single === 'object');
    assert.deepEqual(single.runs[0]!.workloads, ['parallel-read@2']);
  });

  it('refuses a bad job in one line naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [{ name: 'x', repetitons: 3 }, /Unrecognized key.*repetitons/],
      [{ name: 'x', fuse: { max_read: ['32k', 'lots'] } }, /fuse\.max_read/],
      [{ name: 'x', setups: ['nonesuch'] }, /setups: unknown 'nonesuch'/],
      [{ name: 'x', workloads: ['nonesuch'] }, /--workloads: unknown 'nonesuch'/],
      [{ name: 'x', readers: 0 }, /readers/],
      [
        { name: 'x', workloads: ['tar-cat'], readers: [2] },
        /--readers: none of the selected workloads takes readers/,
      ],
      [{ name: 'x', workloads: ['mmap-read@2'] }, /'mmap-read' does not take readers/],
      [{ name: 'x', external: [{ name: 'native', command: ['a', '{mountpoint}'] }] }, /name of a built-in/],
    ];
    for (const [job, message] of cases) {
      const path = join(dir, 'bad.json');
      writeFileSync(path, JSON.stringify(job));
      assert.throws(
        () => jobRuns(loadJob(path), dir, dir),
        (error: unknown) =>
          error instanceof UsageError && message.test(error.message) && !error.message.includes('\n'),
        JSON.stringify(job),
      );
    }
  });

  it('beside --job only where results go and how to run: a measuring flag is refused', () => {
    assert.throws(
      () => parseRunRequest(['--job', example, '-r', '3']),
      /--repetitions and --job exclude each other/,
    );
    const request = parseRunRequest(['--job', example, '-o', join(dir, 'o'), '--quiet', '--dry-run']);
    assert.ok(typeof request === 'object');
    assert.equal(request.runs.length, 4);
    assert.equal(request.quiet, true);
    assert.equal(request.dryRun, true);
  });

  it('short flags mean their long ones; --list-setups lists every setup; a dry run of external setups plans them', async () => {
    const request = parseRunRequest([
      '-s',
      'native',
      '-w',
      'stat-all',
      '-r',
      '3',
      '-o',
      join(dir, 'r.json'),
      '-q',
    ]);
    assert.ok(typeof request === 'object');
    const [run] = request.runs;
    assert.deepEqual(
      [run?.setups, run?.workloads, run?.repetitions, run?.output, request.quiet],
      [['native'], ['stat-all'], 3, join(dir, 'r.json'), true],
    );
    const listed = await fusebench(['run', '--list-setups']);
    assert.equal(listed.exitCode, 0);
    for (const name of setupNames)
      assert.match(String(listed.stdout), new RegExp(`^${name.replace('+', '\\+')} `, 'm'));
    const planned = await fusebench([
      'run',
      '-j',
      join(repo, 'jobs', 'erofsfuse-builds.yaml'),
      '-n',
      '--cache-dir',
      join(dir, 'cache'),
    ]);
    assert.equal(planned.exitCode, 0, String(planned.stderr));
    assert.match(String(planned.stdout), /erofsfuse-debian, erofsfuse-built/);
  });
});
