import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { readMountInfo } from '../lib/mounts.js';
import { SeededRandom } from '../lib/random.js';
import { resultFileSchema } from '../results/schema.js';
import { RUNS_ROOT } from '../runners/cleanup.js';
import { CLI, fusebench } from './helpers/cli.js';

/**
 * SIGINT, SIGTERM and SIGKILL of `fusebench run` at seeded random moments, for real: afterwards
 * (and after `fusebench cleanup` for SIGKILL) no mount, loop device, daemon or tracefs instance of
 * the run is left, and the result file is valid JSON holding every measurement that finished.
 */

const SETUPS =
  process.env.FUSEBENCH_HARD_STOP_SETUPS ??
  'kernel-erofs,fuse-erofs-ts,fuse-passthrough-ts,native,squashfs,squashfuse';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * What run `pid` left behind. Other runs may be going on at the same time (other tests, a user's
 * run), so only this run's things count: its run directory under RUNS_ROOT ends in `-PID`, its
 * tracefs instance is fusebench-PID, and its loop devices and daemons name its cache directory.
 */
function leftovers(cacheDir: string, pid: number): string[] {
  const found: string[] = [];
  const ownRunDir = (path: string) => {
    const runDir = path.slice(RUNS_ROOT.length + 1).split('/')[0] ?? '';
    return path.startsWith(`${RUNS_ROOT}/`) && runDir.endsWith(`-${pid}`);
  };
  for (const entry of readMountInfo()) {
    if (ownRunDir(entry.mountpoint)) found.push(`mount ${entry.mountpoint}`);
  }
  if (existsSync(RUNS_ROOT)) {
    for (const name of readdirSync(RUNS_ROOT)) {
      if (name.endsWith(`-${pid}`)) found.push(`run directory ${RUNS_ROOT}/${name}`);
    }
  }
  for (const loop of readdirSync('/sys/block').filter((name) => name.startsWith('loop'))) {
    try {
      const backing = readFileSync(`/sys/block/${loop}/loop/backing_file`, 'utf8').trim();
      if (backing.startsWith(cacheDir)) found.push(`loop ${loop} → ${backing}`);
    } catch {
      // Not attached.
    }
  }
  for (const other of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const cmdline = readFileSync(`/proc/${other}/cmdline`, 'utf8').split('\0').join(' ');
      const ownDaemon = cmdline.split(' ').some((word) => ownRunDir(word));
      if (cmdline.includes(cacheDir) || ownDaemon) found.push(`process ${other}: ${cmdline}`);
    } catch {
      // Gone.
    }
  }
  if (existsSync(`/sys/kernel/tracing/instances/fusebench-${pid}`)) {
    found.push(`tracefs instance fusebench-${pid}`);
  }
  return found;
}

function tracefsMounted(): boolean {
  return readMountInfo().some((entry) => entry.fstype === 'tracefs');
}

describe('hard stops of fusebench run', () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'fusebench-hardstop-'));
  const random = new SeededRandom(process.env.FUSEBENCH_HARD_STOP_SEED ?? 'hard-stop');
  let tracefsBefore = false;
  before(async () => {
    tracefsBefore = tracefsMounted();
    // Build the dataset and images once, so the signals land in measurement, not in mkfs.
    const warm = await fusebench([
      'run',
      '--profile',
      'tiny',
      '--setups',
      'kernel-erofs,squashfs',
      '--workloads',
      'stat-all',
      '--cache',
      'warm',
      '--repetitions',
      '1',
      '--warmup',
      '0',
      '--no-floor',
      '--cache-dir',
      cacheDir,
      '--output',
      join(cacheDir, 'warm.json'),
    ]);
    assert.equal(warm.exitCode, 0, String(warm.stderr));
  });
  after(() => {
    rmSync(cacheDir, { recursive: true, force: true });
  });

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGKILL'] as const) {
    it(`${signal} at a random moment leaves nothing behind and a valid result file`, async () => {
      const output = join(cacheDir, `${signal}.json`);
      const run = execa(
        process.execPath,
        [
          CLI,
          'run',
          '--profile',
          'tiny',
          '--setups',
          SETUPS,
          '--repetitions',
          '2',
          '--cache-dir',
          cacheDir,
          '--output',
          output,
        ],
        { reject: false },
      );
      const delay = 1500 + Math.floor(random.next() * 6000);
      await sleep(delay);
      run.kill(signal);
      const exited = await run;
      if (signal === 'SIGKILL') {
        const cleaned = await fusebench(['cleanup']);
        assert.equal(
          cleaned.exitCode,
          0,
          `cleanup after SIGKILL at ${delay} ms: ${cleaned.stdout} ${cleaned.stderr}`,
        );
      } else {
        // 0 only when the run had finished before the signal came.
        assert.ok(
          [0, signal === 'SIGINT' ? 130 : 143].includes(exited.exitCode ?? -1),
          `exit ${exited.exitCode} after ${signal} at ${delay} ms: ${exited.stderr}`,
        );
      }
      assert.deepEqual(leftovers(cacheDir, run.pid!), [], `after ${signal} at ${delay} ms`);
      assert.equal(tracefsMounted(), tracefsBefore, 'tracefs is left mounted or unmounted as it was found');
      if (existsSync(output)) {
        const result = resultFileSchema.parse(JSON.parse(readFileSync(output, 'utf8')));
        assert.ok(
          (signal === 'SIGKILL' ? ['killed', 'complete'] : ['interrupted', 'complete']).includes(
            result.status,
          ),
          `${result.status} after ${signal} at ${delay} ms`,
        );
        for (const measurement of result.measurements) {
          const timed = measurement.repetitions.filter((repetition) => !repetition.traced);
          assert.equal(
            timed.length,
            2,
            `${measurement.setup} ${measurement.workload}: finished measurements are whole`,
          );
        }
      }
    });
  }
});

describe('a signal to a micro benchmark that mounts', () => {
  // Two moments: a setup mounted, and one of our daemons started but maybe not serving yet (it has
  // neither a mount nor a record then, and must not outlive the benchmark).
  const moments = [
    {
      name: 'while it has setups mounted',
      reached: (parent: string) => readMountInfo().some((entry) => entry.mountpoint.startsWith(`${parent}/`)),
      pollMs: 100,
    },
    {
      name: 'while a daemon of ours starts',
      reached: (parent: string, bench: number) =>
        leftovers(parent, bench).some((found) => /dist\/cli\/main\.js mount /.test(found)),
      pollMs: 5,
    },
  ];
  for (const moment of moments) {
    it(`bench:cold, SIGINT ${moment.name}: exit 130, nothing mounted, no daemon, no work directory left`, async () => {
      const script = join(CLI, '..', '..', 'bench', 'micro', 'cold-read.js');
      // The benchmark makes its work directory under TMPDIR: one of the test's own.
      const parent = mkdtempSync(join(tmpdir(), 'fusebench-signal-'));
      try {
        const bench = execa(
          process.execPath,
          [script, '--files', '1', '--mib', '2', '--reads', '50', '--rounds', '2', '--compression', 'none'],
          { reject: false, env: { TMPDIR: parent } },
        );
        const underParent = () =>
          readMountInfo().filter((entry) => entry.mountpoint.startsWith(`${parent}/`));
        for (
          let waited = 0;
          waited < 120_000 && !moment.reached(parent, bench.pid!) && bench.exitCode === null;
          waited += moment.pollMs
        )
          await sleep(moment.pollMs);
        assert.ok(moment.reached(parent, bench.pid!), `the benchmark got there: ${moment.name}`);
        bench.kill('SIGINT');
        const exited = await bench;
        assert.equal(exited.exitCode, 130, `exit ${exited.exitCode}: ${String(exited.stderr)}`);
        assert.match(String(exited.stderr), /stopped by SIGINT; \S+ unmounted and removed/);
        assert.deepEqual(underParent(), [], 'no mount left');
        assert.deepEqual(readdirSync(parent), [], 'no work directory left');
        // No daemon or loop device naming the parent directory (the run-specific checks find nothing).
        assert.deepEqual(leftovers(parent, bench.pid!), [], 'no daemon left');
      } finally {
        if (readMountInfo().every((entry) => !entry.mountpoint.startsWith(`${parent}/`)))
          rmSync(parent, { recursive: true, force: true });
      }
    });
  }
});
