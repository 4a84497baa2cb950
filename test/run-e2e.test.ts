import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pruneDaemonRecords } from '../fuse/daemon.js';
import { readMountInfo } from '../lib/mounts.js';
import { resultFileSchema } from '../results/schema.js';
import { coreSetupNames, findSetup } from '../runners/registry.js';
import { fusebench } from './helpers/cli.js';

/**
 * `fusebench run` end to end on the tiny dataset, for real: the result file is valid, complete,
 * and shows what FUSE costs where it must (daemon context switches, FUSE requests) and nowhere else.
 */

const workloads = ['stat-all', 'read-small', 'lookup-miss'];

describe('fusebench run, tiny, end to end', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-e2e-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a schema-valid result with every setup × workload × cache, FUSE costs where FUSE is', async () => {
    const output = join(dir, 'result.json');
    const run = await fusebench([
      'run',
      '--profile',
      'tiny',
      '--workloads',
      workloads.join(','),
      '--repetitions',
      '3',
      '--cache-dir',
      join(dir, 'cache'),
      '--output',
      output,
    ]);
    assert.equal(run.exitCode, 0, String(run.stderr).slice(-2000));
    assert.match(String(run.stdout), /warm cache/);
    const result = resultFileSchema.parse(JSON.parse(readFileSync(output, 'utf8')));
    assert.equal(result.status, 'complete');

    // A default peer (erofsfuse) absent from this machine is skipped with a note; under CI setup.sh installed it.
    for (const record of result.setups.filter((setup) => setup.status !== 'ok')) {
      assert.ok(!process.env.CI, `${record.name} ${record.status} under CI: ${record.note}`);
      assert.match(
        record.note ?? '',
        /not installed: .*setup\.sh/,
        `${record.name}: says why and how to get it`,
      );
    }
    const measured = coreSetupNames.filter((name) =>
      result.setups.some((setup) => setup.name === name && setup.status === 'ok'),
    );
    for (const setup of measured) {
      for (const workload of workloads) {
        for (const cache of ['warm', 'cold'] as const) {
          const found = result.measurements.filter(
            (measurement) =>
              measurement.setup === setup && measurement.workload === workload && measurement.cache === cache,
          );
          assert.equal(found.length, 1, `${setup} ${workload} ${cache}`);
          const timed = found[0]!.repetitions.filter((repetition) => !repetition.traced);
          assert.equal(timed.length, 3, `${setup} ${workload} ${cache}: repetitions`);
          const isFuse = findSetup(setup)?.kind === 'fuse';
          // Entry, attr and negative timeouts of a day (erofsfuse: for ever): warm repetitions, even
          // of missing names remembered since the warm-up, never reach the daemon; cold ones do.
          const reachesDaemon = cache === 'cold';
          for (const repetition of found[0]!.repetitions) {
            if (isFuse) {
              assert.ok(repetition.daemon, `${setup} ${workload}: daemon usage recorded`);
              if (reachesDaemon) {
                assert.ok(
                  repetition.daemon.voluntaryCtxSwitches > 0,
                  `${setup} ${workload} ${cache}: daemon ctx switches`,
                );
              }
            } else {
              assert.equal(repetition.daemon, null, `${setup} has no daemon`);
              assert.equal(repetition.fuse, null, `${setup} has no FUSE requests`);
            }
          }
          if (isFuse) {
            const traced = found[0]!.repetitions.find((repetition) => repetition.traced);
            assert.ok(traced?.fuse, `${setup} ${workload} ${cache}: a traced repetition`);
            const requests = Object.values(traced.fuse).reduce((sum, opcode) => sum + opcode.count, 0);
            if (reachesDaemon) assert.ok(requests > 0, `${setup} ${workload} ${cache}: FUSE requests`);
          }
        }
      }
    }

    // The same op stream everywhere: identical op counts per workload across setups.
    for (const workload of workloads) {
      const counts = new Set(
        result.measurements
          .filter((measurement) => measurement.workload === workload)
          .flatMap((measurement) => measurement.repetitions.map((repetition) => repetition.opCount)),
      );
      assert.equal(counts.size, 1, `${workload}: op counts ${[...counts].join(', ')}`);
    }

    // Cold caches send the lookups to the daemon again; warm ones are answered by the dcache.
    const lookups = (cache: 'warm' | 'cold') =>
      result.measurements
        .find(
          (measurement) =>
            measurement.setup === 'fuse-erofs-ts' &&
            measurement.workload === 'stat-all' &&
            measurement.cache === cache,
        )!
        .repetitions.find((repetition) => repetition.traced)!.fuse?.LOOKUP?.count ?? 0;
    assert.ok(lookups('cold') > lookups('warm'), `cold LOOKUPs ${lookups('cold')} > warm ${lookups('warm')}`);

    assert.ok(
      !readMountInfo().some((entry) => entry.mountpoint.startsWith('/run/fusebench/')),
      'no mount left',
    );
    // Its daemons dropped root and could not remove their records: the run did.
    assert.equal(pruneDaemonRecords(), 0, 'no record of an ended daemon left');
  });

  it('--readers measures one cell per reader count, splits the same reads among them, and prints the scaling table', async () => {
    const output = join(dir, 'readers.json');
    const run = await fusebench([
      'run',
      '--profile',
      'tiny',
      '--setups',
      'kernel-erofs,fuse-erofs-ts',
      '--workloads',
      'parallel-read',
      '--readers',
      '1,2',
      '--cache',
      'warm',
      '--repetitions',
      '2',
      '--no-floor',
      '--wait',
      '--cache-dir',
      join(dir, 'cache'),
      '--output',
      output,
    ]);
    assert.equal(run.exitCode, 0, String(run.stderr).slice(-2000));
    const result = resultFileSchema.parse(JSON.parse(readFileSync(output, 'utf8')));
    assert.equal(result.status, 'complete');
    const bytes = new Set<number>();
    for (const setup of ['kernel-erofs', 'fuse-erofs-ts'])
      for (const [workload, readers] of [
        ['parallel-read', 1],
        ['parallel-read@2', 2],
      ] as const) {
        const cell = result.measurements.find((m) => m.setup === setup && m.workload === workload);
        assert.ok(cell, `${setup} ${workload}`);
        assert.equal(cell.params.readers, readers);
        assert.equal(cell.status, 'ok', `${setup} ${workload}: ${cell.reason}`);
        for (const repetition of cell.repetitions) bytes.add(repetition.bytes);
        if (setup === 'fuse-erofs-ts') {
          const traced = cell.repetitions.find((repetition) => repetition.traced);
          assert.ok(traced?.fuseInFlight, `${workload}: requests in flight from the trace`);
          assert.ok(traced.fuseInFlight.maxDepth >= 1);
        }
      }
    assert.equal(bytes.size, 1, `the same bytes read by 1 and 2 readers: ${[...bytes].join(', ')}`);
    const summary = String(run.stdout);
    assert.match(summary, /Scaling with readers/);
    assert.match(summary, /^parallel-read, warm cache$/m);
    assert.match(summary, /^N=2 +\S+ +\d/m);
    assert.match(summary, /Where the time goes under load/);
  });

  it('marks a setup that returns wrong bytes invalid, says so, and exits non-zero', async () => {
    // The native setup serves the dataset's tree itself: alter the cached tree after its manifest
    // (and the image built from it) were made, and native returns bytes the manifest denies.
    const cacheDir = join(dir, 'cache');
    const [tree] = readdirSync(join(cacheDir, 'trees')).map((name) => join(cacheDir, 'trees', name, 'tree'));
    assert.ok(tree, 'the first test prepared the tiny dataset');
    let altered = 0;
    const alter = (path: string) => {
      for (const name of readdirSync(path, { withFileTypes: true })) {
        const child = join(path, name.name);
        if (name.isDirectory()) alter(child);
        else if (name.isFile() && statSync(child).size > 0) {
          const bytes = readFileSync(child);
          bytes[0] = bytes[0]! ^ 0xff;
          writeFileSync(child, bytes);
          altered++;
        }
      }
    };
    alter(tree);
    assert.ok(altered > 0);
    const output = join(dir, 'wrong.json');
    const run = await fusebench([
      'run',
      '--profile',
      'tiny',
      '--setups',
      'kernel-erofs,native',
      '--workloads',
      'read-small',
      '--cache',
      'warm',
      '--repetitions',
      '1',
      '--no-floor',
      '--cache-dir',
      cacheDir,
      '--output',
      output,
    ]);
    assert.equal(run.exitCode, 1, String(run.stderr).slice(-2000));
    assert.match(String(run.stderr), /INVALID: native returned wrong data in read-small warm/);
    const result = resultFileSchema.parse(JSON.parse(readFileSync(output, 'utf8')));
    assert.equal(result.status, 'failed');
    const status = (setup: string) => result.measurements.find((m) => m.setup === setup)?.status;
    assert.equal(status('kernel-erofs'), 'ok');
    assert.equal(status('native'), 'invalid');
  });
});
