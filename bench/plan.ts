import { SeededRandom } from '../lib/random.js';
import type { CacheState } from '../results/schema.js';
import type { SetupKind } from '../runners/setup.js';

/**
 * The order of a run, decided before anything runs (hyperfine's scheduler, separate from its
 * executor): a plain list of steps that the executor carries out one by one, that `--dry-run`
 * prints and that tests check without root.
 *
 * Per workload and cache state:
 * - warm: every setup's warm-up repetitions (not recorded) first;
 * - then rounds: each round runs every setup once in a freshly shuffled order, so slow drift of
 *   the machine spreads over all setups. A cold round starts by remounting every setup (all at
 *   once: nothing is measured then) and drops the kernel caches right before each repetition;
 * - then one traced repetition per FUSE setup (tracing adds cost to FUSE requests only, so it is
 *   kept out of the timed ones), after a remount when cold;
 * - then the cell is complete: its measurements are built and saved.
 * The floor (the op streams on tmpfs, warm by definition) is one more setup in the rounds of the
 * workload's first cache state, with its own warm-up before them, and is never traced. Warm cells
 * of workloads named in `driverChoice` choose their driver between the warm-up and the rounds.
 */

export interface PlannedSetup {
  name: string;
  kind: SetupKind;
}

export interface PlanInput {
  /** The setups that are mounted (the floor among them with kind 'floor'), in the user's order. */
  setups: readonly PlannedSetup[];
  workloads: readonly string[];
  cacheStates: readonly CacheState[];
  repetitions: number;
  warmup: number;
  seed: number;
  trace: boolean;
  /**
   * Workloads whose warm cell chooses its client driver after the warm-up, from how close the
   * setups' warm-up came to the floor's (bench/driver-choice.ts). Needs the floor and a warm-up.
   */
  driverChoice: readonly string[];
}

export type PlanStep =
  /** An unrecorded repetition that fills the caches. */
  | { kind: 'warmup'; workload: string; cache: CacheState; setup: string; index: number }
  /** Pick the driver of the cell's recorded repetitions from its warm-up figures. */
  | { kind: 'choose-driver'; workload: string; cache: CacheState }
  /** Unmount and mount every measured setup again, so no daemon or mount keeps a cache. */
  | { kind: 'remount'; workload: string; cache: CacheState; round: number }
  /** A recorded repetition of one setup. */
  | {
      kind: 'repetition';
      workload: string;
      /** The cache state of the measurement the repetition belongs to (the floor's is warm). */
      cache: CacheState;
      setup: string;
      index: number;
      /** sync and drop_caches right before it. */
      dropCaches: boolean;
      /** FUSE requests traced; left out of timing estimates. */
      traced: boolean;
    }
  /** Every repetition of the cell is done: build and save its measurements. */
  | { kind: 'complete'; workload: string; cache: CacheState; setups: string[] };

export function planRun(input: PlanInput): PlanStep[] {
  const steps: PlanStep[] = [];
  const random = new SeededRandom(`${input.seed}:order`);
  const floors = input.setups.filter((setup) => setup.kind === 'floor');
  const measured = input.setups.filter((setup) => setup.kind !== 'floor');
  for (const workload of input.workloads) {
    input.cacheStates.forEach((cache, cacheIndex) => {
      const withFloor = cacheIndex === 0 ? floors : [];
      const cold = cache === 'cold';
      const warmed = cold ? withFloor : [...measured, ...withFloor];
      for (let index = 0; index < input.warmup; index++)
        for (const setup of warmed) steps.push({ kind: 'warmup', workload, cache, setup: setup.name, index });
      // The floor's warm-up figures decide; with the floor in this cell, its repetitions follow the choice too.
      if (!cold && input.warmup > 0 && withFloor.length > 0 && input.driverChoice.includes(workload))
        steps.push({ kind: 'choose-driver', workload, cache });
      for (let round = 0; round < input.repetitions; round++) {
        if (cold) steps.push({ kind: 'remount', workload, cache, round });
        for (const setup of random.shuffled([...measured, ...withFloor])) {
          const isFloor = setup.kind === 'floor';
          steps.push({
            kind: 'repetition',
            workload,
            cache: isFloor ? 'warm' : cache,
            setup: setup.name,
            index: round,
            dropCaches: cold && !isFloor,
            traced: false,
          });
        }
      }
      const traced = input.trace ? measured.filter((setup) => setup.kind === 'fuse') : [];
      if (traced.length > 0 && cold)
        steps.push({ kind: 'remount', workload, cache, round: input.repetitions });
      for (const setup of traced) {
        steps.push({
          kind: 'repetition',
          workload,
          cache,
          setup: setup.name,
          index: input.repetitions,
          dropCaches: cold,
          traced: true,
        });
      }
      // The floor's cell completes first, so the measured cells can be compared with it.
      for (const floor of withFloor)
        steps.push({ kind: 'complete', workload, cache: 'warm', setups: [floor.name] });
      steps.push({ kind: 'complete', workload, cache, setups: measured.map((setup) => setup.name) });
    });
  }
  return steps;
}

/** What a step is, in one line (--dry-run and progress). */
export function describeStep(step: PlanStep): string {
  switch (step.kind) {
    case 'warmup':
      return `${step.workload} ${step.cache} ${step.setup} warm-up ${step.index + 1}`;
    case 'choose-driver':
      return `${step.workload} ${step.cache} choose the driver from the warm-up (native when within 2× of the floor)`;
    case 'remount':
      return `${step.workload} ${step.cache} remount every setup (round ${step.round + 1})`;
    case 'repetition':
      return `${step.workload} ${step.cache} ${step.setup} ${step.traced ? 'traced' : `repetition ${step.index + 1}`}${step.dropCaches ? ' after drop_caches' : ''}`;
    case 'complete':
      return `${step.workload} ${step.cache} complete: ${step.setups.join(', ')}`;
  }
}
