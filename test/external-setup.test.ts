import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { readMountInfo } from '../lib/mounts.js';
import { findPeerProgram } from '../lib/peer-programs.js';
import { resultFileSchema } from '../results/schema.js';
import { RUNS_ROOT } from '../runners/cleanup.js';
import { CLI, fusebench } from './helpers/cli.js';

/**
 * An external FUSE daemon declared in a job file (the erofsfuse setup.sh builds, given as a
 * command template) gets the peers' lifecycle for real: it is mounted, measured warm and cold
 * with its CPU time counted, and after a SIGKILL of the run `fusebench cleanup` unmounts it and
 * kills it. Under CI=true a missing erofsfuse fails the test: setup.sh builds it.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Processes whose command line names `text` (the daemon of a mount point). */
function processesNaming(text: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(text)) found.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe('an external FUSE daemon from a job file', async () => {
  const erofsfuse = await findPeerProgram('erofsfuse');
  const missing =
    erofsfuse?.origin === 'fusebench build' ? false : 'erofsfuse not built into the peers directory';
  if (missing && process.env.CI === 'true') throw new Error(`${missing}: setup.sh builds it`);
  const dir = mkdtempSync(join(tmpdir(), 'fusebench-external-'));
  const job = join(dir, 'external.yaml');
  before(() => {
    if (!erofsfuse) return;
    writeFileSync(
      job,
      [
        'name: external',
        'profile: tiny',
        'setups: [kernel-erofs, erofsfuse-mine]',
        'workloads: [stat-all, read-small]',
        'repetitions: 2',
        'warmup: 0',
        'external:',
        '  - name: erofsfuse-mine',
        `    command: [${erofsfuse.path}, -f, -s, -o, ro, '{image}', '{mountpoint}']`,
        '',
      ].join('\n'),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is mounted and measured warm and cold, its daemon CPU counted, the job recorded', {
    skip: missing,
  }, async () => {
    const run = await fusebench([
      'run',
      '--job',
      job,
      '-o',
      join(dir, 'out'),
      '--cache-dir',
      join(dir, 'cache'),
      '--wait',
      '-q',
    ]);
    assert.equal(run.exitCode, 0, String(run.stderr).slice(-2000));
    const result = resultFileSchema.parse(
      JSON.parse(readFileSync(join(dir, 'out', 'external.json'), 'utf8')),
    );
    assert.equal(result.status, 'complete');
    assert.equal(result.job?.file, job);
    const setup = result.setups.find((record) => record.name === 'erofsfuse-mine');
    assert.equal(setup?.status, 'ok');
    assert.equal(setup?.facts.external, true);
    const cells = result.measurements.filter((measurement) => measurement.setup === 'erofsfuse-mine');
    assert.equal(cells.length, 4);
    for (const cell of cells) {
      assert.equal(cell.status, 'ok', `${cell.workload} ${cell.cache}: ${cell.reason}`);
      for (const repetition of cell.repetitions) {
        assert.ok(repetition.daemon, 'the daemon is accounted');
        // Warm, erofsfuse's infinite cache timeouts may leave it nothing to do; cold, it serves.
        if (cell.cache === 'cold') assert.ok(repetition.daemon.cpuNs > 0, 'daemon CPU time counted');
      }
    }
  });

  it('is unmounted and killed by fusebench cleanup after the run is SIGKILLed', {
    skip: missing,
  }, async () => {
    const run = execa(
      process.execPath,
      [
        CLI,
        'run',
        '--job',
        job,
        '-o',
        join(dir, 'killed'),
        '--cache-dir',
        join(dir, 'cache'),
        '--wait',
        '-q',
      ],
      {
        reject: false,
      },
    );
    // Until the external daemon of this run serves.
    let mountpoint: string | undefined;
    for (let waited = 0; waited < 120_000 && !mountpoint; waited += 100) {
      mountpoint = readMountInfo().find(
        (entry) =>
          entry.mountpoint.startsWith(`${RUNS_ROOT}/`) &&
          entry.mountpoint.includes(`-${run.pid}/`) &&
          entry.mountpoint.endsWith('/erofsfuse-mine'),
      )?.mountpoint;
      await sleep(100);
    }
    assert.ok(mountpoint, 'the external setup was mounted');
    run.kill('SIGKILL');
    await run;
    const daemons = processesNaming(mountpoint);
    assert.ok(daemons.length > 0, 'the killed run left its daemon running');
    const cleaned = await fusebench(['cleanup']);
    assert.equal(cleaned.exitCode, 0, `${cleaned.stdout} ${cleaned.stderr}`);
    assert.ok(!readMountInfo().some((entry) => entry.mountpoint === mountpoint), 'unmounted');
    for (const pid of daemons)
      assert.ok(
        !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] === 'Z',
        `daemon ${pid} killed`,
      );
  });
});
