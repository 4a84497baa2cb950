import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { chooseDriver } from '../bench/driver-choice.js';
import { type PlanInput, type PlanStep, planRun } from '../bench/plan.js';
import type { CacheState } from '../results/schema.js';
import { fusebench } from './helpers/cli.js';

/**
 * The run plan, checked without root or mounts (as hyperfine tests its scheduler with a mock
 * executor): a fake executor replays the steps against a model of the caches, so "cold means
 * nothing cached, warm means warmed up" is checked on the order itself.
 */

const SETUPS = [
  { name: 'kernel-erofs', kind: 'kernel' as const },
  { name: 'fuse-erofs-ts', kind: 'fuse' as const },
  { name: 'fuse-passthrough-ts', kind: 'fuse' as const },
  { name: 'native', kind: 'kernel' as const },
  { name: 'floor', kind: 'floor' as const },
];

const input = (overrides: Partial<PlanInput> = {}): PlanInput => ({
  setups: SETUPS,
  workloads: ['stat-all', 'seqread-1m'],
  cacheStates: ['warm', 'cold'],
  repetitions: 5,
  warmup: 2,
  seed: 1,
  trace: true,
  driverChoice: [],
  ...overrides,
});

type Repetition = Extract<PlanStep, { kind: 'repetition' }>;
const repetitions = (steps: PlanStep[]) =>
  steps.filter((step): step is Repetition => step.kind === 'repetition');

/** The rounds of one cell: the setup order of each, untraced repetitions only. */
function rounds(steps: PlanStep[], workload: string, cache: CacheState): string[][] {
  const byRound = new Map<number, string[]>();
  for (const step of repetitions(steps)) {
    if (step.workload !== workload || step.traced) continue;
    if (step.cache !== cache && !(step.setup === 'floor' && cache === 'warm')) continue;
    byRound.set(step.index, [...(byRound.get(step.index) ?? []), step.setup]);
  }
  return [...byRound.values()];
}

/**
 * A fake executor over a model of the caches: each setup's own (its mount and daemon: emptied by
 * a remount, and by drop_caches), and the page cache of the image file that every setup but the
 * floor reads through (it survives remounts: only drop_caches empties it). Reports, for every
 * recorded repetition, whether what it reads was cached (its setup's cache holds this workload)
 * and whether anything was cached at all.
 */
function replay(steps: PlanStep[]): Array<{ step: Repetition; warm: boolean; anyCached: boolean }> {
  const own = new Map<string, Set<string>>(SETUPS.map((setup) => [setup.name, new Set<string>()]));
  let imagePagesCached = false;
  const seen: Array<{ step: Repetition; warm: boolean; anyCached: boolean }> = [];
  const read = (setup: string, workload: string) => {
    own.get(setup)!.add(workload);
    if (setup !== 'floor') imagePagesCached = true;
  };
  for (const step of steps) {
    switch (step.kind) {
      case 'remount':
        for (const setup of SETUPS) if (setup.kind !== 'floor') own.get(setup.name)!.clear();
        break;
      case 'warmup':
        read(step.setup, step.workload);
        break;
      case 'repetition': {
        if (step.dropCaches) {
          for (const setup of SETUPS) if (setup.kind !== 'floor') own.get(setup.name)!.clear();
          imagePagesCached = false;
        }
        const cache = own.get(step.setup)!;
        const anyCached = cache.size > 0 || (step.setup !== 'floor' && imagePagesCached);
        seen.push({ step, warm: cache.has(step.workload), anyCached });
        read(step.setup, step.workload);
        break;
      }
      case 'complete':
        break;
    }
  }
  return seen;
}

describe('run plan', () => {
  it('gives every setup its repetitions in every cell, one traced per FUSE setup, none for the floor', () => {
    const steps = planRun(input());
    for (const workload of ['stat-all', 'seqread-1m'])
      for (const cache of ['warm', 'cold'] as const)
        for (const setup of SETUPS) {
          if (setup.kind === 'floor' && cache === 'cold') continue;
          const own = repetitions(steps).filter(
            (step) => step.workload === workload && step.cache === cache && step.setup === setup.name,
          );
          assert.equal(own.filter((step) => !step.traced).length, 5, `${workload} ${cache} ${setup.name}`);
          assert.equal(own.filter((step) => step.traced).length, setup.kind === 'fuse' ? 1 : 0);
          assert.deepEqual(
            own.filter((step) => !step.traced).map((step) => step.index),
            [0, 1, 2, 3, 4],
          );
        }
    assert.ok(
      repetitions(steps).every((step) => step.setup !== 'floor' || (step.cache === 'warm' && !step.traced)),
    );
  });

  it('runs every setup once per round, the floor among them, in a fresh seeded order each round', () => {
    const steps = planRun(input({ repetitions: 8 }));
    const warmRounds = rounds(steps, 'stat-all', 'warm');
    assert.equal(warmRounds.length, 8);
    for (const round of warmRounds)
      assert.deepEqual([...round].sort(), SETUPS.map((setup) => setup.name).sort());
    assert.ok(new Set(warmRounds.map((round) => round.join())).size > 1, 'the order changes between rounds');
    assert.ok(
      warmRounds.some((round) => round[0] !== 'floor' && round.at(-1) !== 'floor'),
      'the floor is interleaved, not a block before or after the setups',
    );
    assert.deepEqual(planRun(input({ repetitions: 8 })), steps, 'the same seed gives the same plan');
    assert.notDeepEqual(planRun(input({ repetitions: 8, seed: 2 })), steps);
  });

  it('cold repetitions find nothing cached; warm ones find what their warm-up cached', () => {
    const seen = replay(planRun(input()));
    for (const { step, warm, anyCached } of seen) {
      const what = `${step.workload} ${step.cache} ${step.setup} ${step.traced ? 'traced' : step.index}`;
      if (step.cache === 'cold') assert.equal(anyCached, false, `${what} is cold`);
      else assert.equal(warm, true, `${what} is warm`);
    }
    assert.ok(seen.some(({ step }) => step.cache === 'cold'));
  });

  it('remounts at the start of every cold round and before the traced cold repetitions, never when warm', () => {
    const steps = planRun(input({ cacheStates: ['cold'], workloads: ['stat-all'] }));
    const remounts = steps.filter((step) => step.kind === 'remount');
    assert.equal(remounts.length, 5 + 1);
    assert.equal(
      planRun(input({ cacheStates: ['warm'] })).filter((step) => step.kind === 'remount').length,
      0,
    );
    // Each remount is followed by a full round before the next one.
    const between = steps
      .map((step, index) => (step.kind === 'remount' ? index : -1))
      .filter((index) => index >= 0);
    for (let round = 0; round + 1 < between.length; round++) {
      const inRound = steps
        .slice(between[round]! + 1, between[round + 1]!)
        .filter((step) => step.kind === 'repetition');
      assert.equal(inRound.filter((step) => step.setup !== 'floor').length, 4, `round ${round}`);
    }
    // With only cold cells the floor (warm by nature) still rides in the rounds, after its own warm-up.
    const floorSteps = steps.filter((step) => 'setup' in step && step.setup === 'floor');
    assert.equal(floorSteps.filter((step) => step.kind === 'warmup').length, 2);
    assert.ok(
      floorSteps.every((step) => step.kind !== 'repetition' || (!step.dropCaches && step.cache === 'warm')),
    );
  });

  it('completes a cell after its last repetition, the floor before the cells compared with it', () => {
    const steps = planRun(input());
    steps.forEach((step, index) => {
      if (step.kind !== 'complete') return;
      const later = steps
        .slice(index + 1)
        .filter(
          (other) =>
            other.kind === 'repetition' &&
            other.workload === step.workload &&
            other.cache === step.cache &&
            step.setups.includes(other.setup),
        );
      assert.deepEqual(later, [], `${step.workload} ${step.cache} completes after its repetitions`);
    });
    for (const workload of ['stat-all', 'seqread-1m']) {
      const completes = steps.filter((step) => step.kind === 'complete' && step.workload === workload);
      assert.deepEqual(
        completes.map((step) => (step.kind === 'complete' ? step.setups.join() : '')),
        [
          'floor',
          'kernel-erofs,fuse-erofs-ts,fuse-passthrough-ts,native',
          'kernel-erofs,fuse-erofs-ts,fuse-passthrough-ts,native',
        ],
      );
    }
  });

  it('chooses the driver of a warm cell after its warm-up and before its first repetition, nowhere else', () => {
    const steps = planRun(input({ driverChoice: ['stat-all'] }));
    const choices = steps.filter((step) => step.kind === 'choose-driver');
    assert.deepEqual(choices, [{ kind: 'choose-driver', workload: 'stat-all', cache: 'warm' }]);
    const at = steps.indexOf(choices[0]!);
    const cell = steps
      .map((step, index) => ({ step, index }))
      .filter(
        ({ step }) => step.workload === 'stat-all' && step.kind !== 'complete' && step.cache === 'warm',
      );
    assert.ok(cell.filter(({ step }) => step.kind === 'warmup').every(({ index }) => index < at));
    assert.ok(cell.filter(({ step }) => step.kind === 'repetition').every(({ index }) => index > at));
    // No floor or no warm-up: nothing to compare with, so no choice.
    assert.equal(
      planRun(input({ driverChoice: ['stat-all'], warmup: 0 })).filter((s) => s.kind === 'choose-driver')
        .length,
      0,
    );
    const noFloor = SETUPS.filter((setup) => setup.kind !== 'floor');
    assert.equal(
      planRun(input({ driverChoice: ['stat-all'], setups: noFloor })).filter(
        (s) => s.kind === 'choose-driver',
      ).length,
      0,
    );
  });

  it('plans no traced repetition without tracing, and no floor step without a floor', () => {
    const steps = planRun(input({ trace: false, setups: SETUPS.filter((setup) => setup.kind !== 'floor') }));
    assert.ok(repetitions(steps).every((step) => !step.traced));
    assert.ok(steps.every((step) => !('setup' in step) || step.setup !== 'floor'));
    assert.ok(steps.every((step) => step.kind !== 'complete' || !step.setups.includes('floor')));
  });
});

describe('automatic driver choice', () => {
  const warmups = (entries: Array<[string, number]>) => new Map(entries);
  it("switches to native when a setup's warm-up is within 2× of the floor", () => {
    const choice = chooseDriver(
      warmups([
        ['floor', 3000],
        ['kernel-erofs', 4500],
        ['fuse-erofs-ts', 30000],
      ]),
      'floor',
      true,
    );
    assert.equal(choice.driver, 'native');
    assert.match(choice.reason, /kernel-erofs's warm-up was 1\.50× the floor's/);
  });
  it('keeps node when every setup is well above the floor, or when native is not built', () => {
    assert.equal(
      chooseDriver(
        warmups([
          ['floor', 3000],
          ['kernel-erofs', 6100],
        ]),
        'floor',
        true,
      ).driver,
      'node',
    );
    const unbuilt = chooseDriver(
      warmups([
        ['floor', 3000],
        ['kernel-erofs', 3100],
      ]),
      'floor',
      false,
    );
    assert.equal(unbuilt.driver, 'node');
    assert.match(unbuilt.reason, /not built/);
    assert.equal(chooseDriver(warmups([['kernel-erofs', 3100]]), 'floor', true).driver, 'node');
  });
});

describe('fusebench run --dry-run', () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'fusebench-dry-run-'));
  after(() => rmSync(cacheDir, { recursive: true, force: true }));

  it('prints every step of the plan and an estimate, and mounts nothing', async () => {
    const args = [
      'run',
      '--dry-run',
      '--profile',
      'tiny',
      '--setups',
      'kernel-erofs,fuse-erofs-ts,fuse-passthrough-ts,native',
      '--workloads',
      'stat-all,read-small',
    ];
    const run = await fusebench([...args, '--repetitions', '2', '--cache-dir', cacheDir]);
    assert.equal(run.exitCode, 0, String(run.stderr));
    const out = String(run.stdout);
    assert.match(
      out,
      /^plan of fusebench run: dataset tiny-s1, kernel-erofs, fuse-erofs-ts, fuse-passthrough-ts, native, floor/,
    );
    assert.match(out, /stat-all warm choose the driver from the warm-up/);
    assert.match(out, /read-small cold fuse-erofs-ts traced after drop_caches/);
    const steps = out.split('\n').filter((line) => /^\s*\d+ {2}/.test(line));
    const summary = /(\d+) steps: (\d+) warm-ups, (\d+) recorded repetitions/.exec(out);
    assert.ok(summary, out.slice(-500));
    assert.equal(steps.length, Number(summary[1]));
    // 2 workloads × (warm: 5 setups × 2 + 2 traced; cold: 4 × 2 + 2 traced)
    assert.equal(Number(summary[3]), 2 * (5 * 2 + 2 + 4 * 2 + 2));
    assert.match(out, /estimated time: about \d+(m\d\ds|s)/);
    // Other runs may mount meanwhile on a shared machine: only this dataset's image must not be.
    assert.ok(
      !readFileSync('/proc/self/mounts', 'utf8').includes(cacheDir),
      'nothing of the dataset is mounted',
    );
  });
});
