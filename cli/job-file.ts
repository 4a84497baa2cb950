import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { RunOptions } from '../bench/run.js';
import { UsageError } from '../lib/errors.js';
import type { JobOrigin } from '../results/schema.js';
import { URING_SUFFIX } from '../runners/peer-setups.js';
import { setupNames } from '../runners/registry.js';
import { type RunFlagValues, runOptionsFromFlags } from './commands/run.js';
import { type JobFile, jobSchema, type SweepParameter, sweepParameters } from './job-schema.js';

/**
 * `fusebench run --job FILE`: the file read (YAML, or JSON which YAML reads too), checked against
 * cli/job-schema.ts, and expanded into one run per combination of the FUSE parameters it lists.
 * Each point becomes flag values and goes through the same checks as the command line
 * (runOptionsFromFlags), so a job can ask for nothing the flags could not.
 */

export interface LoadedJob {
  path: string;
  sha256: string;
  job: JobFile;
}

export interface JobPoint {
  /** The swept parameters' values at this point (empty when the job sweeps nothing). */
  values: Partial<Record<SweepParameter, string | number | boolean>>;
  /** `transport=devfuse,max_read=32k`, or '' for a job without a sweep. */
  label: string;
}

export function loadJob(path: string): LoadedJob {
  const absolute = resolve(path);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    throw new UsageError(`--job: ${absolute}: ${(error as NodeJS.ErrnoException).code ?? 'cannot read'}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (error) {
    const first = (error as Error).message.split('\n')[0]!.replace(/:$/, '');
    throw new UsageError(`--job: ${absolute}: not YAML or JSON: ${first}`);
  }
  const checked = jobSchema.safeParse(data);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    const where = issue.path.length > 0 ? issue.path.join('.') : 'the file';
    throw new UsageError(`--job: ${basename(absolute)}: ${where}: ${issue.message}`);
  }
  return { path: absolute, sha256: createHash('sha256').update(text).digest('hex'), job: checked.data };
}

function asList<T>(value: T | T[] | undefined): T[] | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value : [value];
}

/** Every combination of the job's FUSE parameter lists, the first parameter varying slowest. */
export function expandJob(job: JobFile): JobPoint[] {
  let points: JobPoint['values'][] = [{}];
  const swept: SweepParameter[] = [];
  for (const parameter of sweepParameters) {
    const list = asList(job.fuse?.[parameter]);
    if (list === undefined) continue;
    if (list.length > 1) swept.push(parameter);
    points = points.flatMap((point) => list.map((value) => ({ ...point, [parameter]: value })));
  }
  return points.map((values) => ({
    values,
    label: swept.map((parameter) => `${parameter}=${values[parameter]}`).join(','),
  }));
}

const text = (value: string | number | boolean | undefined) =>
  value === undefined ? undefined : String(value);

/** The flag values a job point stands for (the job's paths are relative to the job file). */
function pointFlags(job: JobFile, point: JobPoint, jobDir: string): RunFlagValues {
  const fuse = point.values;
  const dataset = job.dataset;
  const path = (value: string) => resolve(jobDir, value);
  const builtIn = job.setups?.filter((name) => !job.external?.some((external) => external.name === name));
  return {
    profile: job.profile,
    setups: builtIn && builtIn.length > 0 ? builtIn.join(',') : undefined,
    workloads: job.workloads?.join(','),
    readers: asList(job.readers)?.join(','),
    cache: job.cache?.join(','),
    repetitions: text(job.repetitions),
    warmup: text(job.warmup),
    seed: text(job.seed),
    driver: job.driver,
    'no-trace': job.trace === false,
    'no-floor': job.floor === false,
    'fuse-io-uring': job.fuse?.fuse_io_uring,
    dataset: dataset && 'profile' in dataset ? dataset.profile : undefined,
    'dataset-dir': dataset && 'dir' in dataset ? path(dataset.dir) : undefined,
    image: dataset && 'image' in dataset ? path(dataset.image) : undefined,
    'dataset-tar': dataset && 'tar' in dataset ? path(dataset.tar) : undefined,
    compression: job.image?.compression,
    'chunk-size': text(job.image?.chunk_size),
    'pcluster-size': text(job.image?.pcluster_size),
    'mkfs-arg': job.image?.mkfs_args,
    transport: text(fuse.transport),
    'entry-timeout': text(fuse.entry_timeout),
    'attr-timeout': text(fuse.attr_timeout),
    'negative-timeout': text(fuse.negative_timeout),
    'no-kernel-cache': fuse.kernel_cache === false,
    'auto-cache': fuse.auto_cache === true,
    'max-read': text(fuse.max_read),
    'direct-io': fuse.direct_io === true,
    threads: text(fuse.threads),
    'clone-fd': fuse.clone_fd === true,
    'shared-fd': fuse.clone_fd === false,
    'loop-direct-io': job.loop_direct_io,
    'client-cpus': job.client_cpus,
    'daemon-cpus': job.daemon_cpus,
  };
}

/** The file name of a point's result: NAME.json, or NAME-transport-devfuse_max_read-32k.json. */
export function pointFileName(job: JobFile, point: JobPoint): string {
  const suffix = point.label.replace(/=/g, '-').replace(/,/g, '_');
  return `${job.name}${suffix === '' ? '' : `-${suffix}`}.json`;
}

/** A point checked as the command line is; an error names the job file, then the option as a flag. */
function pointOptions(loaded: LoadedJob, point: JobPoint): RunOptions {
  try {
    return runOptionsFromFlags(pointFlags(loaded.job, point, dirname(loaded.path)));
  } catch (error) {
    if (error instanceof UsageError)
      throw new UsageError(`--job: ${basename(loaded.path)}: ${error.message}`);
    throw error;
  }
}

/** One run per point, each with its own result file in `outputDir` and the job it came from. */
export function jobRuns(loaded: LoadedJob, outputDir: string, cacheDir: string): RunOptions[] {
  const { job } = loaded;
  const externalNames = (job.external ?? []).map((external) => external.name);
  for (const name of externalNames)
    if (setupNames.includes(name))
      throw new UsageError(`--job: external setup '${name}' has the name of a built-in setup`);
  if (new Set(externalNames).size !== externalNames.length)
    throw new UsageError('--job: two external setups have the same name');
  for (const name of job.setups ?? [])
    if (!setupNames.includes(name) && !externalNames.includes(name))
      throw new UsageError(
        `--job: setups: unknown '${name}' (built-in: ${setupNames.join(', ')}; or declare it under external)`,
      );
  const points = expandJob(job);
  return points.map((point, index) => {
    const options = pointOptions(loaded, point);
    const origin: JobOrigin = {
      file: loaded.path,
      sha256: loaded.sha256,
      name: job.name,
      point: point.values,
      pointIndex: index,
      points: points.length,
    };
    const externals = job.external ?? [];
    return {
      ...options,
      // The job's order, its external setups among the built-in ones (all of them when it names
      // none), each built-in one followed by the io_uring variant fuse_io_uring added.
      setups: job.setups
        ? job.setups.flatMap((name) =>
            externalNames.includes(name)
              ? [name]
              : options.setups.filter(
                  (selected) => selected === name || selected === `${name}${URING_SUFFIX}`,
                ),
          )
        : [...options.setups, ...externalNames],
      setupsNamed: job.setups !== undefined || options.setupsNamed,
      externalSetups: externals.map((external) => ({
        name: external.name,
        command: external.command,
        description: external.description ?? `external daemon: ${external.command.join(' ')}`,
      })),
      output: join(outputDir, pointFileName(job, point)),
      cacheDir,
      job: origin,
    };
  });
}
