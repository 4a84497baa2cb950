import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../datasets/manifest.js';
import { errorMessage } from '../lib/errors.js';
import type { Repetition } from '../results/schema.js';
import { dropKernelCaches } from '../runners/kernel-caches.js';
import type { MountedSetup, Setup } from '../runners/setup.js';
import { plannedOpCount, type Workload, type WorkloadPlan } from '../workloads/catalog.js';
import { encodeOps } from '../workloads/ops.js';
import { filesRead, verificationSample, verifyFiles } from '../workloads/verify.js';
import { chooseDriver, type DriverChoice } from './driver-choice.js';
import { type ClientProcesses, NATIVE_DRIVER, type OpsDriver } from './measure/client-processes.js';
import { type RepetitionWork, runRepetition } from './measure/repetition.js';
import type { FuseTracer } from './measure/tracefs.js';
import type { PhaseClock } from './phase-clock.js';
import type { PlanStep } from './plan.js';
import type { CellWorkload } from './result-builder.js';

/**
 * The executor: carries out one step of the plan (bench/plan.ts) against the mounted setups and
 * says what came of it. It decides no order and keeps no results: the run loop does both.
 */

export interface ActiveSetup {
  setup: Setup;
  mounted: MountedSetup;
}

/** A workload ready to run: its op streams written once, so every setup runs the same files. */
export interface PreparedWorkload {
  cell: CellWorkload;
  work: RepetitionWork;
  workDir: string;
  /** Files whose data it reads: what read verification samples from. */
  reads: string[];
}

export interface ExecutionContext {
  setups: ReadonlyMap<string, ActiveSetup>;
  workloads: ReadonlyMap<string, PreparedWorkload>;
  manifest: Manifest;
  seed: number;
  tracer: FuseTracer | null;
  /** The run's op-stream clients (Node clients serve one repetition after another). */
  clients: ClientProcesses;
  clientCpus: string | null;
  signal: AbortSignal;
  /** Last warm-up time per operation, by workload then setup: what a driver choice reads. */
  warmupNsPerOp: Map<string, Map<string, number>>;
  /** Drivers chosen for cells ("workload cache"), overriding the workload's own. */
  chosenDrivers: Map<string, OpsDriver>;
  /** Counts drop_caches and verification time apart from the repetition's own. */
  clock?: PhaseClock;
}

export const cellKey = (workload: string, cache: string) => `${workload} ${cache}`;

export type StepOutcome =
  | { kind: 'done' }
  | { kind: 'measured'; repetition: Repetition; traceOverruns: number }
  | { kind: 'driver-chosen'; choice: DriverChoice }
  /** A remount that left some setups unmounted: their cells cannot go on. */
  | { kind: 'remount-failed'; failures: Array<{ setup: string; reason: string }> };

/** Writes a workload's op streams (or list file) into `dir`. */
export function prepareWorkload(
  workload: Workload,
  plan: WorkloadPlan,
  requested: OpsDriver,
  dir: string,
): PreparedWorkload {
  mkdirSync(dir, { recursive: true });
  const prepared = (work: RepetitionWork, driver: string): PreparedWorkload => ({
    cell: { workload, driver, plannedOps: plannedOpCount(plan) },
    work,
    workDir: dir,
    reads: filesRead(plan),
  });
  if (plan.driver === 'shell') {
    let listFile: string | null = null;
    if (plan.list) {
      listFile = join(dir, 'list.txt');
      writeFileSync(listFile, plan.list.map((path) => `${path}\n`).join(''));
    }
    return prepared({ driver: 'shell', command: plan.command, listFile, opCount: plan.opCount }, 'shell');
  }
  if (plan.driver === 'fio') return prepared({ driver: 'fio', job: plan.job, readers: plan.readers }, 'fio');
  const driver: OpsDriver = plan.needsNative ? 'native' : requested;
  const opsFiles = plan.streams.map((stream, index) => {
    const file = join(dir, `${workload.name}-${index}.ops`);
    writeFileSync(file, encodeOps(stream));
    return file;
  });
  return prepared(
    { driver, opsFiles, kinds: plan.streams.map((stream) => stream.map((op) => op.kind)) },
    driver,
  );
}

const timed = <T>(context: ExecutionContext, phase: string, work: () => Promise<T>): Promise<T> =>
  context.clock ? context.clock.time(phase, work) : work();

function lookup<T>(map: ReadonlyMap<string, T>, name: string, what: string): T {
  const found = map.get(name);
  if (found === undefined) throw new Error(`the plan names ${what} '${name}' that is not prepared`);
  return found;
}

export async function executeStep(step: PlanStep, context: ExecutionContext): Promise<StepOutcome> {
  switch (step.kind) {
    case 'complete':
      // Building the cell's measurements is the result builder's business: nothing runs.
      return { kind: 'done' };
    case 'choose-driver': {
      const floor = [...context.setups.values()].find((active) => active.setup.kind === 'floor');
      const choice = chooseDriver(
        context.warmupNsPerOp.get(step.workload) ?? new Map(),
        floor?.setup.name ?? '',
        existsSync(NATIVE_DRIVER),
      );
      context.chosenDrivers.set(cellKey(step.workload, step.cache), choice.driver);
      return { kind: 'driver-chosen', choice };
    }
    case 'remount': {
      const measured = [...context.setups].filter(([, active]) => active.setup.kind !== 'floor');
      // All at once, and all settle before anything else happens: no mount is left in progress.
      const outcomes = await Promise.allSettled(
        measured.map(async ([, active]) => {
          active.mounted = await active.setup.remount();
        }),
      );
      const failures = outcomes.flatMap((outcome, index) =>
        outcome.status === 'rejected'
          ? [{ setup: measured[index]![0], reason: errorMessage(outcome.reason) }]
          : [],
      );
      return failures.length > 0 ? { kind: 'remount-failed', failures } : { kind: 'done' };
    }
    case 'warmup':
    case 'repetition': {
      const active = lookup(context.setups, step.setup, 'setup');
      const prepared = lookup(context.workloads, step.workload, 'workload');
      const traced = step.kind === 'repetition' && step.traced;
      if (step.kind === 'repetition' && step.dropCaches)
        await timed(context, 'drop_caches', dropKernelCaches);
      const chosen = context.chosenDrivers.get(cellKey(step.workload, step.cache));
      const work =
        chosen && prepared.work.driver !== 'shell' && prepared.work.driver !== 'fio'
          ? { ...prepared.work, driver: chosen }
          : prepared.work;
      const { repetition, traceOverruns } = await runRepetition({
        target: active.mounted,
        work,
        index: step.index,
        workDir: prepared.workDir,
        clients: context.clients,
        clientCpus: context.clientCpus,
        signal: context.signal,
        tracer: traced ? context.tracer : null,
      });
      if (step.kind === 'warmup') {
        const perWorkload = context.warmupNsPerOp.get(step.workload) ?? new Map<string, number>();
        perWorkload.set(step.setup, repetition.wallNs / Math.max(1, repetition.opCount));
        context.warmupNsPerOp.set(step.workload, perWorkload);
        return { kind: 'done' };
      }
      if (prepared.reads.length > 0) {
        // Outside the timed section; the same sample for every setup in a round.
        const sample = verificationSample(
          prepared.reads,
          context.manifest,
          `${context.seed}:${step.workload}:${step.index}`,
        );
        repetition.verified = await timed(context, 'verification', async () =>
          verifyFiles(active.mounted.mountpoint, sample),
        );
      }
      return { kind: 'measured', repetition, traceOverruns };
    }
  }
}
