import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DatasetSource, datasetRecord, prepareDataset } from '../datasets/dataset.js';
import type { ImageOptions } from '../datasets/image.js';
import type { TransportOptions } from '../fuse/transport.js';
import { errorMessage, FatalError } from '../lib/errors.js';
import { SeededRandom } from '../lib/random.js';
import type { CacheState, Measurement, Repetition, ResultFile, SetupRecord } from '../results/schema.js';
import { RESULT_SCHEMA_VERSION } from '../results/schema.js';
import { writeResultFile } from '../results/store.js';
import { type CleanupStack, cleanLeftovers, createRun } from '../runners/cleanup.js';
import { dropKernelCaches } from '../runners/kernel-caches.js';
import { findSetup, floorDefinition } from '../runners/registry.js';
import type { MountedSetup, Setup, SetupContext } from '../runners/setup.js';
import { findWorkload, type Workload, type WorkloadPlan } from '../workloads/catalog.js';
import { encodeOps } from '../workloads/ops.js';
import { captureEnvironment } from './environment.js';
import type { OpsDriver } from './measure/clients.js';
import { type RepetitionWork, runRepetition } from './measure/repetition.js';
import { FuseTracer } from './measure/tracefs.js';
import type { Progress } from './progress.js';
import { measurementWarnings, summarize } from './summarize.js';

/**
 * The run loop: dataset → setups (all mounted at once) → for each workload and cache state,
 * repetitions in a freshly shuffled setup order each round (so drift in the machine spreads over
 * all setups instead of biasing one), then one traced repetition per FUSE setup → result file,
 * rewritten atomically after every measurement so an interrupted run keeps what finished.
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
  driver: OpsDriver;
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
}

interface ActiveSetup {
  setup: Setup;
  mounted: MountedSetup;
}

/**
 * Remounts every setup at once. All of them settle before a failure is thrown, so the cleanup
 * that follows never races a mount still in progress.
 */
async function remountAll(active: ActiveSetup[]): Promise<void> {
  const outcomes = await Promise.allSettled(
    active.map(async (entry) => {
      entry.mounted = await entry.setup.remount();
    }),
  );
  const failure = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failure) throw failure.reason;
}

/** Writes a workload's op streams once; every setup and repetition runs these same files. */
function prepareWork(
  plan: WorkloadPlan,
  workload: Workload,
  requested: OpsDriver,
  dir: string,
): { work: RepetitionWork; driver: string } {
  mkdirSync(dir, { recursive: true });
  if (plan.driver === 'shell') {
    let listFile: string | null = null;
    if (plan.list) {
      listFile = join(dir, 'list.txt');
      writeFileSync(listFile, plan.list.map((path) => `${path}\n`).join(''));
    }
    return {
      work: { driver: 'shell', command: plan.command, listFile, opCount: plan.opCount },
      driver: 'shell',
    };
  }
  if (plan.driver === 'fio') return { work: { driver: 'fio', job: plan.job }, driver: 'fio' };
  const driver: OpsDriver = plan.needsNative ? 'native' : requested;
  const opsFiles = plan.streams.map((stream, index) => {
    const file = join(dir, `${workload.name}-${index}.ops`);
    writeFileSync(file, encodeOps(stream));
    return file;
  });
  return {
    work: { driver, opsFiles, kinds: plan.streams.map((stream) => stream.map((op) => op.kind)) },
    driver,
  };
}

export async function runBenchmark(
  options: RunOptions,
  progress: Progress,
  signal: AbortSignal,
): Promise<ResultFile> {
  const stale = await cleanLeftovers();
  if (stale.undone.length > 0) progress.note(`cleaned up after a killed run: ${stale.undone.join('; ')}`);

  const workloads = options.workloads.map((name) => {
    const workload = findWorkload(name);
    if (!workload) throw new FatalError(`unknown workload '${name}'`);
    return workload;
  });
  const environment = await captureEnvironment();
  progress.note(
    `preparing dataset ${options.dataset.kind === 'profile' ? `${options.dataset.profile} (seed ${options.dataset.seed})` : options.dataset.path}`,
  );
  const dataset = await prepareDataset(options.dataset, options.image, options.cacheDir);
  if (signal.aborted) throw new FatalError('interrupted before any setup was mounted');

  const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
  const { runDir, stack } = createRun(runId);
  const result: ResultFile = {
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
  };
  const save = () => writeResultFile(options.output, result);
  save();

  const context: SetupContext = {
    dataset,
    runDir,
    cleanup: stack,
    fuse: options.fuse,
    fuseTransport: options.fuseTransport,
    loopDirectIo: options.loopDirectIo,
    daemonCpus: options.daemonCpus,
  };
  try {
    const active = await mountSetups(options.setups, options.setupsNamed, context, result, progress, signal);
    save();
    if (active.length === 0) throw new FatalError('no setup could be mounted');
    const tracer = options.trace ? openTracer(stack, result, progress) : null;

    const floor = options.floor ? await mountFloor(context, result, progress) : null;
    const random = new SeededRandom(`${options.seed}:order`);
    const plans = workloads.map((workload) => ({
      workload,
      plan: workload.plan(dataset.manifest, options.seed),
    }));
    const measurementsPerRound = active.length + (floor ? 1 : 0);
    const total =
      plans.length * options.cacheStates.length * (options.repetitions + 1) * measurementsPerRound;
    let done = 0;

    for (const { workload, plan } of plans) {
      const { work, driver } = prepareWork(
        plan,
        workload,
        options.driver,
        join(runDir, 'work', workload.name),
      );
      const repeat = async (target: ActiveSetup, index: number, traced: boolean) => {
        if (signal.aborted) throw new FatalError('interrupted');
        return runRepetition({
          target: target.mounted,
          work,
          index,
          workDir: join(runDir, 'work', workload.name),
          clientCpus: options.clientCpus,
          signal,
          tracer: traced ? tracer : null,
        });
      };

      if (floor) {
        const repetitions: Repetition[] = [];
        for (let index = 0; index < options.warmup + options.repetitions; index++) {
          progress.step({
            done: done,
            total,
            setup: 'floor',
            workload: workload.name,
            cache: 'warm',
            repetition: `${index + 1}`,
          });
          const { repetition } = await repeat(floor, index - options.warmup, false);
          if (index >= options.warmup) repetitions.push(repetition);
        }
        done += options.repetitions + 1;
        const base = {
          setup: 'floor',
          workload: workload.name,
          family: workload.family,
          params: workload.params,
          cache: 'warm' as const,
          driver,
          repetitions,
          summary: summarize(workload.metric, repetitions),
        };
        result.floor.push({ ...base, warnings: measurementWarnings(base, undefined, 0) });
        save();
      }

      for (const cache of options.cacheStates) {
        const repetitions = new Map<string, Repetition[]>(active.map((entry) => [entry.setup.name, []]));
        // Cold: each round starts with every setup remounted (all at once: nothing is measured
        // then), and every kernel cache is dropped right before each setup's repetition, so no
        // cache holds what an earlier repetition or another setup read.
        const remountAllIfCold = async () => {
          if (cache === 'cold') await remountAll(active);
        };
        const dropCachesIfCold = async () => {
          if (cache === 'cold') await dropKernelCaches();
        };
        if (cache === 'warm') {
          for (const entry of active) {
            for (let index = 0; index < options.warmup; index++) {
              progress.step({
                done,
                total,
                setup: entry.setup.name,
                workload: workload.name,
                cache,
                repetition: `warmup ${index + 1}`,
              });
              await repeat(entry, index, false);
            }
          }
        }
        for (let index = 0; index < options.repetitions; index++) {
          await remountAllIfCold();
          for (const entry of random.shuffled(active)) {
            progress.step({
              done,
              total,
              setup: entry.setup.name,
              workload: workload.name,
              cache,
              repetition: `${index + 1}/${options.repetitions}`,
            });
            await dropCachesIfCold();
            repetitions.get(entry.setup.name)!.push((await repeat(entry, index, false)).repetition);
            done++;
          }
        }
        const overruns = new Map<string, number>();
        if (tracer) await remountAllIfCold();
        for (const entry of active) {
          if (tracer && entry.mounted.daemonPids.length > 0) {
            progress.step({
              done,
              total,
              setup: entry.setup.name,
              workload: workload.name,
              cache,
              repetition: 'traced',
            });
            await dropCachesIfCold();
            const outcome = await repeat(entry, options.repetitions, true);
            repetitions.get(entry.setup.name)!.push(outcome.repetition);
            overruns.set(entry.setup.name, outcome.traceOverruns);
          }
          done++;
        }
        const floorMeasurement = result.floor.find((measurement) => measurement.workload === workload.name);
        for (const entry of active) {
          const reps = repetitions.get(entry.setup.name)!;
          const base = {
            setup: entry.setup.name,
            workload: workload.name,
            family: workload.family,
            params: workload.params,
            cache,
            driver,
            repetitions: reps,
            summary: summarize(workload.metric, reps),
          };
          const measurement: Measurement = {
            ...base,
            warnings: measurementWarnings(base, floorMeasurement, overruns.get(entry.setup.name) ?? 0),
          };
          result.measurements.push(measurement);
        }
        save();
        progress.note(
          `${workload.name} ${cache}: ${active.map((entry) => entry.setup.name).join(', ')} done`,
        );
      }
    }
    result.status = 'complete';
  } catch (error) {
    result.status = signal.aborted ? 'interrupted' : 'failed';
    result.warnings.push(`run ${result.status}: ${errorMessage(error)}`);
    throw error;
  } finally {
    progress.end();
    const failures = await stack.unwind();
    for (const failure of failures) result.warnings.push(`cleanup: ${failure}`);
    result.finishedAt = new Date().toISOString();
    save();
  }
  return result;
}

async function mountSetups(
  names: string[],
  named: boolean,
  context: SetupContext,
  result: ResultFile,
  progress: Progress,
  signal: AbortSignal,
): Promise<ActiveSetup[]> {
  const active: ActiveSetup[] = [];
  for (const name of names) {
    if (signal.aborted) throw new FatalError('interrupted');
    const definition = findSetup(name);
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
      active.push({ setup, mounted });
    } catch (error) {
      if (named) throw new FatalError(`setup ${name} failed to mount: ${errorMessage(error)}`);
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
      name: 'floor',
      kind: 'floor',
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
