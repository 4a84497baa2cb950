import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readMountInfo } from '../lib/mounts.js';
import { resultFileSchema } from '../results/schema.js';
import { coreSetupNames } from '../runners/registry.js';
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

    for (const setup of coreSetupNames) {
      for (const workload of workloads) {
        for (const cache of ['warm', 'cold'] as const) {
          const found = result.measurements.filter(
            (measurement) =>
              measurement.setup === setup && measurement.workload === workload && measurement.cache === cache,
          );
          assert.equal(found.length, 1, `${setup} ${workload} ${cache}`);
          const timed = found[0]!.repetitions.filter((repetition) => !repetition.traced);
          assert.equal(timed.length, 3, `${setup} ${workload} ${cache}: repetitions`);
          const isFuse = setup.startsWith('fuse-');
          for (const repetition of found[0]!.repetitions) {
            if (isFuse) {
              assert.ok(repetition.daemon, `${setup} ${workload}: daemon usage recorded`);
              // Warm repetitions never reach the daemon (entry, attr and negative timeouts of a day:
              // even a missing name is remembered after the warm-up); cold ones do.
              if (cache === 'cold') {
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
            if (cache === 'cold') assert.ok(requests > 0, `${setup} ${workload} ${cache}: FUSE requests`);
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
  });
});
