import type { Estimate, Measurement, Metric, Repetition, Summary } from '../results/schema.js';
import { estimate, percentile } from '../results/statistics.js';
import { metricValue } from '../workloads/metrics.js';

/**
 * From repetitions to the figures a measurement is judged by. Timing estimates use only the
 * untraced repetitions; FUSE request counts come from the traced one.
 */

/** Coefficient of variation above which a measurement is flagged as noisy. */
export const HIGH_CV = 0.1;
/** A figure within this factor of the floor is mostly the driver's own cost. */
export const FLOOR_FACTOR = 2;

const median = (values: number[]) => (values.length > 0 ? percentile(values, 0.5) : 0);

export function summarize(metric: Metric, repetitions: readonly Repetition[]): Summary {
  const timed = repetitions.filter((repetition) => !repetition.traced);
  const traced = repetitions.filter((repetition) => repetition.traced);
  const perOp = (select: (repetition: Repetition) => number | null, from = timed): number | null => {
    const values = from
      .map((repetition) => select(repetition))
      .filter((value): value is number => value !== null);
    return values.length > 0 ? median(values) : null;
  };
  const ops = (repetition: Repetition) => Math.max(1, repetition.opCount);
  const fuseRequests = (repetition: Repetition) =>
    repetition.fuse === null
      ? null
      : Object.values(repetition.fuse).reduce((sum, opcode) => sum + opcode.count, 0) / ops(repetition);
  return {
    metric,
    value: estimate(timed.map((repetition) => metricValue(metric, repetition))),
    perOp: {
      clientCpuNs: perOp((r) => r.client.cpuNs / ops(r)) ?? 0,
      clientCtxSwitches:
        perOp((r) => (r.client.voluntaryCtxSwitches + r.client.involuntaryCtxSwitches) / ops(r)) ?? 0,
      daemonCpuNs: perOp((r) => (r.daemon ? r.daemon.cpuNs / ops(r) : null)),
      daemonCtxSwitches: perOp((r) =>
        r.daemon ? (r.daemon.voluntaryCtxSwitches + r.daemon.involuntaryCtxSwitches) / ops(r) : null,
      ),
      systemCtxSwitches: perOp((r) => r.system.ctxSwitches / ops(r)) ?? 0,
      fuseRequests: perOp(fuseRequests, traced),
    },
    throughput: {
      opsPerSec: perOp((r) => r.opCount / (r.wallNs / 1e9)) ?? 0,
      bytesPerSec: perOp((r) => r.bytes / (r.wallNs / 1e9)) ?? 0,
    },
  };
}

/** Share of a repetition's time some task waited for a CPU above which the machine counts as busy. */
export const BUSY_CPU_STALL = 0.25;

/** What the engine knows of a cell beyond its repetitions. */
export interface CellContext {
  /** Operations the plan says one repetition performs. */
  plannedOps: number;
  /** A warm repetition should find every page the warm-up read in the page cache (FUSE kernel cache on). */
  warmDataCached: boolean;
  /** The other setups' measurements of the same workload and cache state. */
  others: ReadonlyArray<Omit<Measurement, 'warnings'>>;
}

/**
 * Repetitions per setup that would tell two estimates apart: Lehr's rule n = 16 s² / d²
 * (two-sided α = 0.05, power 0.8; van Belle, Statistical Rules of Thumb, 2008, §2.3), with s the
 * pooled standard deviation and d the difference of the medians.
 */
export function repetitionsToResolve(a: Estimate, b: Estimate): number {
  const difference = Math.abs(a.median - b.median);
  if (difference === 0) return Number.POSITIVE_INFINITY;
  const pooledVariance = (a.stddev ** 2 + b.stddev ** 2) / 2;
  return Math.max(2, Math.ceil((16 * pooledVariance) / difference ** 2));
}

/** For a noisy cell: how many repetitions would separate it from the nearest other setup. */
function resolution(measurement: Omit<Measurement, 'warnings'>, context: CellContext | undefined): string {
  const value = measurement.summary.value;
  const nearest = (context?.others ?? [])
    .filter((other) => other.setup !== measurement.setup && other.summary.value.n > 1)
    .sort(
      (a, b) =>
        Math.abs(a.summary.value.median - value.median) - Math.abs(b.summary.value.median - value.median),
    )[0];
  if (!nearest) return '';
  const needed = repetitionsToResolve(value, nearest.summary.value);
  const apart =
    Math.abs(nearest.summary.value.median - value.median) / Math.max(value.median, Number.MIN_VALUE);
  const gap = `${nearest.setup}, ${(apart * 100).toFixed(1)}% apart`;
  if (!Number.isFinite(needed)) return `; its median equals ${nearest.setup}'s`;
  return needed <= value.n
    ? `; still enough to tell it from the nearest setup (${gap})`
    : `; about ${needed} repetitions per setup would tell it from the nearest setup (${gap}; Lehr's rule)`;
}

/** What a reader should be told about a measurement before trusting its figures. */
export function measurementWarnings(
  measurement: Omit<Measurement, 'warnings'>,
  floor: Measurement | undefined,
  traceOverruns: number,
  context?: CellContext,
): string[] {
  const warnings: string[] = [];
  if (context) {
    const counts = new Set(measurement.repetitions.map((repetition) => repetition.opCount));
    for (const performed of counts)
      if (performed !== context.plannedOps)
        warnings.push(`op count: performed ${performed} operations, the plan has ${context.plannedOps}`);
  }
  const stallShare = ({ machine }: Repetition) => (machine.cpuStallNs ?? 0) / Math.max(1, machine.intervalNs);
  const busy = measurement.repetitions.filter((repetition) => stallShare(repetition) > BUSY_CPU_STALL);
  if (busy.length > 0) {
    const worst = Math.max(...busy.map(stallShare));
    warnings.push(
      `busy machine: tasks waited for a CPU during more than ${BUSY_CPU_STALL * 100}% of ${busy.length} repetition${busy.length > 1 ? 's' : ''} (worst ${(worst * 100).toFixed(0)}%, load ${Math.max(...busy.map((r) => r.machine.load1Before)).toFixed(1)})`,
    );
  }
  if (context?.warmDataCached && measurement.cache === 'warm') {
    const reads = measurement.repetitions.reduce(
      (sum, repetition) => sum + (repetition.fuse?.READ?.count ?? 0),
      0,
    );
    if (reads > 0)
      warnings.push(
        `warm went cold: the traced warm repetition sent ${reads} FUSE READs for data the warm-up had read (evicted pages?)`,
      );
  }
  const { value, metric } = measurement.summary;
  if (value.cv > HIGH_CV)
    warnings.push(
      `high variation: CV ${(value.cv * 100).toFixed(1)}% over ${value.n} repetitions${resolution(measurement, context)}`,
    );
  if (value.outliers.length > 0) warnings.push(`outlier repetitions: ${value.outliers.join(', ')}`);
  const failed = measurement.repetitions.reduce(
    (sum, repetition) => sum + Object.values(repetition.errors).reduce((a, b) => a + b, 0),
    0,
  );
  if (failed > 0) warnings.push(`failed operations: ${failed} operations failed unexpectedly`);
  const exited = measurement.repetitions.reduce(
    (sum, repetition) => sum + (repetition.daemon?.threadsExited ?? 0),
    0,
  );
  if (exited > 0)
    warnings.push(
      `daemon threads exited: ${exited} during repetitions, so daemon context switches are a lower bound`,
    );
  if (traceOverruns > 0)
    warnings.push(
      `trace events dropped: the trace buffer lost ${traceOverruns}, so FUSE request counts are a lower bound`,
    );
  if (floor && floor.summary.value.n > 0 && floor.driver === measurement.driver) {
    const ratio =
      metric.better === 'lower'
        ? value.median / floor.summary.value.median
        : floor.summary.value.median / value.median;
    if (ratio < FLOOR_FACTOR) {
      warnings.push(
        `near the floor: ${ratio.toFixed(2)}× the floor's figure (flagged below ${FLOOR_FACTOR}×), the ${measurement.driver} client's own cost is a large share${measurement.driver === 'node' ? '; --driver native lowers it' : ''}`,
      );
    }
  }
  return warnings;
}
