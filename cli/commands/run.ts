import { type Stats, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { describeRunPlan } from '../../bench/dry-run.js';
import { findRunProfile, runProfiles } from '../../bench/profiles.js';
import { createProgress, type Progress } from '../../bench/progress.js';
import { type RunOptions, runBenchmark } from '../../bench/run.js';
import { defaultCacheDir } from '../../datasets/dataset.js';
import { DEBIAN_MINBASE } from '../../datasets/debian-rootfs.js';
import { profileNames } from '../../datasets/profiles.js';
import { userImage } from '../../datasets/user-image.js';
import { defaultTransportOptions, OptionLimits } from '../../fuse/transport.js';
import { transportNames } from '../../fuse/transports/index.js';
import { FatalError, UsageError } from '../../lib/errors.js';
import { acquireRunLock } from '../../lib/run-lock.js';
import { checkWritableFile } from '../../lib/safe-write.js';
import { type HandledSignal, signalExitStatus, takeSignals } from '../../lib/signals.js';
import { URING_SUFFIX } from '../../runners/peer-setups.js';
import { setupDefinitions, setupNames, withIoUringVariants } from '../../runners/registry.js';
import {
  findWorkload,
  workloadNameProblem,
  workloadNames,
  workloadsAtReaders,
} from '../../workloads/catalog.js';
import { MAX_READERS } from '../../workloads/readers.js';
import {
  parseCommandArgs,
  parseEitherFlag,
  parseIntegerFlag,
  parseListFlag,
  parseNumberFlag,
  parseSizeFlag,
} from '../args.js';
import type { Command } from '../command.js';
import { jobRuns, loadJob } from '../job-file.js';
import { requireRoot } from '../preconditions.js';
import { rerunOptions } from '../rerun.js';
import { printRunSummary } from '../run-summary.js';

const uringSetups = () => setupNames.filter((name) => name.endsWith(URING_SUFFIX)).join(', ');

const usage = `run [--profile quick|tiny|full] [options]

  Measures every selected setup with every selected workload, warm and cold, and writes one
  result file (JSON). With no options: the quick profile on the four core setups.

  what to run
    --job, -j FILE          a job file (YAML or JSON, schema jobs/job.schema.json): what to measure,
                            FUSE parameter lists swept (one run and result per point), external
                            FUSE daemons; beside it only --output, --cache-dir, --wait, --quiet,
                            --dry-run (any other flag is refused: the file says what is measured)
    --rerun RESULT.json     measure again what a result measured: same setups, options, seed (so
                            the same op streams) and dataset (refused if it now hashes differently)
    --profile NAME          ${runProfiles.map((profile) => profile.name).join('|')} (default quick)
    --setups, -s LIST       comma-separated setup names (fusebench run --list-setups)
                            (default: the profile's, marked by --list-setups for quick)
    --workloads, -w LIST    comma-separated workload names (fusebench run --list-workloads);
                            NAME@N runs NAME with N reader processes (e.g. parallel-read@4)
    --readers LIST          reader processes for every selected read and metadata workload, e.g.
                            1,2,4,8,16: one cell per N, the same operations split among them
                            (default: 1, or the profile's; summary.txt then has a scaling table)
    --cache LIST            warm,cold (default both)
    --repetitions, -r N     timed repetitions per setup × workload × cache state
    --warmup N              untimed warm repetitions before the timed ones
    --seed N                seed of the dataset and of every op stream (default 1)
    --driver auto|node|native  client driver for op streams (default auto: node, and native for
                            warm metadata cells whose warm-up came within 2× of the floor)
    --no-trace              do not trace FUSE requests (no extra traced repetition)
    --no-floor              do not measure the tmpfs floor
    --fuse-io-uring         add the io_uring variant of every selected setup that has one
                            (${uringSetups()}); turns on the fuse module's
                            enable_uring for the run and restores it afterwards
  dataset and image
    --dataset PROFILE       generated dataset: ${profileNames.join(', ')} (default: the run profile's);
                            or ${DEBIAN_MINBASE}: a real Debian root filesystem (debootstrap of this
                            machine's release from its apt mirror, built once into the cache: 1.5-5 min)
    --dataset-dir DIR       measure a copy-free view of DIR instead of a generated tree
    --image FILE            measure your own EROFS image as it is (the tree setups serve its
                            tree, extracted once with fsck.erofs --extract)
    --dataset-tar FILE      a container layer tar: image by mkfs.erofs --tar=f, tree by tar (owners
                            and xattrs kept), both cached by the tar's hash
    --compression ALG       mkfs.erofs -z argument, e.g. lz4, lz4hc,12 (default: uncompressed)
    --chunk-size SIZE       mkfs.erofs --chunksize
    --pcluster-size SIZE    mkfs.erofs -C
    --mkfs-arg ARG          further mkfs.erofs argument (repeatable)
    --cache-dir DIR         datasets and images (default ${defaultCacheDir})
  FUSE
    --transport NAME        ${transportNames().join(', ')} for fuse-erofs-ts and
                            fuse-passthrough-ts (default devfuse, our own /dev/fuse server)
    --entry-timeout S       (default ${defaultTransportOptions.entryTimeout})
    --attr-timeout S        (default ${defaultTransportOptions.attrTimeout})
    --negative-timeout S    seconds a missing name is remembered (default ${defaultTransportOptions.negativeTimeout})
    --no-kernel-cache       drop page cache on open (default: kernel_cache on)
    --auto-cache            keep page cache while mtime and size are unchanged
    --max-read BYTES        largest READ request
    --direct-io             bypass the page cache for file data
    --threads N             daemon threads (default ${defaultTransportOptions.threads})
    --clone-fd, --shared-fd with several threads, each reads its own clone of the /dev/fuse
                            descriptor, or all read one (default ${defaultTransportOptions.cloneFd ? 'clone' : 'shared'})
    --loop-direct-io        kernel EROFS through a loop device with direct I/O (default file-backed)
  machine
    --client-cpus LIST      pin clients with taskset -c LIST
    --daemon-cpus LIST      pin FUSE daemons with taskset -c LIST
  output
    --output, -o FILE       result file (default out/runs/DATE-HOST.json); with --job a directory
                            (default out/runs/DATE-HOST-JOBNAME/), one NAME-POINT.json per point
    --wait                  queue behind a run already holding this machine (default: refuse)
    --list-workloads        print the workloads and exit
    --list-setups           print every setup (kind, whether it is a default) and exit
    --quiet, -q             no progress and no summary: only the result file's path
    --dry-run, -n           print the plan (every step in order) and an estimated time, run nothing`;

/** Bounds that keep a mistyped number from starting a run that never ends. */
const MAX_REPETITIONS = 1000;
const MAX_WARMUP = 100;
const MAX_SEED = 2 ** 32 - 1;

const options = {
  job: { type: 'string', short: 'j' },
  rerun: { type: 'string' },
  profile: { type: 'string' },
  setups: { type: 'string', short: 's' },
  workloads: { type: 'string', short: 'w' },
  readers: { type: 'string' },
  cache: { type: 'string' },
  repetitions: { type: 'string', short: 'r' },
  warmup: { type: 'string' },
  seed: { type: 'string' },
  driver: { type: 'string' },
  'no-trace': { type: 'boolean' },
  'no-floor': { type: 'boolean' },
  'fuse-io-uring': { type: 'boolean' },
  dataset: { type: 'string' },
  'dataset-dir': { type: 'string' },
  image: { type: 'string' },
  'dataset-tar': { type: 'string' },
  compression: { type: 'string' },
  'chunk-size': { type: 'string' },
  'pcluster-size': { type: 'string' },
  'mkfs-arg': { type: 'string', multiple: true },
  'cache-dir': { type: 'string' },
  transport: { type: 'string' },
  'entry-timeout': { type: 'string' },
  'attr-timeout': { type: 'string' },
  'negative-timeout': { type: 'string' },
  'no-kernel-cache': { type: 'boolean' },
  'auto-cache': { type: 'boolean' },
  'max-read': { type: 'string' },
  'direct-io': { type: 'boolean' },
  threads: { type: 'string' },
  'clone-fd': { type: 'boolean' },
  'shared-fd': { type: 'boolean' },
  'loop-direct-io': { type: 'boolean' },
  'client-cpus': { type: 'string' },
  'daemon-cpus': { type: 'string' },
  output: { type: 'string', short: 'o' },
  'list-workloads': { type: 'boolean' },
  'list-setups': { type: 'boolean' },
  wait: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  'dry-run': { type: 'boolean', short: 'n' },
  help: { type: 'boolean', short: 'h' },
} as const;

function cpuList(what: string, value: string | undefined): string | null {
  if (value === undefined) return null;
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(value))
    throw new UsageError(`${what}: expected a CPU list like 0 or 0-1 or 0,2, got '${value}'`);
  return value;
}

function oneOf<T extends string>(
  what: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T))
    throw new UsageError(`${what}: unknown '${value}' (known: ${allowed.join(', ')})`);
  return value as T;
}

/** --setups (or the default ones), and with --fuse-io-uring the io_uring variant after each that has one. */
function selectedSetups(
  list: string | undefined,
  ioUring: boolean,
  profileSetups: readonly string[],
): string[] {
  const setups = parseListFlag('--setups', list, setupNames, [...profileSetups]);
  const selected = withIoUringVariants(setups, ioUring);
  if (ioUring && !selected.some((name) => name.endsWith(URING_SUFFIX)))
    throw new UsageError(
      `--fuse-io-uring: none of the selected setups has an io_uring variant (${uringSetups()})`,
    );
  return selected;
}

/** --readers: distinct reader counts, in the order given. */
function readersList(value: string): number[] {
  const counts = value.split(',').map((item) => parseIntegerFlag('--readers', item.trim(), 1, MAX_READERS));
  if (new Set(counts).size !== counts.length)
    throw new UsageError(`--readers: a count given twice in '${value}'`);
  return counts;
}

/** --workloads (or the profile's), each NAME@N checked, and with --readers one cell per count. */
function selectedWorkloads(
  list: string | undefined,
  readers: string | undefined,
  fallback: readonly string[],
): string[] {
  const names =
    list === undefined
      ? [...fallback]
      : list
          .split(',')
          .map((item) => item.trim())
          .filter((item) => item !== '');
  if (names.length === 0) throw new UsageError('--workloads: empty list');
  for (const name of names) {
    const problem = workloadNameProblem(name);
    if (problem)
      throw new UsageError(
        `--workloads: ${problem}${problem.startsWith('unknown') ? ` (known: ${workloadNames.join(', ')})` : ''}`,
      );
  }
  if (readers === undefined) return names.map((name) => findWorkload(name)!.name);
  if (!names.some((name) => findWorkload(name)!.takesReaders))
    throw new UsageError(`--readers: none of the selected workloads takes readers (${names.join(', ')})`);
  return workloadsAtReaders(names, readersList(readers));
}

/** The run's flags as parsed: also what a job file point is turned into (cli/job-file.ts). */
export type RunFlagValues = ReturnType<typeof parseRunFlags>;

function parseRunFlags(argv: string[]) {
  return parseCommandArgs('run', argv, options, {
    min: 0,
    max: 0,
    usage: 'run [options] (fusebench run --help)',
  }).values;
}

/** What a `fusebench run` invocation asks for: one run, or one per point of a job's sweep. */
export interface RunRequestFromArgs {
  runs: RunOptions[];
  wait: boolean;
  quiet: boolean;
  dryRun: boolean;
}

/** Flags that say where results go and how to run, not what is measured: the only ones beside --job or --rerun. */
const OPERATIONAL_FLAGS = new Set(['job', 'rerun', 'output', 'cache-dir', 'wait', 'quiet', 'dry-run']);

export function parseRunRequest(argv: string[]): RunRequestFromArgs | 'help' | 'list' | 'list-setups' {
  const values = parseRunFlags(argv);
  if (values.help) return 'help';
  if (values['list-workloads']) return 'list';
  if (values['list-setups']) return 'list-setups';
  const flags = {
    wait: values.wait ?? false,
    quiet: values.quiet ?? false,
    dryRun: values['dry-run'] ?? false,
  };
  const from = values.job !== undefined ? '--job' : values.rerun !== undefined ? '--rerun' : null;
  if (from === null) return { runs: [runOptionsFromFlags(values)], ...flags };
  if (values.job !== undefined && values.rerun !== undefined)
    throw new UsageError('--job and --rerun exclude each other');
  // The file says what is measured; a flag beside it would make the result say something else.
  const measuring = Object.keys(values).find((name) => !OPERATIONAL_FLAGS.has(name));
  if (measuring)
    throw new UsageError(
      `--${measuring} and ${from} exclude each other (${from === '--job' ? 'the job file says what to measure: edit it' : 'a rerun repeats the result as it was'}); only --output, --cache-dir, --wait, --quiet, --dry-run go beside it`,
    );
  const cacheDir = resolve(values['cache-dir'] ?? defaultCacheDir);
  if (values.rerun !== undefined)
    return { runs: [rerunOptions(values.rerun, defaultOutput(values.output), cacheDir)], ...flags };
  const job = loadJob(values.job!);
  const outputDir = resolve(values.output ?? `out/runs/${stamp()}-${hostname()}-${job.job.name}`);
  return { runs: jobRuns(job, outputDir, cacheDir), ...flags };
}

/** The single run the flags ask for, as report tests read a reproduce line back. */
export function parseRunOptions(
  argv: string[],
): (RunOptions & { wait: boolean }) | 'help' | 'list' | 'list-setups' | { dryRun: RunOptions } {
  const request = parseRunRequest(argv);
  if (typeof request === 'string') return request;
  const [run] = request.runs;
  if (!run || request.runs.length > 1) throw new UsageError('run: more than one run asked for');
  return request.dryRun ? { dryRun: run } : { ...run, wait: request.wait };
}

const stamp = () => new Date().toISOString().replace(/[:]/g, '-').replace(/\..*/, '');
const defaultOutput = (output: string | undefined) =>
  resolve(output ?? `out/runs/${stamp()}-${hostname()}.json`);

/** RunOptions from flag values, every value checked: the one place flags and job points become a run. */
export function runOptionsFromFlags(values: RunFlagValues): RunOptions {
  const profile = findRunProfile(values.profile ?? 'quick');
  if (!profile)
    throw new UsageError(
      `--profile: unknown '${values.profile}' (known: ${runProfiles.map((p) => p.name).join(', ')})`,
    );
  const datasetFlags = ['dataset', 'dataset-dir', 'image', 'dataset-tar'] as const;
  const given = datasetFlags.filter((flag) => values[flag] !== undefined);
  if (given.length > 1) throw new UsageError(`--${given[0]} and --${given[1]} exclude each other`);
  const imageFlags = ['compression', 'chunk-size', 'pcluster-size', 'mkfs-arg'] as const;
  const building = imageFlags.find((flag) => values[flag] !== undefined);
  if (values.image !== undefined && building)
    throw new UsageError(`--image and --${building} exclude each other (the image is measured as it is)`);
  if (values['dataset-tar'] !== undefined && building)
    throw new UsageError(
      `--dataset-tar and --${building} exclude each other (the image is built by mkfs.erofs --tar=f)`,
    );
  const datasetProfile = oneOf(
    '--dataset',
    values.dataset,
    [...profileNames, DEBIAN_MINBASE],
    profile.dataset,
  );
  const seed = parseIntegerFlag('--seed', values.seed, 1, MAX_SEED, 0);
  return {
    profile: profile.name,
    setups: selectedSetups(values.setups, values['fuse-io-uring'] ?? false, profile.setups),
    setupsNamed: values.setups !== undefined,
    workloads: selectedWorkloads(values.workloads, values.readers, profile.workloads),
    cacheStates: parseListFlag('--cache', values.cache, ['warm', 'cold'] as const, profile.cacheStates),
    repetitions: parseIntegerFlag('--repetitions', values.repetitions, profile.repetitions, MAX_REPETITIONS),
    warmup: parseIntegerFlag('--warmup', values.warmup, profile.warmup, MAX_WARMUP, 0),
    seed,
    driver: oneOf('--driver', values.driver, ['auto', 'node', 'native'] as const, 'auto'),
    trace: !values['no-trace'],
    floor: !values['no-floor'],
    dataset:
      values.image !== undefined
        ? { kind: 'image', path: resolve(values.image) }
        : values['dataset-dir'] !== undefined
          ? { kind: 'directory', path: resolve(values['dataset-dir']) }
          : values['dataset-tar'] !== undefined
            ? { kind: 'tar', path: resolve(values['dataset-tar']) }
            : datasetProfile === DEBIAN_MINBASE
              ? { kind: 'rootfs', name: DEBIAN_MINBASE }
              : { kind: 'profile', profile: datasetProfile, seed },
    image: {
      compression: values.compression ?? null,
      chunkSize:
        values['chunk-size'] === undefined ? null : parseSizeFlag('--chunk-size', values['chunk-size'], 0),
      pclusterSize:
        values['pcluster-size'] === undefined
          ? null
          : parseSizeFlag('--pcluster-size', values['pcluster-size'], 0),
      extraArgs: values['mkfs-arg'] ?? [],
    },
    fuse: {
      ...defaultTransportOptions,
      entryTimeout: parseNumberFlag(
        '--entry-timeout',
        values['entry-timeout'],
        defaultTransportOptions.entryTimeout,
        OptionLimits.timeoutSeconds,
      ),
      attrTimeout: parseNumberFlag(
        '--attr-timeout',
        values['attr-timeout'],
        defaultTransportOptions.attrTimeout,
        OptionLimits.timeoutSeconds,
      ),
      negativeTimeout: parseNumberFlag(
        '--negative-timeout',
        values['negative-timeout'],
        defaultTransportOptions.negativeTimeout,
        OptionLimits.timeoutSeconds,
      ),
      kernelCache: !values['no-kernel-cache'],
      autoCache: values['auto-cache'] ?? false,
      maxRead: parseSizeFlag('--max-read', values['max-read'], 0, OptionLimits.maxReadBytes),
      directIo: values['direct-io'] ?? false,
      threads: parseIntegerFlag(
        '--threads',
        values.threads,
        defaultTransportOptions.threads,
        OptionLimits.threads,
      ),
      cloneFd: parseEitherFlag(
        ['--clone-fd', '--shared-fd'],
        [values['clone-fd'], values['shared-fd']],
        defaultTransportOptions.cloneFd,
      ),
    },
    fuseTransport: oneOf('--transport', values.transport, transportNames(), 'devfuse'),
    loopDirectIo: values['loop-direct-io'] ?? false,
    clientCpus: cpuList('--client-cpus', values['client-cpus']),
    daemonCpus: cpuList('--daemon-cpus', values['daemon-cpus']),
    output: defaultOutput(values.output),
    cacheDir: resolve(values['cache-dir'] ?? defaultCacheDir),
  };
}

/** Whether this run wrote `path` (it may hold an older run's result, or not exist). */
function writtenSince(path: string, startedMs: number): boolean {
  try {
    return statSync(path).mtimeMs >= startedMs;
  } catch {
    return false;
  }
}

/** A --dataset-dir that cannot be measured is refused before anything is built or mounted. */
function checkDatasetDir(path: string): void {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FatalError(
      `--dataset-dir: ${path} ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`,
    );
  }
  if (!stats.isDirectory()) throw new FatalError(`--dataset-dir: ${path} is not a directory`);
}

export const command: Command = {
  handlesSignals: true,
  async run(argv) {
    const controller = new AbortController();
    let stoppedBy: HandledSignal = 'SIGINT';
    const interrupt = (name: HandledSignal) => {
      if (controller.signal.aborted) {
        process.stderr.write(`fusebench: ${name}: still cleaning up, please wait\n`);
        return;
      }
      process.stderr.write(
        `\nfusebench: ${name}: stopping, cleaning up (the result file keeps what finished)\n`,
      );
      stoppedBy = name;
      controller.abort();
    };
    const releaseSignals = takeSignals(interrupt);
    try {
      const status = await runCommand(argv, controller.signal);
      return controller.signal.aborted ? signalExitStatus(stoppedBy) : status;
    } finally {
      releaseSignals();
    }
  },
};

async function runCommand(argv: string[], aborted: AbortSignal): Promise<number> {
  const request = parseRunRequest(argv);
  if (request === 'help') {
    process.stdout.write(`usage: fusebench ${usage}\n`);
    return 0;
  }
  if (request === 'list') {
    const { workloads } = await import('../../workloads/catalog.js');
    for (const workload of workloads)
      process.stdout.write(
        `${workload.name.padEnd(18)} ${workload.category.padEnd(9)} ${workload.description}${workload.takesReaders ? ' [takes --readers]' : ''}\n`,
      );
    return 0;
  }
  if (request === 'list-setups') {
    const quickSetups = findRunProfile('quick')?.setups ?? [];
    for (const definition of setupDefinitions)
      process.stdout.write(
        `${definition.name.padEnd(28)} ${definition.kind.padEnd(7)} ${quickSetups.includes(definition.name) ? 'default ' : '        '}${definition.description}\n`,
      );
    return 0;
  }
  for (const run of request.runs) {
    if (run.dataset.kind === 'directory') checkDatasetDir(run.dataset.path);
    if (run.dataset.kind === 'image') userImage(run.dataset.path);
  }
  if (request.dryRun) {
    for (const run of request.runs) {
      if (run.job && run.job.points > 1)
        process.stdout.write(
          `job ${run.job.name}, point ${run.job.pointIndex + 1}/${run.job.points}: ${JSON.stringify(run.job.point)} -> ${run.output}\n`,
        );
      process.stdout.write(await describeRunPlan(run));
    }
    return 0;
  }
  requireRoot('run');
  for (const run of request.runs) checkWritableFile('--output', run.output);
  // A signal that came while the modules loaded: nothing exists yet, nothing to clean.
  if (aborted.aborted) return 1;
  const progress = createProgress(process.stderr, { quiet: request.quiet });
  const releaseLock = await acquireRunLock({
    wait: request.wait,
    signal: aborted,
    onWait: (holder) => progress.note(`waiting for the run that holds this machine (${holder})`),
  });
  try {
    let status = 0;
    for (const run of request.runs) {
      if (aborted.aborted) return 1;
      if (run.job && run.job.points > 1)
        progress.note(
          `job ${run.job.name}, point ${run.job.pointIndex + 1}/${run.job.points}: ${JSON.stringify(run.job.point)}`,
        );
      status = Math.max(status, await measure(run, progress, aborted, request.quiet));
    }
    return status;
  } finally {
    releaseLock();
  }
}

/** One run: measured, summarized, its status as the exit status. */
async function measure(
  run: RunOptions,
  progress: Progress,
  aborted: AbortSignal,
  quiet: boolean,
): Promise<number> {
  const started = Date.now();
  try {
    const result = await runBenchmark(run, progress, aborted);
    if (!quiet) printRunSummary(result, process.stdout);
    process.stdout.write(
      `${quiet ? '' : '\n'}result: ${run.output} (${Math.round((Date.now() - started) / 1000)} s)\n`,
    );
    if (result.status === 'interrupted') {
      process.stderr.write(`fusebench: interrupted; partial result in ${run.output}\n`);
      return 1;
    }
    const unsound = [...result.floor, ...result.measurements].filter((m) => m.status !== 'ok');
    if (unsound.length === 0) return 0;
    const cells = unsound.slice(0, 3).map((m) => `${m.workload} ${m.cache} ${m.setup}: ${m.status}`);
    process.stderr.write(
      `fusebench: ${unsound.length} cell${unsound.length > 1 ? 's' : ''} could not be measured or read wrong data (${cells.join('; ')}${unsound.length > 3 ? '; …' : ''})\n`,
    );
    return 1;
  } catch (error) {
    const partial = writtenSince(run.output, started) ? `; partial result in ${run.output}` : '';
    if (aborted.aborted) {
      process.stderr.write(`fusebench: interrupted${partial}\n`);
      return 1;
    }
    if (error instanceof FatalError) throw new FatalError(`${error.message}${partial}`);
    throw error;
  }
}
