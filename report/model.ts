import { readFileSync } from 'node:fs';
import { HIGH_CV } from '../bench/summarize.js';
import { errorMessage, FatalError } from '../lib/errors.js';
import {
  type CacheState,
  type Measurement,
  type Metric,
  RESULT_SCHEMA_VERSION,
  type ResultFile,
  resultFileSchema,
} from '../results/schema.js';
import { bootstrapRatio, percentile } from '../results/statistics.js';
import { metricValue } from '../workloads/metrics.js';

/**
 * What every report output is rendered from: result files as read (validated by the schema and
 * nothing else), arranged per cache state with setups as columns and workloads as rows, and the
 * ratio of every setup to kernel-erofs. Outputs never recompute statistics on their own.
 *
 * One statistic per cell, everywhere (tables, charts, CSV): the median over the timed repetitions
 * of the workload's metric (time per operation, throughput or wall time of one repetition), with
 * the 95% bootstrap interval of that median; ratios are ratios of those medians.
 */

/** The cell statistic in words, for table headers and chart notes. */
export const CELL_STATISTIC = 'median over timed repetitions';

/** The reference every ratio is taken against. */
export const KERNEL_SETUP = 'kernel-erofs';
export const FLOOR_SETUP = 'floor';

export interface LoadedResult {
  path: string;
  result: ResultFile;
}

/** Reads and validates one result file; any problem is a FatalError naming the file and the first issue. */
export function loadResult(path: string): LoadedResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FatalError(`${path}: cannot read: ${errorMessage(error)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FatalError(`${path}: not JSON: ${errorMessage(error).split('\n')[0]}`);
  }
  const version = (json as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (typeof version === 'number' && version !== RESULT_SCHEMA_VERSION)
    throw new FatalError(
      `${path}: a result file of schema version ${version}; this fusebench reads version ${RESULT_SCHEMA_VERSION}`,
    );
  const parsed = resultFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '(top level)';
    const message = (issue?.message ?? 'invalid').split('\n')[0];
    throw new FatalError(`${path}: not a fusebench result file: ${where}: ${message}`);
  }
  return { path, result: parsed.data };
}

/** A ratio of medians with its bootstrap 95% interval. */
export interface Ratio {
  ratio: number;
  low: number;
  high: number;
}

/** The metric of every timed (untraced) repetition: the samples every estimate is built from. */
export function metricSamples(measurement: Measurement): number[] {
  return measurement.repetitions
    .filter((repetition) => !repetition.traced)
    .map((repetition) => metricValue(measurement.summary.metric, repetition))
    .filter((value) => Number.isFinite(value));
}

/**
 * How much longer `next` takes than `base`: next/base for lower-is-better metrics (time),
 * base/next for higher-is-better ones (throughput), so that above 1 always means slower.
 */
export function timeRatio(metric: Metric, base: readonly number[], next: readonly number[]): Ratio | null {
  if (base.length === 0 || next.length === 0) return null;
  const result = metric.better === 'lower' ? bootstrapRatio(base, next) : bootstrapRatio(next, base);
  if (!Number.isFinite(result.ratio)) return null;
  return result;
}

export interface Cell {
  measurement: Measurement;
  samples: number[];
  /** Time ratio to kernel-erofs in the same cache state; null for kernel-erofs itself or without it. */
  vsKernel: Ratio | null;
  /** Coefficient of variation above the run's threshold. */
  noisy: boolean;
}

export interface CacheSection {
  cache: CacheState;
  /** Setup columns in display order: kernel-erofs first, the floor next (warm only), then the run's order. */
  setups: string[];
  workloads: string[];
  cell(setup: string, workload: string): Cell | undefined;
}

export interface ReportModel {
  path: string;
  result: ResultFile;
  sections: CacheSection[];
  /** The metric of each workload (from its measurements). */
  metrics: Map<string, Metric>;
  warnings: string[];
}

const median = (values: readonly number[]) => (values.length > 0 ? percentile(values, 0.5) : Number.NaN);

function order<T>(items: Iterable<T>, preferred: readonly T[]): T[] {
  const present = new Set(items);
  const first = [...new Set(preferred)].filter((item) => present.has(item));
  return [...first, ...[...present].filter((item) => !first.includes(item))];
}

export function setupOrder(result: ResultFile, present: Iterable<string>): string[] {
  const preferred = [KERNEL_SETUP, ...result.config.setups, ...result.setups.map((setup) => setup.name)];
  return order(present, preferred);
}

export function workloadOrder(result: ResultFile, present: Iterable<string>): string[] {
  return order(present, result.config.workloads);
}

const key = (setup: string, workload: string) => `${setup}\u0000${workload}`;

export function buildModel(loaded: LoadedResult): ReportModel {
  const { result } = loaded;
  const metrics = new Map<string, Metric>();
  for (const measurement of [...result.measurements, ...result.floor])
    if (!metrics.has(measurement.workload)) metrics.set(measurement.workload, measurement.summary.metric);

  const caches = order(
    result.measurements.map((measurement) => measurement.cache),
    ['warm', 'cold'] as CacheState[],
  );
  const sections: CacheSection[] = caches.map((cache) => {
    const measurements = result.measurements.filter((measurement) => measurement.cache === cache);
    if (cache === 'warm') measurements.push(...result.floor);
    const cells = new Map<string, Cell>();
    for (const measurement of measurements) {
      cells.set(key(measurement.setup, measurement.workload), {
        measurement,
        samples: metricSamples(measurement),
        vsKernel: null,
        noisy: measurement.summary.value.cv > HIGH_CV,
      });
    }
    for (const cell of cells.values()) {
      const { setup, workload } = cell.measurement;
      const kernel = cells.get(key(KERNEL_SETUP, workload));
      if (setup === KERNEL_SETUP || !kernel) continue;
      cell.vsKernel = timeRatio(cell.measurement.summary.metric, kernel.samples, cell.samples);
    }
    const setups = setupOrder(
      result,
      measurements.filter((m) => m.setup !== FLOOR_SETUP).map((m) => m.setup),
    );
    // The floor sits next to kernel-erofs: together they show how much is the client's own cost.
    if (measurements.some((m) => m.setup === FLOOR_SETUP))
      setups.splice(setups[0] === KERNEL_SETUP ? 1 : 0, 0, FLOOR_SETUP);
    return {
      cache,
      setups,
      workloads: workloadOrder(
        result,
        measurements.map((m) => m.workload),
      ),
      cell: (setup, workload) => cells.get(key(setup, workload)),
    };
  });

  const warnings = [...result.warnings];
  for (const measurement of [...result.measurements, ...result.floor]) {
    for (const warning of measurement.warnings)
      warnings.push(`${measurement.workload} ${measurement.cache} ${measurement.setup}: ${warning}`);
  }
  for (const setup of result.setups) {
    if (setup.status !== 'ok')
      warnings.push(`setup ${setup.name} ${setup.status}: ${setup.note ?? ''}`.trim());
  }
  if (result.status !== 'complete')
    warnings.unshift(`the run is ${result.status}: figures cover only what finished`);
  return { path: loaded.path, result, sections, metrics, warnings };
}

/** FUSE requests of one opcode over the traced repetitions of a measurement. */
export interface FuseOpcodeRow {
  opcode: string;
  count: number;
  perOp: number;
  errors: number;
  meanNs: number;
  p50Ns: number;
  p99Ns: number;
  maxNs: number;
}

/** Per opcode, summed over traced repetitions (counts) and their medians (latency percentiles). */
export function fuseOpcodes(measurement: Measurement): FuseOpcodeRow[] {
  const traced = measurement.repetitions.filter((repetition) => repetition.traced && repetition.fuse);
  if (traced.length === 0) return [];
  const ops = traced.reduce((sum, repetition) => sum + Math.max(1, repetition.opCount), 0);
  const opcodes = new Set(traced.flatMap((repetition) => Object.keys(repetition.fuse!)));
  return [...opcodes]
    .map((opcode) => {
      const stats = traced.flatMap((repetition) =>
        repetition.fuse![opcode] ? [repetition.fuse![opcode]] : [],
      );
      const count = stats.reduce((sum, stat) => sum + stat.count, 0);
      const total = stats.reduce((sum, stat) => sum + stat.totalNs, 0);
      return {
        opcode,
        count,
        perOp: count / ops,
        errors: stats.reduce((sum, stat) => sum + stat.errors, 0),
        meanNs: count > 0 ? total / count : 0,
        p50Ns: median(stats.map((stat) => stat.p50Ns)),
        p99Ns: median(stats.map((stat) => stat.p99Ns)),
        maxNs: Math.max(...stats.map((stat) => stat.maxNs)),
      };
    })
    .sort((a, b) => b.count - a.count || (a.opcode < b.opcode ? -1 : 1));
}

/** Median over timed repetitions of a per-operation figure of one repetition (null where it has none). */
export function medianPerOp(
  measurement: Measurement,
  select: (repetition: Measurement['repetitions'][number]) => number | null,
): number | null {
  const values = measurement.repetitions
    .filter((repetition) => !repetition.traced)
    .flatMap((repetition) => {
      const value = select(repetition);
      return value === null ? [] : [value / Math.max(1, repetition.opCount)];
    });
  return values.length > 0 ? median(values) : null;
}

/** Median over timed repetitions of whole-machine CPU time (user + system) per operation. */
export function systemCpuPerOp(measurement: Measurement): number {
  return median(
    measurement.repetitions
      .filter((repetition) => !repetition.traced)
      .map(
        (repetition) =>
          (repetition.system.userNs + repetition.system.systemNs) / Math.max(1, repetition.opCount),
      ),
  );
}

/** Sorts kernel release strings numerically ("6.9" < "6.10", "6.10-rc3" < "6.10"). */
export function compareKernelReleases(a: string, b: string): number {
  const parse = (release: string) => {
    const match = /^(\d+(?:\.\d+)*)(?:-rc(\d+))?/.exec(release);
    const numbers = (match?.[1] ?? '').split('.').filter(Boolean).map(Number);
    const rc = match?.[2] === undefined ? Number.POSITIVE_INFINITY : Number(match[2]);
    return { numbers, rc };
  };
  const left = parse(a);
  const right = parse(b);
  for (let index = 0; index < Math.max(left.numbers.length, right.numbers.length); index++) {
    const difference = (left.numbers[index] ?? 0) - (right.numbers[index] ?? 0);
    if (difference !== 0) return difference;
  }
  if (left.rc !== right.rc) return left.rc < right.rc ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
