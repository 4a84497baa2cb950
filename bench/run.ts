import { join } from 'node:path';
import { type DatasetSource, datasetRecord, describeSource, prepareDataset } from '../datasets/dataset.js';
import type { ImageOptions } from '../datasets/image.js';
import type { Manifest } from '../datasets/manifest.js';
import type { TransportOptions } from '../fuse/transport.js';
import { errorMessage, FatalError } from '../lib/errors.js';
import { parseReadersCellName } from '../results/cell-name.js';
import {
  type CacheState,
  type JobOrigin,
  RESULT_SCHEMA_VERSION,
  type ResultFile,
  type RunRequest,
  runRequestSchema,
  type SetupRecord,
} from '../results/schema.js';
import { type CleanupStack, cleanLeftovers, createRun } from '../runners/cleanup.js';
import type { ExternalSetupSpec } from '../runners/external-setups.js';
import { findRunSetup, floorDefinition } from '../runners/registry.js';
import type { SetupContext } from '../runners/setup.js';
import { findWorkload, type Workload, type WorkloadPlan } from '../workloads/catalog.js';
import { captureEnvironment, fuseInitFacts } from './environment.js';
import {
  type ActiveSetup,
  type ExecutionContext,
  executeStep,
  prepareWorkload,
  type StepOutcome,
} from './execute.js';
import { ClientProcesses, type OpsDriver } from './measure/client-processes.js';
import { FuseTracer } from './measure/tracefs.js';
import { PhaseClock } from './phase-clock.js';
import { type PlanStep, planRun } from './plan.js';
import type { Progress } from './progress.js';
import { ResultBuilder } from './result-builder.js';
import { BUSY_CPU_STALL } from './summarize.js';

/**
 * A run: dataset → setups (all mounted at once) → the plan (bench/plan.ts: shuffled rounds,
 * warm-ups, cold remounts, traced repetitions, the floor among the setups) carried out step by
 * step by the executor (bench/execute.ts) → the result builder, which saves the result file after
 * every completed measurement so an interrupted run keeps what finished.
 */

export interface RunOptions {
  profile: string;
  setups: string[];
  /** The setups were named (--setups): one that cannot run fails the run instead of being skipped. */
  setupsNamed: boolean;
  workloads: string[];
  cacheStates: CacheState[];
  repetitions: number;
  warmup: number;
  seed: number;
  /** auto: node, and native for warm metadata cells near the floor (bench/driver-choice.ts). */
  driver: OpsDriver | 'auto';
  trace: boolean;
  floor: boolean;
  dataset: DatasetSource;
  image: ImageOptions;
  fuse: TransportOptions;
  fuseTransport: string;
  loopDirectIo: boolean;
  clientCpus: string | null;
  daemonCpus: string | null;
  output: string;
  cacheDir: string;
  /** FUSE daemons declared in a job file, measured like the built-in peers (runners/external-setups.ts). */
  externalSetups?: ExternalSetupSpec[];
  /** The job file and sweep point this run comes from. */
  job?: JobOrigin;
  /** A rerun: the dataset must hash to what the original run measured, or nothing runs. */
  expectedContentHash?: string;
}

/** The steps that run a client (warm-ups and repetitions): what progress counts. */
const runsClient = (step: PlanStep) => step.kind === 'warmup' || step.kind === 'repetition';

export async function runBenchmark(
  options: RunOptions,
  progress: Progress,
  signal: AbortSignal,
): Promise<ResultFile> {
  const clock = new PhaseClock();
  const stale = await clock.time('leftover cleanup', cleanLeftovers);
  if (stale.undone.length > 0) progress.note(`cleaned up after a killed run: ${stale.undone.join('; ')}`);

  const workloads = options.workloads.map((name) => {
    const workload = findWorkload(name);
    if (!workload) throw new FatalError(`unknown workload '${name}'`);
    return workload;
  });
  const environment = await clock.time('environment and calibration', captureEnvironment);
  if (signal.aborted) throw new FatalError('interrupted before any setup was mounted');
  progress.note(`preparing dataset ${describeSource(options.dataset)}`);
  const dataset = await clock.time('dataset and image', () =>
    prepareDataset(options.dataset, options.image, options.cacheDir),
  );
  if (
    options.expectedContentHash !== undefined &&
    dataset.manifest.contentHash !== options.expectedContentHash
  )
    throw new FatalError(
      `dataset ${dataset.name} now hashes to ${dataset.manifest.contentHash.slice(0, 16)}, the result measured ${options.expectedContentHash.slice(0, 16)}: not the same data, not rerun`,
    );
  if (signal.aborted) throw new FatalError('interrupted before any setup was mounted');

  const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
  const { runDir, stack } = createRun(runId);
  const builder = new ResultBuilder(
    {
      schema: 'fusebench-result',
      schemaVersion: RESULT_SCHEMA_VERSION,
      runId,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      status: 'running',
      environment,
      config: {
        profile: options.profile,
        setups: options.setups,
        workloads: options.workloads,
        cacheStates: options.cacheStates,
        repetitions: options.repetitions,
        warmupRepetitions: options.warmup,
        seed: options.seed,
        driver: options.driver,
        fuse: { transport: options.fuseTransport, ...options.fuse },
        image: {
          compression: options.image.compression,
          chunkSize: options.image.chunkSize,
          pclusterSize: options.image.pclusterSize,
          extraArgs: options.image.extraArgs.join(' '),
        },
        pinning: { client: options.clientCpus, daemon: options.daemonCpus },
      },
      dataset: datasetRecord(dataset),
      setups: [],
      floor: [],
      measurements: [],
      warnings: [],
      request: runRequestOf(options),
      ...(options.job ? { job: options.job } : {}),
    },
    options.output,
    options.fuse.kernelCache && !options.fuse.directIo,
  );
  const { result } = builder;
  const start = environment.loadAtStart;
  if ((start.cpuSomeAvg10 ?? 0) > BUSY_CPU_STALL * 100 || start.load1 > environment.cpus)
    result.warnings.push(
      `busy machine: at the start, load ${start.load1} on ${environment.cpus} CPUs, tasks waiting for a CPU ${start.cpuSomeAvg10 ?? '?'}% of the last 10 s`,
    );
  builder.save();
  // Undone last but one: a run that ends normally has its final status by then; a killed one is marked.
  stack.push({ kind: 'result-file', path: options.output });

  const context: SetupContext = {
    dataset,
    runDir,
    cleanup: stack,
    fuse: options.fuse,
    fuseTransport: options.fuseTransport,
    loopDirectIo: options.loopDirectIo,
    daemonCpus: options.daemonCpus,
  };
  // Closed before the mounts are undone; a client between jobs holds nothing in a mount point.
  const clients = new ClientProcesses(options.clientCpus, signal);
  try {
    const active = await clock.time('mounts', () =>
      mountSetups(
        options.setups,
        options.setupsNamed,
        options.externalSetups ?? [],
        context,
        result,
        progress,
        signal,
      ),
    );
    Object.assign(result.environment.facts, fuseInitFacts(result.setups));
    for (const record of result.setups)
      if (record.kind === 'fuse' && record.status === 'ok' && record.facts.initFlags === undefined)
        result.warnings.push(
          `FUSE INIT not reported: ${record.name}'s transport (${record.facts.transport ?? 'unknown'}) does not say which INIT flags, max_pages and max_readahead were negotiated`,
        );
    builder.save();
    if (active.size === 0) throw new FatalError('no setup could be mounted');
    // A setup that failed to mount is a failed cell everywhere, not a silent gap; a default setup
    // skipped because its program is not installed was never asked for by name.
    const unmounted = result.setups.filter((record) => record.status === 'failed');
    for (const record of unmounted)
      for (const workload of workloads)
        for (const cache of options.cacheStates)
          builder.fail(
            workload.name,
            cache,
            record.name,
            `${record.status}: ${record.note ?? 'no reason given'}`,
          );
    const tracer = options.trace ? openTracer(stack, result, progress) : null;
    if (options.floor) {
      const floor = await clock.time('mounts', () => mountFloor(context, result, progress));
      if (floor) active.set(floor.setup.name, floor);
    }
    const prepared = clock.timeSync(
      'op streams',
      () =>
        new Map(
          workloads.map((workload) => [
            workload.name,
            prepareWorkload(
              workload,
              planOf(workload, dataset.manifest, options.seed),
              options.driver === 'auto' ? 'node' : options.driver,
              join(runDir, 'work', workload.name),
            ),
          ]),
        ),
    );
    const steps = planRun({
      setups: [...active.values()].map((entry) => ({ name: entry.setup.name, kind: entry.setup.kind })),
      workloads: options.workloads,
      cacheStates: options.cacheStates,
      repetitions: options.repetitions,
      warmup: options.warmup,
      seed: options.seed,
      trace: tracer !== null,
      driverChoice: options.driver === 'auto' ? autoDriverWorkloads(workloads) : [],
    });
    const execution: ExecutionContext = {
      setups: active,
      workloads: prepared,
      manifest: dataset.manifest,
      seed: options.seed,
      tracer,
      clients,
      clientCpus: options.clientCpus,
      signal,
      warmupNsPerOp: new Map(),
      chosenDrivers: new Map(),
      clock,
    };
    const total = steps.filter(runsClient).length;
    let done = 0;
    const unmountedNames = unmounted.map((record) => record.name);
    for (const step of steps) {
      if (signal.aborted) break;
      if (runsClient(step)) progress.step({ done: done++, total, ...stepLabel(step) });
      await clock.time(stepPhase(step), () => runStep(step, execution, builder, progress, unmountedNames));
    }
    const unsound = [...result.floor, ...result.measurements].filter(
      (measurement) => measurement.status !== 'ok',
    );
    result.status = signal.aborted ? 'interrupted' : unsound.length > 0 ? 'failed' : 'complete';
  } catch (error) {
    result.status = signal.aborted ? 'interrupted' : 'failed';
    // An interrupt also kills the clients (same process group): their exit is not the reason.
    result.warnings.push(
      signal.aborted ? 'run interrupted by a signal' : `run failed: ${errorMessage(error)}`,
    );
    throw error;
  } finally {
    progress.end();
    builder.save();
    await clients.close();
    const failures = await clock.time('unmount and cleanup', () => stack.unwind());
    for (const failure of failures) result.warnings.push(`cleanup: ${failure}`);
    result.finishedAt = new Date().toISOString();
    builder.save();
    progress.note(clock.describe());
  }
  return result;
}

/** A workload's plan; one that cannot be made for this dataset (too little work for its readers) stops the run before anything is measured. */
export function planOf(workload: Workload, manifest: Manifest, seed: number): WorkloadPlan {
  try {
    return workload.plan(manifest, seed);
  } catch (error) {
    throw new FatalError(`workload ${workload.name}: ${errorMessage(error)}`);
  }
}

/** The options that decide what is measured, as the result keeps them for --rerun. */
function runRequestOf(options: RunOptions): RunRequest {
  const { output: _output, cacheDir: _cacheDir, job: _job, expectedContentHash: _hash, ...request } = options;
  return runRequestSchema.parse(request);
}

/** Workloads whose warm cells may switch to the native driver: metadata op streams Node can replay. */
export function autoDriverWorkloads(workloads: readonly Workload[]): string[] {
  // A workload measured at several reader counts keeps one driver, so its scaling curve compares like with like.
  const base = (workload: Workload) => parseReadersCellName(workload.name).workload;
  const counts = new Map<string, number>();
  for (const workload of workloads) counts.set(base(workload), (counts.get(base(workload)) ?? 0) + 1);
  return workloads
    .filter((workload) => workload.category === 'metadata' && counts.get(base(workload)) === 1)
    .map((workload) => workload.name);
}

/** The phase a step's time counts to; a repetition's drop_caches and verification count apart. */
function stepPhase(step: PlanStep): string {
  switch (step.kind) {
    case 'warmup':
      return 'warm-ups';
    case 'repetition':
      return step.traced ? 'traced repetitions' : `${step.cache} repetitions`;
    case 'remount':
      return 'cold remounts';
    case 'choose-driver':
      return 'driver choice';
    case 'complete':
      return 'cell statistics and saves';
  }
}

function stepLabel(step: PlanStep): { setup: string; workload: string; cache: string; repetition: string } {
  if (step.kind !== 'warmup' && step.kind !== 'repetition')
    return { setup: '', workload: step.workload, cache: step.cache, repetition: '' };
  return {
    setup: step.setup,
    workload: step.workload,
    cache: step.cache,
    repetition:
      step.kind === 'warmup' ? `warm-up ${step.index + 1}` : step.traced ? 'traced' : `${step.index + 1}`,
  };
}

/**
 * Carries out one step and files what came of it. A failure of one setup's repetition fails that
 * cell only (recorded with the reason; its further steps are skipped); the run goes on.
 */
async function runStep(
  step: PlanStep,
  execution: ExecutionContext,
  builder: ResultBuilder,
  progress: Progress,
  unmounted: readonly string[],
): Promise<void> {
  if (
    (step.kind === 'warmup' || step.kind === 'repetition') &&
    builder.hasFailed(step.workload, step.cache, step.setup)
  )
    return;
  if (step.kind === 'complete') {
    const prepared = execution.workloads.get(step.workload)!;
    const isFloor = step.setups.every((name) => execution.setups.get(name)?.setup.kind === 'floor');
    const measurements = builder.complete(
      prepared.cell,
      step.cache,
      isFloor ? step.setups : [...step.setups, ...unmounted],
      isFloor ? 'floor' : 'measurements',
    );
    for (const measurement of measurements)
      if (measurement.status === 'invalid')
        progress.note(
          `INVALID: ${measurement.setup} returned wrong data in ${measurement.workload} ${measurement.cache}: ${measurement.reason}`,
        );
    if (!isFloor) progress.note(`${step.workload} ${step.cache}: ${step.setups.join(', ')} done`);
    return;
  }
  let outcome: StepOutcome;
  try {
    outcome = await executeStep(step, execution);
  } catch (error) {
    if (execution.signal.aborted || (step.kind !== 'warmup' && step.kind !== 'repetition')) throw error;
    const reason = `${step.kind === 'warmup' ? 'warm-up' : `repetition ${step.index + 1}`} failed: ${errorMessage(error)}`;
    builder.fail(step.workload, step.cache, step.setup, reason);
    progress.note(`${step.workload} ${step.cache} ${step.setup}: ${reason}`);
    return;
  }
  if (outcome.kind === 'measured' && step.kind === 'repetition')
    builder.addRepetition(step.workload, step.cache, step.setup, outcome.repetition, outcome.traceOverruns);
  if (outcome.kind === 'driver-chosen' && step.kind === 'choose-driver') {
    builder.chooseDriver(step.workload, step.cache, outcome.choice.driver, outcome.choice.reason);
    if (outcome.choice.driver === 'native')
      progress.note(`${step.workload} ${step.cache}: ${outcome.choice.reason}`);
  }
  if (outcome.kind === 'remount-failed')
    for (const failure of outcome.failures) {
      builder.fail(step.workload, step.cache, failure.setup, `remount failed: ${failure.reason}`);
      progress.note(`${step.workload} ${step.cache} ${failure.setup}: remount failed: ${failure.reason}`);
    }
}

async function mountSetups(
  names: string[],
  named: boolean,
  externals: readonly ExternalSetupSpec[],
  context: SetupContext,
  result: ResultFile,
  progress: Progress,
  signal: AbortSignal,
): Promise<Map<string, ActiveSetup>> {
  const active = new Map<string, ActiveSetup>();
  for (const name of names) {
    if (signal.aborted) throw new FatalError('interrupted');
    const definition = findRunSetup(name, externals);
    if (!definition) throw new FatalError(`unknown setup '${name}'`);
    const record: SetupRecord = {
      name,
      kind: definition.kind,
      description: definition.description,
      status: 'ok',
      note: null,
      facts: {},
    };
    result.setups.push(record);
    const reason = await definition.unavailable(context);
    if (reason && named) throw new FatalError(`setup ${name} cannot run here: ${reason}`);
    if (reason) {
      record.status = 'skipped';
      record.note = reason;
      progress.note(`skipping ${name}: ${reason}`);
      continue;
    }
    const setup = definition.create(context);
    try {
      const mounted = await setup.mount();
      record.facts = mounted.facts;
      active.set(name, { setup, mounted });
    } catch (error) {
      record.status = 'failed';
      record.note = errorMessage(error);
      progress.note(`setup ${name} failed: ${record.note}`);
    }
  }
  return active;
}

async function mountFloor(
  context: SetupContext,
  result: ResultFile,
  progress: Progress,
): Promise<ActiveSetup | null> {
  const setup = floorDefinition.create(context);
  try {
    const mounted = await setup.mount();
    result.setups.push({
      name: setup.name,
      kind: setup.kind,
      description: floorDefinition.description,
      status: 'ok',
      note: null,
      facts: mounted.facts,
    });
    return { setup, mounted };
  } catch (error) {
    result.warnings.push(`the floor could not be measured: ${errorMessage(error)}`);
    progress.note(`floor skipped: ${errorMessage(error)}`);
    return null;
  }
}

function openTracer(stack: CleanupStack, result: ResultFile, progress: Progress): FuseTracer | null {
  const tracer = FuseTracer.open(stack);
  if (typeof tracer === 'string') {
    result.warnings.push(`FUSE requests not traced: ${tracer}`);
    progress.note(`FUSE requests not traced: ${tracer}`);
    return null;
  }
  return tracer;
}
